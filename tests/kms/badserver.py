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
    elif mode == "stall":
        serve_stall(s)
    elif mode in ("slow", "trickle"):
        serve_relay(s, int(argv[4]), float(argv[5]), mode == "trickle")
    else:
        sys.exit("badserver.py: unknown mode " + mode)


if __name__ == "__main__":
    main(sys.argv)
