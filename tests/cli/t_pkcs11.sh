#! @ATF_SH@
# The pkcs11 HSM backend on a SoftHSM2 token (issue 9): what only this
# backend has. The shared flows run in t_cryptsetup_pkcs11 and
# t_rotate_pkcs11, the same programs as t_cryptsetup and t_rotate.

SK_BUILDDIR=@abs_top_builddir@
SK_BACKEND=pkcs11
. @abs_top_srcdir@/tests/cli/common.sh
. @abs_top_srcdir@/tests/cli/devices.sh

atf_init_test_cases()
{
	:
}
