# What the atf-sh VM test programs (t_boot, t_dracut) share: sourced after
# tests/cli/common.sh, with VMDIR set to tests/vm of the source tree.

# vm_unusable: why a VM test cannot run here, or nothing.
vm_unusable()
{
	_kver=$(bash -c '. "$1/vmlib.sh"; vm_kernel' vmlib "$VMDIR")
	if sanitized; then
		echo "the VM test runs in the default build (it tests the boot pieces; the sanitizer build checks the same C code on the host)"
	elif ! command -v qemu-system-x86_64 >/dev/null; then
		echo "qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)"
	elif ! qemu-system-x86_64 -version >/dev/null 2>&1; then
		echo "qemu-system-x86_64 does not start: $(qemu-system-x86_64 -version 2>&1 | head -n 1)"
	elif [ -z "$_kver" ]; then
		echo "no guest kernel: no /boot/vmlinuz-V with /lib/modules/V (apt-get install linux-image-amd64)"
	fi
}

# run_flow NAME [ARG...]: tests/vm/NAME.sh BUILDDIR SRCDIR ARG... in a private
# network and mount namespace; its steps, the accelerator, the console lines
# it matched and what it measured on success, its whole log on failure.
run_flow()
{
	_flow=$1
	shift
	if ! unshare -n -m "$VMDIR/$_flow.sh" "$SK_BUILDDIR" "$SK_SRCDIR" "$@" >flow.log 2>&1; then
		cat flow.log
		atf_fail "$(grep "$_flow: FAIL" flow.log | tail -n 1)"
	fi
	grep -E '^(===|accelerator|qemu_run.py|lsinitr|fixture|prompt|plugin)' flow.log
}
