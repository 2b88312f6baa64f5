# tests/vm/vmlib.sh: what the VM tests share (bash; sourced with VM set to
# tests/vm of the source tree). The guest kernel, the choice of qemu's
# accelerator, and a boot whose failure shows the end of its console.
#
# Test knobs (the accelerator's own test uses them to stand in for a host):
#   SK_VM_KVM_DEV        the KVM device (default /dev/kvm)
#   SK_VM_CPUINFO        the CPU flags (default /proc/cpuinfo)
#   SK_VM_PROBE_SECONDS  how long the KVM probe boot may print nothing (5)

# vm_kernel: the guest kernel's version, the newest with both an image in
# /boot and modules (not uname -r, the host's); nothing when there is none.
vm_kernel()
{
	local v
	for v in $(ls /lib/modules 2>/dev/null | sort -rV); do
		[ -r "/boot/vmlinuz-$v" ] && { echo "$v"; return 0; }
	done
}

# vm_kvm_unusable: why KVM cannot run a guest here, or nothing when the
# probe boot (on the kernel image $1) printed its first console line in time.
# A /dev/kvm that opens is no evidence: some hosts have one whose guests
# never print a line (no vmx/svm in the CPU flags), and qemu -accel kvm
# starts all the same.
vm_kvm_unusable()
{
	local kernel=$1 dev=${SK_VM_KVM_DEV:-/dev/kvm} cpuinfo=${SK_VM_CPUINFO:-/proc/cpuinfo}
	local secs=${SK_VM_PROBE_SECONDS:-5} first

	if [ ! -e "$dev" ]; then
		echo "$dev does not exist"
		return
	elif [ ! -r "$dev" ] || [ ! -w "$dev" ]; then
		echo "$dev cannot be opened read-write"
		return
	elif ! grep -qwE '^flags.*\b(vmx|svm)\b' "$cpuinfo"; then
		echo "the CPU flags in $cpuinfo show neither vmx nor svm"
		return
	fi
	# The first line a guest prints is the kernel's setup code, before the
	# kernel is even decompressed: well under a second with KVM that works.
	# qemu's own messages ("qemu-system-x86_64: ...") are not the guest's.
	"$VM/qemu_run.py" --log kvm-probe.log --timeout "$secs" --quit-when-matched \
		--expect '^(?!qemu-system-x86_64: )\s*\S' -- \
		qemu-system-x86_64 -accel kvm -m 128 -smp 1 -nodefaults -display none \
		-serial stdio -no-reboot -kernel "$kernel" \
		-append "console=ttyS0 earlyprintk=ttyS0 panic=-1" >/dev/null 2>&1 && return
	if grep -q '(timed out)$' kvm-probe.log; then
		echo "a KVM probe boot printed no console line in $secs s"
	else
		first=$(grep -m 1 ' qemu-system-x86_64: ' kvm-probe.log | sed 's/^\[[ 0-9.]*\] //' || true)
		echo "qemu -accel kvm ended without a console line${first:+: $first}"
	fi
}

# vm_pick_accel KERNEL: set VM_ACCEL (kvm or tcg) by evidence and print the
# choice with its reason.
vm_pick_accel()
{
	local why
	why=$(vm_kvm_unusable "$1")
	if [ -z "$why" ]; then
		VM_ACCEL=kvm
		why="a KVM probe boot printed its first console line within ${SK_VM_PROBE_SECONDS:-5} s"
	else
		VM_ACCEL=tcg
	fi
	echo "accelerator: $VM_ACCEL ($why)"
}

# vm_boot NAME TIMEOUT [QEMU_RUN-OPTION...] -- QEMU-ARG...: boot a guest on
# $VM_ACCEL with the serial console in NAME.log; on failure, print the last
# 40 lines of that log (the test's work directory, and the log, are gone
# once the test ends).
vm_boot()
{
	local name=$1 timeout=$2 opts=()
	shift 2
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		opts+=("$1")
		shift
	done
	[ $# -gt 0 ] && shift
	"$VM/qemu_run.py" --log "$name.log" --timeout "$timeout" "${opts[@]}" -- \
		qemu-system-x86_64 -accel "${VM_ACCEL:?vm_pick_accel first}" -m 512 -smp 1 \
		-nodefaults -display none -serial stdio -no-reboot "$@" && return 0
	echo "--- the last 40 lines of $name's console ($name.log):"
	tail -n 40 "$name.log"
	echo "--- end of $name's console"
	return 1
}

# vm_root_volume IMG UUID DATA PASSFILE: a LUKS2 aes-xts-plain64 image
# (passphrase in PASSFILE) whose ext4 holds a static /sbin/init
# (guest_init.c, which prints /data.txt and powers off) and /data.txt =
# DATA, encrypted on the host with a volume key of its own.
vm_root_volume()
{
	local img=$1 uuid=$2 data=$3 pass=$4 tmp
	tmp=$(mktemp -d "$PWD/rootfs.XXXXXX")
	head -c 64 /dev/urandom >"$tmp/vk.bin"
	truncate -s 24M "$img"
	cryptsetup luksFormat --type luks2 --batch-mode --cipher aes-xts-plain64 --key-size 512 \
		--sector-size 512 --volume-key-file "$tmp/vk.bin" --pbkdf pbkdf2 \
		--pbkdf-force-iterations 1000 --luks2-metadata-size 16k --luks2-keyslots-size 1M \
		--uuid "$uuid" --key-file "$pass" "$img" >/dev/null || return 1
	mkdir -p "$tmp/fs/sbin" "$tmp/fs/dev" "$tmp/fs/proc" "$tmp/fs/sys" "$tmp/fs/run"
	cc -static -Os -o "$tmp/fs/sbin/init" "$VM/guest_init.c" || return 1
	printf '%s' "$data" >"$tmp/fs/data.txt"
	mkfs.ext4 -q -F -d "$tmp/fs" "$tmp/fs.img" 8M || return 1
	"$VM/encrypt_payload.py" "$img" "$tmp/vk.bin" "$tmp/fs.img" || return 1
	rm -rf "$tmp"
}

# vm_install_overlays BUILD CRYPTTAB-LINE: this build installed with prefix
# /usr in overlays over /usr and /etc (in a private mount namespace only),
# /etc/crypttab holding CRYPTTAB-LINE, for mkinitramfs to pick up.
vm_install_overlays()
{
	make -s -C "$1" install DESTDIR="$PWD/inst" prefix=/usr >install.log 2>&1 ||
		{ cat install.log; return 1; }
	mkdir -p upper/usr upper/etc/securekey ovl/usr ovl/etc
	cp -a inst/usr/. upper/usr/
	cp -a inst/lib/. upper/usr/lib/
	printf '%s\n' "$2" >upper/etc/crypttab
	mount -t overlay overlay -o "lowerdir=/usr,upperdir=$PWD/upper/usr,workdir=$PWD/ovl/usr" /usr &&
		mount -t overlay overlay -o "lowerdir=/etc,upperdir=$PWD/upper/etc,workdir=$PWD/ovl/etc" /etc
}

# vm_mkinitramfs KVER: initrd.img by mkinitramfs with the VM tests'
# configuration (tests/vm/initramfs-conf: UMASK=0077, few modules).
vm_mkinitramfs()
{
	rm -f initrd.img
	mkinitramfs -d "$VM/initramfs-conf" -o initrd.img "$1" >mkinitramfs.log 2>&1 ||
		{ cat mkinitramfs.log; return 1; }
}

# vm_header_sum IMG: SHA-256 of IMG's LUKS2 header area (both JSON copies
# and the 1 MiB keyslot area the VM tests' images have).
vm_header_sum()
{
	head -c $((16384 * 2 + 1048576)) "$1" | sha256sum
}
