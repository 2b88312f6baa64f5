#! @ATF_SH@
# Concurrency (issue 7, item 3): two writers on one device, two CLIs or a
# CLI and 'securekey rotate', are serialized by the per-UUID lock and
# neither update is lost; a writer racing a plain 'cryptsetup token import'
# sees the seqid change and refuses, writing nothing. The LD_PRELOAD shim
# (tests/reliability/faultshim.c) pauses a writer at a chosen call, so the
# interleavings are forced, not hoped for.
#
# Lost updates are also looked for in the header backups: every write backs
# the header up first, named after the seqid it read; two writers that
# started from the same header would leave two backups with one seqid.

SK_BUILDDIR=@abs_top_builddir@
. @abs_top_srcdir@/tests/cli/common.sh
. @abs_top_srcdir@/tests/cli/devices.sh
. @abs_top_srcdir@/tests/reliability/shim.sh

# blob_of IMG [staged]: the base64 secure key (or staged key) of IMG's token.
blob_of()
{
	token_json "$1" | "$PYTHON" -c '
import json, sys
t = json.load(sys.stdin)
k = t.get("staged") if sys.argv[1] == "staged" else t
print(k and (k.get("secure_key") if isinstance(k, dict) else k) or None)' "${2:-current}"
}

# seqids IMG: the seqids of IMG's header backups, oldest first.
seqids()
{
	ls "state/backup/$(cryptsetup luksUUID "$1")" |
		sed -n 's/^[0-9T]*-0*\([0-9][0-9]*\)-[0-9]*\.hdr$/\1/p' | sort -n
}

# distinct_seqids IMG: no two header backups of IMG have one seqid.
distinct_seqids()
{
	_all=$(seqids "$1")
	test "$(echo "$_all" | sort -u | wc -l)" = "$(echo "$_all" | wc -l)" ||
		atf_fail "two writes of $1 started from one header (seqids $(echo $_all))"
}

# paused NAME COMMAND...: run COMMAND in the background, paused by the shim
# at its first open of a path matching $pause_at until NAME.mark is
# removed; returns once it is paused. $paused_pid is its pid.
paused()
{
	_mark=$PWD/$1.mark
	shift
	rm -f "$_mark"
	shim FAULTSHIM_OPS=open FAULTSHIM_PATH="$pause_at" FAULTSHIM_ACTION=pause \
		FAULTSHIM_MARK="$_mark" FAULTSHIM_PAUSE_MAX=60 "$@" &
	paused_pid=$!
	wait_for "$_mark"
}

# still_running PID WHAT: PID has not ended.
still_running()
{
	kill -0 "$1" 2>/dev/null || atf_fail "$2 ended while the other writer held the device"
}

atf_test_case cli_cli_serialized
cli_cli_serialized_head()
{
	atf_set "descr" "setkey paused while it holds the device, reencipher --staged started" \
		"meanwhile: it waits for the lock, then starts from setkey's header; both" \
		"updates are in the token"
	shim_head
}
cli_cli_serialized_body()
{
	setup
	mkimg img
	enroll img
	new_mk n1
	orig=$(blob_of img)
	pause_at="$PWD/state/backup/*"
	paused a "$CR" setkey img --key-file pass >a.out 2>a.err
	a=$paused_pid
	sum=$(sha256sum <img)
	"$CR" reencipher img --staged --key-file pass >b.out 2>b.err &
	b=$!
	sleep 1
	still_running "$b" "reencipher --staged"
	test "$(sha256sum <img)" = "$sum" || atf_fail "the image changed while setkey was paused"
	rm a.mark
	wait "$a" || atf_fail "setkey failed: $(cat a.err)"
	wait "$b" || atf_fail "reencipher --staged failed: $(cat b.err)"
	atf_check -s exit:0 -o match:"was set" -e empty cat a.out a.err
	atf_check -s exit:0 -o match:"kept as staged" -e empty cat b.out b.err
	# setkey's new secure key, and the key staged from it
	test "$(blob_of img)" != "$orig" || atf_fail "setkey's update was lost"
	test "$(blob_of img staged)" != None || atf_fail "the staged key was lost"
	vstate img CURRENT NEW "hsm set"
	distinct_seqids img
	# enroll's two (before its keyslot, before its token), setkey's, reencipher's
	test "$(seqids img | wc -l)" = 4 || atf_fail "not 4 header backups: $(seqids img)"
	token_unlocks img "secure key under the CURRENT master key"
}

atf_test_case cli_cli_race
cli_cli_race_head()
{
	atf_set "descr" "setkey and reencipher --staged started together, 5 times: both succeed" \
		"each time, none is refused for a changed header, no two start from one header," \
		"and the end state is that of one order or the other"
	common_head
}
cli_cli_race_body()
{
	setup
	mkimg img
	enroll img
	new_mk n1
	for round in 1 2 3 4 5; do
		before=$(blob_of img)
		"$CR" setkey img --key-file pass >a.out 2>a.err &
		a=$!
		"$CR" reencipher img --staged --key-file pass >b.out 2>b.err &
		b=$!
		wait "$a" || atf_fail "round $round: setkey failed: $(cat a.err)"
		wait "$b" || atf_fail "round $round: reencipher --staged failed: $(cat b.err)"
		test "$(blob_of img)" != "$before" || atf_fail "round $round: setkey's update was lost"
		# the last two backups are this round's writes
		last=$(seqids img | tail -2)
		test "$(echo "$last" | sort -u | wc -l)" = 2 ||
			atf_fail "round $round: both writes started from seqid $(echo $last)"
		atf_check -s exit:0 -o save:v.json -e empty "$CR" validate img --json
		# staged last: staged; setkey last: it dropped the staged key
		json_holds v.json v "v['secure_key']['register'] == 'CURRENT'" \
			"(v['staged'], v['next_step']) in ((None, 'reencipher --staged'),) or (v['staged']['register'], v['next_step']) == ('NEW', 'hsm set')"
		atf_check -s exit:0 -o match:"was set" -e empty "$CR" setkey img --key-file pass
	done
	token_unlocks img "secure key under the CURRENT master key"
}

atf_test_case cli_rotate_serialized
cli_rotate_serialized_head()
{
	atf_set "descr" "setkey of one device paused while it holds the device, securekey rotate" \
		"started meanwhile: rotate waits for that device, then stages and completes it" \
		"from setkey's header; both exit 0, every volume ends under the new CURRENT"
	shim_head
}
cli_rotate_serialized_body()
{
	setup
	mkimg d1
	mkimg d2
	mkimg d3
	enroll d1
	enroll d2
	enroll d3
	new_mk n1
	pause_at="$PWD/state/backup/*"
	paused a "$CR" setkey d2 --key-file pass >a.out 2>a.err
	a=$paused_pid
	sum=$(sha256sum <d2)
	"$SECUREKEY" rotate --apqns "$APQNS" --key-file pass --jobs 2 >rotate.out 2>rotate.err &
	r=$!
	sleep 1.5
	still_running "$r" "securekey rotate"
	test "$(sha256sum <d2)" = "$sum" || atf_fail "d2 changed while setkey was paused"
	rm a.mark
	wait "$a" || atf_fail "setkey failed: $(cat a.err)"
	wait "$r" || atf_fail "rotate failed: $(cat rotate.out rotate.err)"
	atf_check -s exit:0 -o match:"was set" -e empty cat a.out a.err
	atf_check -s exit:0 -o match:"^ok +[-0-9a-f]{36} +$PWD/d2 +staged to the NEW master key\$" \
		-o match:"^ok +[-0-9a-f]{36} +$PWD/d2 +completed: under the CURRENT master key\$" \
		-o match:"^Rotation of APQNs $APQNS complete" cat rotate.out
	test ! -s rotate.err || atf_fail "rotate said: $(cat rotate.err)"
	for d in d1 d2 d3; do
		vstate $d CURRENT - none
		vjson $d "v['secure_key']['mkvp'] == '$NEW_MKVP'"
		distinct_seqids $d
		token_unlocks $d "secure key under the CURRENT master key"
	done
	# d2: enroll (2), setkey, then the staged and the completing write, one after the other
	test "$(seqids d2 | wc -l)" = 5 || atf_fail "d2 has not 5 header backups: $(seqids d2)"
}

atf_test_case import_race
import_race_head()
{
	atf_set "descr" "a plain 'cryptsetup token import' between reencipher's load and its" \
		"write (reencipher paused at its passphrase file): reencipher sees the seqid" \
		"change, says so in one line, exits 1 and writes nothing; the re-run works and" \
		"keeps the imported token"
	shim_head
}
import_race_body()
{
	setup
	mkimg img
	enroll img
	new_mk n1
	printf '{"type":"other-tool","keyslots":[]}' >other.json
	uuid=$(cryptsetup luksUUID img)
	backups=$(seqids img | wc -l)
	pause_at=$PWD/pass
	paused a "$CR" reencipher img --staged --key-file pass >a.out 2>a.err
	a=$paused_pid
	atf_check -s exit:0 -o ignore -e ignore cryptsetup token import --json-file other.json img
	sum=$(sha256sum <img)
	rm a.mark
	wait "$a"
	rc=$?
	test "$rc" = 1 || atf_fail "reencipher after the import: exit $rc: $(cat a.out a.err)"
	test ! -s a.out || atf_fail "reencipher said on stdout: $(cat a.out)"
	atf_check -s exit:0 -e empty \
		-o match:"^the LUKS2 header of img changed while securekey worked on it \(seqid [0-9]+, now [0-9]+\); nothing was written, run the command again\$" \
		cat a.err
	test "$(wc -l <a.err)" = 1 || atf_fail "not one line: $(tr '\n' '|' <a.err)"
	test "$(sha256sum <img)" = "$sum" || atf_fail "reencipher wrote to img after the import"
	test "$(seqids img | wc -l)" = "$backups" || atf_fail "reencipher made a header backup"
	vstate img CURRENT - "reencipher --staged"
	atf_check -s exit:0 -o match:"kept as staged" -e empty "$CR" reencipher img --staged --key-file pass
	atf_check -s exit:0 -o match:'"type":"other-tool"' -e empty cryptsetup token export --token-id 1 img
	token_unlocks img "secure key under the CURRENT master key"
}

atf_test_case import_race_late
import_race_late_head()
{
	atf_set "descr" "the import between securekey's own seqid check and its token write" \
		"(paused at the header-backup open): libcryptsetup's check refuses the write," \
		"nothing of ours is written; the message says the header changed"
	shim_head
}
import_race_late_body()
{
	setup
	mkimg img
	enroll img
	new_mk n1
	printf '{"type":"other-tool","keyslots":[]}' >other.json
	pause_at="$PWD/state/backup/*"
	paused a "$CR" reencipher img --staged --key-file pass >a.out 2>a.err
	a=$paused_pid
	atf_check -s exit:0 -o ignore -e ignore cryptsetup token import --json-file other.json img
	sum=$(sha256sum <img)
	rm a.mark
	wait "$a"
	rc=$?
	test "$rc" != 0 || atf_fail "reencipher wrote after the import: $(cat a.out)"
	test "$(sha256sum <img)" = "$sum" || atf_fail "reencipher wrote to img after the import"
	vstate img CURRENT - "reencipher --staged"
	atf_check -s exit:0 -o match:"kept as staged" -e empty "$CR" reencipher img --staged --key-file pass
	atf_check -s exit:0 -o match:'"type":"other-tool"' -e empty cryptsetup token export --token-id 1 img
	grep -q "^the LUKS2 header of img changed while securekey worked on it" a.err ||
		atf_fail "the message: $(tr '\n' '|' <a.err)"
}

atf_init_test_cases()
{
	atf_add_test_case cli_cli_serialized
	atf_add_test_case cli_cli_race
	atf_add_test_case cli_rotate_serialized
	atf_add_test_case import_race
	atf_add_test_case import_race_late
}
