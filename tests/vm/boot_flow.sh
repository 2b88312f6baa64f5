#!/bin/bash
# boot_flow.sh BUILDDIR SRCDIR: the end-to-end boot test of issue 8, run by
# tests/vm/t_boot in its work directory, inside `unshare -n -m` (a private
# network and mount namespace: nothing of the host's network, /etc or /usr
# is touched). Steps:
#  1. A PyKMIP server, a soft HSM, a LUKS2 root volume (ext4 with a static
#     /sbin/init and /data.txt, encrypted on the host) and a data volume,
#     both enrolled; the root bound to the KMS. NEW master key committed.
#  2. securekey installed with prefix /usr into an overlay over /usr, and
#     /etc/crypttab over /etc; mkinitramfs with our hook and Debian's
#     cryptroot; lsinitramfs must list every file the unlock needs.
#  3. Boot 1: cryptroot + our keyscript unlock the root by token (no
#     passphrase), the data reads back; the data volume is activated by
#     token (dm-crypt) and re-enciphered --staged while active.
#  4. On the host: two master-key changes (the root's key under no
#     register), update the initramfs. Boot 2, KMS stalled: the refresh gives
#     up after the [kms] timeout (5 s), the keyscript falls back to the
#     passphrase prompt (answered), nothing on the disk changed.
#  5. Boot 3, KMS up: udev's refresh re-wraps the key in the initramfs, the
#     root unlocks by token; the host sees the key under CURRENT.
set -euo pipefail

BUILD=$1
SRC=$2
WORK=$PWD
VM=$SRC/tests/vm
SECUREKEY=$BUILD/cli/securekey
CR=$BUILD/cli/securekey-cryptsetup
APQNS=01.0001,02.0001
ROOT_UUID=5ec0e4e7-0000-4000-8000-000000000001
DATA_UUID=5ec0e4e7-0000-4000-8000-000000000002
. "$VM/vmlib.sh"
KVER=$(vm_kernel)
CMDLINE="console=ttyS0 panic=-1 net.ifnames=0 root=/dev/mapper/croot ro ip=10.0.2.15::10.0.2.2:255.255.255.0::eth0:off securekey.net_timeout=20"

export SECUREKEY_HSM_DIR=$WORK/hsm SECUREKEY_STATE_DIR=$WORK/state SECUREKEY_RUN_DIR=$WORK/run
export SECUREKEY_CONF=$WORK/etc/securekey.conf
export SKTEST_DIR=$WORK/sktest

step() { printf '\n=== %s (%d s)\n' "$*" "$SECONDS"; }
fail() { printf 'boot_flow: FAIL: %s\n' "$*" >&2; exit 1; }
sk() { "$SECUREKEY" "$@"; }
cr() { "$CR" "$@"; }

# ------------------------------------------------------------ helpers

kms_up()
{
	KMS_LISTEN=0.0.0.0 kms_start primary "$1" "$WORK/kms" >/dev/null ||
		fail "cannot start the PyKMIP server"
}

new_mk()
{
	for p in "$1-a" "$1-b"; do
		head -c 32 /dev/urandom >"parts/$p" && chmod 0600 "parts/$p"
		sk hsm load-part --apqns "$APQNS" --part-file "parts/$p" >/dev/null
	done
	sk hsm commit --apqns "$APQNS" >/dev/null
	# The KMS identity key follows the master key, as an operator's would.
	sk kms reencipher --staged >/dev/null
}

set_new()
{
	sk hsm set --apqns "$APQNS" --force >/dev/null 2>&1 || fail "hsm set"
	sk kms reencipher --complete >/dev/null
}


# validate IMG: "REGISTER|NEXT-STEP" of IMG's secure key.
validate()
{
	cr validate "$1" --json | /usr/bin/python3 -c '
import json, sys
v = json.load(sys.stdin)
print(v["secure_key"]["register"] + "|" + v["next_step"])'
}

mkinitramfs_ours()
{
	vm_mkinitramfs "$KVER" || fail "mkinitramfs"
}

# boot NAME QEMU_RUN-ARGS...: boot the guest, console in NAME.log (its
# last lines printed when the boot fails).
boot()
{
	local name=$1
	shift
	vm_boot "$name" 240 "$@" -- \
		-kernel "/boot/vmlinuz-$KVER" -initrd initrd.img \
		-append "$CMDLINE ${BOOT_ARGS:-}" \
		-drive file=root.img,format=raw,if=virtio \
		-drive file=data.img,format=raw,if=virtio \
		-netdev user,id=n0 -device virtio-net-pci,netdev=n0 ||
		fail "boot $name"
}

# Servers of this run go away whatever happens (kyua's cleanup stops the
# PyKMIP server again, by its pid file).
stalled=""
finish()
{
	[ -z "$stalled" ] || kill "$stalled" 2>/dev/null || true
	[ -z "${KMS_DIR:-}" ] || kms_stop_all "$WORK/kms" >/dev/null 2>&1 || true
}
trap finish EXIT

# ------------------------------------------------------------ 1. volumes

step "qemu's accelerator, chosen by a probe"
vm_pick_accel "/boot/vmlinuz-$KVER"

step "network namespace: lo up, 10.0.2.2 (the host as the guest sees it) on lo"
ip link set lo up
ip addr add 10.0.2.2/32 dev lo

step "PyKMIP server, soft HSM, KMS configuration"
KMS_DIR=$SRC/tests/kms
KMS_CERT_CACHE=$BUILD/tests/kms-cert-cache
. "$KMS_DIR/kmsenv.sh"
mkdir -p kms etc parts sktest
kms_certs "$WORK/kms" || fail "test PKI"
PORT=$(kms_free_port)
kms_up "$PORT"
sk hsm init --apqns "$APQNS" >/dev/null
sk kms configure --apqns "$APQNS" --server "kmip://10.0.2.2:$PORT" --ca kms/ca.pem \
	--cert kms/client.pem --key kms/client.key --timeout 5 >/dev/null

step "root volume: LUKS2 aes-xts-plain64 with a known volume key, ext4 encrypted on the host"
umask 077
printf 'correct horse battery' >pass
cp pass sktest/pass
head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n' >sktest/nonce
DATA="root data $(cat sktest/nonce)"
vm_root_volume root.img "$ROOT_UUID" "$DATA" pass || fail "root volume"
cr enroll root.img --apqns "$APQNS" --key-file pass --kms >/dev/null

step "data volume, enrolled without KMS; NEW master key committed"
truncate -s 20M data.img
cryptsetup luksFormat --type luks2 --batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
	--luks2-metadata-size 16k --luks2-keyslots-size 1M --uuid "$DATA_UUID" \
	--key-file pass data.img >/dev/null
cr enroll data.img --apqns "$APQNS" --key-file pass >/dev/null
new_mk n1

# ------------------------------------------------------------ 2. initramfs

step "securekey installed (prefix /usr) in overlays over /usr and /etc; mkinitramfs"
vm_install_overlays "$BUILD" \
	"croot UUID=$ROOT_UUID none luks,keyscript=/usr/lib/securekey/keyscript,initramfs" ||
	fail "make install and overlays"
mkinitramfs_ours
lsinitramfs initrd.img >lsinitramfs.txt
missing=""
for f in usr/sbin/securekey-cryptsetup usr/lib/securekey/securekey-udev \
	usr/lib/securekey/keyscript usr/lib/x86_64-linux-gnu/cryptsetup/libcryptsetup-token-securekey.so \
	usr/lib/udev/rules.d/60-securekey.rules scripts/local-top/securekey conf/conf.d/securekey \
	etc/securekey/securekey.conf "${WORK#/}/etc/kms/ca.pem" "${WORK#/}/etc/kms/client.pem" \
	"${WORK#/}/etc/kms/identity.skey" var/lib/securekey/hsm/01.0001.mk var/lib/securekey/hsm/02.0001.mk \
	cryptroot/crypttab usr/sbin/cryptsetup; do
	grep -qx "$f" lsinitramfs.txt || missing="$missing $f"
done
for lib in libcryptsetup.so.12 libjson-c.so.5 libssl.so.3 libcrypto.so.3 libinih.so.1; do
	grep -q "/$lib\$" lsinitramfs.txt || missing="$missing $lib"
done
[ -z "$missing" ] || fail "lsinitramfs initrd.img lacks:$missing"
echo "lsinitramfs lists every file the unlock needs ($(wc -l <lsinitramfs.txt) entries)"

# ------------------------------------------------------------ 3. boot 1

step "boot 1: root unlocked by token via the keyscript; data volume opened and re-enciphered while active"
root_before=$(vm_header_sum root.img)
BOOT_ARGS=sktest=active boot boot1 \
	--expect 'croot: set up successfully' \
	--expect 'SECUREKEY-VM-DATA: re-enciphered while active' \
	--expect 'SECUREKEY-VM-DATA: data read back after re-opening by token' \
	--expect "SECUREKEY-VM-ROOT: data=$DATA" \
	--reject 'Please unlock disk' --reject 'SECUREKEY-VM-DATA: FAIL'
[ "$(vm_header_sum root.img)" = "$root_before" ] || fail "boot 1 changed the root header"
[ "$(validate data.img)" = "CURRENT|hsm set" ] ||
	fail "data volume not staged after boot 1: $(validate data.img)"

# ------------------------------------------------------------ 4. boot 2

step "host: two master-key changes, the root's secure key under no register; update the initramfs"
set_new
new_mk n2
set_new
[ "$(validate root.img)" = "none|refresh or setkey" ] || fail "root key state: $(validate root.img)"
mkinitramfs_ours

step "boot 2: KMS stalled (accepts, never answers); the refresh gives up in time, the keyscript asks for the passphrase"
kms_stop primary "$WORK/kms"
# qemu's user network connects to 127.0.0.1 of this namespace.
/usr/bin/python3 "$KMS_DIR/badserver.py" "$PORT" stall.ready stall &
stalled=$!
while [ ! -e stall.ready ]; do sleep 0.1; done
root_before=$(vm_header_sum root.img)
boot boot2 --answer 'Please unlock disk croot: =correct horse battery' \
	--expect 'securekey-udev: /dev/vda: refresh from the KMS failed \([5-9]\.[0-9] s\): .*timed out' \
	--expect 'Please unlock disk croot' \
	--expect 'croot: set up successfully' \
	--expect "SECUREKEY-VM-ROOT: data=$DATA"
kill "$stalled"
stalled=""
[ "$(vm_header_sum root.img)" = "$root_before" ] || fail "boot 2 changed the root header"
[ "$(validate root.img)" = "none|refresh or setkey" ] || fail "root key state: $(validate root.img)"

# ------------------------------------------------------------ 5. boot 3

step "boot 3: KMS up; udev refreshes the key in the initramfs, the root unlocks by token"
kms_up "$PORT"
boot boot3 \
	--expect 'securekey-udev: /dev/vda: secure key refreshed from the KMS' \
	--expect 'croot: set up successfully' \
	--expect "SECUREKEY-VM-ROOT: data=$DATA" \
	--reject 'Please unlock disk'
kms_stop primary "$WORK/kms"
[ "$(validate root.img)" = "CURRENT|none" ] || fail "root key after boot 3: $(validate root.img)"

step "done"
