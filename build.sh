#!/bin/sh
# Build securekey on Debian 12 and run the demo or the test suite.
#   ./build.sh demo                      build, then run ./demo
#   ./build.sh check [--enable-sanitizers]   build, then run every test (kyua)
# Installs missing build and test dependencies with apt-get (run as root).
set -eu
cd "$(dirname "$0")"

DEPS="autoconf automake libtool pkg-config make gcc libc6-dev \
libcryptsetup-dev libjson-c-dev libssl-dev libblkid-dev \
libatf-dev atf-sh kyua python3 util-linux cryptsetup-bin \
libinih-dev libp11-kit-dev openssl python3-pykmip"
# The pkcs11 backend's tests: SoftHSM2 as the token, OpenSC's pkcs11-tool to
# look at its objects from outside, NSS's softoken (and certutil to make its
# database) as a token without CKO_DATA, with AES-GCM hidden by a test shim.
TEST_DEPS="softhsm2 opensc libnss3 libnss3-tools"
# Issue 10's tests: bash completion, the Debian package build, and the peers
# of bench/unlock (clevis with a tang server).
TEST_DEPS="$TEST_DEPS bash-completion debhelper dh-autoreconf dpkg-dev fakeroot \
clevis clevis-luks tang socat"
# The Ansible collection's tests: ansible-test units (pytest and its plugins)
# and the playbook run against sandboxed hosts.
TEST_DEPS="$TEST_DEPS ansible-core python3-pytest python3-pytest-xdist \
python3-pytest-forked python3-pytest-mock python3-mock"
# t_manpage renders the man pages with groff and tbl, every warning on.
TEST_DEPS="$TEST_DEPS groff-base"
# t_cryptsetup's enroll --auth=token: keyctl puts the passphrase of a builtin
# luks2-keyring token into a session keyring of the test's own.
TEST_DEPS="$TEST_DEPS keyutils"
# tests/cli/t_tpm2 and bench/unlock's tpm2 case: RSA-OAEP master keys in a
# TPM2 (swtpm), reached through tpm2-pkcs11; tpm2-abrmd on a private D-Bus
# is the resource manager swtpm lacks, tpm2_ptool (libtpm2-pkcs11-tools)
# makes the token.
TEST_DEPS="$TEST_DEPS swtpm swtpm-tools libtpm2-pkcs11-1 libtpm2-pkcs11-tools tpm2-tools tpm2-abrmd dbus"
# The libFuzzer targets, built by 'make check' and run by tests/fuzz/t_fuzz:
# clang with its sanitizer and libFuzzer runtime.
TEST_DEPS="$TEST_DEPS clang libclang-rt-dev"
# What the boot tests (tests/vm) need besides: qemu, Debian's kernel as the
# guest's, initramfs-tools with Debian's cryptroot, and the tools that make
# the guest's disks.
VM_DEPS="qemu-system-x86 linux-image-amd64 initramfs-tools cryptsetup-initramfs \
busybox e2fsprogs python3-cryptography iproute2 kmod zstd systemd cpio"

install_missing() { # PACKAGE...
	missing=""
	for pkg in "$@"; do
		dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null | grep -qx installed ||
			missing="$missing $pkg"
	done
	[ -z "$missing" ] && return 0
	echo "build.sh: installing$missing"
	apt-get update -qq
	# INITRD=No: the kernel is only the VM tests' guest kernel; they build
	# their own initramfs, so the host needs none in /boot.
	INITRD=No DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends $missing
}

build() { # build DIR [configure options]
	dir=$1
	shift
	[ -x configure ] && [ configure -nt configure.ac ] && [ configure -nt Makefile.am ] ||
		autoreconf -fi
	mkdir -p "$dir"
	(cd "$dir" && { [ -f Makefile ] && [ config.status -nt ../configure ] ||
		../configure -q "$@"; } && make -s -j"$(nproc)")
}

action=${1:-}
[ $# -gt 0 ] && shift
case "$action" in
demo)
	install_missing $DEPS
	build build "$@"
	exec ./demo build
	;;
check)
	install_missing $DEPS $TEST_DEPS $VM_DEPS
	dir=build
	case " $* " in *" --enable-sanitizers "*) dir=build-san ;; esac
	build "$dir" "$@"
	# Debian's dracut for tests/vm/t_dracut, unpacked into the build tree
	# (the package conflicts with initramfs-tools); without it the test skips.
	tests/vm/dracut_root.sh "$dir/tests/dracut-root" || true
	make -s -C "$dir" check
	kyua report --results-file="$dir/tests/results.db" | tail -n 3
	;;
*)
	echo "usage: $0 demo | check [--enable-sanitizers]" >&2
	exit 2
	;;
esac
