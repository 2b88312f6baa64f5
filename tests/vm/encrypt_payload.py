#!/usr/bin/python3
"""encrypt_payload.py IMAGE VOLUME-KEY-FILE PLAIN-FILE

Write PLAIN-FILE into the data segment of the LUKS2 IMAGE as dm-crypt would
(aes-xts-plain64, 512-byte sectors): the host has no device-mapper, and the
test's root file system must be on the encrypted volume before the guest
boots. Refuses any other cipher or sector size.
"""
import json
import subprocess
import sys

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

SECTOR = 512


def segment(image):
    meta = json.loads(subprocess.run(
        ["cryptsetup", "luksDump", "--dump-json-metadata", image],
        check=True, capture_output=True, text=True).stdout)
    seg = meta["segments"]["0"]
    if seg["encryption"] != "aes-xts-plain64" or seg["sector_size"] != SECTOR:
        sys.exit(f"{image}: segment is {seg['encryption']}/{seg['sector_size']}, "
                 "expected aes-xts-plain64/512")
    return int(seg["offset"]), int(seg.get("iv_tweak", "0"))


def main():
    image, key_file, plain_file = sys.argv[1:4]
    offset, tweak = segment(image)
    with open(key_file, "rb") as f:
        key = f.read()
    with open(plain_file, "rb") as f:
        plain = f.read()
    if len(key) != 64 or len(plain) % SECTOR:
        sys.exit("need a 64-byte key and whole sectors")
    out = bytearray()
    for i in range(0, len(plain), SECTOR):
        iv = (tweak + i // SECTOR).to_bytes(16, "little")
        enc = Cipher(algorithms.AES(key), modes.XTS(iv)).encryptor()
        out += enc.update(plain[i:i + SECTOR]) + enc.finalize()
    with open(image, "r+b") as f:
        f.seek(offset)
        f.write(out)


if __name__ == "__main__":
    main()
