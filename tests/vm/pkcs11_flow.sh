#!/bin/bash
# pkcs11_flow.sh BUILDDIR SRCDIR: a real HSM at boot (issue 21, part 6), run
# by tests/vm/t_boot in its work directory inside `unshare -n -m`. The
# master keys live on a SoftHSM2 token (the pkcs11 backend); the root volume
# is unlocked by Debian's cryptroot through our keyscript.
#  1. The token (its own softhsm2.conf and token directory), securekey.conf
#     with backend = pkcs11, module and pin_file; a LUKS2 root volume
#     enrolled on it.
#  2. mkinitramfs with our hook: lsinitramfs lists the module, libp11-kit,
#     SoftHSM2's configuration and token files and the PIN file, and no
#     soft HSM state.
#  3. Boot 1: the PIN file is in the initramfs, the root unlocks by token
#     with no prompt at all.
#  4. The configuration without pin_file, a new initramfs (no PIN in it).
#     Boot 2: the keyscript asks for the token PIN (askpass), it is typed,
#     the root unlocks by token. Boot 3: a wrong PIN is refused and the
#     passphrase is asked next; typed, it unlocks.
set -euo pipefail

BUILD=$1
SRC=$2
WORK=$PWD
VM=$SRC/tests/vm
CR=$BUILD/cli/securekey-cryptsetup
APQNS=01.0001
ROOT_UUID=5ec0e4e7-0000-4000-8000-0000000000b1
PIN=4711-boot-pin
MODULE=/usr/lib/softhsm/libsofthsm2.so
. "$VM/vmlib.sh"
KVER=$(vm_kernel)
CMDLINE="console=ttyS0 panic=-1 root=/dev/mapper/croot ro"

export SECUREKEY_STATE_DIR=$WORK/state SECUREKEY_RUN_DIR=$WORK/run
export SECUREKEY_CONF=$WORK/etc/securekey.conf SOFTHSM2_CONF=$WORK/softhsm/softhsm2.conf
# The VM tests' initramfs-tools configuration runs our test hook too; this
# flow does not use the data disk it serves.
export SKTEST_DIR=$WORK/sktest
unset SECUREKEY_HSM_DIR

step() { printf '\n=== %s (%d s)\n' "$*" "$SECONDS"; }
fail() { printf 'pkcs11_flow: FAIL: %s\n' "$*" >&2; exit 1; }

# conf [PIN_FILE]: securekey.conf for the token, with pin_file when given.
conf()
{
	printf '[hsm]\nbackend = pkcs11\nuri = pkcs11:token=securekey\nmodule = %s\n%s' \
		"$MODULE" "${1:+pin_file = $1
}" >"$SECUREKEY_CONF"
}

boot()
{
	local name=$1
	shift
	vm_boot "$name" 240 "$@" -- -kernel "/boot/vmlinuz-$KVER" -initrd initrd.img \
		-append "$CMDLINE" -drive file=root.img,format=raw,if=virtio || fail "boot $name"
}

step "qemu's accelerator, chosen by a probe"
vm_pick_accel "/boot/vmlinuz-$KVER"

step "SoftHSM2 token, securekey.conf (pkcs11 backend, PIN file), master key on the token"
umask 077
mkdir -p softhsm/tokens etc sktest
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
	"$WORK/softhsm/tokens" >"$SOFTHSM2_CONF"
softhsm2-util --init-token --free --label securekey --pin "$PIN" --so-pin 0815-so-pin >/dev/null
printf '%s' "$PIN" >etc/pin
conf "$WORK/etc/pin"
"$BUILD/cli/securekey" hsm init --apqns "$APQNS" >/dev/null

step "root volume enrolled on the token"
printf 'correct horse battery' >pass
cp pass sktest/pass
head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n' >sktest/nonce
DATA="pkcs11 root $(cat sktest/nonce)"
vm_root_volume root.img "$ROOT_UUID" "$DATA" pass || fail "root volume"
"$CR" enroll root.img --apqns "$APQNS" --key-file pass >/dev/null

step "securekey installed in overlays over /usr and /etc; mkinitramfs with the PIN file"
vm_install_overlays "$BUILD" \
	"croot UUID=$ROOT_UUID none luks,keyscript=/usr/lib/securekey/keyscript,initramfs" ||
	fail "make install and overlays"
vm_mkinitramfs "$KVER" || fail "mkinitramfs"
lsinitramfs initrd.img >lsinitramfs.txt
missing=""
for f in "${MODULE#/}" etc/softhsm/softhsm2.conf "${WORK#/}/etc/pin" \
	etc/securekey/securekey.conf usr/lib/securekey/keyscript; do
	grep -qx "$f" lsinitramfs.txt || missing="$missing $f"
done
grep -q "^${WORK#/}/softhsm/tokens/[^/]*/token.object\$" lsinitramfs.txt ||
	missing="$missing softhsm-token-files"
grep -q "/libp11-kit.so.0\$" lsinitramfs.txt || missing="$missing libp11-kit.so.0"
[ -z "$missing" ] || fail "lsinitramfs initrd.img lacks:$missing"
! grep -q "var/lib/securekey/hsm" lsinitramfs.txt || fail "soft HSM state in a pkcs11 initramfs"
echo "lsinitramfs lists the module, SoftHSM2's files and the PIN file, no soft HSM state"

step "boot 1: the PIN file in the initramfs, the root unlocks by token without a prompt"
before=$(vm_header_sum root.img)
boot boot1 --expect 'croot: set up successfully' --expect "SECUREKEY-VM-ROOT: data=$DATA" \
	--reject 'Enter the HSM token PIN' --reject 'Please unlock disk'
[ "$(vm_header_sum root.img)" = "$before" ] || fail "boot 1 changed the root header"

step "no PIN in the configuration nor the initramfs"
conf
vm_mkinitramfs "$KVER" || fail "mkinitramfs"
lsinitramfs initrd.img >lsinitramfs2.txt
! grep -qx "${WORK#/}/etc/pin" lsinitramfs2.txt || fail "the PIN file is in the initramfs"

step "boot 2: the keyscript asks for the token PIN; typed, the root unlocks by token"
# The console may echo what is typed before askpass turns echo off (a loaded
# host); what must never hold the PIN is a log line of ours or cryptsetup's.
boot boot2 --answer "Enter the HSM token PIN for croot: =$PIN" \
	--expect 'Enter the HSM token PIN for croot' --expect 'croot: set up successfully' \
	--expect "SECUREKEY-VM-ROOT: data=$DATA" --reject 'Please unlock disk' \
	--reject "(securekey|cryptsetup).*$PIN"

step "boot 3: a wrong PIN is refused, the passphrase is asked next and unlocks"
boot boot3 --answer "Enter the HSM token PIN for croot: =not-the-pin" \
	--answer "Please unlock disk croot: =correct horse battery" \
	--expect 'Enter the HSM token PIN for croot' --expect "wrong PIN for PKCS#11 token 'securekey'" \
	--expect 'Please unlock disk croot' --expect 'croot: set up successfully' \
	--expect "SECUREKEY-VM-ROOT: data=$DATA" --reject '(securekey|cryptsetup).*not-the-pin'
[ "$(vm_header_sum root.img)" = "$before" ] || fail "the boots changed the root header"

step "done"
