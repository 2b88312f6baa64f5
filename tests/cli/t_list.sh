#! @ATF_SH@
# securekey list: the known volumes recorded by enroll (removed by remove),
# explicit paths, the --apqns filter, and the state of each device as a
# master-key change moves on. It must never write.

SK_BUILDDIR=@abs_top_builddir@
. @abs_top_srcdir@/tests/cli/common.sh
. @abs_top_srcdir@/tests/cli/devices.sh

# ljson PYTHON-EXPR...: 'securekey list --json ARGS' (in $LARGS) and checks over it (l).
ljson()
{
	atf_check -s exit:0 -o save:list.json -e empty "$SECUREKEY" list --json $LARGS
	json_holds list.json l "$@"
}

atf_test_case known_volumes
known_volumes_head()
{
	atf_set "descr" "enroll records a volume, list shows it with its state, remove forgets it"
	common_head
}
known_volumes_body()
{
	setup
	mkimg a
	mkimg b
	mkimg plain
	LARGS=
	ljson "l == []"
	enroll a
	enroll b
	ua=$(cryptsetup luksUUID a)
	ub=$(cryptsetup luksUUID b)
	test "$(stat -c %a "state/volumes/$ua")" = 600 || atf_fail "known-volume entry is not 0600"
	ljson "len(l) == 2" "sorted(d['uuid'] for d in l) == sorted(['$ua', '$ub'])" \
		"all(d['register'] == 'CURRENT' and d['next_step'] == 'none' for d in l)" \
		"all(d['path'] in ('$PWD/a', '$PWD/b') and d['apqns'] == '$APQNS' for d in l)" \
		"all(d['staged'] is False and d['kms'] is False for d in l)"
	atf_check -s exit:0 -e empty -o match:"^$ua +CURRENT +no +- +none +$PWD/a \\($APQNS\\)\$" \
		"$SECUREKEY" list
	new_mk n1
	snapshot a b hsm state >before
	ljson "all(d['next_step'] == 'reencipher --staged' for d in l)"
	snapshot a b hsm state >after
	atf_check -s exit:0 cmp before after
	atf_check -s exit:0 -o ignore -e ignore "$CR" reencipher a --staged --key-file pass
	set_new
	ljson "[d['next_step'] for d in l if d['uuid'] == '$ua'] == ['reencipher --complete']" \
		"[d['register'] for d in l if d['uuid'] == '$ua'] == ['OLD']" \
		"[d['staged'] for d in l if d['uuid'] == '$ua'] == [True]" \
		"[d['next_step'] for d in l if d['uuid'] == '$ub'] == ['reencipher --in-place']"
	atf_check -s exit:0 -o ignore -e ignore "$CR" remove b --key-file pass
	test ! -e "state/volumes/$ub" || atf_fail "remove left the known-volume entry"
	ljson "[d['uuid'] for d in l] == ['$ua']"
}

atf_test_case paths_and_filter
paths_and_filter_head()
{
	atf_set "descr" "explicit paths (a device without token is an error, the others still listed) and --apqns"
	common_head
}
paths_and_filter_body()
{
	setup
	mkimg a
	mkimg b
	mkimg plain
	enroll a
	atf_check -s exit:0 -o match:"Initialized APQNs 03.0001" -e empty \
		"$SECUREKEY" hsm init --apqns 03.0001
	atf_check -s exit:0 -e ignore -o match:"enrolled" \
		"$CR" enroll b --apqns 03.0001 --key-file pass
	LARGS="a b"
	ljson "len(l) == 2" "l[0]['path'] == 'a' and l[1]['path'] == 'b'"
	LARGS="--apqns 03.0001"
	ljson "[d['path'] for d in l] == ['$PWD/b']"
	LARGS="--apqns 02.0001,04.0001 a b"
	ljson "[d['path'] for d in l] == ['a']"
	atf_check -s exit:1 -e match:"plain has no securekey token" -o match:"^\\[" \
		"$SECUREKEY" list --json plain a
	atf_check -s exit:1 -e match:"nothere" -o ignore "$SECUREKEY" list nothere
	SK_EXIT=2 refused "give --all or paths, not both" "$SECUREKEY" list --all a
	SK_EXIT=2 refused "is not a list of AA.DDDD" "$SECUREKEY" list --apqns x
}

atf_test_case set_interlock
set_interlock_head()
{
	atf_set "descr" "hsm set refuses while a known volume bound to the APQNs is not staged; --force overrides"
	common_head
}
set_interlock_body()
{
	setup
	mkimg a
	mkimg b
	mkimg other
	enroll a
	enroll b
	atf_check -s exit:0 -o ignore -e empty "$SECUREKEY" hsm init --apqns 03.0001
	atf_check -s exit:0 -e ignore -o match:"enrolled" \
		"$CR" enroll other --apqns 03.0001 --key-file pass
	new_mk n1
	atf_check -s exit:0 -o ignore -e ignore "$CR" reencipher a --staged --key-file pass
	# b is not staged: named, with the command; nothing changes
	SK_EXIT=1 refused "$PWD/b \(UUID $(cryptsetup luksUUID b)\): not staged: run 'securekey-cryptsetup reencipher $PWD/b --staged'\$" \
		"$SECUREKEY" hsm set --apqns "$APQNS"
	atf_check -s exit:1 -o empty -e match:"hsm set refused: 1 known volume bound to these APQNs is not staged" \
		-e not-match:"$PWD/a " -e not-match:"other" "$SECUREKEY" hsm set --apqns "$APQNS"
	atf_check -s exit:0 -o ignore -e ignore "$CR" reencipher b --staged --key-file pass
	# every volume staged: set goes through, quietly
	atf_check -s exit:0 -o match:"NEW master key set on APQNs $APQNS" -e empty \
		"$SECUREKEY" hsm set --apqns "$APQNS"
	# an uncompleted re-encipher is in the way of the next set too
	atf_check -s exit:0 -o ignore -e ignore "$CR" reencipher a --complete --key-file pass
	new_mk n2
	atf_check -s exit:1 -o empty -e match:"$PWD/b .*previous re-encipher is not completed" \
		-e match:"$PWD/a .*not staged" "$SECUREKEY" hsm set --apqns "$APQNS"
	# --force: warned, set
	atf_check -s exit:0 -o match:"NEW master key set" \
		-e match:"--force: setting the NEW master key although 2 known volumes bound to these APQNs are not staged" \
		"$SECUREKEY" hsm set --apqns "$APQNS" --force
	# a known volume that is gone is in the way until its entry is deleted
	new_mk n3
	atf_check -s exit:0 -o ignore -e ignore "$CR" reencipher a --in-place --key-file pass
	atf_check -s exit:0 -o ignore -e ignore "$CR" reencipher a --staged --key-file pass
	atf_check -s exit:0 -o ignore -e ignore "$CR" setkey b --key-file pass
	atf_check -s exit:0 -o ignore -e ignore "$CR" reencipher b --staged --key-file pass
	mv b b.moved
	# other, gone too, was enrolled with 03.0001: not opened, not in the way
	mv other other.moved
	atf_check -s exit:1 -o empty -e match:"$PWD/b \(UUID .*\): not found: nothing is at $PWD/b" \
		-e not-match:"other" "$SECUREKEY" hsm set --apqns "$APQNS"
	rm "state/volumes/$(cryptsetup luksUUID b.moved)"
	atf_check -s exit:0 -o match:"NEW master key set" -e empty "$SECUREKEY" hsm set --apqns "$APQNS"
	# commit and clear-new take no --force
	SK_EXIT=2 refused "invalid option" "$SECUREKEY" hsm commit --apqns "$APQNS" --force
}

atf_test_case enroll_while_new_committed
enroll_while_new_committed_head()
{
	atf_set "descr" "during a rotation, enroll creates the token staged, so set is not held up by it"
	common_head
}
enroll_while_new_committed_body()
{
	setup
	new_mk n1
	mkimg late
	enroll late
	LARGS=
	ljson "[d['staged'] for d in l] == [True]" "[d['next_step'] for d in l] == ['hsm set']"
	atf_check -s exit:0 -o match:"NEW master key set" -e empty "$SECUREKEY" hsm set --apqns "$APQNS"
}

atf_test_case hsm_dir_from_config
hsm_dir_from_config_head()
{
	atf_set "descr" "every tool and the plugin take the soft HSM directory from [hsm] dir of the configuration"
	common_head
}
hsm_dir_from_config_body()
{
	setup
	mkimg img
	enroll img
	mv hsm hsm-conf
	unset SECUREKEY_HSM_DIR
	printf '[hsm]\ndir = %s\n' "$PWD/hsm-conf" >"$SECUREKEY_CONF"
	LARGS=
	ljson "[d['register'] for d in l] == ['CURRENT']"
	vstate img CURRENT - none
	token_unlocks img "secure key under the CURRENT master key"
	atf_check -s exit:0 -o match:"all APQNs agree" -e empty "$SECUREKEY" hsm status
}

atf_init_test_cases()
{
	atf_add_test_case hsm_dir_from_config
	atf_add_test_case set_interlock
	atf_add_test_case enroll_while_new_committed
	atf_add_test_case known_volumes
	atf_add_test_case paths_and_filter
}
