#!/usr/bin/env python3
"""Write the hand-made seed corpora of the fuzz targets into corpus/NAME/.

ttlv: valid KMIP messages of the shapes securekey sends and receives, and
broken ones for each of the decoder's refusals. Files named pykmip-* are
copies of tests/kms/vectors/*.ttlv (real messages encoded by PyKMIP) and are
left alone; run with --vectors DIR to (re)copy them.

token, blob, config: valid tokens, secure-key blobs and securekey.conf files
of every shape securekey writes, then the hostile ones: each field wrong in
each way the parsers refuse. Blobs are sealed with the fuzz master key
(bytes 0x00..0x1f, sk_fuzz_blob_mk in fuzz_blob_body.c) so that unwrapping
is fuzzed too. Files named real-* come from make_corpus_real.sh (outputs of
this build's CLI and of cryptsetup) and are left alone.

    python3 tests/fuzz/make_corpus.py [--vectors tests/kms/vectors] [NAME...]
"""
import argparse
import base64
import hashlib
import json
import os
import re
import shutil
import struct

STRUCT, INT, LONG, BIGINT, ENUM, BOOL, TEXT, BYTES, DATETIME, INTERVAL = range(1, 11)

T = dict(
    app_data=0x420002, app_ns=0x420003, app_info=0x420004, attribute=0x420008,
    attr_name=0x42000A, attr_value=0x42000B, batch_count=0x42000D, batch_item=0x42000F,
    algorithm=0x420028, length=0x42002A, usage=0x42002C, key_block=0x420040,
    key_format=0x420042, key_material=0x420043, key_value=0x420045, max_items=0x42004F,
    name=0x420053, name_type=0x420054, name_value=0x420055, object_type=0x420057,
    operation=0x42005C, pv=0x420069, pv_major=0x42006A, pv_minor=0x42006B,
    req_header=0x420077, req_msg=0x420078, req_payload=0x420079, resp_header=0x42007A,
    resp_msg=0x42007B, resp_payload=0x42007C, result_message=0x42007D,
    result_reason=0x42007E, result_status=0x42007F, state=0x42008D, sym_key=0x42008F,
    template=0x420091, time_stamp=0x420092, uid=0x420094, attributes=0x420125,
)
OP = dict(create=1, register=3, locate=8, get=0x0A, get_attributes=0x0B, activate=0x12,
          revoke=0x13, destroy=0x14, discover=0x1E)


def item(tag, typ, value):
    pad = (8 - len(value) % 8) % 8
    return struct.pack(">I", tag << 8 | typ) + struct.pack(">I", len(value)) + value + b"\0" * pad


def s(tag, *children):
    return item(T.get(tag, tag) if isinstance(tag, str) else tag, STRUCT, b"".join(children))


def i32(tag, v):
    return item(T[tag] if isinstance(tag, str) else tag, INT, struct.pack(">i", v))


def enum(tag, v):
    return item(T[tag] if isinstance(tag, str) else tag, ENUM, struct.pack(">I", v))


def text(tag, v):
    return item(T[tag] if isinstance(tag, str) else tag, TEXT, v.encode())


def raw(tag, v):
    return item(T[tag] if isinstance(tag, str) else tag, BYTES, v)


def dt(tag, v):
    return item(T[tag] if isinstance(tag, str) else tag, DATETIME, struct.pack(">q", v))


def version(major, minor):
    return s("pv", i32("pv_major", major), i32("pv_minor", minor))


def response(op, payload=None, status=0, reason=None, message=None, count=1, items=1):
    body = enum("operation", op) + enum("result_status", status)
    if reason is not None:
        body += enum("result_reason", reason)
    if message is not None:
        body += text("result_message", message)
    if payload is not None:
        body += s("resp_payload", *payload)
    header = s("resp_header", version(1, 2), dt("time_stamp", 1205495800),
               i32("batch_count", count))
    return s("resp_msg", header, *[s("batch_item", body)] * items)


def request(op, payload, major=1, minor=2):
    header = s("req_header", version(major, minor), i32("batch_count", 1))
    return s("req_msg", header, s("batch_item", enum("operation", op), s("req_payload", *payload)))


def attr(name, value):
    return s("attribute", text("attr_name", name), value)


KEY = bytes(range(32))
SYMKEY = s("sym_key", s("key_block", enum("key_format", 1),
                        s("key_value", raw("key_material", KEY)),
                        enum("algorithm", 3), i32("length", 256)))
NAME_V1 = attr("Name", s("attr_value", text("name_value", "securekey-vol1"), enum("name_type", 1)))


def valid():
    yield "spec-int", item(0x420020, INT, struct.pack(">i", 8))
    yield "spec-text", item(0x420020, TEXT, b"Hello World")
    yield "spec-struct-ext", s(0x420020, enum(0x540004, 254), i32(0x540005, 255))
    yield "spec-types", s(0x540001, item(0x540002, LONG, struct.pack(">q", 123456789000000000)),
                          item(0x540003, BIGINT, bytes.fromhex("0000000003FD35EB6BC2DF4618080000")),
                          item(0x540004, BOOL, struct.pack(">Q", 1)),
                          raw(0x540005, b"\1\2\3"), dt(0x540006, 1205495800),
                          item(0x540007, INTERVAL, struct.pack(">I", 864000)),
                          item(0x540008, 0x0B, struct.pack(">q", 1205495800000000)))
    yield "resp-get", response(OP["get"], [enum("object_type", 2), text("uid", "42"), SYMKEY])
    yield "resp-create", response(OP["create"], [enum("object_type", 2), text("uid", "1")])
    yield "resp-register", response(OP["register"], [text("uid", "abc-123")])
    yield "resp-locate", response(OP["locate"], [text("uid", u) for u in ("1", "2", "33")])
    yield "resp-discover", response(OP["discover"], [version(2, 0), version(1, 4), version(1, 2)])
    yield "resp-getattr-v1", response(OP["get_attributes"], [
        text("uid", "42"), NAME_V1, attr("Cryptographic Algorithm", enum("attr_value", 3)),
        attr("Cryptographic Length", i32("attr_value", 256)), attr("State", enum("attr_value", 2)),
        attr("Application Specific Information",
             s("attr_value", text("app_ns", "securekey"), text("app_data", "vol1")))])
    yield "resp-getattr-v2", response(OP["get_attributes"], [
        text("uid", "42"), s("attributes", s("name", text("name_value", "vol"), enum("name_type", 1)),
                             enum("algorithm", 3), i32("length", 256), enum("state", 2))])
    yield "resp-activate", response(OP["activate"], [text("uid", "42")])
    yield "resp-destroy-nopayload", response(OP["destroy"])
    yield "resp-fail-notfound", response(OP["get"], status=1, reason=1, message="no such object")
    yield "resp-fail-denied", response(OP["get"], status=1, reason=0x0C)
    yield "resp-fail-general", response(OP["locate"], status=1, reason=0x100, message="x")
    yield "req-get", request(OP["get"], [text("uid", "42")])
    yield "req-register-v2", request(OP["register"], [
        enum("object_type", 2),
        s("attributes", enum("algorithm", 3), i32("length", 256), i32("usage", 12),
          s("name", text("name_value", "vol"), enum("name_type", 1)),
          s("app_info", text("app_ns", "securekey"), text("app_data", "d"))),
        SYMKEY], 2, 0)
    yield "req-locate-v1", request(OP["locate"], [i32("max_items", 8), NAME_V1])


def broken():
    ok = response(OP["get"], [text("uid", "42"), SYMKEY])
    yield "bad-empty", b""
    yield "bad-short", ok[:7]
    yield "bad-truncated", ok[:-8]
    yield "bad-trailing", ok + b"\0" * 8
    yield "bad-two-top", ok + ok
    yield "bad-huge-length", bytes.fromhex("4200200800000000") + b"\0" * 8
    yield "bad-huge-length2", bytes.fromhex("42002008FFFFFFF0") + b"\0" * 8
    yield "bad-bool-2", item(0x420020, BOOL, struct.pack(">Q", 2))
    yield "bad-padding", item(0x420020, INT, struct.pack(">i", 8))[:-1] + b"\1"
    yield "bad-type-0c", bytes.fromhex("4200200C00000004") + b"\0" * 8
    yield "bad-uid-int", s("resp_payload", i32("uid", 1))
    yield "bad-text-nul", text(0x420020, "a\0b")
    yield "bad-text-utf8", item(0x420020, TEXT, b"a\xffb")
    yield "bad-int-len8", item(0x420020, INT, b"\0" * 8)
    yield "bad-batch-count-2", response(OP["get"], [text("uid", "42")], count=2, items=2)
    nested = b""
    for k in range(17):
        nested = s(0x540000 + k, nested) if nested else s(0x540000 + k)
    yield "bad-nested-17", nested
    nested16 = b""
    for k in range(16):
        nested16 = s(0x540000 + k, nested16) if nested16 else s(0x540000 + k, i32(0x5400FF, 1))
    yield "nested-16", nested16
    yield "bad-struct-short", bytes.fromhex("5400010100000008 5400020200000004 0000000100000000")


# ---- secure-key blobs (lib/hsm/blob.h) and tokens (luks2/token.h) ----

FUZZ_MK = bytes(range(32))
OTHER_MK = bytes(range(32, 64))
KEY_AES, KEY_XTS, KEY_IDENTITY = 1, 2, 12
KEY_TYPES = {"aes-xts-512": (KEY_XTS, 512), "aes-xts-256": (KEY_XTS, 256),
             "aes-256": (KEY_AES, 256), "aes-192": (KEY_AES, 192), "aes-128": (KEY_AES, 128)}


def mkvp(mk):
    return hashlib.sha256(b"securekey-mkvp-v1" + mk).digest()[:8]


def det(label, n):
    """@n deterministic bytes, so the corpus is the same on every run."""
    out = b""
    while len(out) < n:
        out += hashlib.sha256(label.encode() + len(out).to_bytes(4, "big")).digest()
    return out[:n]


def seal(label, typ, bits, mk=FUZZ_MK, version=1, magic=b"SKEY", claim=None, key_len=None):
    """A blob as sk_blob_seal writes it; @claim overrides the MKVP field."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = det(label + "/nonce", 12)
    header = magic + bytes([version, typ]) + struct.pack(">H", bits) + \
        (claim or mkvp(mk)) + nonce
    key = det(label + "/key", bits // 8 if key_len is None else key_len)
    return header + AESGCM(mk).encrypt(nonce, key, header)


def kwp_seal(label, typ, bits, mk=FUZZ_MK, key_len=None):
    """A pkcs11 AES-KWP blob (backend 2): KWP of key | SHA-256(header)[:8]."""
    from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

    header = b"SKEY" + bytes([0x21, typ]) + struct.pack(">H", bits) + mkvp(mk) + \
        det(label + "/nonce", 12)
    key = det(label + "/key", bits // 8 if key_len is None else key_len)
    return header + aes_key_wrap_with_padding(mk, key + hashlib.sha256(header).digest()[:8])


# What fuzz_blob found when its oracle still took every blob for AES-GCM: a
# KWP identity key of 17 bytes, 7 bytes longer than its GCM form.
FOUND_KWP_IDENTITY_17 = (
    "U0tFWSEMAIgvSgCwYQAAgHErlAEAAABxmbI9////////////////////df//////////////////"
    "KzFR+Sv/7qp+hvc=")


def flip(data, offset):
    return data[:offset] + bytes([data[offset] ^ 1]) + data[offset + 1:]


def blob_corpus():
    for name, (typ, bits) in KEY_TYPES.items():
        yield name, seal(name, typ, bits)
    for n in (16, 121, 1218, 4096):
        yield "identity-%d" % n, seal("id%d" % n, KEY_IDENTITY, 8 * n)
    yield "other-mk-aes-xts-512", seal("other", KEY_XTS, 512, mk=OTHER_MK)
    # the MKVP is associated data, not checked on unwrap: any claim opens
    yield "claims-other-mkvp", seal("claim", KEY_XTS, 512, claim=mkvp(OTHER_MK))
    ok = seal("ok", KEY_XTS, 512)
    yield "bad-empty", b""
    yield "bad-one-byte", b"S"
    yield "bad-magic-only", b"SKEY"
    yield "bad-header-only", ok[:36]
    yield "bad-header-tag-short", ok[:36 + 15]
    yield "bad-cut-1", ok[:-1]
    yield "bad-plus-1", ok + b"\0"
    yield "bad-double", ok + ok
    yield "bad-magic", b"SKEZ" + ok[4:]
    yield "bad-magic-lower", b"skey" + ok[4:]
    for v in (0, 2, 255):
        yield "bad-version-%d" % v, seal("v%d" % v, KEY_XTS, 512, version=v)
    for t in (0, 3, 11, 13, 255):
        yield "bad-type-%d" % t, seal("t%d" % t, t, 256)
    for typ, bits in ((KEY_AES, 0), (KEY_AES, 100), (KEY_AES, 512), (KEY_XTS, 128),
                      (KEY_XTS, 384), (KEY_XTS, 1024), (KEY_AES, 65535)):
        yield "bad-bits-%d-%d" % (typ, bits), seal("b%d-%d" % (typ, bits), typ, bits)
    yield "bad-identity-15", seal("id15", KEY_IDENTITY, 120)
    yield "bad-identity-4097", seal("id4097", KEY_IDENTITY, 8 * 4097)
    yield "bad-identity-odd-bits", seal("idodd", KEY_IDENTITY, 129, key_len=16)
    yield "bad-bits-say-256-holds-512", seal("short", KEY_XTS, 256, key_len=64)
    # parse, but fail to unwrap
    yield "altered-tag", flip(ok, len(ok) - 1)
    yield "altered-ciphertext", flip(ok, 36)
    yield "altered-mkvp", flip(ok, 8)
    yield "altered-nonce", flip(ok, 20)
    yield "zero-key-bits-xts", b"SKEY\1\2\2\0" + bytes(28 + 64 + 16)
    # the pkcs11 backend's blobs: AES-GCM in the token (0x11), AES-KWP (0x21)
    yield "pkcs11-gcm-aes-xts-512", seal("p11gcm", KEY_XTS, 512, version=0x11)
    yield "pkcs11-kwp-aes-xts-512", kwp_seal("p11kwp", KEY_XTS, 512)
    yield "pkcs11-kwp-aes-128", kwp_seal("p11kwp128", KEY_AES, 128)
    yield "pkcs11-kwp-identity-16", kwp_seal("p11kwpid16", KEY_IDENTITY, 8 * 16)
    yield "pkcs11-kwp-identity-17", kwp_seal("p11kwpid17", KEY_IDENTITY, 8 * 17)
    yield "pkcs11-kwp-identity-17-found", base64.b64decode(FOUND_KWP_IDENTITY_17)
    yield "bad-pkcs11-kwp-gcm-length", \
        b"SKEY\x21" + seal("kwpgcmlen", KEY_IDENTITY, 8 * 17)[5:]
    yield "bad-backend-3", seal("backend3", KEY_XTS, 512, version=0x31)


def b64(data):
    return base64.b64encode(data).decode()


def key_field(label, key_type, mk=FUZZ_MK):
    typ, bits = KEY_TYPES[key_type]
    blob = seal(label, typ, bits, mk=mk)
    return {"secure_key": b64(blob), "mkvp": mkvp(mk).hex()}


def token(key_type="aes-xts-512", keyslots=["1"], apqns=["01.0001"], **fields):
    """A token as sk_token_create writes it, with @fields added or replaced."""
    t = {"type": "securekey", "keyslots": keyslots, "version": 1, "key_type": key_type,
         "apqns": apqns}
    t.update(key_field("tok-" + key_type, key_type if key_type in KEY_TYPES else "aes-xts-512"))
    t.update(fields)
    return t


def dump(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


KMS = {"servers": ["kmip://kms1.example.com:5696"], "key_id": "42",
       "name": "securekey-1b6a6f0e-6f4e-4c1a-9d55-0b6f0b0e0c01"}


def token_valid():
    for key_type in KEY_TYPES:
        yield "valid-" + key_type, dump(token(key_type))
    yield "valid-keyslot-0", dump(token(keyslots=["0"]))
    yield "valid-keyslot-31", dump(token(keyslots=["31"]))
    yield "valid-apqns-2", dump(token(apqns=["01.0001", "02.0001"]))
    yield "valid-apqns-16", dump(token(apqns=["%02x.%04x" % (i, 7 * i) for i in range(16)]))
    yield "valid-apqns-upper", dump(token(apqns=["0A.00FF", "ff.ffff"]))
    yield "valid-mkvp-upper", dump(token(mkvp=mkvp(FUZZ_MK).hex().upper()))
    yield "valid-staged", dump(token(staged=key_field("staged", "aes-xts-512", OTHER_MK)))
    yield "valid-kms", dump(token(kms=KMS))
    yield "valid-kms-8-ipv6", dump(token(kms=dict(KMS, servers=[
        "kmip://[::1]:5696", "kmip://10.0.0.1", "kmip://a.example:1", "kmip://b:65535",
        "kmip://[fe80::1]", "kmip://c.example:5696", "kmip://d:5697", "kmip://e"])))
    yield "valid-staged-kms", dump(token(staged=key_field("s2", "aes-xts-512"), kms=KMS))
    yield "valid-unknown-fields", dump(token(comment="kept as is", future={"a": [1, 2.5, None]}))
    yield "valid-pretty", json.dumps(token(kms=KMS), indent=2).encode() + b"\n"
    yield "valid-field-order", dump(dict(reversed(list(token().items()))))
    yield "valid-escapes", dump(token(kms=dict(KMS, name="caf\u00e9 \"quoted\" /\\ \t")))
    yield "valid-dup-type-last-wins", b'{"type":"luks2-keyring",' + dump(token())[1:]


def token_broken():
    yield "bad-empty", b""
    yield "bad-null", b"null"
    yield "bad-array", b"[" + dump(token()) + b"]"
    yield "bad-string", b'"securekey"'
    yield "bad-number", b"1"
    yield "bad-truncated", dump(token())[:-1]
    yield "bad-trailing-text", dump(token()) + b" x"
    yield "bad-two-objects", dump(token()) + dump(token())
    yield "bad-deep", b'{"a":' * 100 + b"1" + b"}" * 100
    yield "bad-type", dump(token(type="luks2-keyring"))
    yield "bad-type-missing", dump({k: v for k, v in token().items() if k != "type"})
    yield "bad-dup-type-first-wins", dump(token())[:-1] + b',"type":"x"}'
    yield "bad-version-2", dump(token(version=2))
    yield "bad-version-string", dump(token(version="1"))
    yield "bad-version-double", dump(token()).replace(b'"version":1', b'"version":1.0')
    yield "bad-version-huge", dump(token()).replace(b'"version":1',
                                                    b'"version":18446744073709551617')
    yield "bad-key-type", dump(token(key_type="aes-xts-1024"))
    yield "bad-key-type-identity", dump(token(key_type="identity"))
    yield "bad-key-type-mismatch", dump(token("aes-256", **key_field("m", "aes-xts-512")))
    for slots in ([], ["32"], ["01"], ["-1"], ["1a"], [1], ["1", "2"], ["999"], [""]):
        yield "bad-keyslots-%s" % re.sub(r"[^0-9a-z-]", "_", json.dumps(slots)), \
            dump(token(keyslots=slots))
    yield "bad-keyslots-string", dump(token(keyslots="1"))
    for apqns, what in (([], "none"), (["01.0001", "01.0001"], "twice"), (["1.0001"], "short"),
                        (["01.00011"], "long"), (["0g.0001"], "nonhex"), ([1], "int"),
                        (["%02x.0001" % i for i in range(17)], "17")):
        yield "bad-apqns-" + what, dump(token(apqns=apqns))
    yield "bad-apqns-string", dump(token(apqns="01.0001"))
    yield "bad-b64-noncanonical", dump(token(secure_key=token()["secure_key"][:-2] + "B="))
    yield "bad-b64-space", dump(token(secure_key=" " + token()["secure_key"]))
    yield "bad-b64-empty", dump(token(secure_key=""))
    yield "bad-b64-nul", dump(token(secure_key="QUJD\u0000RA=="))
    yield "bad-secure-key-number", dump(token(secure_key=5))
    yield "bad-secure-key-missing", dump({k: v for k, v in token().items() if k != "secure_key"})
    yield "bad-blob", dump(token(secure_key=b64(b"SKEY" + bytes(40))))
    yield "bad-mkvp-short", dump(token(mkvp="00" * 7 + "0"))
    yield "bad-mkvp-other", dump(token(mkvp=mkvp(OTHER_MK).hex()))
    yield "bad-mkvp-nonhex", dump(token(mkvp="zz" * 8))
    yield "bad-staged-type", dump(token(staged=key_field("s", "aes-256")))
    yield "bad-staged-string", dump(token(staged="x"))
    yield "bad-staged-no-mkvp", dump(token(staged={"secure_key": token()["secure_key"]}))
    yield "bad-kms-array", dump(token(kms=[KMS]))
    yield "bad-kms-no-servers", dump(token(kms=dict(KMS, servers=[])))
    yield "bad-kms-9-servers", dump(token(kms=dict(KMS, servers=["kmip://h%d" % i
                                                                  for i in range(9)])))
    yield "bad-kms-no-scheme", dump(token(kms=dict(KMS, servers=["kms1.example.com:5696"])))
    yield "bad-kms-server-int", dump(token(kms=dict(KMS, servers=[5696])))
    yield "bad-kms-server-300", dump(token(kms=dict(KMS, servers=["kmip://" + "a" * 293])))
    yield "bad-kms-no-key-id", dump(token(kms={k: v for k, v in KMS.items() if k != "key_id"}))
    yield "bad-kms-empty-name", dump(token(kms=dict(KMS, name="")))
    yield "bad-kms-name-nul", dump(token(kms=dict(KMS, name="a\u0000b")))
    # json-c does not check UTF-8, and unknown fields are kept as they are
    yield "odd-not-utf8-unknown-field", dump(token(comment="X")).replace(b'"X"', b'"\xff\xfe"')
    yield "bad-not-utf8-type", dump(token(type="X")).replace(b'"X"', b'"securekey\xff"')
    yield "bad-huge-string", dump(token(type="x" * 20000))
    yield "bad-100-fields", dump(token(**{"f%d" % i: i for i in range(100)}, version=3))


def token_corpus():
    yield from token_valid()
    yield from token_broken()


# ---- securekey.conf (lib/conf/conf.h) ----

def man_example():
    """The EXAMPLE of man/securekey.conf.5, as the man page shows it."""
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "..", "..", "man", "securekey.conf.5")) as f:
        text = f.read()
    m = re.search(r"^\.SH EXAMPLE\n\.nf\n(.*?)^\.fi$", text, re.M | re.S)
    return m.group(1).replace("\\-", "-").replace("\\e", "\\").encode()


KMS_CONF = ("[kms]\nserver = kmip://kms1.example:5696\nca = /etc/securekey/kms/ca.pem\n"
            "cert = /etc/securekey/kms/client.pem\n"
            "identity_key = /etc/securekey/kms/identity.skey\napqns = 01.0001\n")


def saved(hsm=None, kms=True, batch=False):
    """What sk_config_save writes."""
    out = "# securekey configuration, see securekey.conf(5)\n"
    if hsm:
        out += "\n[hsm]\ndir = %s\n" % hsm
    if kms:
        out += ("\n[kms]\nserver = kmip://kms1.example.com:5696\n"
                "server = kmip://kms2.example.com:5696\nca = /etc/securekey/kms/ca.pem\n"
                "cert = /etc/securekey/kms/client.pem\n"
                "identity_key = /etc/securekey/kms/identity.skey\n"
                "apqns = 01.0001,02.0001\ntimeout = 10\nprotocol = auto\n")
    if batch:
        out += "\n[batch]\nallow_token_auth = yes\n"
    return out.encode()


PKCS11_CONF = b"[hsm]\nbackend = pkcs11\nuri = pkcs11:token=securekey\n" \
    b"module = /usr/lib/softhsm/libsofthsm2.so\n"


def config_valid():
    yield "man-example", man_example()
    yield "man-example-crlf", man_example().replace(b"\n", b"\r\n")
    yield "man-example-bom", b"\xef\xbb\xbf" + man_example()
    yield "saved-kms", saved()
    yield "saved-all", saved(hsm="/var/lib/securekey/hsm", batch=True)
    yield "saved-hsm-only", saved(hsm="/srv/hsm", kms=False)
    yield "empty", b""
    yield "comments-only", b"# nothing\n; set yet\n\n"
    yield "hsm-dir", b"[hsm]\ndir = /var/lib/securekey/hsm\n"
    yield "hsm-dir-colon", b"[hsm]\ndir: /x\n"
    yield "batch-yes", b"[batch]\nallow_token_auth = yes\n"
    yield "batch-no", b"[batch]\nallow_token_auth = no\n"
    yield "kms-no-credentials", b"[kms]\nserver = kmip://k:5696\n"
    yield "kms-ipv6", KMS_CONF.replace("kms1.example:5696", "[2001:db8::1]:5696").encode()
    yield "kms-no-port", KMS_CONF.replace("kms1.example:5696", "kms1.example").encode()
    yield "kms-8-servers", KMS_CONF.encode() + b"".join(
        b"server = kmip://s%d.example:%d\n" % (i, 5000 + i) for i in range(7))
    for proto in ("auto", "1.2", "1.3", "1.4", "2.0"):
        yield "kms-protocol-" + proto, (KMS_CONF + "protocol = %s\n" % proto).encode()
    for t in ("1", "600", "010"):
        yield "kms-timeout-" + t, (KMS_CONF + "timeout = %s\n" % t).encode()
    yield "kms-apqns-16", KMS_CONF.replace("apqns = 01.0001", "apqns = " + ",".join(
        "%02x.0001" % i for i in range(16))).encode()
    yield "inline-comment", b"[hsm]\ndir = /x ; the soft HSM\n"
    yield "multiline-value", b"[hsm]\ndir = /x\n  /y\n"
    yield "section-twice", b"[hsm]\ndir = /a\n[batch]\nallow_token_auth = yes\n[hsm]\ndir = /b\n"
    yield "no-final-newline", b"[hsm]\ndir = /x"
    # libinih reads 199 bytes of a line at once: the longest line read whole
    yield "line-199", b"[hsm]\ndir = /" + b"a" * 192 + b"\n"
    yield "line-long-blank-tail", b"[hsm]\ndir = /x" + b" " * 300 + b"\n"
    yield "hsm-pkcs11-pin", PKCS11_CONF + b"pin = 1234\n"
    yield "hsm-pkcs11-pin-blanks", PKCS11_CONF + b"pin =  12 34 \t\r\n"
    yield "hsm-pkcs11-pin-file", PKCS11_CONF + b"pin_file = /etc/securekey/pin\n"
    yield "hsm-pkcs11-initramfs-files", PKCS11_CONF + b"".join(
        b"initramfs_file = /etc/vendor/f%d\n" % i for i in range(16))


def config_broken():
    yield "bad-section", b"[hsm2]\ndir = /x\n"
    yield "bad-pin-and-pin-file", PKCS11_CONF + b"pin = 1234\npin_file = /etc/pin\n"
    yield "bad-pin-empty", PKCS11_CONF + b"pin =\n"
    yield "bad-pin-soft", b"[hsm]\npin = 1234\n"
    yield "bad-initramfs-file-17", PKCS11_CONF + b"".join(
        b"initramfs_file = /f%d\n" % i for i in range(17))
    yield "bad-initramfs-file-relative", PKCS11_CONF + b"initramfs_file = etc/x\n"
    yield "bad-initramfs-file-soft", b"[hsm]\ninitramfs_file = /etc/x\n"
    # fuzz_config's memfd was 0777, so the pin's 0600 check refused it (-EACCES)
    yield "bad-pin-found", base64.b64decode(
        "W2hzbV1lciA9IGttaXA5Ly9rbXMxLmV4YW1wbGVuPSB0IC9ldGMvJGEucGVtCnBpbj0gdCAvZXRjLyQkJCQkJCQk"
        "Njk9O3gK")
    yield "bad-no-section", b"dir = /x\n"
    yield "bad-hsm-key", b"[hsm]\npath = /x\n"
    yield "bad-kms-key", b"[kms]\nport = 5696\n"
    yield "bad-batch-key", b"[batch]\nallow = yes\n"
    yield "bad-batch-true", b"[batch]\nallow_token_auth = true\n"
    yield "bad-empty-value", b"[hsm]\ndir =\n"
    yield "bad-no-equals", b"[hsm]\ndir /x\n"
    yield "bad-unclosed-section", b"[hsm\ndir = /x\n"
    for t in ("0", "601", "ten", "10s", "-1", "99999999999999999999"):
        yield "bad-timeout-" + t, (KMS_CONF + "timeout = %s\n" % t).encode()
    for p in ("1.1", "3.0", "2", ""):
        yield "bad-protocol-" + (p or "empty"), (KMS_CONF + "protocol = %s\n" % p).encode()
    yield "bad-9-servers", KMS_CONF.encode() + b"".join(
        b"server = kmip://s%d\n" % i for i in range(8))
    for url, what in (("http://k:5696", "http"), ("kmip://", "nohost"), ("kmip://k:0", "port0"),
                      ("kmip://k:65536", "port65536"), ("kmip://k:abc", "portabc"),
                      ("kmip://k/x", "path"), ("kmip://[::1", "ipv6open")):
        yield "bad-server-" + what, ("[kms]\nserver = %s\n" % url).encode()
    yield "servers-long-hosts", b"[kms]\nserver = kmip://" + b"a" * 150 + b":1\n" + \
        b"server = kmip://" + b"b" * 180 + b"\n"
    for a, what in (("01.0001,01.0001", "twice"), ("1.1", "short"), ("01.0001;02.0001", "semi"),
                    (",".join("%02x.0001" % i for i in range(17)), "17")):
        yield "bad-apqns-" + what, KMS_CONF.replace("apqns = 01.0001", "apqns = " + a).encode()
    # libinih ends a value at a NUL; a section without keys is never seen
    yield "odd-nul-byte", b"[hsm]\ndir = /x\0y\n[oops]\n"
    yield "bad-binary", bytes(range(256))
    # a line longer than libinih's buffer: refused, as its tail is no key
    yield "bad-line-300", b"[hsm]\ndir = /" + b"a" * 300 + b"\n"
    yield "bad-long-comment", b"[hsm]\n; " + b"c" * 300 + b"\ndir = /x\n"


def config_corpus():
    yield from config_valid()
    yield from config_broken()


def ttlv_corpus():
    return list(valid()) + list(broken())


CORPORA = {"ttlv": ttlv_corpus, "token": token_corpus, "blob": blob_corpus,
           "config": config_corpus}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vectors", help="directory of PyKMIP *.ttlv vectors to copy")
    ap.add_argument("names", nargs="*", metavar="NAME",
                    help="corpora to write: %s (default: all)" % ", ".join(sorted(CORPORA)))
    args = ap.parse_args()
    for name in args.names:
        if name not in CORPORA:
            ap.error("no corpus %s" % name)
    here = os.path.dirname(os.path.abspath(__file__))
    for name in args.names or sorted(CORPORA):
        out = os.path.join(here, "corpus", name)
        os.makedirs(out, exist_ok=True)
        for file, data in CORPORA[name]():
            with open(os.path.join(out, file), "wb") as f:
                f.write(data)
    if args.vectors:
        out = os.path.join(here, "corpus", "ttlv")
        for name in sorted(os.listdir(args.vectors)):
            if name.endswith(".ttlv"):
                shutil.copyfile(os.path.join(args.vectors, name),
                                os.path.join(out, "pykmip-" + name[:-5]))


if __name__ == "__main__":
    main()
