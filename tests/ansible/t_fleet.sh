#! @ATF_SH@
# The playbook securekey.fleet.rotate (ansible/) on five sandboxed hosts
# h1..h5 (tests/ansible/fleet.sh): inventory hosts with
# ansible_connection=local, each with its own state, configuration and three
# LUKS2 image files, all sharing one SoftHSM2 token (the shared HSM) and one
# PyKMIP server, each with its KMS identity key and a volume enrolled with
# --kms. The officer's NEW master key is committed before each run. A
# wrapper 'securekey' first in the hosts' PATH records what every host
# looked like when 'hsm set' ran, or kills a host's staging.

SK_BUILDDIR=@abs_top_builddir@
SK_SRCDIR=@abs_top_srcdir@
# The shared HSM is a SoftHSM2 token in ./hsm (common.sh's p11_token), whose
# login bookkeeping snap_filter leaves out of the snapshots.
SK_BACKEND=pkcs11
. @abs_top_srcdir@/tests/cli/common.sh
. @abs_top_srcdir@/tests/cli/devices.sh

KMS_DIR=@abs_top_srcdir@/tests/kms
. @abs_top_srcdir@/tests/cli/kms.sh
. @abs_top_srcdir@/tests/ansible/fleet.sh

HOSTS="h1 h2 h3 h4 h5"
REAL_SECUREKEY=$SK_BUILDDIR/cli/securekey

fleet_head()
{
	common_head openssl ansible-playbook softhsm2-util
	atf_set "require.files" "/usr/bin/pykmip-server /usr/bin/python3 $P11_MODULE"
}

# write_wrapper: ./bin/securekey and ./bin/securekey-cryptsetup, first in
# every host's PATH. Each runs the real one holding ./hsm.lock (flock on an
# inherited descriptor, so the lock goes with the process, also when it is
# killed): SoftHSM2's file store rewrites token.object in place at every
# C_Login, and another process that reads it meanwhile finds no token at
# all ("tokens present: none"), which a network HSM shared by the hosts
# does not do; so the hosts' commands take turns on the token while ansible
# still runs them in parallel.
# On 'hsm set', securekey appends the host that runs it to ./hsm-set.log
# and saves 'securekey list --json' and 'securekey kms status --json' of
# every host (each with its own environment) in
# ./before-set/HOST.{list,kms}.json, then runs the real one. On the first
# 'reencipher' (not 'kms reencipher') of a host whose directory holds
# kill-stage it starts the real one, SIGKILLs it once it reported its first
# device (at most 10 s later), puts back SoftHSM2's token.object if the kill
# cut its rewrite short (t_rotate says why) and exits 137; HOST/killed
# makes later runs normal.
write_wrapper()
{
	mkdir -p bin
	cat >bin/securekey-cryptsetup <<EOF
#!/bin/sh
exec 9>'$PWD/hsm.lock'
flock 9
exec '$CR' "\$@"
EOF
	cat >bin/securekey <<EOF
#!/bin/sh
T='$PWD'
REAL='$REAL_SECUREKEY'
EOF
	cat >>bin/securekey <<'EOF'
exec 9>"$T/hsm.lock"
flock 9
h=${SECUREKEY_STATE_DIR%/state}
case " $* " in
*" hsm set "*)
	echo "$h" >>"$T/hsm-set.log"
	mkdir -p "$T/before-set"
	for d in "$T"/h[0-9]*; do
		(
			while IFS= read -r l; do export "$l"; done <"$d/env"
			"$REAL" list --json >"$T/before-set/${d##*/}.list.json"
			"$REAL" kms status --json >"$T/before-set/${d##*/}.kms.json"
		)
	done
	;;
*" kms reencipher "*)
	;;
*" reencipher "*)
	if [ -e "$h/kill-stage" ] && [ ! -e "$h/killed" ]; then
		: >"$h/killed"
		"$REAL" "$@" >"$h/killed.out" 2>"$h/killed.err" &
		pid=$!
		i=0
		while [ ! -s "$h/killed.out" ] && [ $i -lt 1000 ]; do
			sleep 0.01
			i=$((i + 1))
		done
		kill -KILL $pid
		wait $pid
		echo "status $?" >>"$h/killed"
		for t in "$T"/hsm/tokens/*/token.object; do
			[ "$(wc -c <"$t")" = "$(wc -c <"$t.before-kill")" ] && continue
			echo "the kill cut SoftHSM2's rewrite of $t short; put back" >>"$h/killed"
			cp -p "$t.before-kill" "$t"
		done
		cat "$h/killed.out"
		exit 137
	fi
	;;
esac
exec "$REAL" "$@"
EOF
	chmod +x bin/securekey bin/securekey-cryptsetup
}

# fleet_setup: the shared token (./hsm) with a CURRENT master key (MK0), a
# PyKMIP server, hosts h1..h5 (each: KMS configured, img1 enrolled with
# --kms, img2 and img3 without), the collection, the inventory and
# vars.json, then the officer's NEW master key generated and committed
# (NEW_MKVP). The officer's own state is ./state (common.sh).
fleet_setup()
{
	printf 'correct horse battery' >pass
	chmod 0600 pass
	p11_token
	atf_check -s exit:0 -o match:"\(random\)" -e empty "$SECUREKEY" hsm init --apqns "$APQNS"
	MK0=$(reg_mkvp CURRENT)
	mkdir -p kms
	kms_certs "$PWD/kms" || atf_fail "cannot make the test PKI"
	kms_start_any primary "$PWD/kms" || atf_fail "cannot start PyKMIP"
	URL=kmip://127.0.0.1:$(kms_port primary "$PWD/kms")
	write_wrapper
	for h in $HOSTS; do
		fleet_host "$h" "$SECUREKEY_HSM_DIR" "$SOFTHSM2_CONF" "$PWD/bin"
		cp -p pass "$h/pass"
		fleet_images "$h" 3 pass
		fleet_kms_configure "$h" "$PWD/kms" "$URL"
		fleet_enroll_one "$h" "$PWD/$h/img1" pass --kms
		fleet_enroll_one "$h" "$PWD/$h/img2" pass
		fleet_enroll_one "$h" "$PWD/$h/img3" pass
	done
	fleet_collections collections
	fleet_callback callback_plugins
	fleet_inventory inventory.yml \
		"{\"securekey_apqns\": [\"${APQNS%,*}\", \"${APQNS#*,}\"], \"securekey_key_file\": \"@HOST@/pass\"}" $HOSTS
	echo '{"securekey_hosts": "securekey"}' >vars.json
	atf_check -s exit:0 -o match:"NEW master key generated on APQNs $APQNS" -e empty \
		"$SECUREKEY" hsm generate-new --apqns "$APQNS"
	NEW_MKVP=$(reg_mkvp NEW)
	atf_check -s exit:0 -o match:"NEW master key committed on APQNs $APQNS \(MKVP $NEW_MKVP\)" \
		-e empty "$SECUREKEY" hsm commit --apqns "$APQNS"
	for t in hsm/tokens/*/token.object; do
		cp -p "$t" "$t.before-kill"
	done
}

# play NAME [ARGS...]: ansible-playbook securekey.fleet.rotate with the json
# callback; its output in NAME.json, stderr in NAME.err, its exit status in
# $PLAY_RC.
play()
{
	_name=$1
	shift
	mkdir -p ansible-tmp
	ANSIBLE_COLLECTIONS_PATH=$PWD/collections ANSIBLE_STDOUT_CALLBACK=fleetjson \
		ANSIBLE_CALLBACK_PLUGINS=$PWD/callback_plugins \
		ANSIBLE_HOME=$PWD/ansible-tmp ANSIBLE_LOCAL_TEMP=$PWD/ansible-tmp/local \
		ANSIBLE_REMOTE_TEMP=$PWD/ansible-tmp/remote ANSIBLE_RETRY_FILES_ENABLED=0 \
		ANSIBLE_NOCOLOR=1 ANSIBLE_FORKS=5 ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=0 \
		ansible-playbook -i inventory.yml securekey.fleet.rotate -e @vars.json "$@" \
		>"$_name.json" 2>"$_name.err"
	PLAY_RC=$?
}

# play_holds NAME PYTHON-EXPR...: every expression over the json callback's
# output of play NAME (r; r['stats'][HOST] is the recap) holds; the helper
# t(r, PLAY, TASK) is the dict of host results of that task of that play
# (by index, and name without the role's prefix).
play_holds()
{
	_ph=$1
	shift
	atf_check -s exit:0 -o inline:"ok\n" -e empty "$PYTHON" -c '
import json, sys
r = json.load(open(sys.argv[1]))
def t(r, play, task):
    for x in r["plays"][play]["tasks"]:
        if x["task"]["name"].split(" : ")[-1] == task:
            return x["hosts"]
    return {}
for expr in sys.argv[2:]:
    if not eval(expr, {"r": r, "t": t, "json": json}):
        sys.exit("%s: %s does not hold; recap %s" % (sys.argv[1], expr, json.dumps(r["stats"])))
print("ok")
' "$_ph.json" "$@"
}

# host_json HOST FILE COMMAND...: COMMAND's stdout (JSON) on HOST into FILE.
host_json()
{
	_hj_host=$1
	_hj_file=$2
	shift 2
	fleet_run "$_hj_host" "$@" >"$_hj_file" 2>"$_hj_file.err" ||
		[ -s "$_hj_file" ] || atf_fail "$*: $(cat "$_hj_file.err")"
}

# all_done: every volume and identity key of every host is under CURRENT,
# which is the former NEW (NEW_MKVP), nothing staged, nothing under OLD,
# and every volume unlocks by its token.
all_done()
{
	test "$(reg_mkvp CURRENT)" = "$NEW_MKVP" || atf_fail "CURRENT is $(reg_mkvp CURRENT), not $NEW_MKVP"
	test "$(reg_mkvp OLD)" = "$MK0" || atf_fail "OLD is $(reg_mkvp OLD), not $MK0"
	for h in $HOSTS; do
		host_json "$h" "$h.list.json" "$REAL_SECUREKEY" list --json
		json_holds "$h.list.json" l "len(l) == 3" \
			"[d['path'] for d in l if (d['register'], d['staged'], d['next_step']) != ('CURRENT', False, 'none')] == []"
		host_json "$h" "$h.kms.json" "$REAL_SECUREKEY" kms status --json
		json_holds "$h.kms.json" k "k['identity_key']['secure_key']['register'] == 'CURRENT'" \
			"k['identity_key']['secure_key']['mkvp'] == '$NEW_MKVP'" \
			"k['identity_key']['next_step'] == 'none'" \
			"not k['identity_key'].get('staged')"
		for i in 1 2 3; do
			atf_check -s exit:0 -o match:"unlocks by token" -e empty \
				"$h/with-env" "$CR" open "$PWD/$h/img$i" --test-passphrase
			atf_check -s exit:0 -o save:v.json -e empty \
				"$h/with-env" "$CR" validate "$PWD/$h/img$i" --json
			json_holds v.json v "v['secure_key']['mkvp'] == '$NEW_MKVP'" \
				"v['secure_key']['register'] == 'CURRENT'" "v['next_step'] == 'none'"
		done
	done
}

# fleet_snap: what a run may change: the images, the hosts' state and
# configuration, and the token's key objects.
fleet_snap()
{
	snapshot hsm $(for h in $HOSTS; do echo "$h/state $h/securekey.conf $h/kms"; done) |
		grep -v '\.before-kill'
	for h in $HOSTS; do
		sha256sum "$h"/img[0-9]
	done
}

# ---------------------------------------------------------------- rotate

atf_test_case rotate cleanup
rotate_head()
{
	atf_set "descr" "one run stages every volume and identity key of five hosts, sets NEW once on the shared HSM, completes; a second run changes nothing"
	fleet_head
}
rotate_body()
{
	fleet_setup
	play run1
	test "$PLAY_RC" = 0 || atf_fail "the playbook failed ($PLAY_RC): $(cat run1.err; cat run1.json)"
	play_holds run1 "sorted(r['stats']) == sorted('$HOSTS'.split())" \
		"all(s['failures'] == 0 and s['unreachable'] == 0 and s['changed'] > 0 for s in r['stats'].values())"
	# 'hsm set' ran once, and then every volume and identity key of every
	# host was staged.
	atf_check -s exit:0 -o inline:"$PWD/h1\n" -e empty cat hsm-set.log
	for h in $HOSTS; do
		json_holds "before-set/$h.list.json" l "len(l) == 3" \
			"[(d['path'], d['next_step']) for d in l if d['next_step'] != 'hsm set'] == []"
		json_holds "before-set/$h.kms.json" k "k['identity_key']['next_step'] == 'hsm set'"
	done
	all_done
	# A second run changes nothing.
	fleet_snap >snap.before
	play run2
	test "$PLAY_RC" = 0 || atf_fail "the second run failed ($PLAY_RC): $(cat run2.err; cat run2.json)"
	play_holds run2 "all(s['changed'] == 0 and s['failures'] == 0 for s in r['stats'].values())"
	fleet_snap >snap.after
	diff -u snap.before snap.after >&2 || atf_fail "the second run changed the hosts"
	atf_check -s exit:0 -o inline:"$PWD/h1\n" -e empty cat hsm-set.log
}
rotate_cleanup()
{
	kms_cleanup
}

# --------------------------------------------------------------- check_mode

atf_test_case check_mode cleanup
check_mode_head()
{
	atf_set "descr" "--check with NEW committed changes no image, state directory or key object, says what a real run stages, and exits 0"
	fleet_head
}
check_mode_body()
{
	fleet_setup
	fleet_snap >snap.before
	play check --check
	test "$PLAY_RC" = 0 || atf_fail "the playbook --check failed ($PLAY_RC): $(cat check.err; cat check.json)"
	fleet_snap >snap.after
	diff -u snap.before snap.after >&2 || atf_fail "--check changed the hosts"
	test ! -e hsm-set.log || atf_fail "--check ran hsm set: $(cat hsm-set.log)"
	test "$(reg_mkvp NEW)" = "$NEW_MKVP" || atf_fail "NEW is $(reg_mkvp NEW), not $NEW_MKVP"
	test "$(reg_mkvp CURRENT)" = "$MK0" || atf_fail "CURRENT is $(reg_mkvp CURRENT), not $MK0"
	play_holds check \
		"all(len(v['devices']) == 3 and v['changed'] for v in t(r, 0, 'Stage the volumes and the identity key to the NEW master key').values())" \
		"sorted(x['host'] for x in json.loads(list(t(r, 1, 'Say what a real run stages before the set (check mode)').values())[0]['msg'])) == sorted('$HOSTS'.split())"
}
check_mode_cleanup()
{
	kms_cleanup
}

# ------------------------------------------------------- killed_host_resumed

atf_test_case killed_host_resumed cleanup
killed_host_resumed_head()
{
	atf_set "descr" "a host killed while it stages fails with its devices, the others stage, nobody sets NEW; the next run finishes every host"
	fleet_head
}
killed_host_resumed_body()
{
	fleet_setup
	: >h3/kill-stage
	play run1
	test "$PLAY_RC" != 0 || atf_fail "the playbook did not fail: $(cat run1.json)"
	grep -q '^status 137$' h3/killed || atf_fail "h3's staging was not killed: $(cat h3/killed)"
	cat h3/killed >&2
	# h1, the officer, fails at the check before 'hsm set' (run_once).
	play_holds run1 "r['stats']['h3']['failures'] == 1 and r['stats']['h1']['failures'] == 1" \
		"all(r['stats'][h]['failures'] == 0 for h in ['h2', 'h4', 'h5'])" \
		"all(t(r, 0, 'Stage the volumes and the identity key to the NEW master key')[h]['changed'] for h in ['h1', 'h2', 'h4', 'h5'])" \
		"t(r, 0, 'Stage the volumes and the identity key to the NEW master key')['h3']['failed']" \
		"sorted(d['path'] for d in t(r, 0, 'Stage the volumes and the identity key to the NEW master key')['h3']['devices']) == ['$PWD/h3/img%d' % i for i in (1, 2, 3)]" \
		"[d['path'] for d in t(r, 0, 'Stage the volumes and the identity key to the NEW master key')['h3']['devices'] if d['result'] != 'ok'] == t(r, 0, 'Stage the volumes and the identity key to the NEW master key')['h3']['failed_devices'] != []" \
		"[x['host'] for x in json.loads(t(r, 1, 'Stop unless every volume of every host is staged')['h1']['msg'])] == ['h3']"
	test ! -e hsm-set.log || atf_fail "hsm set ran: $(cat hsm-set.log)"
	test "$(reg_mkvp NEW)" = "$NEW_MKVP" || atf_fail "NEW is $(reg_mkvp NEW), not $NEW_MKVP"
	test "$(reg_mkvp CURRENT)" = "$MK0" || atf_fail "CURRENT is $(reg_mkvp CURRENT), not $MK0"
	for h in h1 h2 h4 h5; do
		host_json "$h" "$h.list.json" "$REAL_SECUREKEY" list --json
		json_holds "$h.list.json" l "len(l) == 3" \
			"[(d['path'], d['next_step']) for d in l if d['next_step'] != 'hsm set'] == []"
	done
	play run2
	test "$PLAY_RC" = 0 || atf_fail "the second run failed ($PLAY_RC): $(cat run2.err; cat run2.json)"
	atf_check -s exit:0 -o inline:"$PWD/h1\n" -e empty cat hsm-set.log
	json_holds before-set/h3.list.json l "len(l) == 3" \
		"[(d['path'], d['next_step']) for d in l if d['next_step'] != 'hsm set'] == []"
	all_done
}
killed_host_resumed_cleanup()
{
	kms_cleanup
}

# ----------------------------------------------------- failing_host_reported

atf_test_case failing_host_reported cleanup
failing_host_reported_head()
{
	atf_set "descr" "a host whose key file holds a wrong passphrase stops the change before hsm set, named with its devices; after the fix the next run finishes"
	fleet_head
}
failing_host_reported_body()
{
	fleet_setup
	printf 'wrong horse battery' >h2/pass
	play run1
	test "$PLAY_RC" != 0 || atf_fail "the playbook did not fail: $(cat run1.json)"
	play_holds run1 "r['stats']['h2']['failures'] == 1 and r['stats']['h1']['failures'] == 1" \
		"all(r['stats'][h]['failures'] == 0 for h in ['h3', 'h4', 'h5'])" \
		"sorted(t(r, 0, 'Stage the volumes and the identity key to the NEW master key')['h2']['failed_devices']) == ['$PWD/h2/img%d' % i for i in (1, 2, 3)]" \
		"[x['host'] for x in json.loads(t(r, 1, 'Stop unless every volume of every host is staged')['h1']['msg'])] == ['h2']"
	test ! -e hsm-set.log || atf_fail "hsm set ran: $(cat hsm-set.log)"
	test "$(reg_mkvp CURRENT)" = "$MK0" || atf_fail "CURRENT is $(reg_mkvp CURRENT), not $MK0"
	cp -p pass h2/pass
	play run2
	test "$PLAY_RC" = 0 || atf_fail "the second run failed ($PLAY_RC): $(cat run2.err; cat run2.json)"
	atf_check -s exit:0 -o inline:"$PWD/h1\n" -e empty cat hsm-set.log
	all_done
}
failing_host_reported_cleanup()
{
	kms_cleanup
}

atf_test_case bench_smoke
bench_smoke_head()
{
	atf_set "descr" "bench/fleet runs end to end at 2 hosts x 2 devices (both sides finish every volume under the NEW master key) and prints its ratio"
	common_head ansible-playbook
}
bench_smoke_body()
{
	TMPDIR=$PWD atf_check -s exit:0 -o match:'^ratio playbook / sum of rotates: ' -e ignore \
		"$SK_SRCDIR/bench/fleet" "$SK_BUILDDIR" 2 2
}

atf_init_test_cases()
{
	atf_add_test_case rotate
	atf_add_test_case check_mode
	atf_add_test_case killed_host_resumed
	atf_add_test_case failing_host_reported
	atf_add_test_case bench_smoke
}

