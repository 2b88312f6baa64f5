#!/bin/bash
# tpm2_flow.sh BUILDDIR SRCDIR: the root volume's master key in a TPM2
# (issue 26, part 4), run by tests/vm/t_boot in its work directory inside
# `unshare -n -m`. The master key is an RSA-OAEP register (an RSA-2048 pair
# generated in the TPM) of a tpm2-pkcs11 token; the TPM is swtpm, which qemu
# gets as a TIS device. Debian's cryptroot unlocks the root volume through
# our keyscript, tpm2-pkcs11 talking to the guest's /dev/tpmrm0.
#  1. swtpm on localhost TCP with tpm2-abrmd in front of it (as t_tpm2), the
#     token made by tpm2_ptool in /etc/tpm2_pkcs11 (the store tpm2-pkcs11
#     looks for by default; /etc is an overlay here), securekey.conf
#     (pkcs11 backend, the tpm2-pkcs11 module, a PIN file, initramfs_file =
#     the store), hsm init (RSA-OAEP, chosen from the token's mechanisms)
#     and a LUKS2 root volume enrolled on it. Then swtpm is shut down (its
#     state saved) and started again per boot on a UNIX control socket for
#     qemu.
#  2. mkinitramfs with our hook: lsinitramfs lists the module, the store,
#     the PIN file, the device TCTI (securekey-udev files lists it for
#     tpm2-pkcs11: libtss2-tctildr dlopens it by name, so ldd does not show it)
#     and no soft HSM state; the volume key (luksDump --dump-volume-key on
#     the host) is nowhere in the unpacked initramfs, neither raw nor in hex.
#  3. Boot 1 with that TPM: the root unlocks by token, no prompt.
#  4. Boot 2, same initramfs and disk, a different fresh swtpm: tpm2-pkcs11
#     cannot unseal the token's wrapping key (its parent key is in the
#     first TPM only), the login fails, the keyscript says the token did not
#     unlock and asks for the passphrase; typed, it unlocks. Boot 3: no TPM
#     at all, the same. The root header is never changed.
set -euo pipefail

BUILD=$1
SRC=$2
WORK=$PWD
VM=$SRC/tests/vm
CR=$BUILD/cli/securekey-cryptsetup
APQNS=01.0001
ROOT_UUID=5ec0e4e7-0000-4000-8000-0000000000c1
PIN=4711-tpm-pin
MODULE=/usr/lib/x86_64-linux-gnu/pkcs11/libtpm2_pkcs11.so
STORE=/etc/tpm2_pkcs11
PORT=2321
. "$VM/vmlib.sh"
KVER=$(vm_kernel)
CMDLINE="console=ttyS0 panic=-1 root=/dev/mapper/croot ro"

export SECUREKEY_STATE_DIR=$WORK/state SECUREKEY_RUN_DIR=$WORK/run
export SECUREKEY_CONF=$WORK/etc/securekey.conf
export SKTEST_DIR=$WORK/sktest
export TPM2_PKCS11_STORE=$STORE TPM2_PKCS11_LOG_LEVEL=0
unset SECUREKEY_HSM_DIR

step() { printf '\n=== %s (%d s)\n' "$*" "$SECONDS"; }
fail() { printf 'tpm2_flow: FAIL: %s\n' "$*" >&2; exit 1; }

# Every daemon this flow starts has its pid in pids/; all stopped at exit.
mkdir -p pids
stop_all()
{
	local p
	for p in pids/*; do
		[ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null
		rm -f "$p"
	done
	return 0
}
trap stop_all EXIT

# swtpm_for_qemu DIR: swtpm on the TPM state in DIR with a UNIX control
# socket DIR.sock, for one qemu (--terminate: it ends when qemu does).
swtpm_for_qemu()
{
	rm -f "$1.sock"
	swtpm socket --tpm2 --daemon --terminate --ctrl type=unixio,path="$WORK/$1.sock" \
		--tpmstate dir="$WORK/$1" --pid file="$WORK/pids/swtpm-$1" \
		--log file="$WORK/$1.swtpm.log" || fail "swtpm on $1 did not start"
}

# boot NAME TPMDIR|none QEMU_RUN-OPTION...: boot with swtpm on TPMDIR as
# the TPM (a TIS device), or with no TPM.
boot()
{
	local name=$1 tpm=$2 dev=()
	shift 2
	if [ "$tpm" != none ]; then
		swtpm_for_qemu "$tpm"
		dev=(-chardev "socket,id=chrtpm,path=$WORK/$tpm.sock"
			-tpmdev emulator,id=tpm0,chardev=chrtpm -device tpm-tis,tpmdev=tpm0)
	fi
	vm_boot "$name" 240 "$@" -- -kernel "/boot/vmlinuz-$KVER" -initrd initrd.img \
		-append "$CMDLINE" -drive file=root.img,format=raw,if=virtio "${dev[@]}" ||
		fail "boot $name"
	[ -f "pids/swtpm-$tpm" ] && kill "$(cat "pids/swtpm-$tpm")" 2>/dev/null
	rm -f "pids/swtpm-$tpm"
}

step "qemu's accelerator, chosen by a probe"
vm_pick_accel "/boot/vmlinuz-$KVER"

step "securekey installed in overlays over /usr and /etc"
umask 077
mkdir -p etc sktest tpm tpm-other
vm_install_overlays "$BUILD" \
	"croot UUID=$ROOT_UUID none luks,keyscript=/usr/lib/securekey/keyscript,initramfs" ||
	fail "make install and overlays"

step "swtpm (localhost TCP), tpm2-abrmd, the tpm2-pkcs11 token in $STORE"
ip link set lo up
swtpm socket --tpm2 --daemon --server type=tcp,port=$PORT,bindaddr=127.0.0.1 \
	--ctrl type=tcp,port=$((PORT + 1)),bindaddr=127.0.0.1 --tpmstate dir="$WORK/tpm" \
	--pid file="$WORK/pids/swtpm-host" --flags not-need-init,startup-clear \
	--log file="$WORK/tpm.host.log" || fail "swtpm did not start"
dbus-daemon --session --fork --print-address=3 --print-pid=4 3>dbus.address 4>pids/dbus ||
	fail "dbus-daemon did not start"
DBUS_SESSION_BUS_ADDRESS=$(cat dbus.address)
export DBUS_SESSION_BUS_ADDRESS
tpm2-abrmd --session --allow-root --dbus-name=com.intel.tss2.Tabrmd.sk \
	--tcti="swtpm:host=127.0.0.1,port=$PORT" >abrmd.log 2>&1 &
echo $! >pids/abrmd
export TPM2_PKCS11_TCTI="tabrmd:bus_type=session,bus_name=com.intel.tss2.Tabrmd.sk"
export TPM2TOOLS_TCTI=$TPM2_PKCS11_TCTI
for _i in $(seq 50); do
	tpm2_getrandom 4 >/dev/null 2>&1 && break
	sleep 0.1
done
mkdir -p "$STORE"
chmod 0700 "$STORE"
tpm2_ptool init --path="$STORE" >ptool.log 2>&1 || { cat ptool.log; fail "tpm2_ptool init"; }
tpm2_ptool addtoken --path="$STORE" --pid=1 --label=securekey --sopin=0815-so-pin \
	--userpin="$PIN" >>ptool.log 2>&1 || { cat ptool.log; fail "tpm2_ptool addtoken"; }
printf '%s' "$PIN" >etc/pin
printf '[hsm]\nbackend = pkcs11\nuri = pkcs11:token=securekey\nmodule = %s\npin_file = %s\ninitramfs_file = %s\n' \
	"$MODULE" "$WORK/etc/pin" "$STORE" >"$SECUREKEY_CONF"
"$BUILD/cli/securekey" hsm init --apqns "$APQNS" >/dev/null || fail "hsm init"
"$BUILD/cli/securekey" hsm status >hsm-status.txt || fail "hsm status"
grep -q '^Kind: rsa-oaep' hsm-status.txt || { cat hsm-status.txt; fail "the master key is not RSA-OAEP"; }
grep '^Kind:' hsm-status.txt

step "root volume enrolled on the TPM's token"
printf 'correct horse battery' >pass
cp pass sktest/pass
head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n' >sktest/nonce
DATA="tpm2 root $(cat sktest/nonce)"
vm_root_volume root.img "$ROOT_UUID" "$DATA" pass || fail "root volume"
"$CR" enroll root.img --apqns "$APQNS" --key-file pass >/dev/null || fail "enroll"
# The volume key, to look for in the initramfs (0600: umask 077).
cryptsetup luksDump --dump-volume-key --volume-key-file vk.bin --batch-mode --key-file pass \
	root.img >/dev/null || fail "luksDump --dump-volume-key"
[ "$(stat -c %s vk.bin)" = 64 ] || fail "the volume key is not 64 bytes"

step "swtpm shut down (its state saved), tpm2-abrmd and D-Bus stopped"
# swtpm removes its pid file as it exits.
host_swtpm=$(cat pids/swtpm-host)
swtpm_ioctl --tcp 127.0.0.1:$((PORT + 1)) -s || fail "swtpm_ioctl -s"
kill "$(cat pids/abrmd)" "$(cat pids/dbus)" 2>/dev/null || true
rm -f pids/abrmd pids/dbus
for _i in $(seq 50); do
	kill -0 "$host_swtpm" 2>/dev/null || break
	sleep 0.1
done
! kill -0 "$host_swtpm" 2>/dev/null || fail "swtpm did not end after swtpm_ioctl -s"
rm -f pids/swtpm-host
unset TPM2_PKCS11_TCTI TPM2TOOLS_TCTI DBUS_SESSION_BUS_ADDRESS

step "mkinitramfs: the module, the token's store, the PIN file, the device TCTI"
vm_mkinitramfs "$KVER" || fail "mkinitramfs"
lsinitramfs initrd.img >lsinitramfs.txt
missing=""
for f in "${MODULE#/}" "${STORE#/}/tpm2_pkcs11.sqlite3" "${WORK#/}/etc/pin" \
	etc/securekey/securekey.conf usr/lib/securekey/keyscript; do
	grep -qx "$f" lsinitramfs.txt || missing="$missing $f"
done
for f in libtss2-tcti-device.so.0 libtss2-esys.so.0 libtss2-tctildr.so.0 libsqlite3.so.0 libp11-kit.so.0; do
	grep -q "/$f\$" lsinitramfs.txt || missing="$missing $f"
done
[ -z "$missing" ] || fail "lsinitramfs initrd.img lacks:$missing"
! grep -q "var/lib/securekey/hsm" lsinitramfs.txt || fail "soft HSM state in a pkcs11 initramfs"
echo "lsinitramfs lists the module, the store, the PIN file and the device TCTI, no soft HSM state"

step "the volume key is nowhere in the initramfs (raw or hex)"
rm -rf unpacked
unmkinitramfs initrd.img unpacked || fail "unmkinitramfs"
python3 - unpacked vk.bin <<'PY' || fail "the volume key is in the initramfs"
import binascii, os, sys
root, vk = sys.argv[1], open(sys.argv[2], "rb").read()
needles = [vk, vk[:32], vk[32:], binascii.hexlify(vk), binascii.hexlify(vk).upper()]
n = 0
for d, _, files in os.walk(root):
    for f in files:
        p = os.path.join(d, f)
        if os.path.islink(p) or not os.path.isfile(p):
            continue
        data = open(p, "rb").read()
        n += 1
        for k in needles:
            if k in data:
                print("volume key found in", p)
                sys.exit(1)
print(f"fixture: volume key (64 bytes, raw, either half, hex) in none of the {n} files of the initramfs")
PY
rm -rf unpacked

step "boot 1: that TPM attached, the root unlocks by token without a prompt"
before=$(vm_header_sum root.img)
boot boot1 tpm --expect 'tpm_tis .*2\.0 TPM' --expect 'croot: set up successfully' --expect "SECUREKEY-VM-ROOT: data=$DATA" \
	--reject 'Enter the HSM token PIN' --reject 'Please unlock disk' \
	--reject 'the token did not unlock'
[ "$(vm_header_sum root.img)" = "$before" ] || fail "boot 1 changed the root header"

step "boot 2: same initramfs and disk, a different fresh swtpm: no unlock by token, the passphrase"
boot boot2 tpm-other --answer "Please unlock disk croot: =correct horse battery" \
	--expect 'tpm_tis .*2\.0 TPM' --expect 'Error unsealing wrapping key' \
	--expect "securekey: .*PKCS#11 token 'securekey': login failed" \
	--expect 'securekey: .*the token did not unlock croot \(securekey-udev exit status 1\); asking for a passphrase' \
	--expect 'Please unlock disk croot' --expect 'croot: set up successfully' \
	--expect "SECUREKEY-VM-ROOT: data=$DATA" --reject 'Enter the HSM token PIN'

step "boot 3: same initramfs and disk, no TPM at all: no unlock by token, the passphrase"
boot boot3 none --answer "Please unlock disk croot: =correct horse battery" \
	--expect 'securekey: .*the token did not unlock croot \(securekey-udev exit status 1\); asking for a passphrase' \
	--expect 'Please unlock disk croot' --expect 'croot: set up successfully' \
	--expect "SECUREKEY-VM-ROOT: data=$DATA" --reject 'tpm_tis .*TPM' \
	--reject 'Enter the HSM token PIN'
[ "$(vm_header_sum root.img)" = "$before" ] || fail "the boots changed the root header"

step "done"
