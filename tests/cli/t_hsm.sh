#! @ATF_SH@
# securekey hsm: init, status, generate-part, load-part, commit, set,
# clear-new on the soft HSM. Every refusal must exit 1 (2 for usage), say
# why on stderr and leave the HSM directory byte-identical.

SK_BUILDDIR=@abs_top_builddir@
. @abs_top_srcdir@/tests/cli/common.sh

# status_line APQN REGISTER STATE PARTS MKVP: regexp of one line of the
# 'hsm status' table.
status_line()
{
	printf '^%s +%s +%s +%s +%s$\n' "$(printf '%s' "$1" | sed 's/\./\\./')" "$2" "$3" "$4" "$5"
}

# ---------------------------------------------------------------- usage

atf_test_case help
help_head()
{
	atf_set "descr" "--help of the tool and of every hsm command prints usage and exits 0"
}
help_body()
{
	atf_check -s exit:0 -o match:"^Usage: securekey " -o match:"^  hsm " -e empty \
		"$SECUREKEY" --help
	atf_check -s exit:0 -o match:"^Usage: securekey " -e empty "$SECUREKEY" -h
	atf_check -s exit:0 -o match:"^securekey [0-9]+\.[0-9]+" -e empty "$SECUREKEY" --version
	atf_check -s exit:0 -o match:"^Usage: securekey hsm COMMAND" -o match:"^  clear-new " \
		-e empty "$SECUREKEY" hsm --help
	for cmd in init status generate-part load-part commit set clear-new; do
		atf_check -s exit:0 -o match:"^Usage: securekey hsm $cmd" \
			-o match:"--hsm-dir DIR" -e empty "$SECUREKEY" hsm "$cmd" --help
		atf_check -s exit:0 -o match:"^Usage: securekey hsm $cmd" -e empty \
			"$SECUREKEY" hsm "$cmd" -h
	done
	# --help wins over missing required options and touches nothing.
	test ! -e hsm || atf_fail "--help created the HSM directory"
}

atf_test_case usage_errors
usage_errors_head()
{
	atf_set "descr" "unknown commands and options, missing or extra arguments exit 2 and change nothing"
}
usage_errors_body()
{
	init_set
	SK_EXIT=2
	assert_unchanged "unknown command 'frobnicate'" "$SECUREKEY" frobnicate
	assert_unchanged "hsm: unknown command 'frobnicate'" "$SECUREKEY" hsm frobnicate
	assert_unchanged "unrecognized option '--frobnicate'" "$SECUREKEY" --frobnicate hsm status
	assert_unchanged "invalid option for 'status'" "$SECUREKEY" hsm status --frobnicate
	assert_unchanged "invalid option for 'load-part'" "$SECUREKEY" hsm load-part --apqns "$APQNS" -x
	assert_unchanged "invalid option for 'commit'" "$SECUREKEY" hsm commit --apqns "$APQNS" --force
	assert_unchanged "status: unexpected argument 'extra'" "$SECUREKEY" hsm status extra
	assert_unchanged "commit: --apqns is required" "$SECUREKEY" hsm commit
	assert_unchanged "set: --apqns is required" "$SECUREKEY" hsm set
	assert_unchanged "clear-new: --apqns is required" "$SECUREKEY" hsm clear-new
	assert_unchanged "init: --apqns is required" "$SECUREKEY" hsm init
	assert_unchanged "load-part: --apqns and --part-file are required" \
		"$SECUREKEY" hsm load-part --apqns "$APQNS"
	assert_unchanged "generate-part: --out FILE is required" "$SECUREKEY" hsm generate-part
	make_part p1
	make_part p2
	assert_unchanged "--random and --part-file exclude each other" \
		"$SECUREKEY" hsm init --apqns 03.0001 --random --part-file p1 --part-file p2
	assert_unchanged "a master key needs 2 or 3 --part-file" \
		"$SECUREKEY" hsm init --apqns 03.0001 --part-file p1
	make_part p3
	make_part p4
	assert_unchanged "a master key needs 2 or 3 --part-file" "$SECUREKEY" hsm init \
		--apqns 03.0001 --part-file p1 --part-file p2 --part-file p3 --part-file p4
	# No command at all: the usage, and exit 2.
	atf_check -s exit:2 -o match:"^Usage: securekey " "$SECUREKEY"
	atf_check -s exit:2 -o match:"^Usage: securekey hsm COMMAND" "$SECUREKEY" hsm
	test ! -e 03.0001.mk || atf_fail "a refused init created an APQN"
}

# ----------------------------------------------------------- init/status

atf_test_case init_random_status
init_random_status_head()
{
	atf_set "descr" "init --random of two APQNs: status text and --json show one CURRENT MK on both"
}
init_random_status_body()
{
	atf_check -s exit:0 -e empty \
		-o match:"^Initialized APQNs 01\.0001,02\.0001 in $PWD/hsm: CURRENT master key MKVP [0-9a-f]{16} \(random\)\.$" \
		"$SECUREKEY" hsm init --apqns "$APQNS" --random
	test "$(stat -c %a hsm)" = 700 || atf_fail "HSM directory mode is $(stat -c %a hsm)"
	for f in hsm/01.0001.mk hsm/02.0001.mk; do
		test "$(stat -c %a "$f")" = 600 || atf_fail "$f has mode $(stat -c %a "$f")"
	done

	cur=$(reg_mkvp CURRENT 01.0001)
	echo "$cur" | grep -Eqx '[0-9a-f]{16}' || atf_fail "CURRENT MKVP is '$cur'"
	atf_check -s exit:0 -e empty \
		-o match:"^HSM: soft backend, $PWD/hsm\$" \
		-o match:"$(status_line 01.0001 OLD empty - -)" \
		-o match:"$(status_line 01.0001 CURRENT valid - "$cur")" \
		-o match:"$(status_line 01.0001 NEW empty - -)" \
		-o match:"$(status_line 02.0001 OLD empty - -)" \
		-o match:"$(status_line 02.0001 CURRENT valid - "$cur")" \
		-o match:"$(status_line 02.0001 NEW empty - -)" \
		-o match:"^CURRENT +all APQNs agree\$" \
		-o not-match:"DISAGREE" \
		"$SECUREKEY" hsm status

	atf_check -s exit:0 -e empty -o save:status.json "$SECUREKEY" hsm status --json
	atf_check -s exit:0 -o inline:"ok\n" -e empty "$PYTHON" -c '
import json, sys
s = json.load(open("status.json"))
assert s["backend"] == "soft", s
assert s["location"] == sys.argv[1], s["location"]
assert [a["apqn"] for a in s["apqns"]] == ["01.0001", "02.0001"], s
mkvps = set()
for a in s["apqns"]:
    r = a["registers"]
    assert sorted(r) == ["CURRENT", "NEW", "OLD"], r
    assert r["OLD"] == {"state": "empty", "parts": 0, "mkvp": None}, r
    assert r["NEW"] == {"state": "empty", "parts": 0, "mkvp": None}, r
    assert r["CURRENT"]["state"] == "valid" and r["CURRENT"]["parts"] == 0, r
    assert len(r["CURRENT"]["mkvp"]) == 16, r
    int(r["CURRENT"]["mkvp"], 16)
    mkvps.add(r["CURRENT"]["mkvp"])
assert mkvps == {sys.argv[2]}, mkvps
assert s["agree"] == {"OLD": True, "CURRENT": True, "NEW": True}, s["agree"]
print("ok")
' "$PWD/hsm" "$cur"

	# A subset of the APQNs, and the default random master keys differ.
	atf_check -s exit:0 -e empty -o match:"^02\.0001 +CURRENT +valid +- +$cur\$" \
		-o not-match:"^01\.0001" "$SECUREKEY" hsm status --apqns 02.0001
	init_set 03.0001
	other=$(reg_mkvp CURRENT 03.0001)
	test "$other" != "$cur" || atf_fail "two random inits gave the same MKVP $cur"
}

atf_test_case init_from_parts
init_from_parts_head()
{
	atf_set "descr" "init from 2 or 3 key part files: CURRENT MKVP is that of the XOR of the parts"
}
init_from_parts_body()
{
	make_part p1
	make_part p2
	make_part p3
	expect=$(mkvp_of_parts p1 p2)
	atf_check -s exit:0 -e empty \
		-o match:"^Initialized APQNs 01\.0001,02\.0001 in .*: CURRENT master key MKVP $expect \(from key parts\)\.$" \
		"$SECUREKEY" hsm init --apqns "$APQNS" --part-file p1 --part-file p2
	test "$(reg_mkvp CURRENT 01.0001)" = "$expect" || atf_fail "01.0001 CURRENT is not $expect"
	test "$(reg_mkvp CURRENT 02.0001)" = "$expect" || atf_fail "02.0001 CURRENT is not $expect"

	# Three parts, the second one from stdin; the order does not matter.
	expect3=$(mkvp_of_parts p1 p2 p3)
	atf_check -s exit:0 -e empty -o match:"CURRENT master key MKVP $expect3 \(from key parts\)" \
		-x "\"$SECUREKEY\" hsm init --apqns 03.0001 --part-file p3 --part-file - --part-file p1 <p2"
	test "$(reg_mkvp CURRENT 03.0001)" = "$expect3" || atf_fail "03.0001 CURRENT is not $expect3"

	# A part given twice cancels out.
	assert_unchanged "the key parts cancel each other out \(was one part given twice\?\)" \
		"$SECUREKEY" hsm init --apqns 04.0001 --part-file p1 --part-file p1
	test ! -e hsm/04.0001.mk || atf_fail "a refused init created 04.0001"
}

atf_test_case init_twice
init_twice_head()
{
	atf_set "descr" "init of an APQN that exists is refused and changes nothing, also within a larger set"
}
init_twice_body()
{
	init_set
	assert_unchanged "APQN 01\.0001 is already initialized in $PWD/hsm; its master keys are left as they are" \
		"$SECUREKEY" hsm init --apqns "$APQNS"
	assert_unchanged "APQN 02\.0001 is already initialized" \
		"$SECUREKEY" hsm init --apqns 03.0001,02.0001 --random
	make_part p1
	make_part p2
	assert_unchanged "APQN 01\.0001 is already initialized" \
		"$SECUREKEY" hsm init --apqns 01.0001 --part-file p1 --part-file p2
	test ! -e hsm/03.0001.mk || atf_fail "a refused init created 03.0001"
}

atf_test_case no_hsm
no_hsm_head()
{
	atf_set "descr" "commands on a missing soft HSM directory are refused and do not create it"
}
no_hsm_body()
{
	assert_unchanged "soft HSM directory $PWD/hsm does not exist; create it with 'securekey hsm init" \
		"$SECUREKEY" hsm status
	assert_unchanged "does not exist" "$SECUREKEY" hsm status --json
	assert_unchanged "does not exist" "$SECUREKEY" hsm commit --apqns "$APQNS"
	assert_unchanged "does not exist" "$SECUREKEY" hsm clear-new --apqns "$APQNS"
	# An empty directory has no APQNs.
	mkdir -m 0700 hsm
	assert_unchanged "the soft HSM in $PWD/hsm has no APQNs; create them with 'securekey hsm init" \
		"$SECUREKEY" hsm status
	# --hsm-dir overrides SECUREKEY_HSM_DIR.
	atf_check -s exit:0 -o match:"in $PWD/other:" "$SECUREKEY" --hsm-dir "$PWD/other" \
		hsm init --apqns 01.0001
	atf_check -s exit:0 -o match:"^HSM: soft backend, $PWD/other\$" \
		"$SECUREKEY" hsm status --hsm-dir "$PWD/other"
	test ! -e hsm/01.0001.mk || atf_fail "--hsm-dir was ignored"
}

# ---------------------------------------------------------- key parts

atf_test_case generate_part
generate_part_head()
{
	atf_set "descr" "generate-part writes 32 random bytes with mode 0600 and never overwrites a file"
}
generate_part_body()
{
	umask 000
	atf_check -s exit:0 -e empty \
		-o inline:"Key part written to p1 (32 bytes, mode 0600).\n" \
		"$SECUREKEY" hsm generate-part --out p1
	make_part p2
	for f in p1 p2; do
		test "$(stat -c %s "$f")" = 32 || atf_fail "$f has $(stat -c %s "$f") bytes"
		test "$(stat -c %a "$f")" = 600 || atf_fail "$f has mode $(stat -c %a "$f")"
	done
	cmp -s p1 p2 && atf_fail "two key parts are equal"

	# An existing file is never overwritten, whatever it holds.
	cp p1 p1.orig
	atf_check -s exit:1 -o empty -e match:"cannot create p1: File exists \(remove it or choose another name\)" \
		"$SECUREKEY" hsm generate-part --out p1
	cmp -s p1 p1.orig || atf_fail "generate-part overwrote p1"
	printf 'precious' >notes
	atf_check -s exit:1 -o empty -e match:"File exists" "$SECUREKEY" hsm generate-part --out notes
	test "$(cat notes)" = precious || atf_fail "generate-part overwrote notes"
	ln -s nowhere dangling
	atf_check -s exit:1 -o empty -e match:"cannot create dangling" \
		"$SECUREKEY" hsm generate-part --out dangling
	test ! -e nowhere || atf_fail "generate-part followed a symlink"
	atf_check -s exit:1 -o empty -e match:"cannot create nodir/p: No such file" \
		"$SECUREKEY" hsm generate-part --out nodir/p
}

atf_test_case load_part_file_and_stdin
load_part_file_and_stdin_head()
{
	atf_set "descr" "load-part from a 0600 file and from stdin: partial, then full-uncommitted with the XOR's MKVP"
}
load_part_file_and_stdin_body()
{
	init_set
	cur=$(reg_mkvp CURRENT)
	make_part p1
	make_part p2
	atf_check -s exit:0 -e empty \
		-o inline:"Key part loaded into the NEW register of APQNs 01.0001,02.0001: partial, 1 of at most 3 parts.\n" \
		"$SECUREKEY" hsm load-part --apqns "$APQNS" --part-file p1
	atf_check -s exit:0 -e empty \
		-o match:"$(status_line 01.0001 NEW partial 1/3 -)" \
		-o match:"$(status_line 02.0001 NEW partial 1/3 -)" \
		-o match:"^NEW +all APQNs agree\$" "$SECUREKEY" hsm status
	atf_check -s exit:0 -e empty \
		-o match:"^Key part loaded into the NEW register of APQNs 01\.0001,02\.0001: full-uncommitted, 2 of at most 3 parts\.$" \
		-o match:"^Next: 'securekey hsm commit --apqns 01\.0001,02\.0001' \(or load a third part\)\.$" \
		-x "\"$SECUREKEY\" hsm load-part --apqns $APQNS --part-file - <p2"
	new=$(mkvp_of_parts p1 p2)
	atf_check -s exit:0 -e empty \
		-o match:"$(status_line 01.0001 NEW full-uncommitted 2/3 "$new")" \
		-o match:"$(status_line 02.0001 NEW full-uncommitted 2/3 "$new")" \
		-o match:"$(status_line 01.0001 CURRENT valid - "$cur")" \
		"$SECUREKEY" hsm status
	test "$(status_json_get "[a['registers']['NEW'] for a in s['apqns']] == [{'state': 'full-uncommitted', 'parts': 2, 'mkvp': '$new'}] * 2 and s['agree']['NEW']")" = True ||
		atf_fail "status --json does not show the full-uncommitted NEW register"
}

atf_test_case part_file_mode
part_file_mode_head()
{
	atf_set "descr" "a key part file readable by group or others is refused with a chmod 0600 hint"
}
part_file_mode_body()
{
	init_set
	make_part p1
	make_part p2
	for mode in 0644 0640 0604 0660 0610; do
		chmod $mode p1
		assert_unchanged "key part file p1 has mode $mode and may be read by others; fix with: chmod 0600 p1" \
			"$SECUREKEY" hsm load-part --apqns "$APQNS" --part-file p1
		assert_unchanged "key part file p1 has mode $mode .*chmod 0600 p1" \
			"$SECUREKEY" hsm init --apqns 03.0001 --part-file p2 --part-file p1
	done
	chmod 0600 p1
	# Not a regular file; missing; a symlink is not followed.
	assert_unchanged "key part file . is not a regular file" \
		"$SECUREKEY" hsm load-part --apqns "$APQNS" --part-file .
	assert_unchanged "cannot open key part file missing: No such file" \
		"$SECUREKEY" hsm load-part --apqns "$APQNS" --part-file missing
	ln -s p1 link
	assert_unchanged "cannot open key part file link" \
		"$SECUREKEY" hsm load-part --apqns "$APQNS" --part-file link
	# The part is fine once fixed.
	load_parts p1
}

atf_test_case part_file_owner
part_file_owner_head()
{
	atf_set "descr" "a key part file owned by another uid is refused with a chown hint"
}
part_file_owner_body()
{
	init_set
	make_part p1
	chown 65534 p1 2>/dev/null || atf_skip "cannot chown (needs root)"
	assert_unchanged "key part file p1 is owned by uid 65534, not by you \(uid $(id -u)\); fix with: chown $(id -u) p1" \
		"$SECUREKEY" hsm load-part --apqns "$APQNS" --part-file p1
}

atf_test_case part_file_size
part_file_size_head()
{
	atf_set "descr" "key parts of 0, 31, 33 or 64 bytes are refused, from a file and from stdin"
}
part_file_size_body()
{
	init_set
	make_part good
	for n in 0 31 33 64; do
		head -c $n /dev/urandom >p$n
		chmod 0600 p$n
	done
	assert_unchanged "key part file p31 must hold exactly 32 bytes, it holds 31\$" \
		"$SECUREKEY" hsm load-part --apqns "$APQNS" --part-file p31
	assert_unchanged "key part file p33 must hold exactly 32 bytes, it holds more than 32\$" \
		"$SECUREKEY" hsm load-part --apqns "$APQNS" --part-file p33
	assert_unchanged "key part file p0 must hold exactly 32 bytes, it holds 0\$" \
		"$SECUREKEY" hsm load-part --apqns "$APQNS" --part-file p0
	assert_unchanged "key part file p64 must hold exactly 32 bytes, it holds more than 32\$" \
		"$SECUREKEY" hsm load-part --apqns "$APQNS" --part-file p64
	assert_unchanged "key part file \(stdin\) must hold exactly 32 bytes, it holds 31\$" \
		-x "\"$SECUREKEY\" hsm load-part --apqns $APQNS --part-file - <p31"
	assert_unchanged "key part file \(stdin\) must hold exactly 32 bytes, it holds more than 32\$" \
		-x "\"$SECUREKEY\" hsm load-part --apqns $APQNS --part-file - <p33"
	assert_unchanged "must hold exactly 32 bytes, it holds 31" \
		"$SECUREKEY" hsm init --apqns 03.0001 --part-file good --part-file p31
	assert_unchanged "must hold exactly 32 bytes, it holds more than 32" \
		"$SECUREKEY" hsm init --apqns 03.0001 --part-file p33 --part-file good
}

# ------------------------------------------------------ the register flow

atf_test_case full_flow
full_flow_head()
{
	atf_set "descr" "load 2 parts, commit, set: CURRENT is the new MK, OLD the previous CURRENT, NEW empty"
}
full_flow_body()
{
	init_set
	cur=$(reg_mkvp CURRENT)
	make_part p1
	make_part p2
	new=$(mkvp_of_parts p1 p2)
	load_parts p1 p2
	atf_check -s exit:0 -e empty \
		-o match:"^NEW master key committed on APQNs 01\.0001,02\.0001 \(MKVP $new\)\.$" \
		-o match:"^'securekey hsm set --apqns 01\.0001,02\.0001'\.$" \
		"$SECUREKEY" hsm commit --apqns "$APQNS"
	atf_check -s exit:0 -e empty \
		-o match:"$(status_line 01.0001 NEW committed 2/3 "$new")" \
		-o match:"$(status_line 02.0001 NEW committed 2/3 "$new")" \
		-o match:"$(status_line 02.0001 CURRENT valid - "$cur")" \
		"$SECUREKEY" hsm status
	atf_check -s exit:0 -e empty \
		-o match:"^NEW master key set on APQNs 01\.0001,02\.0001: CURRENT is now MKVP $new, OLD is MKVP $cur\.$" \
		"$SECUREKEY" hsm set --apqns "$APQNS"
	for a in 01.0001 02.0001; do
		atf_check -s exit:0 -e empty \
			-o match:"$(status_line $a OLD valid - "$cur")" \
			-o match:"$(status_line $a CURRENT valid - "$new")" \
			-o match:"$(status_line $a NEW empty - -)" \
			-o not-match:DISAGREE "$SECUREKEY" hsm status
	done
	test "$(status_json_get "[(a['registers']['OLD']['mkvp'], a['registers']['CURRENT']['mkvp'], a['registers']['NEW']) for a in s['apqns']] == [('$cur', '$new', {'state': 'empty', 'parts': 0, 'mkvp': None})] * 2 and all(s['agree'].values())")" = True ||
		atf_fail "status --json after set is wrong"

	# A second change with 3 parts: OLD is always the CURRENT before it.
	make_part p3
	make_part p4
	make_part p5
	new2=$(mkvp_of_parts p3 p4 p5)
	load_parts p3 p4 p5
	atf_check -s exit:0 -o match:"MKVP $new2" "$SECUREKEY" hsm commit --apqns "$APQNS"
	atf_check -s exit:0 -o match:"CURRENT is now MKVP $new2, OLD is MKVP $new\." \
		"$SECUREKEY" hsm set --apqns "$APQNS"
	test "$(reg_mkvp OLD 02.0001) $(reg_mkvp CURRENT 02.0001)" = "$new $new2" ||
		atf_fail "second set did not rotate the registers"
}

atf_test_case set_before_commit
set_before_commit_head()
{
	atf_set "descr" "set is refused while NEW is empty, partial or full-uncommitted"
}
set_before_commit_body()
{
	init_set
	make_part p1
	make_part p2
	assert_unchanged "the NEW register of APQN 01\.0001 is empty; load 2 or 3 key parts and run 'securekey hsm commit'" \
		"$SECUREKEY" hsm set --apqns "$APQNS"
	load_parts p1
	assert_unchanged "the NEW register of APQN 01\.0001 is partial; load 2 or 3 key parts" \
		"$SECUREKEY" hsm set --apqns "$APQNS"
	load_parts p2
	assert_unchanged "the NEW register of APQN 01\.0001 is full-uncommitted; load 2 or 3 key parts and run 'securekey hsm commit'" \
		"$SECUREKEY" hsm set --apqns "$APQNS"
}

atf_test_case commit_refusals
commit_refusals_head()
{
	atf_set "descr" "commit is refused with 0 or 1 part, when already committed, and when NEW equals CURRENT"
}
commit_refusals_body()
{
	make_part p1
	make_part p2
	atf_check -s exit:0 -o ignore "$SECUREKEY" hsm init --apqns "$APQNS" --part-file p1 --part-file p2
	assert_unchanged "the NEW register of APQN 01\.0001 holds 0 key parts; load at least 2 key parts with 'securekey hsm load-part' \(or run 'securekey hsm generate-new'\) before commit" \
		"$SECUREKEY" hsm commit --apqns "$APQNS"
	load_parts p1
	assert_unchanged "the NEW register of APQN 01\.0001 holds 1 key part; load at least 2" \
		"$SECUREKEY" hsm commit --apqns "$APQNS"
	# The same parts as CURRENT make the same master key.
	load_parts p2
	assert_unchanged "the new master key of APQN 01\.0001 equals the CURRENT one; load different key parts after 'securekey hsm clear-new'" \
		"$SECUREKEY" hsm commit --apqns "$APQNS"
	atf_check -s exit:0 -o ignore "$SECUREKEY" hsm clear-new --apqns "$APQNS"
	make_part p3
	load_parts p1 p3
	atf_check -s exit:0 -o ignore "$SECUREKEY" hsm commit --apqns "$APQNS"
	assert_unchanged "the NEW register of APQN 01\.0001 is already committed \(MKVP $(mkvp_of_parts p1 p3)\); next: 'securekey hsm set'" \
		"$SECUREKEY" hsm commit --apqns "$APQNS"
}

atf_test_case load_part_refusals
load_part_refusals_head()
{
	atf_set "descr" "a 4th part, a part after commit and a part that cancels the NEW key are refused"
}
load_part_refusals_body()
{
	init_set
	for i in 1 2 3 4; do make_part p$i; done
	load_parts p1 p2 p3
	atf_check -s exit:0 -e empty -o match:"$(status_line 01.0001 NEW full-uncommitted 3/3 "$(mkvp_of_parts p1 p2 p3)")" \
		"$SECUREKEY" hsm status
	assert_unchanged "the NEW register of APQN 01\.0001 already holds 3 key parts, the most a master key has; run 'securekey hsm commit', or 'securekey hsm clear-new' to start over" \
		"$SECUREKEY" hsm load-part --apqns "$APQNS" --part-file p4
	atf_check -s exit:0 -o ignore "$SECUREKEY" hsm commit --apqns "$APQNS"
	assert_unchanged "the NEW register of APQN 01\.0001 is committed; run 'securekey hsm set' to make it CURRENT, or 'securekey hsm clear-new' to start over" \
		"$SECUREKEY" hsm load-part --apqns "$APQNS" --part-file p4
	atf_check -s exit:0 -o ignore "$SECUREKEY" hsm clear-new --apqns "$APQNS"
	# The same part twice XORs to zero.
	load_parts p1
	assert_unchanged "the key parts cancel each other out \(was one part loaded twice\?\); nothing was changed" \
		"$SECUREKEY" hsm load-part --apqns "$APQNS" --part-file p1
}

atf_test_case clear_new
clear_new_head()
{
	atf_set "descr" "clear-new empties NEW when partial, full-uncommitted or committed; CURRENT and OLD stay"
}
clear_new_body()
{
	init_set
	cur=$(reg_mkvp CURRENT)
	for i in 1 2 3; do make_part p$i; done
	for stage in partial full committed; do
		case $stage in
		partial) load_parts p1 ;;
		full) load_parts p1 p2 p3 ;;
		committed)
			load_parts p1 p2
			atf_check -s exit:0 -o ignore "$SECUREKEY" hsm commit --apqns "$APQNS"
			;;
		esac
		atf_check -s exit:0 -e empty \
			-o inline:"NEW register of APQNs 01.0001,02.0001 is empty.\n" \
			"$SECUREKEY" hsm clear-new --apqns "$APQNS"
		for a in 01.0001 02.0001; do
			atf_check -s exit:0 -e empty \
				-o match:"$(status_line $a NEW empty - -)" \
				-o match:"$(status_line $a CURRENT valid - "$cur")" \
				-o match:"$(status_line $a OLD empty - -)" "$SECUREKEY" hsm status
		done
	done
	# Clearing an empty register succeeds and does not rewrite anything.
	snapshot hsm >before
	atf_check -s exit:0 -o match:"is empty" "$SECUREKEY" hsm clear-new --apqns "$APQNS"
	snapshot hsm >after
	cmp -s before after || atf_fail "clear-new of an empty register changed the HSM"
	# After a set, clear-new leaves OLD alone.
	load_parts p1 p2
	atf_check -s exit:0 -o ignore "$SECUREKEY" hsm commit --apqns "$APQNS"
	atf_check -s exit:0 -o ignore "$SECUREKEY" hsm set --apqns "$APQNS"
	load_parts p3
	atf_check -s exit:0 -o ignore "$SECUREKEY" hsm clear-new --apqns "$APQNS"
	atf_check -s exit:0 -o match:"$(status_line 01.0001 OLD valid - "$cur")" \
		-o match:"$(status_line 01.0001 CURRENT valid - "$(mkvp_of_parts p1 p2)")" \
		-o match:"$(status_line 01.0001 NEW empty - -)" "$SECUREKEY" hsm status
}

# ------------------------------------------------------- APQN sets

atf_test_case apqns_disagree
apqns_disagree_head()
{
	atf_set "descr" "APQNs initialized separately (different CURRENT MKVPs) are refused as one set"
}
apqns_disagree_body()
{
	init_set 01.0001
	init_set 02.0001
	m1=$(reg_mkvp CURRENT 01.0001)
	m2=$(reg_mkvp CURRENT 02.0001)
	make_part p1
	make_part p2
	msg="APQNs 01\.0001 and 02\.0001 hold different CURRENT master keys \(MKVP $m1 and $m2\); all APQNs of a set must hold the same master key"
	assert_unchanged "$msg" "$SECUREKEY" hsm load-part --apqns "$APQNS" --part-file p1
	assert_unchanged "$msg" "$SECUREKEY" hsm commit --apqns "$APQNS"
	assert_unchanged "$msg" "$SECUREKEY" hsm set --apqns "$APQNS"
	msg2="APQNs 02\.0001 and 01\.0001 hold different CURRENT master keys \(MKVP $m2 and $m1\)"
	assert_unchanged "$msg2" "$SECUREKEY" hsm load-part --apqns 02.0001,01.0001 --part-file p1
	# status shows the disagreement and succeeds.
	atf_check -s exit:0 -e empty \
		-o match:"$(status_line 01.0001 CURRENT valid - "$m1")" \
		-o match:"$(status_line 02.0001 CURRENT valid - "$m2")" \
		-o match:"^CURRENT +APQNs DISAGREE: they do not form one set for this register\$" \
		-o match:"^NEW +all APQNs agree\$" \
		"$SECUREKEY" hsm status --apqns "$APQNS"
	test "$(status_json_get "s['agree']")" = "{'OLD': True, 'CURRENT': False, 'NEW': True}" ||
		atf_fail "status --json agree flags are wrong: $(status_json_get "s['agree']")"
	# Each APQN alone still works.
	load_parts --apqns 01.0001 p1 p2
}

atf_test_case new_registers_disagree
new_registers_disagree_head()
{
	atf_set "descr" "a set whose NEW registers differ refuses load-part/commit/set until clear-new"
}
new_registers_disagree_body()
{
	init_set
	make_part p1
	make_part p2
	load_parts --apqns 01.0001 p1
	msg="the NEW registers of APQNs 01\.0001 and 02\.0001 differ \(partial, 1 parts vs empty, 0 parts\); run 'securekey hsm clear-new' on the set and load the parts again"
	assert_unchanged "$msg" "$SECUREKEY" hsm load-part --apqns "$APQNS" --part-file p2
	assert_unchanged "$msg" "$SECUREKEY" hsm commit --apqns "$APQNS"
	assert_unchanged "$msg" "$SECUREKEY" hsm set --apqns "$APQNS"
	atf_check -s exit:0 -o match:"^NEW +APQNs DISAGREE" "$SECUREKEY" hsm status
	# Same count, different parts.
	load_parts --apqns 02.0001 p2
	assert_unchanged "the NEW registers of APQNs 01\.0001 and 02\.0001 differ \(partial, 1 parts vs partial, 1 parts\)" \
		"$SECUREKEY" hsm load-part --apqns "$APQNS" --part-file p2
	atf_check -s exit:0 -o ignore "$SECUREKEY" hsm clear-new --apqns "$APQNS"
	load_parts p1 p2
	atf_check -s exit:0 -o match:"MKVP $(mkvp_of_parts p1 p2)" "$SECUREKEY" hsm commit --apqns "$APQNS"
}

atf_test_case malformed_apqns
malformed_apqns_head()
{
	atf_set "descr" "malformed, empty and duplicate APQN lists are refused with exit 1"
}
malformed_apqns_body()
{
	init_set
	make_part p1
	for bad in 1.0001 001.0001 01.001 01.00001 zz.0001 01.000g 01-0001 01:0001 "01.0001 " \
		" 01.0001" 01.0001,02 "01.0001;02.0001"; do
		assert_unchanged "'.*' is not an APQN: write adapter\.domain in hex, e\.g\. 01\.0001" \
			"$SECUREKEY" hsm status --apqns "$bad"
	done
	for bad in zz.0001 01.0001,2.0001 01.0001,02.00001; do
		for cmd in commit set clear-new init; do
			assert_unchanged "is not an APQN" "$SECUREKEY" hsm $cmd --apqns "$bad"
		done
		assert_unchanged "is not an APQN" "$SECUREKEY" hsm load-part --apqns "$bad" --part-file p1
	done
	assert_unchanged "'2\.0001' is not an APQN" "$SECUREKEY" hsm status --apqns 01.0001,2.0001
	for bad in ,01.0001 01.0001, 01.0001,,02.0001 ,; do
		assert_unchanged "'$bad' has an empty APQN entry" "$SECUREKEY" hsm commit --apqns "$bad"
	done
	assert_unchanged "'01\.0001,,03\.0001' has an empty APQN entry" \
		"$SECUREKEY" hsm init --apqns 01.0001,,03.0001
	assert_unchanged "no APQN given: use --apqns AA\.DDDD" "$SECUREKEY" hsm set --apqns ""
	assert_unchanged "no APQN given" "$SECUREKEY" hsm init --apqns ""
	assert_unchanged "APQN 01\.0001 is listed twice" "$SECUREKEY" hsm commit --apqns 01.0001,01.0001
	assert_unchanged "APQN 03\.0001 is listed twice" "$SECUREKEY" hsm init --apqns 03.0001,04.0001,03.0001
	# Upper-case hex is the same APQN.
	assert_unchanged "APQN 0A\.00FF is listed twice" "$SECUREKEY" hsm init --apqns 0a.00ff,0A.00FF
	atf_check -s exit:0 -o match:"^Initialized APQNs 0a\.00ff in" "$SECUREKEY" hsm init --apqns 0A.00FF
	test -e hsm/0a.00ff.mk || atf_fail "APQN file name is not normalized"
}

atf_test_case unknown_apqn
unknown_apqn_head()
{
	atf_set "descr" "an APQN without a state file is refused with an init hint, also inside a set"
}
unknown_apqn_body()
{
	init_set
	make_part p1
	msg="APQN 03\.0001 is unknown to the soft HSM in $PWD/hsm; initialize it with 'securekey hsm init --apqns 03\.0001'"
	assert_unchanged "$msg" "$SECUREKEY" hsm status --apqns 03.0001
	assert_unchanged "$msg" "$SECUREKEY" hsm load-part --apqns 01.0001,03.0001 --part-file p1
	assert_unchanged "$msg" "$SECUREKEY" hsm commit --apqns 03.0001,01.0001
	assert_unchanged "$msg" "$SECUREKEY" hsm set --apqns 03.0001
	assert_unchanged "$msg" "$SECUREKEY" hsm clear-new --apqns "$APQNS,03.0001"
}

# --------------------------------------------------- the state files

atf_test_case state_file_mode
state_file_mode_head()
{
	atf_set "descr" "a state file or HSM directory open to others is refused with a chmod hint"
}
state_file_mode_body()
{
	init_set
	make_part p1
	for mode in 0644 0640 0604 0606; do
		chmod $mode hsm/02.0001.mk
		msg="HSM state file $PWD/hsm/02\.0001\.mk has mode $mode and may be read by others; fix with: chmod 0600 $PWD/hsm/02\.0001\.mk"
		assert_unchanged "$msg" "$SECUREKEY" hsm status
		assert_unchanged "$msg" "$SECUREKEY" hsm load-part --apqns "$APQNS" --part-file p1
		assert_unchanged "$msg" "$SECUREKEY" hsm clear-new --apqns "$APQNS"
	done
	chmod 0600 hsm/02.0001.mk
	for mode in 0777 0770 0702; do
		chmod $mode hsm
		assert_unchanged "soft HSM directory $PWD/hsm has mode $mode and may be changed by others; fix with: chmod 0700 $PWD/hsm" \
			"$SECUREKEY" hsm load-part --apqns "$APQNS" --part-file p1
		assert_unchanged "soft HSM directory .* has mode $mode" "$SECUREKEY" hsm init --apqns 03.0001
	done
	chmod 0700 hsm
	load_parts p1
}

atf_test_case state_file_owner
state_file_owner_head()
{
	atf_set "descr" "a state file or HSM directory owned by another uid is refused with a chown hint"
}
state_file_owner_body()
{
	init_set
	make_part p1
	chown 65534 hsm/01.0001.mk 2>/dev/null || atf_skip "cannot chown (needs root)"
	me=$(id -u)
	msg="HSM state file $PWD/hsm/01\.0001\.mk is owned by uid 65534, not by you \(uid $me\); fix with: chown $me $PWD/hsm/01\.0001\.mk"
	assert_unchanged "$msg" "$SECUREKEY" hsm status
	assert_unchanged "$msg" "$SECUREKEY" hsm load-part --apqns "$APQNS" --part-file p1
	assert_unchanged "$msg" "$SECUREKEY" hsm set --apqns "$APQNS"
	chown "$me" hsm/01.0001.mk
	chown 65534 hsm
	assert_unchanged "soft HSM directory $PWD/hsm is owned by uid 65534, not by you \(uid $me\); fix with: chown $me $PWD/hsm" \
		"$SECUREKEY" hsm load-part --apqns "$APQNS" --part-file p1
	chown "$me" hsm
	load_parts p1
}

atf_test_case state_file_corrupt
state_file_corrupt_head()
{
	atf_set "descr" "corrupt, truncated, swapped or symlinked state files are refused as corrupt"
}
state_file_corrupt_body()
{
	init_set
	make_part p1
	cp -p hsm/01.0001.mk good01
	cp -p hsm/02.0001.mk good02
	# One flipped byte in the magic, the register area and the checksum.
	for off in 0 20 60 163 195; do
		cp -p good01 hsm/01.0001.mk
		"$PYTHON" -c '
import sys
p, off = sys.argv[1], int(sys.argv[2])
b = bytearray(open(p, "rb").read())
b[off] ^= 0x01
open(p, "r+b").write(bytes(b))' hsm/01.0001.mk $off
		assert_unchanged "HSM state file $PWD/hsm/01\.0001\.mk is corrupt \(.*\); restore it from a backup" \
			"$SECUREKEY" hsm load-part --apqns "$APQNS" --part-file p1
		assert_unchanged "01\.0001\.mk is corrupt" "$SECUREKEY" hsm status
	done
	cp -p good01 hsm/01.0001.mk
	truncate -s 100 hsm/01.0001.mk
	assert_unchanged "HSM state file $PWD/hsm/01\.0001\.mk is corrupt \(size 100, expected 196\)" \
		"$SECUREKEY" hsm load-part --apqns "$APQNS" --part-file p1
	cp -p good01 hsm/01.0001.mk
	printf 'x' >>hsm/01.0001.mk
	assert_unchanged "01\.0001\.mk is corrupt \(size 197, expected 196\)" "$SECUREKEY" hsm status
	: >hsm/01.0001.mk
	assert_unchanged "01\.0001\.mk is corrupt \(size 0" "$SECUREKEY" hsm commit --apqns "$APQNS"
	# A valid file of another APQN.
	cp -p good02 hsm/01.0001.mk
	assert_unchanged "01\.0001\.mk is corrupt \(it belongs to another APQN\)" "$SECUREKEY" hsm status
	# A symlink is not followed.
	rm hsm/01.0001.mk
	ln -s ../good01 hsm/01.0001.mk
	assert_unchanged "cannot open HSM state file $PWD/hsm/01\.0001\.mk" "$SECUREKEY" hsm status
	rm hsm/01.0001.mk
	cp -p good01 hsm/01.0001.mk
	load_parts p1
}

atf_test_case lock_held cleanup
lock_held_head()
{
	atf_set "descr" "a lock held by another process makes commands give up with 'locked' after SECUREKEY_LOCK_TIMEOUT"
}
lock_held_body()
{
	init_set
	make_part p1
	# Exclusive holder: readers and writers give up after the timeout.
	hold_lock -x
	export SECUREKEY_LOCK_TIMEOUT=1
	msg="soft HSM $PWD/hsm is locked by another process \(lock file $PWD/hsm/\.lock\); gave up after 1\.000 s, try again when it has finished"
	start=$(date +%s)
	assert_unchanged "$msg" "$SECUREKEY" hsm load-part --apqns "$APQNS" --part-file p1
	assert_unchanged "$msg" "$SECUREKEY" hsm status
	assert_unchanged "$msg" "$SECUREKEY" hsm clear-new --apqns "$APQNS"
	assert_unchanged "$msg" "$SECUREKEY" hsm init --apqns 03.0001
	export SECUREKEY_LOCK_TIMEOUT=0.3
	assert_unchanged "gave up after 0\.300 s" "$SECUREKEY" hsm commit --apqns "$APQNS"
	elapsed=$(($(date +%s) - start))
	test $elapsed -ge 4 || atf_fail "commands did not wait for the lock ($elapsed s)"
	release_lock
	# Released: everything works again.
	export SECUREKEY_LOCK_TIMEOUT=1
	load_parts p1

	# Shared holder: status reads alongside it, changes give up.
	hold_lock -s
	atf_check -s exit:0 -o match:"$(status_line 01.0001 NEW partial 1/3 -)" "$SECUREKEY" hsm status
	atf_check -s exit:0 -o match:"enciphered with the CURRENT" "$SECUREKEY" debug wrap \
		--apqns "$APQNS" --out b
	assert_unchanged "$msg" "$SECUREKEY" hsm load-part --apqns "$APQNS" --part-file p1
	assert_unchanged "$msg" "$SECUREKEY" hsm clear-new --apqns "$APQNS"
	release_lock

	# A holder that lets go within the timeout is waited for.
	flock hsm/.lock sleep 1 &
	holder=$!
	while flock -n -s hsm/.lock true; do sleep 0.05; done
	export SECUREKEY_LOCK_TIMEOUT=20
	atf_check -s exit:0 -o match:"is empty" "$SECUREKEY" hsm clear-new --apqns "$APQNS"
	wait $holder
}

lock_held_cleanup()
{
	touch release
}

# hold_lock -x|-s: hold the soft HSM lock (exclusive or shared) in a
# background flock until release_lock; returns once the lock is held.
hold_lock()
{
	rm -f release
	# Gives up by itself after about a minute should the test die.
	flock "$1" hsm/.lock sh -c \
		'i=0; while [ ! -e release ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i + 1)); done' &
	holder=$!
	if [ "$1" = -x ]; then
		while flock -n -s hsm/.lock true; do sleep 0.05; done
	else
		while flock -n -x hsm/.lock true; do sleep 0.05; done
	fi
}

release_lock()
{
	touch release
	wait $holder
}

# ------------------------------------------- refused init leaves nothing

atf_test_case init_usage_exit
init_usage_exit_head()
{
	atf_set "descr" "init with two parts from stdin is a usage error: exit 2, nothing changed"
}
init_usage_exit_body()
{
	init_set
	make_part p1
	SK_EXIT=2
	assert_unchanged "init: only one key part can come from stdin" \
		-x "\"$SECUREKEY\" hsm init --apqns 03.0001 --part-file - --part-file - <p1"
	rm -rf hsm
	assert_unchanged "init: only one key part can come from stdin" \
		-x "\"$SECUREKEY\" hsm init --apqns 03.0001 --part-file - --part-file p1 --part-file - <p1"
}

atf_test_case init_refused_creates_nothing
init_refused_creates_nothing_head()
{
	atf_set "descr" "an init refused for its key parts or APQNs does not create the HSM directory"
}
init_refused_creates_nothing_body()
{
	make_part p1
	make_part p2
	chmod 0644 p2
	head -c 31 /dev/urandom >p31
	chmod 0600 p31
	assert_unchanged "the key parts cancel each other out" \
		"$SECUREKEY" hsm init --apqns "$APQNS" --part-file p1 --part-file p1
	assert_unchanged "chmod 0600 p2" "$SECUREKEY" hsm init --apqns "$APQNS" --part-file p1 --part-file p2
	assert_unchanged "it holds 31" "$SECUREKEY" hsm init --apqns "$APQNS" --part-file p31 --part-file p1
	assert_unchanged "is not an APQN" "$SECUREKEY" hsm init --apqns 1.1
	test ! -e hsm || atf_fail "a refused init created the HSM directory"
}

# ------------------------------------------------------- concurrency

atf_test_case concurrent_load_50
concurrent_load_50_head()
{
	atf_set "descr" "50 parallel load-part on one set: exactly 3 load, 47 are refused, NEW is the XOR of the 3"
	atf_set "timeout" "240"
}
concurrent_load_50_body()
{
	init_set
	cur=$(reg_mkvp CURRENT)
	"$PYTHON" -c '
import os
for i in range(50):
    fd = os.open("part%02d" % i, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, os.urandom(32))
    os.close(fd)'
	export SECUREKEY_LOCK_TIMEOUT=60
	# Start all 50 first, blocked on opening a FIFO, then let them go at
	# once by opening its write end.
	mkfifo gate
	i=0
	while [ $i -lt 50 ]; do
		n=$(printf %02d $i)
		(: <gate
			"$SECUREKEY" hsm load-part --apqns "$APQNS" --part-file part$n >out$n 2>err$n
			echo $? >rc$n) &
		i=$((i + 1))
	done
	exec 4<>gate
	wait
	exec 4>&-
	ok=""
	i=0
	while [ $i -lt 50 ]; do
		n=$(printf %02d $i)
		case $(cat rc$n) in
		0)
			ok="$ok part$n"
			test -s err$n && atf_fail "run $n succeeded with stderr: $(cat err$n)"
			grep -q "^Key part loaded into the NEW register of APQNs 01\.0001,02\.0001: " out$n ||
				atf_fail "run $n succeeded without saying so"
			;;
		1)
			grep -q "^the NEW register of APQN 01\.0001 already holds 3 key parts, the most a master key has" err$n ||
				atf_fail "run $n was refused for another reason: $(cat err$n)"
			test -s out$n && atf_fail "refused run $n printed: $(cat out$n)"
			;;
		*) atf_fail "run $n exited $(cat rc$n): $(cat err$n)" ;;
		esac
		i=$((i + 1))
	done
	set -- $ok
	test $# -eq 3 || atf_fail "$# load-part runs succeeded, not 3:$ok"
	# Each run reports the state its own change left, read under the lock.
	for n in 1 2 3; do
		test "$(for f in $ok; do cat "out${f#part}"; done | grep -c ", $n of at most 3 parts")" -eq 1 ||
			atf_fail "the 3 runs did not report 1, 2 and 3 parts: $(cat $(for f in $ok; do echo "out${f#part}"; done))"
	done
	expect=$(mkvp_of_parts $ok)
	atf_check -s exit:0 -e empty \
		-o match:"$(status_line 01.0001 NEW full-uncommitted 3/3 "$expect")" \
		-o match:"$(status_line 02.0001 NEW full-uncommitted 3/3 "$expect")" \
		-o match:"$(status_line 02.0001 CURRENT valid - "$cur")" "$SECUREKEY" hsm status
	atf_check -s exit:0 -e empty -o match:"NEW master key committed on APQNs 01\.0001,02\.0001 \(MKVP $expect\)" \
		"$SECUREKEY" hsm commit --apqns "$APQNS"
	test "$(reg_mkvp NEW 01.0001) $(reg_mkvp NEW 02.0001)" = "$expect $expect" ||
		atf_fail "committed NEW MKVP is not that of the XOR of$ok"
	ls hsm | grep -v '^0[12]\.0001\.mk$' && atf_fail "temporary files left in the HSM directory"
	true
}

atf_test_case concurrent_load_pairs
concurrent_load_pairs_head()
{
	atf_set "descr" "25 rounds of 2 concurrent load-part into an empty NEW: both count, MKVP of their XOR"
	atf_set "timeout" "240"
}
concurrent_load_pairs_body()
{
	init_set
	"$PYTHON" -c '
import hashlib, os
with open("expected", "w") as out:
    for r in range(25):
        mk = bytes(32)
        for k in "ab":
            part = os.urandom(32)
            fd = os.open("p%02d%s" % (r, k), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, part)
            os.close(fd)
            mk = bytes(x ^ y for x, y in zip(mk, part))
        out.write(hashlib.sha256(b"securekey-mkvp-v1" + mk).hexdigest()[:16] + "\n")'
	export SECUREKEY_LOCK_TIMEOUT=60
	r=0
	while read -r expect <&3; do
		n=$(printf %02d $r)
		"$SECUREKEY" hsm load-part --apqns "$APQNS" --part-file p${n}a >outa 2>erra &
		pa=$!
		"$SECUREKEY" hsm load-part --apqns "$APQNS" --part-file p${n}b >outb 2>errb &
		pb=$!
		wait $pa || atf_fail "round $n: first load-part failed: $(cat erra)"
		wait $pb || atf_fail "round $n: second load-part failed: $(cat errb)"
		grep -q "^Key part loaded into the NEW register" outa && grep -q "^Key part loaded" outb ||
			atf_fail "round $n: a load-part run did not report its part"
		atf_check -s exit:0 -e empty \
			-o match:"$(status_line 01.0001 NEW full-uncommitted 2/3 "$expect")" \
			-o match:"$(status_line 02.0001 NEW full-uncommitted 2/3 "$expect")" \
			"$SECUREKEY" hsm status
		atf_check -s exit:0 -o ignore "$SECUREKEY" hsm clear-new --apqns "$APQNS"
		r=$((r + 1))
	done 3<expected
	test $r -eq 25 || atf_fail "only $r rounds ran"
}

atf_init_test_cases()
{
	atf_add_test_case help
	atf_add_test_case usage_errors
	atf_add_test_case init_random_status
	atf_add_test_case init_from_parts
	atf_add_test_case init_twice
	atf_add_test_case no_hsm
	atf_add_test_case generate_part
	atf_add_test_case load_part_file_and_stdin
	atf_add_test_case part_file_mode
	atf_add_test_case part_file_owner
	atf_add_test_case part_file_size
	atf_add_test_case full_flow
	atf_add_test_case set_before_commit
	atf_add_test_case commit_refusals
	atf_add_test_case load_part_refusals
	atf_add_test_case clear_new
	atf_add_test_case apqns_disagree
	atf_add_test_case new_registers_disagree
	atf_add_test_case malformed_apqns
	atf_add_test_case unknown_apqn
	atf_add_test_case state_file_mode
	atf_add_test_case state_file_owner
	atf_add_test_case state_file_corrupt
	atf_add_test_case lock_held
	atf_add_test_case init_usage_exit
	atf_add_test_case init_refused_creates_nothing
	atf_add_test_case concurrent_load_50
	atf_add_test_case concurrent_load_pairs
}
