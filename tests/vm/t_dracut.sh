#! @ATF_SH@
# systemd-cryptsetup, the main consumer of token plugins, at boot (issue 21,
# part 7): a dracut initramfs (Debian 12's dracut, not installed: unpacked
# by dracut_root.sh into the build tree) with systemd as PID 1, our dracut
# module and the soft HSM, booted under qemu (KVM when a probe boot shows it
# runs a guest, TCG otherwise). See dracut_flow.sh; the initramfs is built
# once per build tree and shared by the cases.

SK_BUILDDIR=@abs_top_builddir@
SK_SRCDIR=@abs_top_srcdir@
. "$SK_SRCDIR/tests/cli/common.sh"
VMDIR=$SK_SRCDIR/tests/vm

KMS_DIR=$SK_SRCDIR/tests/kms
. "$KMS_DIR/kmsenv.sh"

. "$VMDIR/vmtest.sh"

# dracut_unusable: why the dracut VM test cannot run here, or nothing.
dracut_unusable()
{
	_why=$(vm_unusable)
	if [ -n "$_why" ]; then
		echo "$_why"
	elif [ ! -x /lib/systemd/systemd-cryptsetup ]; then
		echo "no /lib/systemd/systemd-cryptsetup (apt-get install systemd)"
	elif ! _why=$("$VMDIR/dracut_root.sh" "$SK_BUILDDIR/tests/dracut-root"); then
		echo "no Debian dracut to build the initramfs with: $_why"
	fi
}

# dracut_flow SCENARIO [BACKEND]: run dracut_flow.sh (default: the soft HSM).
dracut_flow()
{
	_why=$(dracut_unusable)
	[ -z "$_why" ] || atf_skip "$_why"
	run_flow dracut_flow "${2:-soft}" "$1"
}

atf_test_case systemd_token_unlock cleanup
systemd_token_unlock_head()
{
	atf_set "descr" "systemd-cryptsetup in a dracut initramfs (systemd as PID 1) unlocks the root by our token with the soft HSM: no prompt, no keyscript"
	atf_set "require.user" "root"
	atf_set "require.progs" "unshare flock cryptsetup mkfs.ext4 ip cc"
	atf_set "require.files" "/usr/bin/pykmip-server"
	atf_set "timeout" "900"
}
systemd_token_unlock_body()
{
	dracut_flow token
}
systemd_token_unlock_cleanup()
{
	kms_stop_all "$SK_BUILDDIR/tests/dracut-fixture/soft/kms" >/dev/null 2>&1 || true
}

atf_test_case systemd_passphrase_fallback cleanup
systemd_passphrase_fallback_head()
{
	atf_set "descr" "HSM without the key's master key and the KMS stalled: systemd-cryptsetup asks for the passphrase within the [kms] timeout plus a margin, and the answer unlocks"
	atf_set "require.user" "root"
	atf_set "require.progs" "unshare flock cryptsetup mkfs.ext4 ip cc"
	atf_set "require.files" "/usr/bin/pykmip-server"
	atf_set "timeout" "900"
}
systemd_passphrase_fallback_body()
{
	dracut_flow fallback
}
systemd_passphrase_fallback_cleanup()
{
	kms_stop_all "$SK_BUILDDIR/tests/dracut-fixture/soft/kms" >/dev/null 2>&1 || true
}

atf_test_case systemd_pkcs11_token_unlock cleanup
systemd_pkcs11_token_unlock_head()
{
	atf_set "descr" "the same with the master keys on a SoftHSM2 token (pkcs11 backend): the module, its files and the PIN file in the dracut initramfs, no soft HSM state; the root unlocks by token, no prompt"
	atf_set "require.user" "root"
	atf_set "require.progs" "unshare flock cryptsetup mkfs.ext4 ip cc softhsm2-util"
	atf_set "require.files" "/usr/bin/pykmip-server /usr/lib/softhsm/libsofthsm2.so"
	atf_set "timeout" "900"
}
systemd_pkcs11_token_unlock_body()
{
	dracut_flow token pkcs11
}
systemd_pkcs11_token_unlock_cleanup()
{
	kms_stop_all "$SK_BUILDDIR/tests/dracut-fixture/pkcs11/kms" >/dev/null 2>&1 || true
}

atf_test_case systemd_pkcs11_pin_prompt cleanup
systemd_pkcs11_pin_prompt_head()
{
	atf_set "descr" "pkcs11 backend without a PIN in the initramfs: the plugin returns ENOANO, systemd-cryptsetup asks for the token PIN, the typed PIN unlocks the root by token (no passphrase)"
	atf_set "require.user" "root"
	atf_set "require.progs" "unshare flock cryptsetup mkfs.ext4 ip cc softhsm2-util"
	atf_set "require.files" "/usr/bin/pykmip-server /usr/lib/softhsm/libsofthsm2.so"
	atf_set "timeout" "900"
}
systemd_pkcs11_pin_prompt_body()
{
	dracut_flow pin pkcs11typed
}
systemd_pkcs11_pin_prompt_cleanup()
{
	kms_stop_all "$SK_BUILDDIR/tests/dracut-fixture/pkcs11typed/kms" >/dev/null 2>&1 || true
}

atf_init_test_cases()
{
	atf_add_test_case systemd_token_unlock
	atf_add_test_case systemd_passphrase_fallback
	atf_add_test_case systemd_pkcs11_token_unlock
	atf_add_test_case systemd_pkcs11_pin_prompt
}
