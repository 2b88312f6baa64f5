#!/usr/bin/python3
"""A KMS that misbehaves on purpose, for the fault cases of cli/t_kms,
cli/t_udev and tests/vm/boot_flow.sh.

badserver.py PORT READY_FILE MODE [ARGS...]

  reset CERT KEY CA       a TLS server (client certificate required) that
                          reads one KMIP request, sends the first bytes of a
                          response whose TTLV header promises more, then
                          resets the connection (RST, SO_LINGER 0)
  slow TARGET_PORT SECS   a TCP relay to TARGET_PORT on 127.0.0.1 that holds
                          every chunk back SECS seconds, both ways
  stall                   a TCP server that accepts connections and never
                          sends a byte (a KMS that hangs before TLS)
  kmip TARGET_PORT KMSDIR [nobatch] [close]
                          a KMIP relay to the PyKMIP server on TARGET_PORT:
                          TLS with KMSDIR/server.pem to the client, TLS with
                          KMSDIR/client.pem to the server (the same client
                          identity). With nobatch, a request of more than one
                          batch item is answered with one failed item
                          (Invalid Message), as a server without batches
                          would; with close, the client's connection is
                          closed after each response (an idle timeout)
  trickle TARGET_PORT SECS
                          a TCP relay that passes the server's bytes on one
                          at a time, one every SECS seconds (the client's go
                          through at once): a response that never ends
                          within any sane timeout

It listens on 127.0.0.1:PORT, creates READY_FILE once it does, and serves
until killed.
"""
import socket
import ssl
import struct
import sys
import threading
import time


def listen(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(16)
    return s


def read_exact(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def reset_one(conn, ctx):
    try:
        tls = ctx.wrap_socket(conn, server_side=True)
        header = read_exact(tls, 8)
        read_exact(tls, struct.unpack(">I", header[4:])[0])
        # ResponseMessage (0x42007B, structure) promising 512 bytes, 24 sent
        tls.sendall(b"\x42\x00\x7b\x01" + struct.pack(">I", 512) + b"\x42\x00\x7a\x01" +
                    struct.pack(">I", 496) + b"\x42\x00\x69\x01\x00\x00\x00\x20")
        time.sleep(0.2)
        tls.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        tls.close()
    except (OSError, EOFError, ssl.SSLError):
        conn.close()


def serve_reset(s, cert, key, ca):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.load_verify_locations(ca)
    ctx.verify_mode = ssl.CERT_REQUIRED
    while True:
        conn, _ = s.accept()
        threading.Thread(target=reset_one, args=(conn, ctx), daemon=True).start()


def pump(src, dst, delay, bytewise):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            if bytewise:
                for i in range(len(data)):
                    time.sleep(delay)
                    dst.sendall(data[i:i + 1])
            else:
                time.sleep(delay)
                dst.sendall(data)
    except OSError:
        pass
    for c in (src, dst):
        try:
            c.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def serve_relay(s, target, delay, trickle):
    while True:
        conn, _ = s.accept()
        up = socket.create_connection(("127.0.0.1", target))
        threading.Thread(target=pump, args=(conn, up, 0 if trickle else delay, False),
                         daemon=True).start()
        threading.Thread(target=pump, args=(up, conn, delay, trickle), daemon=True).start()


def ttlv(tag, typ, value):
    pad = (8 - len(value) % 8) % 8
    return struct.pack(">IBI", tag, typ, len(value))[1:] + value + b"\0" * pad


def ttlv_int(tag, typ, n):
    return ttlv(tag, typ, struct.pack(">i", n))


def no_batch_response():
    version = ttlv(0x420069, 1, ttlv_int(0x42006A, 2, 1) + ttlv_int(0x42006B, 2, 2))
    header = ttlv(0x42007A, 1, version + ttlv(0x420092, 9, struct.pack(">q", int(time.time())))
                  + ttlv_int(0x42000D, 2, 1))
    item = ttlv(0x42000F, 1, ttlv_int(0x42007F, 5, 1) + ttlv_int(0x42007E, 5, 4)
                + ttlv(0x42007D, 7, b"batches are not supported"))
    return ttlv(0x42007B, 1, header + item)


def batch_count(request):
    at = request.find(b"\x42\x00\x0d\x02\x00\x00\x00\x04")
    return struct.unpack(">i", request[at + 8:at + 12])[0] if at >= 0 else 1


def read_message(tls):
    header = read_exact(tls, 8)
    return header + read_exact(tls, struct.unpack(">I", header[4:])[0])


def kmip_one(conn, ctx, up_ctx, target, nobatch, close):
    up = None
    try:
        tls = ctx.wrap_socket(conn, server_side=True)
        while True:
            request = read_message(tls)
            if nobatch and batch_count(request) > 1:
                tls.sendall(no_batch_response())
            else:
                if up is None:
                    up = up_ctx.wrap_socket(socket.create_connection(("127.0.0.1", target)),
                                            server_hostname="127.0.0.1")
                up.sendall(request)
                tls.sendall(read_message(up))
            if close:
                tls.close()
                break
    except (OSError, EOFError, ssl.SSLError):
        conn.close()
    if up is not None:
        up.close()


def serve_kmip(s, target, kmsdir, flags):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(kmsdir + "/server.pem", kmsdir + "/server.key")
    ctx.load_verify_locations(kmsdir + "/ca.pem")
    ctx.verify_mode = ssl.CERT_REQUIRED
    up_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    up_ctx.load_cert_chain(kmsdir + "/client.pem", kmsdir + "/client.key")
    up_ctx.load_verify_locations(kmsdir + "/ca.pem")
    while True:
        conn, _ = s.accept()
        threading.Thread(target=kmip_one, daemon=True,
                         args=(conn, ctx, up_ctx, target, "nobatch" in flags,
                               "close" in flags)).start()


def serve_stall(s):
    held = []
    while True:
        held.append(s.accept()[0])


def main(argv):
    port, ready, mode = int(argv[1]), argv[2], argv[3]
    s = listen(port)
    open(ready, "w").close()
    if mode == "reset":
        serve_reset(s, *argv[4:7])
    elif mode == "kmip":
        serve_kmip(s, int(argv[4]), argv[5], argv[6:])
    elif mode == "stall":
        serve_stall(s)
    elif mode in ("slow", "trickle"):
        serve_relay(s, int(argv[4]), float(argv[5]), mode == "trickle")
    else:
        sys.exit("badserver.py: unknown mode " + mode)


if __name__ == "__main__":
    main(sys.argv)
