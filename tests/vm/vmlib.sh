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
