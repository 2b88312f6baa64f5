#!/bin/bash
# tiny_boot.sh [EXPECT-RE]: choose qemu's accelerator as boot_flow.sh does
# and boot the guest kernel with an initramfs of one static /init (the test
# root's init, which finds no /data.txt and powers off); the console must
# show a line matching EXPECT-RE (default: that init's line). Run by
# tests/vm/t_boot in its work directory to test the choice and the failure
# output of a boot without the whole boot flow.
set -euo pipefail

VM=$(cd "$(dirname "$0")" && pwd)
. "$VM/vmlib.sh"
expect=${1:-^SECUREKEY-VM-ROOT: no /data.txt}

KVER=$(vm_kernel)
[ -n "$KVER" ] || { echo "tiny_boot: no guest kernel" >&2; exit 1; }
mkdir -p tiny
cc -static -Os -o tiny/init "$VM/guest_init.c"
(cd tiny && echo init | cpio -o -H newc --quiet) >tiny.cpio

vm_pick_accel "/boot/vmlinuz-$KVER"
vm_boot tiny 180 --expect "$expect" -- \
	-kernel "/boot/vmlinuz-$KVER" -initrd tiny.cpio -append "console=ttyS0 panic=-1"
