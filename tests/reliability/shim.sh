# The LD_PRELOAD fault shim (tests/reliability/faultshim.c) for the atf-sh
# tests t_crash, t_faults and t_concurrency; sourced after common.sh and
# devices.sh.
#
#	shim FAULTSHIM_VAR=VALUE... COMMAND...
#
# runs COMMAND (env(1) style: the first word that is no assignment) with the
# shim preloaded and the FAULTSHIM_* variables set (see faultshim.c). In a
# sanitizer build the ASan runtime is preloaded first, as ASan requires; the
# shim itself is built without sanitizers.

SHIM_SO=$SK_BUILDDIR/tests/reliability/.libs/faultshim.so
SHIM_ASAN=$(ldd "$SK_BUILDDIR/cli/securekey-cryptsetup" | awk '/libasan/ { print $3 }')
# for atf_check, which runs no shell function: env LD_PRELOAD="$SHIM_LD" ...
SHIM_LD="${SHIM_ASAN:+$SHIM_ASAN }$SHIM_SO"

# shim_head: what a test case that uses the shim needs.
shim_head()
{
	common_head "$@"
	atf_set "require.files" "$SHIM_SO"
}

shim()
{
	env LD_PRELOAD="$SHIM_LD" "$@"
}

# wait_for FILE [SECONDS]: until FILE exists (default at most 20 s).
wait_for()
{
	_n=0
	while [ ! -e "$1" ]; do
		_n=$((_n + 1))
		[ "$_n" -le "$((${2:-20} * 20))" ] || atf_fail "$1 did not appear within ${2:-20} s"
		sleep 0.05
	done
}
