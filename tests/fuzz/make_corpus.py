#!/usr/bin/env python3
"""Write the hand-made seed corpus of fuzz_ttlv into corpus/ttlv/.

Valid KMIP messages of the shapes securekey sends and receives, and broken
ones for each of the decoder's refusals. Files named pykmip-* are copies of
tests/kms/vectors/*.ttlv (real messages encoded by PyKMIP) and are left
alone; run with --vectors DIR to (re)copy them.

    python3 tests/fuzz/make_corpus.py [--vectors tests/kms/vectors]
"""
import argparse
import os
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


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vectors", help="directory of PyKMIP *.ttlv vectors to copy")
    args = ap.parse_args()
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "ttlv")
    os.makedirs(out, exist_ok=True)
    for name, data in list(valid()) + list(broken()):
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    if args.vectors:
        for name in sorted(os.listdir(args.vectors)):
            if name.endswith(".ttlv"):
                shutil.copyfile(os.path.join(args.vectors, name),
                                os.path.join(out, "pykmip-" + name[:-5]))


if __name__ == "__main__":
    main()
