#!/usr/bin/python3
"""kmip_tool.py: a small KMIP client CLI over PyKMIP's ProxyKmipClient.

Test helper for securekey's KMIP client tests (see kmsenv.sh). Run it with
/usr/bin/python3 (Debian's python3-pykmip).

    kmip_tool.py --port P --cert F --key F --ca F [--host H]
                 [--kmip-version 1.2] [--timeout S] [-v] COMMAND ARGS...

Commands:
    get UID                 key material of the object, lowercase hex, 1 line
    register-aes HEXKEY NAME [--mask N] [--app NAMESPACE=DATA]...
                             [--custom x-NAME=VALUE]...
                            register an AES SymmetricKey (length = 8 * bytes)
                            with Name NAME and Cryptographic Usage Mask N
                            (default 12 = Encrypt|Decrypt), print its UID
    create NAME [--length BITS]
                            let the server create an AES key, print its UID
    locate NAME             UIDs of the objects called NAME, one per line
    attrs UID               "Attribute Name: value" lines (GetAttributes)
    activate UID            Activate
    revoke UID [--compromised]
                            Revoke (reason Cessation of Operation, or Key
                            Compromise with --compromised)
    destroy UID             Destroy
    discover                DiscoverVersions; the versions, one per line
    bench-get UID N         N Gets, each on a new connection (new TLS
                            handshake); prints the total seconds of the
                            N open+get+close as a float

Exit status: 0 ok, 1 the server refused (KMIP result not Success: the
message says "REASON: MESSAGE"), 2 usage, 3 connection/TLS failure,
4 anything else.
"""

import argparse
import binascii
import logging
import os
import ssl
import socket
import sys
import time

PROG = "kmip_tool"

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_CONNECT = 3
EXIT_OTHER = 4

try:
    from kmip import enums
    from kmip.core import objects as cobjects
    from kmip.pie import client as pie_client
    from kmip.pie import exceptions as pie_exceptions
    from kmip.pie import objects as pobjects
except ImportError as e:  # pragma: no cover
    sys.stderr.write(
        "%s: cannot import PyKMIP (%s); run with /usr/bin/python3\n"
        % (PROG, e))
    sys.exit(EXIT_OTHER)


class Usage(Exception):
    pass


def die(code, msg):
    sys.stderr.write("%s: %s\n" % (PROG, msg))
    sys.exit(code)


def kmip_version(text):
    table = {
        "1.0": enums.KMIPVersion.KMIP_1_0,
        "1.1": enums.KMIPVersion.KMIP_1_1,
        "1.2": enums.KMIPVersion.KMIP_1_2,
        "1.3": enums.KMIPVersion.KMIP_1_3,
        "1.4": enums.KMIPVersion.KMIP_1_4,
        "2.0": enums.KMIPVersion.KMIP_2_0,
    }
    if text not in table:
        raise argparse.ArgumentTypeError(
            "KMIP version must be one of %s" % ", ".join(sorted(table)))
    return table[text]


def make_client(args):
    # config_file=os.devnull: never read ~/.pykmip/pykmip.conf or
    # /etc/pykmip/pykmip.conf (HOME may be unset, /etc must not matter).
    return pie_client.ProxyKmipClient(
        hostname=args.host,
        port=args.port,
        cert=args.cert,
        key=args.key,
        ca=args.ca,
        ssl_version="PROTOCOL_SSLv23",
        config="client",
        config_file=os.devnull,
        kmip_version=args.kmip_version,
    )


def set_timeout(client, seconds):
    client.proxy.timeout = seconds


def reason_text(e):
    """KmipOperationFailure -> 'ItemNotFound: message'."""
    reason = getattr(e, "reason", None)
    name = reason.name if reason is not None else "?"
    name = "".join(w.capitalize() for w in name.split("_"))
    return "%s: %s" % (name, getattr(e, "message", str(e)))


def hexstr(b):
    return binascii.hexlify(bytes(b)).decode("ascii")


def fmt_value(v):
    """Printable form of an attribute value (kmip.core primitives)."""
    # Name
    if hasattr(v, "name_value") and hasattr(v, "name_type"):
        return "%s (%s)" % (v.name_value.value, v.name_type.value.name)
    # Application Specific Information
    if hasattr(v, "application_namespace") and \
            hasattr(v, "application_data"):
        return "%s=%s" % (v.application_namespace, v.application_data)
    val = getattr(v, "value", v)
    if isinstance(val, (bytes, bytearray)):
        return hexstr(val)
    if hasattr(val, "name") and hasattr(val, "value"):  # enum
        return val.name
    if isinstance(val, list):
        return ", ".join(fmt_value(x) for x in val)
    return str(val)


# ---------------------------------------------------------------- commands

def cmd_get(client, args):
    obj = client.get(args.uid)
    value = getattr(obj, "value", None)
    if value is None:
        raise Usage("object %s has no key material" % args.uid)
    print(hexstr(value))


def mask_flags(mask):
    flags = [e for e in enums.CryptographicUsageMask if e.value & mask]
    rest = mask & ~sum(e.value for e in flags)
    if rest:
        raise Usage("unknown Cryptographic Usage Mask bits 0x%x" % rest)
    return flags


def build_register_template(client, args, key_len_bits):
    af = client.attribute_factory
    attrs = [
        af.create_attribute(enums.AttributeType.CRYPTOGRAPHIC_ALGORITHM,
                            enums.CryptographicAlgorithm.AES),
        af.create_attribute(enums.AttributeType.CRYPTOGRAPHIC_LENGTH,
                            key_len_bits),
        af.create_attribute(enums.AttributeType.CRYPTOGRAPHIC_USAGE_MASK,
                            mask_flags(args.mask)),
        af.create_attribute(enums.AttributeType.NAME, args.name),
    ]
    for i, spec in enumerate(args.app or []):
        if "=" not in spec:
            raise Usage("--app wants NAMESPACE=DATA, got %r" % spec)
        ns, data = spec.split("=", 1)
        attrs.append(af.create_attribute(
            enums.AttributeType.APPLICATION_SPECIFIC_INFORMATION,
            {"application_namespace": ns, "application_data": data},
            index=i if i > 0 else None))
    for spec in args.custom or []:
        if "=" not in spec or not spec.startswith("x-"):
            raise Usage("--custom wants x-NAME=VALUE, got %r" % spec)
        n, v = spec.split("=", 1)
        attrs.append(af.create_attribute(n, v))
    return cobjects.TemplateAttribute(attributes=attrs)


def check_register_aes(args):
    try:
        key = binascii.unhexlify(args.hexkey)
    except (binascii.Error, ValueError):
        raise Usage("HEXKEY is not hex: %r" % args.hexkey)
    # 64 bytes: an XTS pair (two AES-256 keys), as securekey registers it
    if len(key) not in (16, 24, 32, 64):
        raise Usage("an AES key has 16, 24, 32 or 64 (XTS) bytes, not %d" % len(key))
    if args.mask is None:
        args.mask = (enums.CryptographicUsageMask.ENCRYPT.value |
                     enums.CryptographicUsageMask.DECRYPT.value)
    mask_flags(args.mask)
    for spec in args.app or []:
        if "=" not in spec:
            raise Usage("--app wants NAMESPACE=DATA, got %r" % spec)
    for spec in args.custom or []:
        if "=" not in spec or not spec.startswith("x-"):
            raise Usage("--custom wants x-NAME=VALUE, got %r" % spec)
    return key


def cmd_register_aes(client, args):
    key = check_register_aes(args)
    # ProxyKmipClient.register() only sends Name, Usage Mask and Operation
    # Policy Name; build the template ourselves to send all attributes.
    sym = pobjects.SymmetricKey(enums.CryptographicAlgorithm.AES,
                                len(key) * 8, key)
    template = build_register_template(client, args, len(key) * 8)
    secret = client.object_factory.convert(sym)
    result = client.proxy.register(enums.ObjectType.SYMMETRIC_KEY,
                                   template, secret)
    check_result(result)
    print(result.uuid)


def cmd_create(client, args):
    masks = [enums.CryptographicUsageMask.ENCRYPT,
             enums.CryptographicUsageMask.DECRYPT]
    uid = client.create(enums.CryptographicAlgorithm.AES, args.length,
                        name=args.name, cryptographic_usage_mask=masks)
    print(uid)


def check_result(result):
    status = result.result_status.value
    if status != enums.ResultStatus.SUCCESS:
        raise pie_exceptions.KmipOperationFailure(
            status, result.result_reason.value, result.result_message.value)


def cmd_locate(client, args):
    af = client.attribute_factory
    name = af.create_attribute(enums.AttributeType.NAME, args.name)
    for uid in client.locate(attributes=[name]):
        print(uid)


def cmd_attrs(client, args):
    _, attrs = client.get_attributes(args.uid)
    for a in attrs:
        name = a.attribute_name.value
        idx = ""
        if a.attribute_index is not None and a.attribute_index.value:
            idx = "[%d]" % a.attribute_index.value
        print("%s%s: %s" % (name, idx, fmt_value(a.attribute_value)))


def cmd_activate(client, args):
    client.activate(args.uid)


def cmd_revoke(client, args):
    reason = (enums.RevocationReasonCode.KEY_COMPROMISE if args.compromised
              else enums.RevocationReasonCode.CESSATION_OF_OPERATION)
    kwargs = {}
    if args.compromised:
        kwargs["compromise_occurrence_date"] = int(time.time())
    client.revoke(reason, args.uid, **kwargs)


def cmd_destroy(client, args):
    client.destroy(args.uid)


def cmd_discover(client, args):
    result = client.proxy.discover_versions()
    check_result(result)
    for v in result.protocol_versions:
        print("%d.%d" % (v.major, v.minor))


def cmd_bench_get(client_unused, args):
    if args.n < 1:
        raise Usage("N must be >= 1")
    expect = None
    total = 0.0
    for i in range(args.n):
        client = make_client(args)
        set_timeout(client, args.timeout)
        t0 = time.perf_counter()
        client.open()
        try:
            obj = client.get(args.uid)
        finally:
            client.close()
        total += time.perf_counter() - t0
        v = bytes(getattr(obj, "value", b""))
        if expect is None:
            expect = v
        elif v != expect:
            raise Usage("Get %d returned other key material" % i)
    print("%.6f" % total)


COMMANDS_WITHOUT_CONNECTION = {"bench-get"}


def build_parser():
    p = argparse.ArgumentParser(
        prog="kmip_tool.py",
        description="KMIP client CLI over PyKMIP (test helper)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--cert", required=True, help="client certificate (PEM)")
    p.add_argument("--key", required=True, help="client key (PEM)")
    p.add_argument("--ca", required=True, help="CA of the server cert")
    p.add_argument("--kmip-version", type=kmip_version, default="1.2",
                   help="protocol version of requests (default 1.2)")
    p.add_argument("--timeout", type=int, default=10,
                   help="socket timeout in seconds (default 10)")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="PyKMIP client logging on stderr")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    s = sub.add_parser("get")
    s.add_argument("uid")
    s.set_defaults(func=cmd_get)

    s = sub.add_parser("register-aes")
    s.add_argument("hexkey")
    s.add_argument("name")
    s.add_argument("--mask", type=int, default=None)
    s.add_argument("--app", action="append", metavar="NAMESPACE=DATA")
    s.add_argument("--custom", action="append", metavar="x-NAME=VALUE")
    s.set_defaults(func=cmd_register_aes)

    s = sub.add_parser("create")
    s.add_argument("name")
    s.add_argument("--length", type=int, default=256)
    s.set_defaults(func=cmd_create)

    s = sub.add_parser("locate")
    s.add_argument("name")
    s.set_defaults(func=cmd_locate)

    s = sub.add_parser("attrs")
    s.add_argument("uid")
    s.set_defaults(func=cmd_attrs)

    s = sub.add_parser("activate")
    s.add_argument("uid")
    s.set_defaults(func=cmd_activate)

    s = sub.add_parser("revoke")
    s.add_argument("uid")
    s.add_argument("--compromised", action="store_true")
    s.set_defaults(func=cmd_revoke)

    s = sub.add_parser("destroy")
    s.add_argument("uid")
    s.set_defaults(func=cmd_destroy)

    s = sub.add_parser("discover")
    s.set_defaults(func=cmd_discover)

    s = sub.add_parser("bench-get")
    s.add_argument("uid")
    s.add_argument("n", type=int)
    s.set_defaults(func=cmd_bench_get)
    return p


def main(argv=None):
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return EXIT_USAGE if e.code else 0

    if args.verbose:
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
    else:
        # PyKMIP logs connection errors itself; we print our own message.
        logging.disable(logging.CRITICAL)

    for f in (args.cert, args.key, args.ca):
        if not os.path.isfile(f):
            die(EXIT_USAGE, "no such file: %s" % f)

    client = None
    try:
        if args.command == "register-aes":
            check_register_aes(args)  # before connecting
        if args.command in COMMANDS_WITHOUT_CONNECTION:
            args.func(None, args)
        else:
            client = make_client(args)
            set_timeout(client, args.timeout)
            client.open()
            try:
                args.func(client, args)
            finally:
                client.close()
    except Usage as e:
        die(EXIT_USAGE, str(e))
    except pie_exceptions.KmipOperationFailure as e:
        die(EXIT_FAILED, "%s failed: %s" % (args.command, reason_text(e)))
    except (ssl.SSLError, socket.error, ConnectionError) as e:
        die(EXIT_CONNECT, "%s: connection to %s:%d failed: %s"
            % (args.command, args.host, args.port, e))
    except Exception as e:  # PyKMIP raises bare exceptions on bad replies
        die(EXIT_OTHER, "%s: %s: %s"
            % (args.command, type(e).__name__, e))
    return 0


if __name__ == "__main__":
    sys.exit(main())
