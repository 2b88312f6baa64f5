#!/bin/bash
# dracut_flow.sh BUILDDIR SRCDIR BACKEND SCENARIO: systemd-cryptsetup, the
# main consumer of token plugins, unlocking a root volume by our token in a
# dracut initramfs with systemd as PID 1 (issue 21, part 7). Run by
# tests/vm/t_dracut in its work directory, inside `unshare -n -m` (nothing of
# the host's network, /etc or /usr is touched).
#
# The fixture, built once per build tree and backend and shared by the
# cases (under a lock, kept while its inputs are unchanged):
#  - a PyKMIP server (only while enrolling), an HSM of BACKEND, a KMS
#    configuration with a 5 s [kms] timeout;
#  - root.img: LUKS2 over ext4 whose /sbin/init (tests/vm/guest_init.c)
#    prints /data.txt and powers off; enrolled with --kms;
#  - initrd.img: Debian 12's dracut (tests/vm/dracut_root.sh) with the
#    modules systemd, systemd-initrd, dracut-systemd, crypt, ... and ours
#    (-a securekey, from 'make install' in an overlay over /usr), so the
#    HSM's state and the KMS credentials travel in it;
#  - after the initramfs was made, the master key changes on the host and
#    the same volume enrolled again (root-newmk.img): its secure key is
#    under a master key the initramfs's HSM has never seen.
# Scenarios (the kernel command line has rd.luks.uuid= and no key file, so
# systemd-cryptsetup calls crypt_activate_by_token_pin() first):
#  token     root.img unlocks by our token: no prompt, the root's
#            /sbin/init prints its data.
#  fallback  root-newmk.img, the KMS stalled (accepts, never answers): the
#            HSM cannot unwrap, the KMS fetch gives up after [kms] timeout,
#            systemd-cryptsetup asks for the passphrase within that timeout
#            plus MARGIN seconds of its start; answered, the root unlocks.
#
# BACKEND: soft (the soft HSM's state in the initramfs). Another backend
# (e.g. pkcs11 with a SoftHSM2 token) is added as backend_NAME_* functions
# below, which set up the HSM before enrolling, change its master key, and
# say what the initramfs needs besides the module's own files.
set -euo pipefail

BUILD=$1
SRC=$2
BACKEND=$3
SCENARIO=$4
WORK=$PWD
VM=$SRC/tests/vm
APQNS=01.0001,02.0001
ROOT_UUID=5ec0e4e7-0000-4000-8000-0000000000d1
KMS_TIMEOUT=5
# Seconds, under TCG, between the start of systemd-cryptsetup@ and the
# plugin's first KMS connect, plus the prompt's way to the console.
MARGIN=${SK_DRACUT_MARGIN:-20}
DRACUT_ROOT=$BUILD/tests/dracut-root
FIXTURES=$BUILD/tests/dracut-fixture
FIX=$FIXTURES/$BACKEND
. "$VM/vmlib.sh"
KVER=$(vm_kernel)
MODULES="systemd systemd-initrd dracut-systemd crypt dm rootfs-block kernel-modules base fs-lib udev-rules"
DRIVERS="virtio_blk virtio_pci virtio_net dm_crypt xts ext4"

step() { printf '\n=== %s (%d s)\n' "$*" "$SECONDS"; }
fail() { printf 'dracut_flow: FAIL: %s\n' "$*" >&2; exit 1; }
sk() { "$BUILD/cli/securekey" "$@"; }
cr() { "$BUILD/cli/securekey-cryptsetup" "$@"; }

# ------------------------------------------------------------ backends

# backend_soft_env DIR: point the tools at the HSM under the fixture DIR.
backend_soft_env() { export SECUREKEY_HSM_DIR=$1/hsm; }
backend_soft_init() { sk hsm init --apqns "$APQNS" >/dev/null; }
# backend_soft_new_mk NAME: a new master key made CURRENT (the KMS identity
# key follows it, as an operator's would).
backend_soft_new_mk()
{
	mkdir -p parts
	for p in "$1-a" "$1-b"; do
		head -c 32 /dev/urandom >"parts/$p" && chmod 0600 "parts/$p"
		sk hsm load-part --apqns "$APQNS" --part-file "parts/$p" >/dev/null
	done
	sk hsm commit --apqns "$APQNS" >/dev/null
	sk kms reencipher --staged >/dev/null
	sk hsm set --apqns "$APQNS" --force >/dev/null 2>&1 || fail "hsm set"
	sk kms reencipher --complete >/dev/null
}
# backend_soft_initramfs_check LSINITRD-LIST: the backend's files are in.
backend_soft_initramfs_check()
{
	grep -qx 'var/lib/securekey/hsm/01.0001.mk' "$1" && grep -qx 'var/lib/securekey/hsm/02.0001.mk' "$1"
}

# pkcs11: the master keys on a SoftHSM2 token (its configuration and token
# directory under the fixture), the PIN in a pin_file that goes into the
# initramfs; pkcs11typed: the same token without a pin_file, so that
# systemd-cryptsetup asks for the token PIN (the plugin returns ENOANO).
PIN=4711-boot-pin
backend_pkcs11_env()
{
	unset SECUREKEY_HSM_DIR
	export SOFTHSM2_CONF=$1/softhsm/softhsm2.conf
}
backend_pkcs11_init()
{
	mkdir -p "$FIX/softhsm/tokens"
	printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
		"$FIX/softhsm/tokens" >"$SOFTHSM2_CONF"
	softhsm2-util --init-token --free --label securekey --pin "$PIN" --so-pin 0815-so-pin \
		>/dev/null || fail "softhsm2-util --init-token"
	printf '%s' "$PIN" >"$FIX/etc/pin"
	chmod 0600 "$FIX/etc/pin"
	printf '[hsm]\nbackend = pkcs11\nuri = pkcs11:token=securekey\nmodule = %s\npin_file = %s\n' \
		/usr/lib/softhsm/libsofthsm2.so "$FIX/etc/pin" >"$SECUREKEY_CONF"
	sk hsm init --apqns "$APQNS" >/dev/null
}
# backend_pkcs11_new_mk NAME: the token generates NEW (SoftHSM2 has no XOR
# of key parts), then as for the soft HSM.
backend_pkcs11_new_mk()
{
	sk hsm generate-new --apqns "$APQNS" >/dev/null
	sk hsm commit --apqns "$APQNS" >/dev/null
	sk kms reencipher --staged >/dev/null
	sk hsm set --apqns "$APQNS" --force >/dev/null 2>&1 || fail "hsm set"
	sk kms reencipher --complete >/dev/null
}
backend_pkcs11_initramfs_check()
{
	grep -qx 'usr/lib/softhsm/libsofthsm2.so' "$1" && grep -qx 'etc/softhsm/softhsm2.conf' "$1" &&
		grep -q "^${FIX#/}/softhsm/tokens/[^/]*/token\.object\$" "$1" &&
		grep -q '/libp11-kit\.so\.0$' "$1" && grep -qx "${FIX#/}/etc/pin" "$1" &&
		! grep -q '^var/lib/securekey/hsm/' "$1"
}
backend_pkcs11typed_env() { backend_pkcs11_env "$@"; }
backend_pkcs11typed_init()
{
	backend_pkcs11_init
	# The PIN stays on the host: enrolling reads it, the initramfs has none.
	printf '[hsm]\nbackend = pkcs11\nuri = pkcs11:token=securekey\nmodule = %s\n' \
		/usr/lib/softhsm/libsofthsm2.so >"$FIX/etc/boot.conf"
}
backend_pkcs11typed_new_mk() { backend_pkcs11_new_mk "$@"; }
backend_pkcs11typed_initramfs_check()
{
	grep -qx 'usr/lib/softhsm/libsofthsm2.so' "$1" && ! grep -qx "${FIX#/}/etc/pin" "$1"
}

declare -F "backend_${BACKEND}_init" >/dev/null || fail "unknown backend '$BACKEND'"
backend() { local f=$1; shift; "backend_${BACKEND}_$f" "$@"; }

# ------------------------------------------------------------ fixture

export SECUREKEY_STATE_DIR=$FIX/state SECUREKEY_RUN_DIR=$WORK/run
export SECUREKEY_CONF=$FIX/etc/securekey.conf
backend env "$FIX"
KMS_DIR=$SRC/tests/kms
KMS_CERT_CACHE=$BUILD/tests/kms-cert-cache
. "$KMS_DIR/kmsenv.sh"

stalled=""
finish()
{
	[ -z "$stalled" ] || kill "$stalled" 2>/dev/null || true
	kms_stop_all "$FIX/kms" >/dev/null 2>&1 || true
}
trap finish EXIT

# The inputs of the fixture: what is installed, this script, the guest's
# init, dracut, the kernel.
fixture_key()
{
	{
		(cd inst && find . -type f -print0 | sort -z | xargs -0 sha256sum)
		sha256sum "$0" "$VM/guest_init.c" "$DRACUT_ROOT/.complete"
		echo "$KVER $BACKEND"
	} | sha256sum | cut -d' ' -f1
}

fixture_build()
{
	local port data
	rm -rf "$FIX"
	mkdir -p "$FIX"
	cd "$FIX"
	step "fixture: PyKMIP server, $BACKEND HSM, KMS configuration ([kms] timeout $KMS_TIMEOUT s)"
	mkdir -p kms etc state
	kms_certs "$FIX/kms" || fail "test PKI"
	port=$(kms_free_port)
	KMS_LISTEN=0.0.0.0 kms_start primary "$port" "$FIX/kms" >/dev/null || fail "PyKMIP server"
	backend init
	sk kms configure --apqns "$APQNS" --server "kmip://10.0.2.2:$port" --ca kms/ca.pem \
		--cert kms/client.pem --key kms/client.key --timeout "$KMS_TIMEOUT" >/dev/null

	step "fixture: root volume (LUKS2 over ext4 with a static /sbin/init), enrolled with --kms"
	umask 077
	printf 'correct horse battery' >pass
	data="dracut root $(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
	head -c 64 /dev/urandom >vk.bin
	truncate -s 24M base.img
	cryptsetup luksFormat --type luks2 --batch-mode --cipher aes-xts-plain64 --key-size 512 \
		--sector-size 512 --volume-key-file vk.bin --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
		--luks2-metadata-size 16k --luks2-keyslots-size 1M --uuid "$ROOT_UUID" \
		--key-file pass base.img >/dev/null
	rm -rf rootfs && mkdir -p rootfs/sbin rootfs/etc rootfs/dev rootfs/proc rootfs/sys rootfs/run
	cc -static -Os -o rootfs/sbin/init "$VM/guest_init.c"
	printf '%s' "$data" >rootfs/data.txt
	# systemd switches only into an OS tree (one with an os-release).
	printf 'ID=securekey-test\nNAME="securekey test root"\n' >rootfs/etc/os-release
	mkfs.ext4 -q -F -d rootfs fs.img 8M
	"$VM/encrypt_payload.py" base.img vk.bin fs.img
	cp base.img root.img
	cr enroll root.img --apqns "$APQNS" --key-file pass --kms >/dev/null

	# A configuration for the boot only (pkcs11typed: the one without the PIN).
	if [ -f etc/boot.conf ]; then
		grep -v '^\[hsm\]\|^backend\|^uri\|^module\|^pin_file' "$SECUREKEY_CONF" >>etc/boot.conf
		cp "$SECUREKEY_CONF" etc/host.conf
		cp etc/boot.conf "$SECUREKEY_CONF"
	fi
	step "fixture: dracut (Debian 12's, modules: $MODULES + securekey), the HSM state in (umask 0077)"
	mkdir -p upper/usr ovl/usr empty
	cp -a "$DRACUT_ROOT/usr/." upper/usr/
	cp -a "$WORK/inst/usr/." upper/usr/
	# The plugin's directory (/lib/MULTIARCH/cryptsetup) is /usr/lib/... here.
	cp -a "$WORK/inst/lib/." upper/usr/lib/
	mount -t overlay overlay -o "lowerdir=/usr,upperdir=$FIX/upper/usr,workdir=$FIX/ovl/usr" /usr
	# --no-compress: the guest unpacks it faster under TCG, and dracut is
	# quicker; about 170 MB (kernel-modules takes every storage driver), so
	# the guest gets 1 GB.
	if ! dracut --no-hostonly --conf /dev/null --confdir "$FIX/empty" --no-compress \
		-m "$MODULES" -a securekey --add-drivers "$DRIVERS" --kver "$KVER" \
		--force initrd.img >dracut.log 2>&1; then
		umount -l /usr
		tail -n 30 dracut.log
		fail "dracut"
	fi
	# lsinitrd is dracut's too: while /usr is ours.
	lsinitrd initrd.img >lsinitrd.log 2>&1 || { cat lsinitrd.log; umount -l /usr; fail "lsinitrd"; }
	umount -l /usr
	rm -rf upper ovl
	[ ! -f etc/host.conf ] || cp etc/host.conf "$SECUREKEY_CONF"
	awk '$1 ~ /^[-dlcbps][-rwxsStT]+$/ && NF >= 9 { print ($(NF - 1) == "->") ? $(NF - 2) : $NF }' \
		lsinitrd.log >lsinitrd.txt
	local missing="" f
	for f in usr/sbin/securekey-cryptsetup usr/lib/securekey/securekey-udev \
		usr/lib/x86_64-linux-gnu/cryptsetup/libcryptsetup-token-securekey.so \
		etc/udev/rules.d/60-securekey.rules etc/securekey/securekey.conf \
		"${FIX#/}/etc/kms/ca.pem" "${FIX#/}/etc/kms/client.pem" "${FIX#/}/etc/kms/identity.skey" \
		usr/lib/systemd/systemd-cryptsetup usr/lib/systemd/system-generators/systemd-cryptsetup-generator; do
		grep -qx "$f" lsinitrd.txt || missing="$missing $f"
	done
	backend initramfs_check lsinitrd.txt || missing="$missing (the $BACKEND HSM's files)"
	[ -z "$missing" ] || fail "lsinitrd initrd.img lacks:$missing"
	echo "lsinitrd lists every file the unlock needs ($(wc -l <lsinitrd.txt) entries, $(($(stat -c %s initrd.img) / 1048576)) MB)"

	step "fixture: the master key changes on the host; the volume enrolled again under it"
	backend new_mk n1
	cp base.img root-newmk.img
	cr enroll root-newmk.img --apqns "$APQNS" --key-file pass --kms >/dev/null
	kms_stop_all "$FIX/kms" >/dev/null 2>&1 || true
	rm -f base.img fs.img vk.bin
	rm -rf rootfs parts
	printf '%s\n' "$port" >port
	printf '%s' "$data" >data
	cd "$WORK"
}

step "securekey installed into ./inst (prefix /usr)"
make -s -C "$BUILD" install DESTDIR="$WORK/inst" prefix=/usr >install.log 2>&1 ||
	{ cat install.log; fail "make install"; }

step "network namespace: lo up, 10.0.2.2 (the host as the guest sees it) on lo"
ip link set lo up
ip addr add 10.0.2.2/32 dev lo

step "fixture for $BACKEND (shared by the cases, rebuilt when its inputs change)"
mkdir -p "$FIXTURES"
exec 9>"$FIXTURES/$BACKEND.lock"
flock 9
key=$(fixture_key)
if [ "$(cat "$FIX/key" 2>/dev/null)" = "$key" ]; then
	echo "fixture: reused ($FIX)"
else
	fixture_build
	echo "$key" >"$FIX/key"
fi
cp "$FIX/root.img" "$FIX/root-newmk.img" "$WORK/"
flock -u 9
PORT=$(cat "$FIX/port")
DATA=$(cat "$FIX/data")

step "qemu's accelerator, chosen by a probe"
vm_pick_accel "/boot/vmlinuz-$KVER"

CMDLINE="console=ttyS0 panic=-1 net.ifnames=0 root=/dev/mapper/luks-$ROOT_UUID ro rd.luks.uuid=$ROOT_UUID"
CMDLINE="$CMDLINE ip=10.0.2.15::10.0.2.2:255.255.255.0::eth0:off systemd.journald.forward_to_console=1"
# boot NAME DISK QEMU_RUN-ARGS...: boot the guest, console in NAME.log.
boot()
{
	local name=$1 disk=$2
	shift 2
	vm_boot "$name" 360 "$@" -- \
		-m 1024 -kernel "/boot/vmlinuz-$KVER" -initrd "$FIX/initrd.img" -append "$CMDLINE" \
		-drive "file=$disk,format=raw,if=virtio" \
		-netdev user,id=n0 -device virtio-net-pci,netdev=n0 ||
		fail "boot $name"
}

# stamp LOG RE: the console time (s) of the first line of LOG matching RE.
stamp()
{
	grep -m 1 -E "$2" "$1" | sed -n 's/^\[ *\([0-9.]*\)\].*/\1/p'
}

PROMPT='Please enter passphrase for disk'
START='Starting .*systemd-cryptsetu'
case $SCENARIO in
pin)
	step "boot: no PIN in the initramfs; systemd-cryptsetup asks for the token PIN, typed, the root unlocks by token"
	# Typed 3 s after the prompt's first words (its rest may come after
	# other console lines; the agent flushes input as it starts). The
	# console may still echo it: what must never hold the PIN is a log line.
	boot pin root.img --answer "Please enter LUKS2 token PIN=$PIN" --answer-delay 3 --answer-retry 20 \
		--expect "$START" \
		--expect 'Please enter LUKS2 token PIN' \
		--expect 'Finished .*systemd-cryptsetu' \
		--expect "SECUREKEY-VM-ROOT: data=$DATA" \
		--reject "$PROMPT" --reject "(securekey|cryptsetup).*$PIN"
	;;
token)
	step "boot: systemd-cryptsetup unlocks the root by our token, no prompt"
	boot token root.img \
		--expect "$START" \
		--expect 'Finished .*systemd-cryptsetu' \
		--expect "SECUREKEY-VM-ROOT: data=$DATA" \
		--reject "$PROMPT" --reject 'Please enter LUKS2 token PIN'
	;;
fallback)
	step "boot: HSM without the key's master key, KMS stalled: the passphrase prompt within $KMS_TIMEOUT + $MARGIN s, answered"
	# qemu's user network connects to 127.0.0.1 of this namespace.
	/usr/bin/python3 "$KMS_DIR/badserver.py" "$PORT" stall.ready stall &
	stalled=$!
	while [ ! -e stall.ready ]; do sleep 0.1; done
	# systemd's agent flushes the console's input as it starts reading,
	# after its prompt: what is typed at once can be lost (seen in CI).
	boot fallback root-newmk.img --answer "$PROMPT=correct horse battery" --answer-delay 3 --answer-retry 20 \
		--expect "$START" \
		--expect "$PROMPT" \
		--expect 'Finished .*systemd-cryptsetu' \
		--expect "SECUREKEY-VM-ROOT: data=$DATA" \
		--reject 'Please enter LUKS2 token PIN'
	t0=$(stamp fallback.log "$START")
	t1=$(stamp fallback.log "$PROMPT")
	waited=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	echo "prompt: $waited s after systemd-cryptsetup started (bound: $KMS_TIMEOUT + $MARGIN s)"
	awk -v w="$waited" -v m=$((KMS_TIMEOUT + MARGIN)) 'BEGIN { exit !(w <= m) }' ||
		fail "the passphrase prompt came $waited s after systemd-cryptsetup started (bound $((KMS_TIMEOUT + MARGIN)) s)"
	# What the plugin said. systemd-cryptsetup@ is not ordered after the
	# network: when it runs before eth0 has its address, the connect fails
	# at once instead of stalling; either way the prompt must come in time.
	grep -E 'systemd-cryptsetup\[[0-9]+\]: securekey:' fallback.log | sed 's/^/plugin: /' || true
	if grep -q 'systemd-cryptsetup\[[0-9]*\]: securekey: KMS .*timed out' fallback.log; then
		awk -v w="$waited" -v t=$KMS_TIMEOUT 'BEGIN { exit !(w >= t) }' ||
			fail "the KMS fetch timed out, yet the prompt came $waited s after the start (< $KMS_TIMEOUT s)"
		echo "prompt: the KMS fetch stalled until the [kms] timeout, then the prompt came"
	fi
	;;
*)
	fail "unknown scenario '$SCENARIO'"
	;;
esac
step "done"
