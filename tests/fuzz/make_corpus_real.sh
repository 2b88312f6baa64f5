#!/bin/sh
# tests/fuzz/make_corpus_real.sh [BUILDDIR]: the real-* seeds of the token
# and blob corpora, taken from what this build's CLI and cryptsetup write:
# secure keys from 'securekey debug wrap' of each key type, and the tokens
# 'cryptsetup token export' prints after enroll, a staged re-encipher and its
# completion on LUKS2 image files of each cipher, with their secure keys.
# The soft HSM's CURRENT master key is made of two key parts whose XOR is
# the fuzz master key (bytes 0x00..0x1f, sk_fuzz_blob_mk), so the fuzzer
# unwraps these blobs too. Needs cryptsetup and python3; run as root (as the
# CLI tests do). make_corpus.py writes the hand-made seeds.
set -eu
SRC=$(cd "$(dirname "$0")/../.." && pwd)
B=$(cd "${1:-$SRC/build}" && pwd)
S=$B/cli/securekey
CR=$B/cli/securekey-cryptsetup
OUT=$SRC/tests/fuzz/corpus
APQNS=01.0001,02.0001

T=$(mktemp -d "${TMPDIR:-/tmp}/sk-corpus.XXXXXX")
trap 'rm -rf "$T"' EXIT
cd "$T"
export SECUREKEY_HSM_DIR="$T/hsm" SECUREKEY_STATE_DIR="$T/state" SECUREKEY_RUN_DIR="$T/run"
export SECUREKEY_CONF="$T/securekey.conf"
umask 077

# parts p1 (random) and p2 = p1 XOR the fuzz master key
head -c 32 /dev/urandom >p1
python3 -c 'import sys
p1 = open("p1", "rb").read()
open("p2", "wb").write(bytes(a ^ i for i, a in enumerate(p1)))'
"$S" hsm init --apqns "$APQNS" --part-file p1 --part-file p2 >/dev/null

for type in aes-xts-512 aes-xts-256 aes-256 aes-192 aes-128; do
	"$S" debug wrap --apqns "$APQNS" --key-type "$type" --out "wrap-$type" >/dev/null
	cp "wrap-$type" "$OUT/blob/real-debug-wrap-$type"
done

printf 'corpus passphrase' >pass
# IMG CIPHER KEY-BITS: a small LUKS2 image enrolled with a securekey token
enrolled() {
	truncate -s 4M "$1"
	cryptsetup luksFormat --type luks2 --luks2-metadata-size 16k --luks2-keyslots-size 1M \
		--cipher "$2" --key-size "$3" --batch-mode --pbkdf pbkdf2 \
		--pbkdf-force-iterations 1000 --key-file pass "$1" >/dev/null
	"$CR" enroll "$1" --apqns "$APQNS" --key-file pass >/dev/null 2>&1
}

# IMG NAME: the token as cryptsetup exports it, and its secure keys
export_token() {
	cryptsetup token export --token-id 0 "$1" >"$OUT/token/real-$2"
	python3 - "$OUT/token/real-$2" "$OUT/blob/real-token-$2" <<'EOF'
import base64, json, sys
token = json.load(open(sys.argv[1]))
open(sys.argv[2], "wb").write(base64.b64decode(token["secure_key"]))
if "staged" in token:
    open(sys.argv[2] + "-staged", "wb").write(base64.b64decode(token["staged"]["secure_key"]))
EOF
}

enrolled xts512 aes-xts-plain64 512
enrolled xts256 aes-xts-plain64 256
enrolled cbc256 aes-cbc-essiv:sha256 256
enrolled cbc128 aes-cbc-essiv:sha256 128
export_token xts512 enrolled-aes-xts-512
export_token xts256 enrolled-aes-xts-256
export_token cbc256 enrolled-aes-256
export_token cbc128 enrolled-aes-128

# a NEW master key: stage, set, complete
head -c 32 /dev/urandom >n1
head -c 32 /dev/urandom >n2
"$S" hsm load-part --apqns "$APQNS" --part-file n1 >/dev/null
"$S" hsm load-part --apqns "$APQNS" --part-file n2 >/dev/null
"$S" hsm commit --apqns "$APQNS" >/dev/null
"$S" debug wrap --apqns "$APQNS" --register new --out wrap-new >/dev/null
cp wrap-new "$OUT/blob/real-debug-wrap-new-register"
"$CR" reencipher xts512 --staged --key-file pass >/dev/null 2>&1
export_token xts512 staged-aes-xts-512
"$S" hsm set --apqns "$APQNS" --force >/dev/null 2>&1
"$CR" reencipher xts512 --complete --key-file pass >/dev/null 2>&1
export_token xts512 completed-aes-xts-512
echo "$(find "$OUT/token" "$OUT/blob" -name 'real-*' | wc -l) real-* seeds written"
