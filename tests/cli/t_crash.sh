#! @ATF_SH@
# Crash trials (issue 7, item 1): tests/reliability/crash kills enroll,
# reencipher --staged, hsm set, reencipher --complete and rotate with
# SIGKILL, at random moments and, through the LD_PRELOAD fault shim
# (tests/reliability/faultshim.c), before or after each of their writes,
# fsyncs and renames in turn; after every kill the device must open with its
# passphrase, the operation run again must succeed, then the device must
# unlock by token and validate must report its state. Two kill points that
# the product does not survive yet are pinned down here as expected
# failures.
#
# To replay: kyua --variable=test_suites.securekey.crash_seed=S (the seed
# is in the output), and crash_trials=N for another count. The trials run in
# a directory on tmpfs (/dev/shm) when there is one: a SIGKILL leaves the
# page cache as it is, so a disk adds nothing but fsync time.

SK_BUILDDIR=@abs_top_builddir@
. @abs_top_srcdir@/tests/cli/common.sh
. @abs_top_srcdir@/tests/cli/devices.sh
. @abs_top_srcdir@/tests/reliability/shim.sh

CRASH=@abs_top_srcdir@/tests/reliability/crash

atf_test_case trials cleanup
trials_head()
{
	atf_set "descr" "200 crash trials (40 in a sanitizer build; 2 streams): every device opens" \
		"with its passphrase after each kill, and by token after the re-run; validate" \
		"reports each state"
	atf_set "timeout" "900"
	shim_head setsid bash od
}
trials_body()
{
	# 'make check-valgrind': the trials run the build's binaries themselves
	[ -z "${SECUREKEY_VALGRIND:-}" ] ||
		atf_skip "the crash trials do not run their commands under valgrind"
	# 200 in the normal build; ASan and UBSan make each command about 2.5
	# times slower, so the sanitizer build runs 40 (the trials look for
	# memory errors on the recovery paths there, the count is CI's 200)
	n=$(atf_config_get crash_trials "$([ -n "$SHIM_ASAN" ] && echo 40 || echo 200)")
	seed=$(atf_config_get crash_seed "$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')")
	if [ -d /dev/shm ] && [ -w /dev/shm ]; then
		dir=$(mktemp -d /dev/shm/sk-t_crash.XXXXXX) || atf_fail "mktemp on /dev/shm failed"
		echo "$dir" >shm.dir
	else
		dir=$PWD/trials
	fi
	echo "crash_seed=$seed crash_trials=$n work directory $dir" >&2
	"$CRASH" "$n" --seed "$seed" --builddir "$SK_BUILDDIR" --workdir "$dir" >crash.out 2>&1
	rc=$?
	cat crash.out
	for log in "$dir"/crash.log "$dir"/stream*/crash.log; do
		[ -f "$log" ] && [ "$rc" != 0 ] && { echo "=== $log"; tail -50 "$log"; } >&2
	done
	case $dir in /dev/shm/*) rm -rf "$dir" ;; esac
	test "$rc" = 0 || atf_fail "the crash trials failed (exit $rc): $(grep -E '^[0-9]+ trials|^stream|^trial' crash.out | head -5 | tr '\n' '|')"
	grep -Eq "^$n trials, 0 unopenable devices\$" crash.out ||
		atf_fail "not '$n trials, 0 unopenable devices': $(head -2 crash.out | tr '\n' '|')"
}
trials_cleanup()
{
	# the directory on /dev/shm, should the body have been cut short
	[ -f shm.dir ] || return 0
	case $(cat shm.dir) in /dev/shm/sk-t_crash.*) rm -rf "$(cat shm.dir)" ;; esac
	return 0
}

atf_test_case enroll_killed_before_inventory
enroll_killed_before_inventory_head()
{
	atf_set "descr" "enroll killed after the token write, before the known-volume entry:" \
		"the device opens; enroll again brings it into 'securekey list'"
	shim_head
}
enroll_killed_before_inventory_body()
{
	setup
	mkimg img
	atf_check -s signal:9 -o empty -e ignore env LD_PRELOAD="$SHIM_LD" FAULTSHIM_OPS=open \
		FAULTSHIM_PATH="$PWD/state/volumes/*" FAULTSHIM_ACTION=kill \
		"$CR" enroll img --apqns "$APQNS" --key-file pass
	pass_opens img
	token_unlocks img "secure key under the CURRENT master key"
	vstate img CURRENT - none
	"$CR" enroll img --apqns "$APQNS" --key-file pass >out 2>err
	rc=$?
	atf_check -s exit:0 -o save:list.json -e empty "$SECUREKEY" list --json
	test "$rc" = 0 || atf_fail "the re-run of enroll: exit $rc: $(cat err)"
	json_holds list.json l "[d['path'] for d in l] == ['$PWD/img']"
}

atf_test_case hsm_set_killed_between_renames
hsm_set_killed_between_renames_head()
{
	atf_set "descr" "hsm set killed between the renames of the two APQNs' state files (after" \
		"its commit point): the set is in effect on both APQNs, the device opens with" \
		"its passphrase and by token, and the next change of the HSM finishes the renames"
	shim_head
}
hsm_set_killed_between_renames_body()
{
	setup
	mkimg img
	enroll img
	new_mk n1
	atf_check -s exit:0 -o match:"kept as staged" -e empty "$CR" reencipher img --staged --key-file pass
	atf_check -s signal:9 -o empty -e empty env LD_PRELOAD="$SHIM_LD" FAULTSHIM_OPS=rename FAULTSHIM_NTH=2 \
		FAULTSHIM_PATH="$PWD/hsm/*" FAULTSHIM_ACTION=kill "$SECUREKEY" hsm set --apqns "$APQNS"
	pass_opens img
	test "$(reg_mkvp CURRENT 01.0001)" = "$NEW_MKVP" -a "$(reg_mkvp CURRENT 02.0001)" = "$NEW_MKVP" ||
		atf_fail "the set is not in effect on both APQNs: $(cat status.json)"
	token_unlocks img "staged secure key"
	atf_check -s exit:0 -o match:"is completed" -e empty "$CR" reencipher img --complete --key-file pass
	new_mk n2
	test ! -e hsm/commit && test -z "$(ls hsm | grep '\.new$')" ||
		atf_fail "the next change did not finish the renames: $(ls hsm)"
	token_unlocks img "secure key under the CURRENT master key"
}

atf_init_test_cases()
{
	atf_add_test_case trials
	atf_add_test_case enroll_killed_before_inventory
	atf_add_test_case hsm_set_killed_between_renames
}
