#!/usr/bin/python3
"""Hand-made hostile LUKS2 images for the securekey tools (issue 7, item 6).

    make_headers.py OUTDIR plain=IMG [staged=IMG] [big=IMG] [--no-check]

Each base image is a LUKS2 image enrolled by securekey-cryptsetup (token 0,
keyslot 1): "plain" right after enroll (16k metadata), "staged" with a staged
key as well (16k metadata), "big" like plain but formatted with
--luks2-metadata-size 2M so that 1 MiB strings fit in its JSON area. Images
that need a base that was not given are left out (and listed on stderr).

Every image in OUTDIR is a copy of its base with one defect, written straight
into the JSON area (or the binary header) of BOTH header copies, with the
LUKS2 checksum recomputed: sha256 over the 4096-byte binary header whose
csum field (offset 448, 64 bytes) is zeroed, followed by the JSON area
(hdr_size - 4096 bytes: the JSON text, then zero bytes). The secondary copy
sits at offset hdr_size; both keep their seqid, so libcryptsetup sees two
equal, valid copies and has nothing to "recover" (it would otherwise write
the image while merely loading it).

OUTDIR/manifest.tsv, one image a line, TAB-separated:

    NAME  EXPECT  LOADABLE  WHY  SHA256  DESCRIPTION

EXPECT says what the securekey tools must make of the image:
  unloadable  libcryptsetup refuses the header: every command refuses with
              "NAME is not a LUKS device (or its header is damaged)"
  invalid     a securekey token is there but is not acceptable: every
              securekey and securekey-cryptsetup command refuses, naming the
              image, and WHY (an extended regexp) is in its stderr
  notoken     libcryptsetup sees no securekey token: every command refuses
              with "NAME has no securekey token" except enroll, which may
              enroll the image (or refuse, e.g. when no token id is free)
  twotokens   two securekey tokens: every securekey and securekey-cryptsetup
              command refuses naming both; cryptsetup with the plugin may
              unlock by one of them (the plugin judges the token it is given)
  valid       the token parses (an odd but acceptable token, or a defect
              only the HSM or the key can reveal): commands may succeed;
              whatever refuses must change nothing
LOADABLE is "yes" when the defect sits inside a header that libcryptsetup
loads, "no" otherwise. WHY is "-" when there is nothing to match.
SHA256 is the image's, for a test to tell that nothing wrote it.
OUTDIR/manifest.json holds the same as {name: {...}}.

Unless --no-check, each image is loaded with 'cryptsetup luksDump
--disable-external-tokens' (the host's cryptsetup, no plugin) and the
script fails when that disagrees with LOADABLE: the image would not test
what its description claims.
"""

import base64
import copy
import hashlib
import json
import os
import struct
import subprocess
import sys

BIN_SIZE = 4096
CSUM_OFF, CSUM_LEN = 448, 64
SEQID_OFF = 16
UUID_OFF, UUID_LEN = 168, 40
LABEL_OFF, LABEL_LEN = 24, 48
# json-c's default nesting limit (JSON_TOKENER_DEFAULT_DEPTH), used by
# libcryptsetup and by the securekey token parser alike.
JSON_DEPTH = 32

FOREIGN = {"type": "x-hostile", "keyslots": []}


def die(msg):
    sys.exit("make_headers.py: " + msg)


def dump(obj):
    """Compact JSON as libcryptsetup writes it (json-c PLAIN: no spaces)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


class Base:
    """One enrolled LUKS2 image: its binary headers, JSON and token."""

    def __init__(self, name, path):
        self.name, self.path = name, path
        with open(path, "rb") as f:
            primary = f.read(BIN_SIZE)
            if primary[:6] != b"LUKS\xba\xbe" or struct.unpack(">H", primary[6:8])[0] != 2:
                die("%s is not a LUKS2 image" % path)
            self.hdr_size = struct.unpack(">Q", primary[8:16])[0]
            self.area = self.hdr_size - BIN_SIZE
            text = f.read(self.area).rstrip(b"\0")
            f.seek(self.hdr_size)
            secondary = f.read(BIN_SIZE)
            if secondary[:6] != b"SKUL\xba\xbe":
                die("%s has no secondary LUKS2 header at %d" % (path, self.hdr_size))
        self.bins = [(0, primary), (self.hdr_size, secondary)]
        self.json = json.loads(text)
        ids = [i for i, t in self.json["tokens"].items() if t.get("type") == "securekey"]
        if len(ids) != 1:
            die("%s: expected one securekey token, found %r" % (path, ids))
        self.token_id = ids[0]
        self.token = self.json["tokens"][self.token_id]
        self.blob = base64.b64decode(self.token["secure_key"])
        self.uuid = primary[UUID_OFF:UUID_OFF + UUID_LEN].rstrip(b"\0").decode()

    def write(self, out, text, binary=None, bad_csum=False):
        """Copy the base to OUT with TEXT as JSON area in both headers;
        BINARY(bytearray) may change each binary header first; BAD_CSUM
        flips a bit of each checksum."""
        if len(text) >= self.area:
            die("%s: JSON of %d bytes does not fit the %d-byte area" % (out, len(text), self.area))
        area = text + bytes(self.area - len(text))
        sparse_copy(self.path, out)
        with open(out, "r+b") as f:
            for offset, hdr in self.bins:
                hdr = bytearray(hdr)
                if binary:
                    binary(hdr)
                hdr[CSUM_OFF:CSUM_OFF + CSUM_LEN] = bytes(CSUM_LEN)
                csum = hashlib.sha256(bytes(hdr) + area).digest()
                hdr[CSUM_OFF:CSUM_OFF + len(csum)] = csum
                if bad_csum:
                    hdr[CSUM_OFF] ^= 1
                f.seek(offset)
                f.write(hdr)
                f.write(area)


def sparse_copy(src, dst):
    """Copy SRC to DST leaving holes where SRC has zero blocks: a hundred
    4 MiB images then take a few MiB of disk."""
    block = 65536
    zero = bytes(block)
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        while True:
            chunk = fin.read(block)
            if not chunk:
                break
            if chunk == zero[:len(chunk)]:
                fout.seek(len(chunk), os.SEEK_CUR)
            else:
                fout.write(chunk)
        fout.truncate()


def b64(raw):
    return base64.b64encode(bytes(raw)).decode()


def patch(blob, offset, new):
    return bytes(blob[:offset]) + bytes(new) + bytes(blob[offset + len(new):])


# Blob layout (lib/hsm/blob.h): magic[4] version u8 type u8 bits u16 MKVP[8]
# nonce[12] ciphertext tag[16].
BLOB_MKVP = 8


class Maker:
    def __init__(self, outdir, bases):
        self.outdir, self.bases = outdir, bases
        self.images = {}
        self.skipped = []
        self.escapes = []

    def add(self, name, expect, loadable, why, desc, base, text, binary=None, bad_csum=False):
        if name in self.images:
            die("two images named " + name)
        if base not in self.bases:
            self.skipped.append(name)
            return
        self.bases[base].write(os.path.join(self.outdir, name + ".img"), text, binary, bad_csum)
        self.images[name] = {"expect": expect, "loadable": loadable, "why": why or "-",
                             "description": desc, "base": base}

    # --- helpers building the JSON text of an image from a base

    def hdr(self, base="plain"):
        return copy.deepcopy(self.bases[base].json) if base in self.bases else None

    def tok(self, name, expect, why, desc, change, base="plain", loadable=True, raw=None):
        """CHANGE(token) edits a copy of the securekey token; RAW maps
        placeholder strings to the raw bytes that replace them (quotes
        included) in the JSON text."""
        if base not in self.bases:
            self.skipped.append(name)
            return
        h = self.hdr(base)
        t = h["tokens"][self.bases[base].token_id]
        change(t)
        self.text(name, expect, why, desc, h, base, loadable, raw)

    def text(self, name, expect, why, desc, h, base="plain", loadable=True, raw=None):
        text = dump(h)
        for placeholder, replacement in (raw or {}).items():
            quoted = dump(placeholder)
            if text.count(quoted) != 1:
                die("%s: placeholder %s found %d times" % (name, placeholder, text.count(quoted)))
            text = text.replace(quoted, replacement)
        self.add(name, expect, loadable, why, desc, base, text)

    def room(self, h, base, placeholder="@@FILL@@"):
        """Bytes free for a string in place of PLACEHOLDER (JSON text plus
        at least one trailing zero byte must fit the area)."""
        return self.bases[base].area - len(dump(h)) + len(placeholder) - 1

    def huge(self, name, expect, why, desc, change, base="plain", loadable=True, fill="A"):
        """CHANGE(token, value) puts VALUE somewhere; value is the largest
        string of FILL that fits."""
        if base not in self.bases:
            self.skipped.append(name)
            return
        h = self.hdr(base)
        change(h["tokens"][self.bases[base].token_id], "@@FILL@@")
        n = self.room(h, base)
        h = self.hdr(base)
        change(h["tokens"][self.bases[base].token_id], fill * n)
        self.text(name, expect, why, desc + " (%d bytes)" % n, h, base, loadable)

    def escape(self, name, field, raw):
        """Image NAME holds the bytes RAW in its kms FIELD: escapes.tsv
        says how the tools must show them."""
        if name in self.images:
            self.escapes.append((name, field, escaped(raw)))

    def write_manifest(self):
        for name, i in self.images.items():
            with open(os.path.join(self.outdir, name + ".img"), "rb") as f:
                i["sha256"] = hashlib.sha256(f.read()).hexdigest()
        with open(os.path.join(self.outdir, "escapes.tsv"), "w") as f:
            for name, field, text in self.escapes:
                f.write("%s\t%s\t%s\n" % (name, field, text))
        with open(os.path.join(self.outdir, "manifest.json"), "w") as f:
            json.dump(self.images, f, indent=1, sort_keys=True)
            f.write("\n")
        with open(os.path.join(self.outdir, "manifest.tsv"), "w") as f:
            for name in sorted(self.images):
                i = self.images[name]
                f.write("\t".join([name, i["expect"], "yes" if i["loadable"] else "no",
                                   i["why"], i["sha256"], i["description"]]) + "\n")


def escaped(raw):
    """RAW as lib/base/escape.c shows it: \\n \\r \\t for newline, carriage
    return and tab, \\xNN for the other control bytes (C0, DEL), for the
    bytes of a C1 control U+0080..U+009F and for every byte that is not part
    of valid UTF-8; all else, backslashes included, as it is."""
    out = []
    i = 0
    while i < len(raw):
        c = raw[i]
        n = 1 if c < 0x80 else 2 if 0xc2 <= c <= 0xdf else 3 if 0xe0 <= c <= 0xef \
            else 4 if 0xf0 <= c <= 0xf4 else 0
        seq = raw[i:i + n] if n else b""
        try:
            ch = seq.decode("utf-8") if n and len(seq) == n else None
        except UnicodeDecodeError:
            ch = None
        if ch is None:
            out.append("\\x%02x" % c)
            i += 1
        elif ch in "\n\r\t":
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t"}[ch])
            i += 1
        elif ord(ch) < 0x20 or 0x7f <= ord(ch) <= 0x9f:
            out.append("".join("\\x%02x" % b for b in seq))
            i += n
        else:
            out.append(ch)
            i += n
    return "".join(out)


def setf(field, value):
    def change(t):
        t[field] = copy.deepcopy(value)
    return change


def delf(field):
    def change(t):
        del t[field]
    return change


def nested(depth, leaf=1):
    """A value that is DEPTH arrays deep."""
    v = leaf
    for _ in range(depth):
        v = [v]
    return v


def make(m):
    P = m.bases["plain"]
    tok0 = P.token
    blob = P.blob
    good_b64 = tok0["secure_key"]
    good_mkvp = tok0["mkvp"]
    INV = "invalid"
    sk_inv = "field 'secure_key'"
    # A blob that does not parse: the parser's line comes first ("secure key
    # is corrupt: ..."; the batch report of 'securekey reencipher' shows it
    # alone), then the token's.
    blob_inv = "secure key is corrupt|field 'secure_key'"

    # ---------------------------------------------------- wrong JSON types
    for kind, value in [("int", 12345), ("null", None), ("array", [good_b64])]:
        m.tok("secure_key-" + kind, INV, sk_inv, "secure_key is a JSON %s, not a string" % kind,
              setf("secure_key", value))
    m.tok("secure_key-missing", INV, sk_inv, "no secure_key field", delf("secure_key"))
    m.tok("secure_key-empty", INV, sk_inv, "secure_key is the empty string", setf("secure_key", ""))

    unl = "is not a LUKS device \\(or its header is damaged\\)"
    for kind, value in [("string", "1"), ("int-item", [1])]:
        m.tok("keyslots-" + kind, "unloadable", unl,
              "token keyslots is %s (libcryptsetup wants an array of strings)" % kind,
              setf("keyslots", value), loadable=False)
    m.tok("keyslots-empty", INV, "field 'keyslots' lists no keyslot", "keyslots is []",
          setf("keyslots", []))
    m.tok("keyslots-two", INV, "field 'keyslots' must list exactly one",
          "keyslots names two keyslots", setf("keyslots", ["1", "0"]))
    for kind, value in [("overflow", "99999999999"), ("negative", "-1"), ("nonnumeric", "x")]:
        m.tok("keyslots-" + kind, "unloadable", unl,
              "keyslots [%r] names no existing keyslot (libcryptsetup refuses)" % value[:20],
              setf("keyslots", [value]), loadable=False)
    m.tok("keyslots-passphrase-slot", "valid", None,
          "keyslots names the passphrase keyslot 0 (parses; the key does not open it)",
          setf("keyslots", ["0"]))

    # Keyslot 1 renamed, the token and the digest naming the new id.
    # libcryptsetup turns keyslot ids into numbers with atoi(), so it refuses
    # the ids that do not read back as themselves; it accepts 32, which is
    # beyond the 32 keyslots of LUKS2 (0..31).
    for kind, new_id, expect, why in [
            ("32", "32", INV, "field 'keyslots' must hold a keyslot number 0..31"),
            ("overflow", "99999999999", "unloadable", unl),
            ("leading-zero", "01", "unloadable", unl)]:
        h = m.hdr()
        h["keyslots"][new_id] = h["keyslots"].pop("1")
        for d in h["digests"].values():
            d["keyslots"] = [new_id if k == "1" else k for k in d["keyslots"]]
        h["tokens"][P.token_id]["keyslots"] = [new_id]
        m.text("keyslot-id-" + kind, expect, why,
               "keyslot 1 renamed to %s, the token names it" % new_id[:20], h,
               loadable=expect != "unloadable")

    for kind, value in [("string", "01.0001,02.0001"), ("int-items", [1, 2]),
                        ("null", None), ("empty", []), ("bad-form", ["1.1"]),
                        ("dup", ["01.0001", "01.0001"]),
                        ("17", ["%02x.%04x" % (i, 1) for i in range(1, 18)])]:
        m.tok("apqns-" + kind, INV, "field 'apqns'", "apqns %s: %s" % (kind, json.dumps(value)[:40]),
              setf("apqns", value))
    m.tok("apqns-missing", INV, "field 'apqns'", "no apqns field", delf("apqns"))
    m.tok("apqns-unknown", "valid", None,
          "apqns [\"0f.00ff\"]: well-formed, no such APQN in the HSM", setf("apqns", ["0f.00ff"]))

    mkvp_inv = "field 'secure_key' has no 'mkvp'|field 'mkvp'"
    for kind, value in [("int", 1234567890123456), ("short", good_mkvp[:15]), ("nonhex", "zz" + good_mkvp[2:])]:
        m.tok("mkvp-" + kind, INV, mkvp_inv, "mkvp %s: %s" % (kind, json.dumps(value)),
              setf("mkvp", value))
    m.tok("mkvp-missing", INV, mkvp_inv, "no mkvp field", delf("mkvp"))
    other = "%016x" % (int(good_mkvp, 16) ^ 1)
    m.tok("mkvp-mismatch", INV, "differs from its secure key's",
          "mkvp names another master key than the blob", setf("mkvp", other))

    ver = "field 'version'"
    for kind, value in [("string", "1"), ("float", 1.0), ("two", 2), ("wrap32", 4294967297),
                        ("wrap64", 18446744073709551617)]:
        m.tok("version-" + kind, INV, ver, "version %s: %s" % (kind, json.dumps(value)),
              setf("version", value))
    m.tok("version-missing", INV, ver, "no version field", delf("version"))
    m.tok("version-exp", INV, ver, "version 1e400 (overflows a double)", setf("version", "@@V@@"),
          raw={"@@V@@": b"1e400"})

    kt = "field 'key_type'"
    for kind, value in [("int", 512), ("unknown", "aes-xts-1024")]:
        m.tok("key_type-" + kind, INV, kt, "key_type %s: %s" % (kind, json.dumps(value)),
              setf("key_type", value))
    m.tok("key_type-missing", INV, kt, "no key_type field", delf("key_type"))
    m.tok("key_type-mismatch", INV, "another type than 'key_type'",
          "key_type aes-256 while the blob holds an aes-xts-512 key", setf("key_type", "aes-256"))

    m.tok("type-nul", INV, "field 'type'",
          "type \"securekey\\u0000x\": a C string compare sees \"securekey\"",
          setf("type", "securekey\0x"))
    m.tok("type-case", "notoken", None, "type \"SecureKey\": a foreign token",
          setf("type", "SecureKey"))
    m.tok("type-non-utf8", "notoken", None, "type \"securekey\\xff\" (not UTF-8): a foreign token",
          setf("type", "@@T@@"), raw={"@@T@@": b'"securekey\xff"'})
    m.tok("type-int", "unloadable", unl, "token type is a number (libcryptsetup refuses)",
          setf("type", 7), loadable=False)

    # -------------------------------------------------------- staged key
    if "staged" in m.bases:
        S = m.bases["staged"]
        st = S.token["staged"]
        sblob = base64.b64decode(st["secure_key"])
        stg = "field 'staged'"
        for kind, value in [("string", "x"), ("null", None), ("empty", {})]:
            m.tok("staged-" + kind, INV, stg, "staged %s: %s" % (kind, json.dumps(value)[:40]),
                  setf("staged", value), base="staged")

        def staged(**change):
            def f(t):
                for k, v in change.items():
                    if v is None:
                        del t["staged"][k]
                    else:
                        t["staged"][k] = v
            return f
        m.tok("staged-secure_key-int", INV, stg, "staged.secure_key is a number",
              staged(secure_key=7), base="staged")
        m.tok("staged-b64-truncated", INV, stg, "staged.secure_key lacks its last base64 character",
              staged(secure_key=st["secure_key"][:-1]), base="staged")
        m.tok("staged-mkvp-mismatch", INV, "field 'staged' has an 'mkvp' that differs",
              "staged.mkvp differs from the staged blob's",
              staged(mkvp="%016x" % (int(st["mkvp"], 16) ^ 1)), base="staged")
        other_type = patch(sblob[:16], 5, b"\x01\x01\x00") + sblob[16:16 + 12 + 32 + 16]
        m.tok("staged-other-type", INV, "holds a key of another type",
              "staged blob is a well-formed aes-256 blob, the token says aes-xts-512",
              staged(secure_key=b64(other_type)), base="staged")
        m.tok("staged-flip", "valid", None,
              "staged blob with one ciphertext bit flipped (only the HSM can tell)",
              staged(secure_key=b64(patch(sblob, 40, [sblob[40] ^ 1]))), base="staged")
        unknown = patch(sblob, BLOB_MKVP, bytes.fromhex("%016x" % (int(st["mkvp"], 16) ^ 0xff)))
        m.tok("staged-unknown-mkvp", "valid", None,
              "staged blob and mkvp consistently name a master key in no register",
              staged(secure_key=b64(unknown), mkvp=unknown[8:16].hex()), base="staged")
        m.tok("staged-nested", "valid", None,
              "staged with an unknown field nested %d deep" % (JSON_DEPTH - 6),
              staged(x=nested(JSON_DEPTH - 6)), base="staged")
    else:
        m.skipped.append("staged-*")

    # --------------------------------------------------------------- KMS
    kms = {"servers": ["kmip://127.0.0.1:1"], "key_id": "hostile-key-1", "name": P.uuid}

    def with_kms(**change):
        def f(t):
            t["kms"] = copy.deepcopy(kms)
            for k, v in change.items():
                if v is None:
                    del t["kms"][k]
                else:
                    t["kms"][k] = v
        return f
    m.tok("kms-unreachable", "valid", None,
          "a well-formed kms object naming kmip://127.0.0.1:1 (nothing listens; no KMS configured)",
          with_kms())
    for kind, value in [("string", "kmip://127.0.0.1:1"), ("null", None),
                        ("empty", {})]:
        m.tok("kms-" + kind, INV, "field 'kms", "kms %s: %s" % (kind, json.dumps(value)[:40]),
              setf("kms", value))
    for name, change, why, desc in [
            ("servers-9", with_kms(servers=["kmip://127.0.0.%d:1" % i for i in range(1, 10)]),
             "kms.servers", "kms.servers lists 9 servers (8 at most)"),
            ("servers-int", with_kms(servers=[5696]), "kms.servers", "kms.servers holds a number"),
            ("servers-http", with_kms(servers=["http://127.0.0.1:1"]), "kms.servers",
             "kms.servers holds an http:// URL"),
            ("servers-300", with_kms(servers=["kmip://" + "a" * 293]), "kms.servers",
             "a 300-byte server URL (299 at most)"),
            ("key_id-int", with_kms(key_id=1), "kms.key_id", "kms.key_id is a number"),
            ("key_id-300", with_kms(key_id="k" * 300), "kms.key_id", "a 300-byte kms.key_id"),
            ("name-null", with_kms(name=None), "kms.name", "kms without name"),
            ("name-nul", with_kms(name="a\0b"), "kms.name", "kms.name \"a\\u0000b\""),
            ]:
        m.tok("kms-" + name, INV, "field '" + why, desc, change)
    m.tok("kms-servers-299", "valid", None, "a 299-byte server URL (the longest allowed)",
          with_kms(servers=["kmip://" + "a" * 292]))
    m.tok("kms-name-non-utf8", "valid", None, "kms.name holds bytes that are not UTF-8",
          with_kms(name="@@N@@"), raw={"@@N@@": b'"\xff\xfe\xc3("'})
    m.tok("kms-key_id-surrogate", "valid", None, "kms.key_id is a lone UTF-16 surrogate \\ud800",
          with_kms(key_id="@@K@@"), raw={"@@K@@": b'"\\ud800"'})
    m.huge("kms-key_id-huge", INV, "field 'kms.key_id", "kms.key_id as long as the area allows",
           lambda t, v: with_kms(key_id=v)(t))

    # ------------------------------------ text for logs and terminals
    # kms.key_id, kms.servers and kms.name reach log lines, the journal, the
    # kernel log and terminals; what they hold must come out escaped (see
    # escaped() below and lib/base/escape.h): a newline must not start a line of
    # its own ("<0>" is an emergency priority to /dev/kmsg and the journal),
    # escape sequences must not reach a terminal. OUTDIR/escapes.tsv lists,
    # one image and field a line, the escaped text the tools must show.
    emerg = "\n<0>securekey: EMERGENCY from the header"
    for name, field, value in [
            ("esc-key_id-newline", "key_id", "hostile-key" + emerg),
            ("esc-servers-newline", "servers", "kmip://127.0.0.1:1" + emerg),
            ("esc-name-newline", "name", "hostile-name" + emerg),
            ("esc-key_id-csi", "key_id", "\x1b[2J\x1b[1;31mcleared\x1b[0m"),
            ("esc-servers-osc", "servers", "kmip://127.0.0.1:1/\x1b]0;title\x07"),
            ("esc-name-osc", "name", "\x1b]0;title\x07"),
            ("esc-key_id-c1", "key_id", "c1-\u009b2J-\u0085-\u009d0;title\u009c"),
            ("esc-key_id-controls", "key_id", "del\x7f-cr\r-tab\t-bs\b-bell\a-bs\\n-\u00e9"),
            ]:
        m.tok(name, "valid", None,
              "kms.%s %s (escaped in logs and on terminals)" % (field, json.dumps(value)[:60]),
              with_kms(**{field: [value] if field == "servers" else value}))
        m.escape(name, field, value.encode())
    # Bytes that are not UTF-8, raw in the JSON text: libcryptsetup loads
    # the header, the token parser refuses the token as a whole (JSON is
    # UTF-8), so they reach no output; lib/base/escape.c would show them as \xNN.
    raw = b"bad-\x9b2J-\xc2-\xff-\xe2\x80-\xed\xa0\x80"
    m.tok("esc-key_id-non-utf8", INV, "not valid JSON: invalid utf-8",
          "kms.key_id %r (not UTF-8)" % raw, with_kms(key_id="@@K@@"),
          raw={"@@K@@": b'"' + raw + b'"'})
    # refused: the refusal says why without the text
    m.tok("esc-servers-refused", INV, "field 'kms.servers'",
          "kms.servers holds \"\\u001b]0;title\\u0007http://x\" (not kmip://)",
          with_kms(servers=["\x1b]0;title\x07http://x" + emerg]))
    m.tok("esc-key_id-refused", INV, "field 'kms.key_id'",
          "kms.key_id of 300 bytes with escape sequences and newlines",
          with_kms(key_id=(("\x1b[2J" + emerg) * 7)[:300]))

    # ---------------------------------------------- non-UTF-8, NUL bytes
    # the token text is refused as a whole before any field is looked at
    m.tok("non-utf8-secure_key", INV, "not valid JSON: invalid utf-8", "secure_key with bytes 0xff 0xfe in front",
          setf("secure_key", "@@S@@"), raw={"@@S@@": b'"\xff\xfe' + good_b64.encode() + b'"'})
    m.tok("non-utf8-apqn", INV, "not valid JSON: invalid utf-8", "an APQN \"01.00\\xe9\\x01\" (not UTF-8)",
          setf("apqns", ["@@A@@"]), raw={"@@A@@": b'"01.00\xe9\x01"'})
    m.tok("non-utf8-unknown", "valid", None,
          "an unknown field whose name and value are not UTF-8 (kept as it is)",
          setf("@@U@@", "@@V@@"), raw={"@@U@@": b'"\xc0\xaf\xff"', "@@V@@": b'"\xfe\xff"'})
    m.tok("nul-secure_key", INV, sk_inv, "secure_key \"\\u0000\" + the real base64",
          setf("secure_key", "\0" + good_b64))
    m.tok("nul-apqn", INV, "field 'apqns'", "an APQN \"01.0001\\u0000\"",
          setf("apqns", ["01.0001\0", "02.0001"]))
    m.tok("nul-mkvp", INV, mkvp_inv, "mkvp with \\u0000 after its 16 digits",
          setf("mkvp", good_mkvp + "\0"))
    m.tok("nul-key_type", INV, kt, "key_type \"aes-xts-512\\u0000\"", setf("key_type", "aes-xts-512\0"))
    m.tok("nul-raw-byte", "unloadable", unl,
          "a raw NUL byte inside the JSON text (inside the token)", setf("@@Z@@", 1),
          raw={"@@Z@@": b'"z\0z"'}, loadable=False)
    m.tok("control-chars", INV, sk_inv, "secure_key with raw control bytes 0x01 0x1f",
          setf("secure_key", "@@C@@"), raw={"@@C@@": b'"\x01\x1f' + good_b64.encode() + b'"'})

    # ----------------------------------------------------------- base64
    m.tok("b64-truncated-4", INV, blob_inv,
          "secure_key without its last 4 characters (3 bytes short)", setf("secure_key", good_b64[:-4]))
    for name, value, desc in [
            ("b64-truncated-1", good_b64[:-1], "secure_key without its last character"),
            ("b64-newline", good_b64[:40] + "\n" + good_b64[40:], "a newline inside secure_key"),
            ("b64-url", good_b64.replace("+", "-").replace("/", "_") if ("+" in good_b64 or "/" in good_b64)
             else "-_" + good_b64[2:], "secure_key in the URL alphabet (-_)"),
            ("b64-bad-char", good_b64[:-4] + "!!!!", "secure_key ending in !!!!"),
            ("b64-pad-middle", good_b64[:40] + "==" + good_b64[42:], "padding inside secure_key")]:
        m.tok(name, INV, sk_inv, desc, setf("secure_key", value))

    # ------------------------------------------------------------- blobs
    def blob_img(name, raw, desc, why=blob_inv, expect=INV, mkvp=None):
        def f(t):
            t["secure_key"] = b64(raw)
            if mkvp:
                t["mkvp"] = mkvp
        m.tok(name, expect, why, desc, f)
    blob_img("blob-short-1", blob[:-1], "the blob one byte short")
    blob_img("blob-header-only", blob[:28], "only the 28-byte blob header")
    blob_img("blob-magic", patch(blob, 0, b"SKEX"), "blob magic SKEX")
    blob_img("blob-version", patch(blob, 4, b"\x02"), "blob version 2")
    blob_img("blob-type-0", patch(blob, 5, b"\x00"), "blob key type 0")
    blob_img("blob-type-identity", patch(blob, 5, b"\x0c"),
             "blob key type 12 (identity key, 512 bits: well-formed, not a volume key)",
             why="another type than 'key_type'|" + blob_inv)
    blob_img("blob-bits-256", patch(blob, 6, b"\x01\x00"),
             "blob says 256 bits but carries 512")
    blob_img("blob-mkvp", patch(blob, BLOB_MKVP, [blob[BLOB_MKVP] ^ 1]),
             "blob MKVP differs from the token's mkvp", why="differs from its secure key's")
    unknown = patch(blob, BLOB_MKVP, bytes.fromhex(other))
    blob_img("blob-unknown-mkvp", unknown,
             "blob and mkvp consistently name a master key in no register", expect="valid",
             why="-", mkvp=other)
    blob_img("blob-flip", patch(blob, 40, [blob[40] ^ 0x80]),
             "one ciphertext bit flipped (only the HSM can tell)", expect="valid", why="-")
    m.huge("blob-huge", INV, blob_inv, "secure_key: valid base64 as long as the area allows",
           lambda t, v: t.__setitem__("secure_key", v[:len(v) // 4 * 4]))

    # ------------------------------------------------------ huge strings
    m.huge("huge-unknown", "valid", None, "an unknown field as long as the area allows",
           lambda t, v: t.__setitem__("x_hostile", v))
    m.huge("huge-key_type", INV, kt, "key_type as long as the area allows",
           lambda t, v: t.__setitem__("key_type", v))
    m.huge("huge-apqn", INV, "field 'apqns'", "one APQN as long as the area allows",
           lambda t, v: t.__setitem__("apqns", [v]), fill="1")
    m.huge("huge-type", "notoken", None, "token type \"securekey\" + as much as the area allows",
           lambda t, v: t.__setitem__("type", "securekey" + v))
    mib = 1 << 20
    if "big" in m.bases:
        for name, expect, why, desc, change in [
                ("big-secure_key-1MiB", INV, blob_inv, "secure_key of 1 MiB base64 (2M metadata)",
                 lambda t: t.__setitem__("secure_key", "QUFB" * (mib // 4))),
                ("big-unknown-1MiB", "valid", None, "an unknown 1 MiB string field (2M metadata)",
                 lambda t: t.__setitem__("x_hostile", "x" * mib)),
                ("big-kms-name-1MiB", INV, "field 'kms.name", "kms.name of 1 MiB (2M metadata)",
                 with_kms(name="n" * mib)),
                ("big-apqns-100k", INV, "field 'apqns'", "100000 APQNs (2M metadata)",
                 lambda t: t.__setitem__("apqns", ["01.0001"] * 100000))]:
            m.tok(name, expect, why, desc, change, base="big")
    else:
        m.skipped.append("big-*")

    # --------------------------------------------------- duplicate keys
    # json-c keeps the last of duplicate keys, in libcryptsetup as in securekey.
    m.tok("dup-secure_key-bad-last", INV, sk_inv,
          "secure_key twice: the real one, then a number (the last counts)",
          setf("@@D@@", 0), raw={"@@D@@": b'"secure_key"', })
    def dup_first(t):
        items = list(t.items())
        t.clear()
        t["@@D@@"] = 0
        t.update(items)
    m.tok("dup-secure_key-bad-first", "valid", None,
          "secure_key twice: a number, then the real one (the last counts)",
          dup_first, raw={"@@D@@": b'"secure_key"'})
    m.tok("dup-type-foreign-last", "notoken", None,
          "type twice: \"securekey\", then \"zkey\" (the last counts)",
          setf("@@D@@", "zkey"), raw={"@@D@@": b'"type"'})
    m.tok("dup-apqns-bad-last", INV, "field 'apqns'", "apqns twice, the last is a number",
          setf("@@D@@", 5), raw={"@@D@@": b'"apqns"'})
    h = m.hdr()
    h["tokens"]["@@T@@"] = FOREIGN
    m.text("dup-token-id-foreign-last", "notoken", None,
           "token id 0 twice in tokens: the securekey token, then a foreign one", h,
           raw={"@@T@@": dump(P.token_id)})
    h = m.hdr()
    h["tokens"] = {"@@T@@": FOREIGN, P.token_id: P.token}
    m.text("dup-token-id-securekey-last", "valid", None,
           "token id 0 twice in tokens: a foreign token, then the securekey one", h,
           raw={"@@T@@": dump(P.token_id)})

    # ---------------------------------------------- many tokens, token ids
    def tokens_img(name, expect, why, desc, tokens, loadable=True):
        h = m.hdr()
        h["tokens"] = tokens
        m.text(name, expect, why, desc, h, loadable=loadable)
    many = {str(i): FOREIGN for i in range(32)}
    many["0"] = P.token
    tokens_img("tokens-32", "valid", None, "32 tokens: the securekey token 0 and 31 foreign ones", many)
    tokens_img("tokens-32-foreign", "notoken", None,
               "32 foreign tokens, no securekey token (enroll finds no free token id)",
               {str(i): FOREIGN for i in range(32)})
    many = {str(i): FOREIGN for i in range(100)}
    many["0"] = P.token
    tokens_img("tokens-100", "valid", None,
               "100 tokens (LUKS2 allows 32): securekey token 0, foreign ones 1..99", many)
    tokens_img("token-id-31", "valid", None, "the securekey token has the last id, 31",
               {"31": P.token})
    tokens_img("token-id-32", "notoken", None,
               "the securekey token has id 32, beyond the 32 token ids", {"32": P.token})
    tokens_img("token-id-overflow", "notoken", None,
               "the securekey token has id 99999999999", {"99999999999": P.token})
    tokens_img("token-id-4294967296", "notoken", None,
               "the securekey token has id 4294967296 (0 if truncated to 32 bits)",
               {"4294967296": P.token})
    tokens_img("token-id-negative", "unloadable", unl, "token id -1", {"-1": P.token},
               loadable=False)
    tokens_img("token-id-nonnumeric", "unloadable", unl, "token id \"sk\"", {"sk": P.token},
               loadable=False)
    two = "has two securekey tokens"
    tokens_img("two-securekey", "twotokens", two, "two copies of the securekey token (0 and 31)",
               {"0": P.token, "31": P.token})
    bad = copy.deepcopy(P.token)
    bad["secure_key"] = 1
    tokens_img("two-securekey-one-bad", "twotokens", two,
               "a valid securekey token 0 and an invalid one 1", {"0": P.token, "1": bad})
    junk = {"type": "x-hostile", "keyslots": ["1"], "secure_key": 1, "apqns": "x",
            "deep": nested(JSON_DEPTH - 5), "s": "\0\u0001"}
    tokens_img("foreign-junk", "valid", None,
               "beside the securekey token, a foreign token with securekey-like junk fields",
               {"0": P.token, "1": junk})

    # ----------------------------------------------------------- nesting
    m.tok("deep-nest-ok", "valid", None,
          "an unknown field nested just inside json-c's depth limit of %d" % JSON_DEPTH,
          setf("x_deep", nested(JSON_DEPTH - 4)))
    m.tok("deep-nest-over", "unloadable", unl,
          "an unknown field nested beyond json-c's depth limit", setf("x_deep", nested(JSON_DEPTH + 5)),
          loadable=False)
    m.tok("deep-nest-secure_key", INV, sk_inv, "secure_key is an array nested 20 deep",
          setf("secure_key", nested(20, good_b64)))

    # ----------------------------------------------- structure, checksum
    for kind, value in [("string", "securekey"), ("array", [P.token])]:
        h = m.hdr()
        h["tokens"][P.token_id] = value
        m.text("token-" + kind, "unloadable", unl, "token 0 is a JSON %s" % kind, h, loadable=False)
    h = m.hdr()
    m.add("json-trailing-garbage", "unloadable", False, unl,
          "text after the JSON object in the JSON area", "plain", dump(h) + b" garbage")
    m.add("json-truncated", "unloadable", False, unl,
          "the JSON text cut in the middle of the token", "plain",
          dump(h)[:dump(h).find(good_b64.encode()) + 20])
    m.add("csum-bad", "unloadable", False, unl, "both header checksums wrong", "plain",
          dump(m.hdr()), bad_csum=True)

    # ---------------------------------------------------- binary header
    def set_uuid(value):
        def f(hdr):
            hdr[UUID_OFF:UUID_OFF + UUID_LEN] = value.ljust(UUID_LEN, b"\0")[:UUID_LEN]
        return f
    h = dump(m.hdr())
    m.add("uuid-traversal", "valid", True, None,
          "binary header UUID \"../hostile-escape\": paths built from it must not leave "
          "their directories", "plain", h, set_uuid(b"../hostile-escape"))
    m.add("uuid-empty", "valid", True, None, "binary header UUID empty", "plain", h, set_uuid(b""))
    h = m.hdr()
    h["tokens"] = {}
    m.add("uuid-traversal-notoken", "notoken", True, "LUKS2 UUID is not of the form",
          "binary header UUID \"../hostile-escape\", no token: enroll may enroll it, but "
          "must keep every file it writes inside its directories", "plain", dump(h),
          set_uuid(b"../hostile-escape"))
    m.add("label-non-utf8", "valid", True, None, "binary header label of bytes 0xff", "plain",
          dump(m.hdr()),
          lambda hdr: hdr.__setitem__(slice(LABEL_OFF, LABEL_OFF + LABEL_LEN - 1),
                                      b"\xff" * (LABEL_LEN - 1)))


def main(argv):
    check = "--no-check" not in argv
    args = [a for a in argv if a != "--no-check"]
    if len(args) < 2:
        die("usage: make_headers.py OUTDIR plain=IMG [staged=IMG] [big=IMG] [--no-check]")
    outdir = args[0]
    bases = {}
    for a in args[1:]:
        name, _, path = a.partition("=")
        if name not in ("plain", "staged", "big") or not path:
            die("bad base " + a)
        bases[name] = Base(name, path)
    if "plain" not in bases:
        die("the plain base is required")
    os.makedirs(outdir, exist_ok=True)
    m = Maker(outdir, bases)
    make(m)
    m.write_manifest()
    if m.skipped:
        print("make_headers.py: left out (no base): " + " ".join(m.skipped), file=sys.stderr)
    wrong = []
    if check:
        for name, i in sorted(m.images.items()):
            r = subprocess.run(["cryptsetup", "luksDump", "--disable-external-tokens",
                                os.path.join(outdir, name + ".img")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if (r.returncode == 0) != i["loadable"]:
                wrong.append("%s (luksDump exit %d, manifest says loadable=%s)"
                             % (name, r.returncode, i["loadable"]))
    if wrong:
        die("images that luksDump does not load as the manifest says:\n  " + "\n  ".join(wrong))
    print("%d hostile images in %s" % (len(m.images), outdir))


if __name__ == "__main__":
    main(sys.argv[1:])
