#! @ATF_SH@
# Boot integration (issue 8). boot_flow: the real thing under qemu (KVM when
# a probe boot shows it runs a guest, TCG otherwise), see boot_flow.sh. The
# accel_* and boot_failure_console cases boot a one-file initramfs
# (tiny_boot.sh) to test that choice, with a stand-in qemu in front of the
# real one, and what a failed boot prints. The other cases check the
# boot pieces on the host: the initramfs-tools hook's handling of secrets,
# the systemd refresh unit (systemd-analyze verify), and the dracut module,
# whose install() is run against recording stubs of dracut's inst_*
# functions (dracut conflicts with initramfs-tools, so it is not installed).

SK_BUILDDIR=@abs_top_builddir@
SK_SRCDIR=@abs_top_srcdir@
. "$SK_SRCDIR/tests/cli/common.sh"
VMDIR=$SK_SRCDIR/tests/vm

KMS_DIR=$SK_SRCDIR/tests/kms
. "$KMS_DIR/kmsenv.sh"

. "$VMDIR/vmtest.sh"

atf_test_case boot_flow cleanup
boot_flow_head()
{
	atf_set "descr" "root unlocked by token at boot; KMS refresh in the initramfs; passphrase fallback; dm-crypt + reencipher while active"
	atf_set "require.user" "root"
	atf_set "require.progs" "mkinitramfs lsinitramfs unshare cryptsetup mkfs.ext4 ip cc"
	atf_set "require.files" "/usr/share/initramfs-tools/hooks/cryptroot /usr/bin/pykmip-server"
	atf_set "timeout" "900"
}
boot_flow_body()
{
	_why=$(vm_unusable)
	[ -z "$_why" ] || atf_skip "$_why"
	run_flow boot_flow
}
boot_flow_cleanup()
{
	kms_stop_all "$PWD/kms" >/dev/null 2>&1 || true
}

# standin_qemu hang|works: bin/qemu-system-x86_64 in front of the real one,
# recording its arguments in qemu-calls. Given -accel kvm, "hang" prints
# nothing and never ends, as qemu does on a host whose /dev/kvm opens but
# cannot run a guest; "works" runs the guest (on TCG), as on a host where
# KVM works. Anything else goes to the real qemu.
standin_qemu()
{
	_real=$(command -v qemu-system-x86_64)
	mkdir -p bin
	case $1 in
	hang) _kvm='exec sleep 600' ;;
	works) _kvm='for a; do shift; [ "$a" = kvm ] && a=tcg; set -- "$@" "$a"; done' ;;
	esac
	cat >bin/qemu-system-x86_64 <<EOF
#!/bin/sh
echo "\$*" >>"$PWD/qemu-calls"
case " \$* " in *" -accel kvm "*) $_kvm ;; esac
exec "$_real" "\$@"
EOF
	chmod +x bin/qemu-system-x86_64
}

# fake_kvm_host: a KVM device that opens and CPU flags with vmx, so that
# only the probe boot can tell whether KVM runs a guest.
fake_kvm_host()
{
	: >kvm
	printf 'processor\t: 0\nflags\t\t: fpu vme pae lm vmx\n' >cpuinfo
	export SK_VM_KVM_DEV="$PWD/kvm" SK_VM_CPUINFO="$PWD/cpuinfo"
}

atf_test_case pkcs11_boot
pkcs11_boot_head()
{
	atf_set "descr" "the root volume's master key on a SoftHSM2 token (pkcs11 backend): the module, its files and the PIN file in the initramfs, unlocked by token; without the PIN file the keyscript asks for the PIN; a wrong PIN leads to the passphrase"
	atf_set "require.user" "root"
	atf_set "require.progs" "mkinitramfs lsinitramfs unshare cryptsetup mkfs.ext4 cc softhsm2-util"
	atf_set "require.files" "/usr/share/initramfs-tools/hooks/cryptroot /usr/lib/softhsm/libsofthsm2.so"
	atf_set "timeout" "900"
}
pkcs11_boot_body()
{
	_why=$(vm_unusable)
	[ -z "$_why" ] || atf_skip "$_why"
	run_flow pkcs11_flow
}
atf_test_case tpm2_boot
tpm2_boot_head()
{
	atf_set "descr" "the root volume's master key in a TPM2 (swtpm as qemu's TPM device, tpm2-pkcs11, RSA-OAEP): unlocked by token at boot through /dev/tpmrm0; the volume key is not in the initramfs; with a different TPM the same initramfs and disk fall back to the passphrase"
	atf_set "require.user" "root"
	atf_set "require.progs" "mkinitramfs lsinitramfs unmkinitramfs unshare cryptsetup mkfs.ext4 ip cc swtpm swtpm_ioctl tpm2-abrmd dbus-daemon tpm2_ptool tpm2_getrandom"
	atf_set "require.files" "/usr/share/initramfs-tools/hooks/cryptroot /usr/lib/x86_64-linux-gnu/pkcs11/libtpm2_pkcs11.so"
	atf_set "timeout" "900"
}
tpm2_boot_body()
{
	_why=$(vm_unusable)
	[ -z "$_why" ] || atf_skip "$_why"
	run_flow tpm2_flow
}

atf_test_case accel_kvm_hangs
accel_kvm_hangs_head()
{
	atf_set "descr" "a KVM whose guest prints nothing (stand-in qemu) is passed over after the probe: the boot passes on TCG"
	atf_set "require.progs" "cc cpio"
	atf_set "timeout" "300"
}
accel_kvm_hangs_body()
{
	_why=$(vm_unusable)
	[ -z "$_why" ] || atf_skip "$_why"
	standin_qemu hang
	fake_kvm_host
	atf_check -s exit:0 -e ignore \
		-o match:"^accelerator: tcg \(a KVM probe boot printed no console line in 5 s\)\$" \
		-o match:"SECUREKEY-VM-ROOT: no /data.txt" \
		env PATH="$PWD/bin:$PATH" "$VMDIR/tiny_boot.sh"
	atf_check -s exit:0 -o inline:"2\n" grep -c -- '-accel' qemu-calls
	atf_check -s exit:0 -o match:"-accel kvm .*earlyprintk" head -n 1 qemu-calls
	atf_check -s exit:0 -o match:"-accel tcg .*-initrd tiny.cpio" tail -n 1 qemu-calls
}

atf_test_case accel_kvm_works
accel_kvm_works_head()
{
	atf_set "descr" "a KVM whose probe boot prints (stand-in qemu) is chosen, and the boot passes on it"
	atf_set "require.progs" "cc cpio"
	atf_set "timeout" "300"
}
accel_kvm_works_body()
{
	_why=$(vm_unusable)
	[ -z "$_why" ] || atf_skip "$_why"
	standin_qemu works
	fake_kvm_host
	# The stand-in's "KVM" is TCG: its first line may take longer on a loaded host.
	atf_check -s exit:0 -e ignore \
		-o match:"^accelerator: kvm \(a KVM probe boot printed its first console line within 60 s\)\$" \
		-o match:"SECUREKEY-VM-ROOT: no /data.txt" \
		env PATH="$PWD/bin:$PATH" SK_VM_PROBE_SECONDS=60 "$VMDIR/tiny_boot.sh"
	atf_check -s exit:0 -o match:"-accel kvm .*-initrd tiny.cpio" tail -n 1 qemu-calls
}

atf_test_case boot_failure_console
boot_failure_console_head()
{
	atf_set "descr" "without a KVM device TCG is chosen with no probe; a boot that fails prints the last 40 lines of its console"
	atf_set "require.progs" "cc cpio"
	atf_set "timeout" "300"
}
boot_failure_console_body()
{
	_why=$(vm_unusable)
	[ -z "$_why" ] || atf_skip "$_why"
	standin_qemu hang
	atf_check -s exit:1 -e ignore -o save:out \
		env PATH="$PWD/bin:$PATH" SK_VM_KVM_DEV="$PWD/no-kvm" "$VMDIR/tiny_boot.sh" 'NEVER-PRINTED'
	atf_check -s exit:0 -o ignore grep -x "accelerator: tcg ($PWD/no-kvm does not exist)" out
	atf_check -s exit:0 -o ignore grep -x "qemu_run.py: no console line matched 'NEVER-PRINTED'" out
	sed -n "/^--- the last 40 lines of tiny's console (tiny.log):\$/,/^--- end of tiny's console\$/p" \
		out >tail
	atf_check -s exit:0 -o inline:"42\n" grep -c "" tail
	atf_check -s exit:0 -o ignore grep "SECUREKEY-VM-ROOT: no /data.txt" tail
	atf_check -s exit:0 -o ignore grep "qemu exited with 0" tail
	atf_check -s exit:1 grep -- '-accel kvm' qemu-calls
}

atf_test_case answer_prompt_midline
answer_prompt_midline_head()
{
	atf_set "descr" "qemu_run.py answers a prompt that a kernel message ended on the same line" \
		"(both printed before the console was read): vm/t_dracut:systemd_passphrase_fallback" \
		"timed out at its prompt in CI that way"
	atf_set "require.progs" "python3"
}
answer_prompt_midline_body()
{
	cat >guest <<'EOF2'
#!/bin/sh
printf 'Please enter passphrase for disk d: (press TAB for no echo) [   38.749879] systemd-tty-ask-password-agent[291]: Starting password query on /dev/ttyS0.\n'
read -r answer
echo "guest read: $answer"
EOF2
	chmod +x guest
	atf_check -s exit:0 -o match:"guest read: correct horse battery" -e empty \
		python3 "$VMDIR/qemu_run.py" --log console.log --timeout 10 \
		--answer "Please enter passphrase for disk d: =correct horse battery" \
		--expect "guest read: correct horse battery" -- ./guest
	atf_check -s exit:0 -o ignore grep "ttyS0\\. <typed by qemu_run.py>$" console.log
}

# state_with_kms: a soft HSM and a configuration naming a KMS (no server
# needed: nothing connects).
state_with_kms()
{
	mkdir -p etc
	sk hsm init --apqns "$APQNS" >/dev/null
	cat >"$SECUREKEY_CONF" <<CONF
[kms]
server = kmip://10.0.2.2:5696
ca = $PWD/etc/ca.pem
cert = $PWD/etc/client.pem
identity_key = $PWD/etc/identity.skey
apqns = $APQNS
CONF
	for f in ca.pem client.pem identity.skey; do echo "$f" >"etc/$f"; done
}

atf_test_case hook_secrets
hook_secrets_head()
{
	atf_set "descr" "the initramfs-tools hook copies the soft HSM state only into an image others cannot read"
	atf_set "require.files" "/usr/share/initramfs-tools/hook-functions"
	atf_set "require.progs" "modprobe"
}
hook_secrets_body()
{
	install_here
	state_with_kms
	# What mkinitramfs exports to its hooks.
	kver=$(ls /lib/modules | sort -V | tail -n 1)
	for umask in 0077 0022; do
		mkdir -p "d$umask/conf/conf.d"
		atf_check -s exit:0 -o ignore -e save:"hook$umask.err" env DESTDIR="$PWD/d$umask" \
			UMASK=$umask verbose=n version="$kver" MODULESDIR="/lib/modules/$kver" \
			"$PWD/inst/usr/share/initramfs-tools/hooks/securekey"
	done
	atf_check -s exit:0 -o inline:"SECUREKEY_NETWORK=y\nSECUREKEY_REFRESH_TIMEOUT=30\n" \
		cat d0077/conf/conf.d/securekey
	atf_check -s exit:0 test -x "d0077$PWD/inst/usr/sbin/securekey-cryptsetup"
	atf_check -s exit:0 -o inline:"700\n600\n600\n" \
		stat -c %a d0077/var/lib/securekey/hsm d0077/var/lib/securekey/hsm/01.0001.mk \
		d0077/var/lib/securekey/hsm/02.0001.mk
	atf_check -s exit:0 cmp "$SECUREKEY_CONF" d0077/etc/securekey/securekey.conf
	atf_check -s exit:0 cmp etc/identity.skey "d0077$PWD/etc/identity.skey"
	atf_check -s exit:0 -o empty cat hook0077.err
	atf_check -s exit:1 test -e d0022/var/lib/securekey/hsm/01.0001.mk
	atf_check -s exit:0 -o match:"soft HSM state or PKCS#11 PIN not added \(3 files\).*UMASK=0077" \
		cat hook0022.err
	atf_check -s exit:0 test -e "d0022$PWD/etc/ca.pem"
}

# Recording stubs of the dracut functions module-setup.sh calls.
dracut_stubs()
{
	cat <<'EOF2'
initdir=$PWD/initdir
systemdsystemunitdir=/usr/lib/systemd/system
mkdir -p "$initdir/etc/cmdline.d"
require_binaries() { for f; do [ -x "$f" ] || return 1; done; }
inst_multiple() { for f; do echo "inst $f"; done >>installed; }
inst_library() { echo "inst $1" >>installed; }
inst_rules() { echo "rules $1" >>installed; }
inst_simple() { echo "inst $1${2:+ -> $2}" >>installed; }
dwarn() { echo "dwarn $*" >>installed; }
EOF2
}

atf_test_case dracut_module
dracut_module_head()
{
	atf_set "descr" "the dracut module installs the hook's pieces and asks for the network with a KMS"
	atf_set "require.progs" "bash"
}
dracut_module_body()
{
	install_here
	state_with_kms
	dracut_stubs >stubs.sh
	module=$PWD/inst/usr/lib/dracut/modules.d/90securekey/module-setup.sh
	atf_check -s exit:255 bash -c ". ./stubs.sh; . '$module'; check"
	atf_check -s exit:0 -o inline:"crypt\nnetwork\n" bash -c ". ./stubs.sh; . '$module'; depends"
	atf_check -s exit:0 bash -c "umask 077; . ./stubs.sh; . '$module'; install"
	U=$PWD/inst/usr
	cat >expected <<EOF2
inst $U/sbin/securekey-cryptsetup
inst $U/lib/securekey/securekey-udev
inst $U/lib/securekey/keyscript
inst $PWD/inst/tokens/libcryptsetup-token-securekey.so
rules $U/lib/udev/rules.d/60-securekey.rules
inst $U/lib/systemd/system/securekey-refresh@.service -> /usr/lib/systemd/system/securekey-refresh@.service
inst $SECUREKEY_CONF -> /etc/securekey/securekey.conf
inst $PWD/etc/ca.pem -> $PWD/etc/ca.pem
inst $PWD/etc/client.pem -> $PWD/etc/client.pem
inst $PWD/etc/identity.skey -> $PWD/etc/identity.skey
inst $SECUREKEY_HSM_DIR/.lock -> /var/lib/securekey/hsm/.lock
inst $SECUREKEY_HSM_DIR/01.0001.mk -> /var/lib/securekey/hsm/01.0001.mk
inst $SECUREKEY_HSM_DIR/02.0001.mk -> /var/lib/securekey/hsm/02.0001.mk
EOF2
	atf_check -s exit:0 -o file:expected cat installed
	atf_check -s exit:0 -o inline:"rd.neednet=1\n" cat initdir/etc/cmdline.d/90securekey.conf
	rm installed
	atf_check -s exit:0 bash -c "umask 022; . ./stubs.sh; . '$module'; install"
	atf_check -s exit:0 -o match:"^dwarn securekey: .*/01.0001.mk not added" -o not-match:"^inst .*\.mk" \
		cat installed
}

atf_test_case refresh_unit
refresh_unit_head()
{
	atf_set "descr" "securekey-refresh@.service, which the rule wants under systemd, passes" \
		"systemd-analyze verify, and is sandboxed: read-only system, writable state and run" \
		"directories only, no new privileges, the socket families it needs, devices visible;" \
		"systemd-analyze security rates its exposure 3.0 or less"
	atf_set "require.progs" "systemd-analyze"
}
refresh_unit_body()
{
	install_here
	mkdir units
	# An instance as the rule names it (%k: the kernel name), checked offline.
	cp "$PWD/inst/usr/lib/systemd/system/securekey-refresh@.service" units/securekey-refresh@vda.service
	atf_check -s exit:0 -o empty -e empty systemd-analyze verify --man=no units/securekey-refresh@vda.service
	atf_check -s exit:0 -o match:"^ExecStart=$HELPER refresh --timeout 30 /dev/%I\$" \
		grep '^ExecStart=' units/securekey-refresh@vda.service
	# The sandbox (securekey-udev(8)).
	for _d in ProtectSystem=strict StateDirectory=securekey "RuntimeDirectory=securekey cryptsetup" \
		RuntimeDirectoryPreserve=yes NoNewPrivileges=yes \
		"RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK" PrivateMounts=yes \
		SystemCallFilter=@system-service; do
		grep -qxF "$_d" units/securekey-refresh@vda.service || atf_fail "no $_d in the unit"
	done
	# Nothing else writable; /dev/%I must stay reachable (its header is written).
	atf_check -s exit:1 -o empty \
		grep -E '^(ReadWritePaths|PrivateDevices|DevicePolicy|DeviceAllow|ProtectClock|PrivateNetwork)=' \
		units/securekey-refresh@vda.service
	# systemd's rating: 9.5 (UNSAFE) without the sandbox, 2.8 with it.
	atf_check -s exit:0 -o match:"Overall exposure level for securekey-refresh@vda.service: ([0-2]\.[0-9]|3\.0) OK" \
		-e ignore systemd-analyze security --offline=yes --threshold=30 --no-pager \
		units/securekey-refresh@vda.service
}

atf_init_test_cases()
{
	atf_add_test_case boot_flow
	atf_add_test_case pkcs11_boot
	atf_add_test_case tpm2_boot
	atf_add_test_case accel_kvm_hangs
	atf_add_test_case accel_kvm_works
	atf_add_test_case boot_failure_console
	atf_add_test_case answer_prompt_midline
	atf_add_test_case hook_secrets
	atf_add_test_case dracut_module
	atf_add_test_case refresh_unit
}
