#! @ATF_SH@
# securekey rotate and securekey reencipher: the whole master-key change of
# an APQN set over many LUKS2 image files in worker processes, its journal,
# a device that fails while the others go on, --resume after the fix or
# after the command was killed at a random moment, and the per-device batch
# re-encipher with its JSON lines, passphrase and token gates.

SK_BUILDDIR=@abs_top_builddir@
. @abs_top_srcdir@/tests/cli/common.sh
. @abs_top_srcdir@/tests/cli/devices.sh

# The journal of the rotation of $APQNS to MKVP $1.
journal_of()
{
	echo "state/rotate/$1-$(echo "$APQNS" | tr , +).journal"
}

# mkimgs PREFIX N: N LUKS2 images PREFIX001 ... (keyslot 0 opens with
# ./pass), copies of one mkimg image, each given a UUID of its own: much
# faster than N luksFormat runs. enroll_all checks that the UUIDs differ.
mkimgs()
{
	mkimg "$1.base"
	for _img in $(seq -f "$1%03g" 1 "$2"); do
		cp --sparse=always "$1.base" "$_img" || atf_fail "cannot copy $1.base to $_img"
		cryptsetup luksUUID --batch-mode --uuid "$(cat /proc/sys/kernel/random/uuid)" "$_img" ||
			atf_fail "cannot set a new UUID on $_img"
	done
	rm "$1.base"
}

# enroll_all PREFIX N: enroll the images of mkimgs, two at a time, and check
# that securekey lists N known volumes with N distinct UUIDs, every one
# under the CURRENT master key.
enroll_all()
{
	seq -f "$1%03g" 1 "$2" |
		xargs -P 2 -n 1 "$CR" enroll --apqns "$APQNS" --key-file pass >enroll.log 2>&1 ||
		atf_fail "enrolling the images failed: $(cat enroll.log)"
	_n=$(grep -Ec "^$1[0-9]{3}: enrolled: securekey token 0, keyslot 1, secure key under the CURRENT master key of APQNs $APQNS\.\$" enroll.log)
	test "$_n" -eq "$2" || atf_fail "$_n of $2 images enrolled: $(cat enroll.log)"
	rm enroll.log
	ljson "len(l) == $2" "len({d['uuid'] for d in l}) == $2" \
		"sorted(d['path'] for d in l) == ['$PWD/$1%03d' % i for i in range(1, $2 + 1)]" \
		"all(d['register'] == 'CURRENT' and d['staged'] is False for d in l)"
}

# ljson PYTHON-EXPR...: 'securekey list --json' exits 0, says nothing on
# stderr, and every expression over its output (l) holds.
ljson()
{
	atf_check -s exit:0 -o save:list.json -e empty "$SECUREKEY" list --json
	json_holds list.json l "$@"
}

# all_current N MKVP: the N known volumes are under the CURRENT master key,
# which is MKVP, with nothing staged and nothing left to do.
all_current()
{
	ljson "len(l) == $1" \
		"[d['path'] for d in l if (d['register'], d['staged'], d['next_step']) != ('CURRENT', False, 'none')] == []"
	test "$(reg_mkvp CURRENT)" = "$2" || atf_fail "CURRENT is MKVP $(reg_mkvp CURRENT), not $2"
	test "$(reg_mkvp NEW)" = None || atf_fail "NEW is still MKVP $(reg_mkvp NEW)"
}

# jholds JOURNAL PYTHON-EXPR...: every expression over the journal's lines,
# each split at its tabs (j), holds.
jholds()
{
	test "$(stat -c %a "$1")" = 600 || atf_fail "$1 is not mode 0600"
	atf_check -s exit:0 -o inline:"ok\n" -e empty "$PYTHON" -c '
import sys
text = open(sys.argv[1]).read()
if not text.endswith("\n"):
    sys.exit("%s: the last line is not complete:\n%s" % (sys.argv[1], text))
j = [line.split("\t") for line in text.split("\n")[:-1]]
for expr in sys.argv[2:]:
    if not eval(expr, {"j": j}):
        sys.exit("%s: %s does not hold in\n%s" % (sys.argv[1], expr, text))
print("ok")
' "$@"
}

# header_holds JOURNAL FROM TO: the journal's first five lines.
header_holds()
{
	jholds "$1" "j[0] == ['securekey-rotate', '1']" "j[1] == ['apqns', '$APQNS']" \
		"j[2] == ['from', '$2']" "j[3] == ['to', '$3']" "j[4][0] == 'begin'"
}

# blines FILE PYTHON-EXPR...: FILE holds one JSON object a line, the devices
# (r, a list) and then the summary (s); every expression holds.
blines()
{
	atf_check -s exit:0 -o inline:"ok\n" -e empty "$PYTHON" -c '
import json, sys
lines = [json.loads(line) for line in open(sys.argv[1])]
r, s = lines[:-1], lines[-1].get("summary")
for expr in sys.argv[2:]:
    if not eval(expr, {"r": r, "s": s}):
        sys.exit("%s: %s does not hold in\n%s" % (sys.argv[1], expr, open(sys.argv[1]).read()))
print("ok")
' "$@"
}

# vsnap: like snapshot (common.sh), of what securekey may write: the image
# files of mkimgs, the HSM and the state directory. Unlike snap it leaves
# out the output files that the checks in between save in the work directory.
vsnap()
{
	snapshot hsm state
	find . -maxdepth 1 -type f -regex '\./[a-z][0-9][0-9][0-9]' -print0 | LC_ALL=C sort -z |
		xargs -0 -r sha256sum
	find . -maxdepth 1 -type f -regex '\./[a-z][0-9][0-9][0-9]' -printf '%m %u:%g %i %T@ %p\n' |
		LC_ALL=C sort
}

# unchanged_since SNAPSHOT WHAT: the images, HSM and state are as vsnap saw
# them.
unchanged_since()
{
	vsnap >.sk-snap.now
	if ! cmp -s "$1" .sk-snap.now; then
		diff -u "$1" .sk-snap.now >&2
		atf_fail "$2 changed the work directory"
	fi
	rm -f "$1" .sk-snap.now
}

# rows FILE REGEXP: how many lines of FILE match REGEXP (extended).
rows()
{
	grep -Ec "$2" "$1"
}

# ---------------------------------------------------------------- rotate

atf_test_case rotate_200
rotate_200_head()
{
	atf_set "descr" "rotate 200 volumes (40 in a sanitizer build): both passes all ok, journal ends, every volume under the new CURRENT and unlocking; a second run does nothing"
	atf_set "timeout" "900"
	common_head
}
rotate_200_body()
{
	setup
	n=200
	# the pkcs11 copy runs the same passes on fewer volumes (CI time)
	{ sanitized || ! soft_backend; } && n=40
	mkimgs d $n
	enroll_all d $n
	old=$MK0
	new_mk n1
	journal=$(journal_of "$NEW_MKVP")
	atf_check -s exit:0 -o save:rotate.out -e empty \
		"$SECUREKEY" rotate --apqns "$APQNS" --key-file pass --jobs 2
	atf_check -s exit:0 -o match:"^Staging to the NEW master key: $n devices\$" \
		-o match:"^NEW master key set on APQNs $APQNS: CURRENT is now MKVP $NEW_MKVP, OLD is MKVP $old\.\$" \
		-o match:"^Completing: $n devices\$" \
		-o match:"^Rotation of APQNs $APQNS complete: every volume is under the CURRENT master key \(MKVP $NEW_MKVP\)\.\$" \
		cat rotate.out
	test "$(rows rotate.out "^$n devices: $n ok, 0 skipped, 0 failed \\([0-9.]+ s\\)\$")" -eq 2 ||
		atf_fail "not $n ok in both passes: $(cat rotate.out)"
	test "$(rows rotate.out '^ok +[-0-9a-f]{36} +/.*/d[0-9]{3} +staged to the NEW master key$')" -eq $n ||
		atf_fail "not $n staged rows"
	test "$(rows rotate.out '^ok +[-0-9a-f]{36} +/.*/d[0-9]{3} +completed: under the CURRENT master key$')" -eq $n ||
		atf_fail "not $n completed rows"
	header_holds "$journal" "$old" "$NEW_MKVP"
	jholds "$journal" "len([l for l in j if l[:2] == ['stage', 'ok']]) == $n" \
		"len({l[2] for l in j if l[:2] == ['complete', 'ok']}) == $n" \
		"len([l for l in j if l[0] in ('stage', 'complete') and l[1] != 'ok']) == 0" \
		"[l[0] for l in j].count('set') == 1" \
		"max(i for i, l in enumerate(j) if l[0] == 'stage') < [l[0] for l in j].index('set') < min(i for i, l in enumerate(j) if l[0] == 'complete')" \
		"j[-1][0] == 'end' and [l[0] for l in j].count('end') == 1"
	all_current $n "$NEW_MKVP"
	test "$(reg_mkvp OLD)" = "$old" || atf_fail "OLD is not MKVP $old"
	for img in $(seq -f "d%03g" 1 $((n / 10)) $n) $(printf "d%03d" $n); do
		test "$(token_json "$img" | "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["mkvp"])')" = "$NEW_MKVP" ||
			atf_fail "the token of $img is not under MKVP $NEW_MKVP"
		token_unlocks "$img" "secure key under the CURRENT master key"
		pass_opens "$img"
	done
	# again: nothing to do, and nothing is touched
	snap >.sk-snap.before
	atf_check -s exit:0 -e empty \
		-o match:"^The rotation of APQNs $APQNS to MKVP $NEW_MKVP \(begun [0-9TZ:-]+\) is complete; nothing to do\.\$" \
		"$SECUREKEY" rotate --apqns "$APQNS" --key-file pass --jobs 2
	snap >.sk-snap.after
	if ! cmp -s .sk-snap.before .sk-snap.after; then
		diff -u .sk-snap.before .sk-snap.after >&2
		atf_fail "the second rotate changed the work directory"
	fi
	rm -f .sk-snap.before .sk-snap.after
}

atf_test_case rotate_failing_device_resume
rotate_failing_device_resume_head()
{
	atf_set "descr" "a read-only and a corrupt device fail, the others complete and NEW is set; plain rotate is refused; --resume after the fix finishes"
	common_head
}
rotate_failing_device_resume_body()
{
	setup
	mkimgs f 10
	enroll_all f 10
	old=$MK0
	u3=$(cryptsetup luksUUID f003)
	u5=$(cryptsetup luksUUID f005)
	new_mk n1
	journal=$(journal_of "$NEW_MKVP")
	# f003: a secure key that does not parse; f005: read-only during the run
	token_json f003 >f003.token
	"$PYTHON" -c '
import json, sys
t = json.load(open(sys.argv[1]))
t["secure_key"] = "AAAA"
json.dump(t, open(sys.argv[2], "w"))' f003.token f003.bad || atf_fail "cannot write f003.bad"
	atf_check -s exit:0 -o ignore -e ignore \
		cryptsetup token import --token-id 0 --token-replace --json-file f003.bad f003
	atf_check -s exit:1 -o save:rotate.out \
		-e match:"setting the NEW master key although 2 volumes could not be staged" \
		-e match:"2 volumes of APQNs $APQNS are not completed \(see above\); fix the cause and run 'securekey rotate --apqns $APQNS --resume'" \
		unshare -m sh -c 'mount --bind f005 f005 && mount -o remount,bind,ro f005 &&
			exec "$0" rotate --apqns "$1" --key-file pass --jobs 2' "$SECUREKEY" "$APQNS"
	atf_check -s exit:0 -o match:"^NEW master key set on APQNs $APQNS: CURRENT is now MKVP $NEW_MKVP, OLD is MKVP $old\.\$" \
		-o not-match:"^Rotation of APQNs .* complete" cat rotate.out
	test "$(rows rotate.out "^failed +$u5 +$PWD/f005 +cannot write the securekey token of $PWD/f005: Read-only file system; nothing was changed\$")" -eq 2 ||
		atf_fail "f005 is not failed in both passes: $(cat rotate.out)"
	test "$(rows rotate.out "^failed +[-0-9a-f]+ +$PWD/f003 +secure key is corrupt")" -eq 2 ||
		atf_fail "f003 is not failed in both passes: $(cat rotate.out)"
	test "$(rows rotate.out '^10 devices: 8 ok, 0 skipped, 2 failed ')" -eq 2 ||
		atf_fail "not 8 ok and 2 failed in both passes: $(cat rotate.out)"
	header_holds "$journal" "$old" "$NEW_MKVP"
	jholds "$journal" "'end' not in [l[0] for l in j]" "[l[0] for l in j].count('set') == 1" \
		"sorted(l[3] for l in j if l[:2] == ['stage', 'failed']) == ['$PWD/f003', '$PWD/f005']" \
		"sorted(l[3] for l in j if l[:2] == ['complete', 'failed']) == ['$PWD/f003', '$PWD/f005']" \
		"len([l for l in j if l[:2] == ['complete', 'ok']]) == 8"
	test "$(reg_mkvp CURRENT)" = "$NEW_MKVP" || atf_fail "NEW was not set"
	# the failed devices stay under OLD, and still unlock
	atf_check -s exit:1 -o save:list.json -e match:"f003: securekey token 0 is invalid" "$SECUREKEY" list --json
	json_holds list.json l "len(l) == 9" \
		"[(d['register'], d['next_step']) for d in l if d['uuid'] == '$u5'] == [('OLD', 'reencipher --in-place')]" \
		"all((d['register'], d['staged'], d['next_step']) == ('CURRENT', False, 'none') for d in l if d['uuid'] != '$u5')"
	token_unlocks f005 "secure key under the OLD master key"
	pass_opens f005
	# unfinished: a new run is refused, a dry run shows what --resume does
	refused "the rotation of APQNs $APQNS to MKVP $NEW_MKVP begun .* is not finished \(journal $PWD/$(echo "$journal" | sed 's/[.+]/\\&/g')\); finish it with 'securekey rotate --apqns $APQNS --resume'" \
		"$SECUREKEY" rotate --apqns "$APQNS" --key-file pass
	vsnap >.sk-snap.dry
	# The corrupt f003 still fails in the plan, so the plan exits 1.
	atf_check -s exit:1 -e empty -o match:"^Plan for APQNs $APQNS, MKVP $old -> $NEW_MKVP \(resumed\):\$" \
		-o match:"^ok +$u5 +$PWD/f005 +would re-encipher in place\$" \
		-o match:"^failed +$(cryptsetup luksUUID f003) +$PWD/f003 +secure key is corrupt" \
		-o match:"^skipped +$(cryptsetup luksUUID f001) +$PWD/f001 +under the CURRENT master key: nothing to re-encipher\$" \
		"$SECUREKEY" rotate --apqns "$APQNS" --dry-run
	unchanged_since .sk-snap.dry "rotate --dry-run"
	# fixed: --resume re-enciphers both in place and ends the journal
	atf_check -s exit:0 -o ignore -e ignore \
		cryptsetup token import --token-id 0 --token-replace --json-file f003.token f003
	atf_check -s exit:0 -e empty -o match:"^Completing: 10 devices\$" \
		-o not-match:"^Staging" -o not-match:"^NEW master key set" \
		-o match:"^ok +$u3 +$PWD/f003 +re-enciphered in place to CURRENT\$" \
		-o match:"^ok +$u5 +$PWD/f005 +re-enciphered in place to CURRENT\$" \
		-o match:"^10 devices: 2 ok, 8 skipped, 0 failed " \
		-o match:"^Rotation of APQNs $APQNS complete: every volume is under the CURRENT master key \(MKVP $NEW_MKVP\)\.\$" \
		"$SECUREKEY" rotate --apqns "$APQNS" --key-file pass --jobs 2 --resume
	jholds "$journal" "[l[0] for l in j].count('resume') == 1" "j[-1][0] == 'end'" \
		"len({l[2] for l in j if l[:2] == ['complete', 'ok']}) == 10" \
		"sorted(l[3] for l in j[[l[0] for l in j].index('resume'):] if l[:2] == ['complete', 'ok']) == ['$PWD/f003', '$PWD/f005']"
	all_current 10 "$NEW_MKVP"
	for img in $(seq -f "f%03g" 1 10); do
		token_unlocks "$img" "secure key under the CURRENT master key"
		pass_opens "$img"
	done
}

# open_rotation: a journal under state/rotate has its header and no end.
open_rotation()
{
	for _j in state/rotate/*.journal; do
		[ -f "$_j" ] || continue
		grep -q '^begin' "$_j" && ! grep -q '^end' "$_j" && return 0
	done
	return 1
}

# p11_token_info_save, p11_token_info_restore WHAT: SoftHSM2's file store
# rewrites token.object in place (truncate, then write) at every C_Login, so a
# SIGKILL between the two loses the whole token, which a real HSM does not do.
# securekey never changes the token's own information (its size stays; only
# the login bookkeeping in it changes), so a token.object cut short by the
# kill is put back from the copy taken before the run, and the test says so;
# the key objects are left as the kill left them.
p11_token_info_save()
{
	soft_backend && return 0
	for _t in hsm/tokens/*/token.object; do
		cp -p "$_t" "$_t.before-kill"
	done
}

p11_token_info_restore()
{
	soft_backend && return 0
	for _t in hsm/tokens/*/token.object; do
		[ "$(wc -c <"$_t")" = "$(wc -c <"$_t.before-kill")" ] && continue
		echo "$1: the kill cut SoftHSM2's rewrite of $_t ($(wc -c <"$_t") of $(wc -c <"$_t.before-kill") bytes); put back" >&2
		cp -p "$_t.before-kill" "$_t"
	done
}

# no_survivors: within 5 s of the kill no securekey process (the command or
# one of its workers) runs in the work directory any more.
no_survivors()
{
	atf_check -s exit:0 -o empty -e empty "$PYTHON" -c '
import os, sys, time
exe, cwd = sys.argv[1], sys.argv[2]
deadline = time.monotonic() + 5
while True:
    left = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.readlink("/proc/%s/cwd" % pid) == cwd and \
               os.readlink("/proc/%s/exe" % pid).replace(" (deleted)", "") == exe:
                left.append(pid)
        except OSError:
            pass
    if not left:
        break
    if time.monotonic() > deadline:
        sys.exit("securekey processes still running after the kill: " + " ".join(left))
    time.sleep(0.05)
' "$(readlink -f "$SECUREKEY")" "$PWD"
}

# consistent N: after a kill, the N known volumes all parse and each has a
# key that a register holds, unless the set of the registers was cut short
# (then the CURRENT registers differ and 'rotate --resume' finishes it).
consistent()
{
	atf_check -s exit:0 -o save:list.json -e empty "$SECUREKEY" list --json
	"$SECUREKEY" hsm status --json >status.json || atf_fail "hsm status --json failed"
	atf_check -s exit:0 -o inline:"ok\n" -e empty "$PYTHON" -c '
import json, sys
l = json.load(open("list.json"))
s = json.load(open("status.json"))
agree = len({a["registers"]["CURRENT"]["mkvp"] for a in s["apqns"]}) == 1
bad = [d for d in l if d["register"] == "unknown" or d["next_step"] == "unknown" or
       (agree and (d["register"] == "none" or d["next_step"] == "refresh or setkey"))]
if len(l) != int(sys.argv[1]) or bad:
    sys.exit("inconsistent after the kill:\n%s\n%s" % (json.dumps(l, indent=1), json.dumps(s, indent=1)))
print("ok")
' "$1"
}

# The delays of the kills are drawn uniformly from 0 to the duration of one
# whole rotation, measured first, and logged on stderr with their seed. To
# replay: kyua --variable=test_suites.securekey.kill_seed=N (same seed, the
# duration measured again) or --variable=test_suites.securekey.kill_delays='D1 D2 ...'
# (exactly these delays, in seconds).
atf_test_case rotate_kill_resume
rotate_kill_resume_head()
{
	atf_set "descr" "rotate killed (SIGKILL) at random moments 20 times (5 in a sanitizer build); --resume (or a new rotation) each time; every volume ends under CURRENT and unlocks"
	atf_set "timeout" "900"
	common_head
}
rotate_kill_resume_body()
{
	setup
	mkimgs k 40
	enroll_all k 40
	# one uninterrupted rotation measures how long a whole one takes
	new_mk m0
	t0=$(date +%s%N)
	atf_check -s exit:0 -o match:"^Rotation of APQNs $APQNS complete" -e empty \
		"$SECUREKEY" rotate --apqns "$APQNS" --key-file pass --jobs 2
	t1=$(date +%s%N)
	seed=$(atf_config_get kill_seed "$("$PYTHON" -c 'import random; print(random.SystemRandom().randrange(1 << 32))')")
	delays=$(atf_config_get kill_delays "$("$PYTHON" -c '
import random, sys
span = max(0.2, int(sys.argv[2]) / 1e9)
rng = random.Random(int(sys.argv[1]))
print(" ".join("%.3f" % rng.uniform(0, span) for _ in range(int(sys.argv[3]))))' \
		"$seed" "$((t1 - t0))" "$(sanitized && echo 5 || echo 20)")")
	echo "a whole rotation took $(((t1 - t0) / 1000000)) ms; kill_seed=$seed; kill delays (s): $delays" >&2
	last=$NEW_MKVP
	i=0
	killed=0
	for delay in $delays; do
		i=$((i + 1))
		if open_rotation; then
			how=--resume
		else
			how=
			if [ "$(reg_mkvp NEW)" = None ]; then
				new_mk "m$i"
				last=$NEW_MKVP
			fi
		fi
		p11_token_info_save
		"$SECUREKEY" rotate --apqns "$APQNS" --key-file pass --jobs 2 $how >"run$i.out" 2>"run$i.err" &
		pid=$!
		sleep "$delay"
		kill -9 "$pid" 2>/dev/null
		wait "$pid"
		rc=$?
		p11_token_info_restore "run $i"
		echo "run $i: rotate ${how:-(new rotation to $last)}, SIGKILL after ${delay} s: exit $rc" >&2
		case $rc in
		137) killed=$((killed + 1)) ;;
		0) ;;
		*) atf_fail "run $i exited $rc: $(cat "run$i.out" "run$i.err")" ;;
		esac
		no_survivors
		consistent 40
	done
	echo "$killed of $i runs were killed before they finished" >&2
	test "$killed" -gt 0 || atf_fail "no run was killed before it finished; nothing was tested"
	how=
	open_rotation && how=--resume
	atf_check -s exit:0 -e empty \
		-o match:"^(Rotation of APQNs $APQNS complete: every volume is under the CURRENT master key \(MKVP $last\)|The rotation of APQNs $APQNS to MKVP $last .* is complete; nothing to do)\.\$" \
		"$SECUREKEY" rotate --apqns "$APQNS" --key-file pass --jobs 2 $how
	open_rotation && atf_fail "a rotation journal has no end"
	jholds "$(journal_of "$last")" "j[-1][0] == 'end'"
	all_current 40 "$last"
	for img in $(seq -f "k%03g" 1 40); do
		atf_check -s exit:0 -o match:"^$img: unlocks by token \(keyslot 1\)\.\$" -e empty \
			"$CR" open "$img" --test-passphrase
		pass_opens "$img"
	done
}

atf_test_case rotate_refusals
rotate_refusals_head()
{
	atf_set "descr" "rotate without a committed NEW, --resume with nothing to resume, usage errors, token auth not enabled: refused, nothing changed; --dry-run lists and changes nothing"
	common_head
}
rotate_refusals_body()
{
	setup
	mkimgs r 2
	enroll_all r 2
	old=$MK0
	ua=$(cryptsetup luksUUID r001)
	ub=$(cryptsetup luksUUID r002)
	SK_EXIT=2 refused "rotate: --apqns is required" "$SECUREKEY" rotate --key-file pass
	SK_EXIT=2 refused "--jobs: '0' is not a number from 1 to 256" \
		"$SECUREKEY" rotate --apqns "$APQNS" --key-file pass --jobs 0
	SK_EXIT=2 refused "unexpected argument 'r001'" "$SECUREKEY" rotate --apqns "$APQNS" --key-file pass r001
	SK_EXIT=2 refused "--apqns: 'x' is not a list of AA.DDDD" "$SECUREKEY" rotate --apqns x --key-file pass
	# no NEW master key committed
	refused "need a committed NEW master key .*commit it first" \
		"$SECUREKEY" rotate --apqns "$APQNS" --key-file pass
	refused "need a committed NEW master key .*commit it first" \
		"$SECUREKEY" rotate --apqns "$APQNS" --dry-run
	refused "no unfinished rotation of APQNs $APQNS to resume" \
		"$SECUREKEY" rotate --apqns "$APQNS" --key-file pass --resume
	load_new p1
	refused "need a committed NEW master key" "$SECUREKEY" rotate --apqns "$APQNS" --key-file pass
	atf_check -s exit:0 -o ignore -e ignore "$SECUREKEY" hsm clear-new --apqns "$APQNS"
	new_mk n1
	# --resume does not begin a new rotation
	refused "no unfinished rotation of APQNs $APQNS to resume" \
		"$SECUREKEY" rotate --apqns "$APQNS" --key-file pass --resume
	# token authorization is checked before the journal begins
	refused "--auth=token is not enabled: set 'allow_token_auth = yes' in \[batch\] of $SECUREKEY_CONF" \
		"$SECUREKEY" rotate --apqns "$APQNS" --auth=token
	# the dry run: the plan and every volume, no passphrase needed, nothing changed
	vsnap >.sk-snap.dry
	atf_check -s exit:0 -e empty -o match:"^Plan for APQNs $APQNS, MKVP $old -> $NEW_MKVP:\$" \
		-o match:"^  1\. stage every volume below to the NEW master key\$" \
		-o match:"^  2\. set the NEW master key on every APQN\$" \
		-o match:"^  3\. complete every volume\$" \
		-o match:"^ok +$ua +$PWD/r001 +would stage to the NEW master key\$" \
		-o match:"^ok +$ub +$PWD/r002 +would stage to the NEW master key\$" \
		-o match:"^2 devices: 2 ok, 0 skipped, 0 failed " \
		"$SECUREKEY" rotate --apqns "$APQNS" --dry-run
	unchanged_since .sk-snap.dry "rotate --dry-run"
	test ! -e state/rotate || atf_fail "the dry run created state/rotate"
	ljson "all(d['register'] == 'CURRENT' and d['next_step'] == 'reencipher --staged' for d in l)"
}

atf_test_case rotate_passphrase_gate
rotate_passphrase_gate_head()
{
	atf_set "descr" "rotate --key-file with a passphrase that opens no keyslot re-enciphers nothing and does not set NEW"
	common_head
}
rotate_passphrase_gate_body()
{
	setup
	mkimgs w 2
	enroll_all w 2
	new_mk n1
	printf 'wrong horse battery' >wrong
	sha256sum w001 w002 >images.sum
	atf_check -s exit:1 -o save:rotate.out -e match:"no volume of APQNs $APQNS could be staged, so the NEW master key is not set" \
		"$SECUREKEY" rotate --apqns "$APQNS" --key-file wrong --jobs 2
	for img in w001 w002; do
		test "$(rows rotate.out "^failed +[-0-9a-f]{36} +$PWD/$img +no keyslot of $PWD/$img opens with this passphrase\$")" -ge 1 ||
			atf_fail "$img is not failed: $(cat rotate.out)"
	done
	atf_check -s exit:0 -o ignore -e empty sha256sum -c images.sum
	atf_check -s exit:0 -o match:"NEW +committed" -o not-match:"OLD +valid" -e empty \
		"$SECUREKEY" hsm status --apqns "$APQNS"
}

atf_test_case rotate_journal_without_header
rotate_journal_without_header_head()
{
	atf_set "descr" "a journal that a kill left without its header (cut short, or empty) is no rotation: rotate begins anew"
	common_head
}
rotate_journal_without_header_body()
{
	setup
	mkimgs h 2
	enroll_all h 2
	old=$MK0
	new_mk n1
	mkdir -p state/rotate
	printf 'securekey-rotate\t1\napqns\t%s\nfrom\t%s\nto\t%s\n' "$APQNS" "$old" "$NEW_MKVP" \
		>"$(journal_of "$NEW_MKVP")"
	atf_check -s exit:0 -e empty -o match:"^Rotation of APQNs $APQNS complete" \
		"$SECUREKEY" rotate --apqns "$APQNS" --key-file pass
	header_holds "$(journal_of "$NEW_MKVP")" "$old" "$NEW_MKVP"
	all_current 2 "$NEW_MKVP"
	# killed between the journal's creation and its header's write
	prev=$NEW_MKVP
	new_mk n2
	: >"$(journal_of "$NEW_MKVP")"
	atf_check -s exit:0 -e empty -o match:"^Rotation of APQNs $APQNS complete" \
		"$SECUREKEY" rotate --apqns "$APQNS" --key-file pass
	header_holds "$(journal_of "$NEW_MKVP")" "$prev" "$NEW_MKVP"
	all_current 2 "$NEW_MKVP"
}

# ---------------------------------------------------------------- reencipher

atf_test_case reencipher_batch
reencipher_batch_head()
{
	atf_set "descr" "securekey reencipher: --staged --json, skipped when staged, --complete table, a wrong passphrase fails every device and changes nothing, paths, --apqns, --auth=token"
	common_head
}
reencipher_batch_body()
{
	setup
	mkimgs b 6
	enroll_all b 6
	u2=$(cryptsetup luksUUID b002)
	new_mk n1
	atf_check -s exit:0 -o save:staged.json -e empty \
		"$SECUREKEY" reencipher --staged --key-file pass --jobs 3 --json
	blines staged.json "len(r) == 6" \
		"sorted(d['path'] for d in r) == ['$PWD/b%03d' % i for i in range(1, 7)]" \
		"all(d['result'] == 'ok' and d['detail'] == 'staged to the NEW master key' for d in r)" \
		"len({d['uuid'] for d in r}) == 6 and '$u2' in {d['uuid'] for d in r}" \
		"set(s) == {'devices', 'ok', 'skipped', 'failed', 'seconds'}" \
		"(s['devices'], s['ok'], s['skipped'], s['failed']) == (6, 6, 0, 0)" \
		"isinstance(s['seconds'], float) and s['seconds'] >= 0"
	ljson "all(d['staged'] is True and d['next_step'] == 'hsm set' for d in l)"
	# again: every device is already staged; skipped, nothing written
	vsnap >.sk-snap.again
	atf_check -s exit:0 -o save:again.json -e empty \
		"$SECUREKEY" reencipher --staged --key-file pass --jobs 3 --json
	unchanged_since .sk-snap.again "a second reencipher --staged"
	blines again.json "len(r) == 6" \
		"all(d['result'] == 'skipped' and d['detail'] == \"staged to the NEW master key: waits for 'securekey hsm set'\" for d in r)" \
		"(s['devices'], s['ok'], s['skipped'], s['failed']) == (6, 0, 6, 0)"
	set_new
	# a passphrase that opens no keyslot: every device fails, no byte changes
	printf 'wrong horse battery' >wrong
	vsnap >.sk-snap.wrong
	atf_check -s exit:1 -o save:wrong.out -e empty "$SECUREKEY" reencipher --complete --key-file wrong
	unchanged_since .sk-snap.wrong "reencipher with a wrong passphrase"
	atf_check -s exit:0 -o match:"^RESULT +UUID +DEVICE +DETAIL\$" \
		-o match:"^6 devices: 0 ok, 0 skipped, 6 failed \([0-9.]+ s\)\$" cat wrong.out
	for img in $(seq -f "b%03g" 1 6); do
		test "$(rows wrong.out "^failed +$(cryptsetup luksUUID "$img") +$PWD/$img +no keyslot of $PWD/$img opens with this passphrase\$")" -eq 1 ||
			atf_fail "$img is not failed: $(cat wrong.out)"
	done
	# the text table
	atf_check -s exit:0 -o save:complete.out -e empty "$SECUREKEY" reencipher --complete --key-file pass
	atf_check -s exit:0 -o match:"^RESULT +UUID +DEVICE +DETAIL\$" \
		-o match:"^6 devices: 6 ok, 0 skipped, 0 failed \([0-9.]+ s\)\$" cat complete.out
	test "$(rows complete.out "^ok +[-0-9a-f]{36} +$PWD/b00[1-6] +completed: under the CURRENT master key\$")" -eq 6 ||
		atf_fail "not 6 completed rows: $(cat complete.out)"
	all_current 6 "$NEW_MKVP"
	# the next change: a step that is not the devices' next one skips them all
	new_mk n2
	vsnap >.sk-snap.other
	atf_check -s exit:0 -o save:inplace.json -e empty "$SECUREKEY" reencipher --in-place --key-file pass --json
	blines inplace.json "len(r) == 6" \
		"all(d['result'] == 'skipped' and d['detail'] == \"not this step: its next step is 'reencipher --staged'\" for d in r)"
	# --apqns of other APQNs selects no device
	atf_check -s exit:0 -o match:"^0 devices: 0 ok, 0 skipped, 0 failed " -o not-match:"^(ok|skipped|failed) " \
		-e empty "$SECUREKEY" reencipher --staged --key-file pass --apqns 03.0001
	# token authorization is not enabled by default
	refused "--auth=token is not enabled: set 'allow_token_auth = yes' in \[batch\] of $SECUREKEY_CONF" \
		"$SECUREKEY" reencipher --staged --auth=token
	unchanged_since .sk-snap.other "reencipher runs that had nothing to do"
	# a path selects just that device
	atf_check -s exit:0 -o save:one.out -e empty "$SECUREKEY" reencipher --staged --key-file pass b002
	atf_check -s exit:0 -o match:"^ok +$u2 +b002 +staged to the NEW master key\$" \
		-o match:"^1 device: 1 ok, 0 skipped, 0 failed " cat one.out
	test "$(rows one.out '^(ok|skipped|failed) ')" -eq 1 || atf_fail "more than b002: $(cat one.out)"
	ljson "[d['uuid'] for d in l if d['staged']] == ['$u2']"
	# enabled in the configuration: the token gate
	printf '[batch]\nallow_token_auth = yes\n' >"$SECUREKEY_CONF"
	atf_check -s exit:0 -o save:token.out -e empty "$SECUREKEY" reencipher --staged --auth=token --jobs 2
	atf_check -s exit:0 -o match:"^6 devices: 5 ok, 1 skipped, 0 failed " \
		-o match:"^skipped +$u2 +$PWD/b002 +staged to the NEW master key: waits for 'securekey hsm set'\$" \
		cat token.out
	ljson "all(d['staged'] is True and d['next_step'] == 'hsm set' for d in l)"
	token_unlocks b004 "secure key under the CURRENT master key"
}

atf_test_case set_interlock_after_batch_stage
set_interlock_after_batch_stage_head()
{
	atf_set "descr" "after reencipher --staged of every known volume, hsm set needs no --force"
	common_head
}
set_interlock_after_batch_stage_body()
{
	setup
	mkimgs s 3
	enroll_all s 3
	new_mk n1
	atf_check -s exit:0 -o match:"^3 devices: 3 ok, 0 skipped, 0 failed " -e empty \
		"$SECUREKEY" reencipher --staged --key-file pass
	atf_check -s exit:0 -o match:"NEW master key set on APQNs $APQNS" -e empty \
		"$SECUREKEY" hsm set --apqns "$APQNS"
	atf_check -s exit:0 -o match:"^3 devices: 3 ok, 0 skipped, 0 failed " -e empty \
		"$SECUREKEY" reencipher --key-file pass
	all_current 3 "$NEW_MKVP"
}

atf_init_test_cases()
{
	# The sanitizer build runs the pkcs11 copy on two cases that cover its
	# code (CI time); the default build runs every one.
	if ! soft_backend && sanitized; then
		atf_add_test_case rotate_200
		atf_add_test_case reencipher_batch
		return 0
	fi
	atf_add_test_case rotate_200
	atf_add_test_case rotate_kill_resume
	atf_add_test_case rotate_failing_device_resume
	atf_add_test_case rotate_refusals
	atf_add_test_case rotate_passphrase_gate
	atf_add_test_case rotate_journal_without_header
	atf_add_test_case reencipher_batch
	atf_add_test_case set_interlock_after_batch_stage
}
