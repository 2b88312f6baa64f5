# Helpers of the tests that use LUKS2 image files, the real cryptsetup with
# this build's plugin (./pcs) and securekey-cryptsetup; sourced after
# common.sh by tests/cli/t_cryptsetup.sh and tests/cli/t_kms.sh.

CR=$SK_BUILDDIR/cli/securekey-cryptsetup
if [ -n "${SECUREKEY_VALGRIND:-}" ]; then
	CR=$SECUREKEY_VALGRIND/securekey-cryptsetup
fi
PLUGIN_DIR=$SK_BUILDDIR/plugin/tokens

# cr ARGS...: run securekey-cryptsetup of this build.
cr()
{
	"$CR" "$@"
}

# common_head [PROG...]: what every test case needs, and PROGs.
common_head()
{
	atf_set "require.user" "root"
	atf_set "require.progs" "cryptsetup unshare mount truncate $*"
}

# setup: a passphrase file, an HSM with a CURRENT master key whose MKVP is in
# $MK0, and ./pcs, the real cryptsetup with this build's plugin. The soft
# HSM's key is the XOR of the key parts i1 and i2, so its MKVP is computed
# here independently; a PKCS#11 token generates its key inside.
setup()
{
	printf 'correct horse battery' >pass
	chmod 0600 pass
	if soft_backend; then
		make_part i1
		make_part i2
		atf_check -s exit:0 -o match:"from key parts" -e empty \
			"$SECUREKEY" hsm init --apqns "$APQNS" --part-file i1 --part-file i2
		MK0=$(mkvp_of_parts i1 i2)
	else
		p11_token
		atf_check -s exit:0 -o match:"\(random\)" -e empty \
			"$SECUREKEY" hsm init --apqns "$APQNS"
		MK0=$(reg_mkvp CURRENT)
	fi
	test "$(reg_mkvp CURRENT)" = "$MK0" || atf_fail "CURRENT is not MKVP $MK0"
	make_pcs
}

# make_pcs: write ./pcs. In a sanitizer build the plugin needs the ASan
# runtime loaded first, and libcryptsetup's own leaks are not ours. Under
# 'make check-valgrind' cryptsetup runs under valgrind (the vg wrapper).
make_pcs()
{
	_dir=$(cryptsetup --help | sed -n 's/^LUKS2 external token plugin path: \(.*\)\.$/\1/p')
	_asan=$(ldd "$PLUGIN_DIR/libcryptsetup-token-securekey.so" | awk '/libasan/ { print $3 }')
	cat >pcs <<EOF
#!/bin/sh
# cryptsetup with the plugin of $SK_BUILDDIR, in a private mount namespace.
exec unshare -m sh -c 'mount --bind "$PLUGIN_DIR" "${_dir:-/lib/x86_64-linux-gnu/cryptsetup}" &&
	exec env ${_asan:+LD_PRELOAD=$_asan ASAN_OPTIONS=\$ASAN_OPTIONS:detect_leaks=0} ${SECUREKEY_VALGRIND:+$SECUREKEY_VALGRIND/vg} cryptsetup "\$@"' pcs "\$@"
EOF
	chmod +x pcs
}

# mkimg NAME [luks1|luks2 [LUKSFORMAT-OPTION...]]: a small LUKS2 (or LUKS1)
# image file whose keyslot 0 opens with ./pass.
mkimg()
{
	_img=$1
	_type=${2:-luks2}
	shift
	[ $# -gt 0 ] && shift
	truncate -s 4M "$_img"
	if [ "$_type" = luks1 ]; then
		set -- --type luks1 "$@"
	else
		set -- --type luks2 --luks2-metadata-size 16k --luks2-keyslots-size 1M "$@"
	fi
	cryptsetup luksFormat "$@" --batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
		--key-file pass "$_img" >luksformat.log 2>&1 ||
		atf_fail "cryptsetup luksFormat $_img failed: $(cat luksformat.log)"
	rm -f luksformat.log
}

# enroll IMG [ARGS...]: enroll IMG with the passphrase; token 0, keyslot 1.
enroll()
{
	_img=$1
	shift
	atf_check -s exit:0 -e ignore \
		-o match:"^$_img: enrolled: securekey token 0, keyslot 1, secure key under the CURRENT master key of APQNs $APQNS\.\$" \
		"$CR" enroll "$_img" --apqns "$APQNS" --key-file pass "$@"
}

# load_new NAME: fill NEW, uncommitted, and leave its MKVP in $NEW_MKVP: two
# new key parts NAME-a and NAME-b on the soft HSM, a key generated inside
# the token on PKCS#11.
load_new()
{
	if soft_backend; then
		make_part "$1-a"
		make_part "$1-b"
		load_parts "$1-a" "$1-b"
		NEW_MKVP=$(mkvp_of_parts "$1-a" "$1-b")
	else
		atf_check -s exit:0 -o match:"NEW master key generated on APQNs $APQNS" -e empty \
			"$SECUREKEY" hsm generate-new --apqns "$APQNS"
		NEW_MKVP=$(reg_mkvp NEW)
	fi
	test "$(reg_mkvp NEW)" = "$NEW_MKVP" || atf_fail "NEW is not MKVP $NEW_MKVP"
}

# new_mk NAME: load_new NAME and commit; prints nothing.
new_mk()
{
	load_new "$1"
	atf_check -s exit:0 -o match:"NEW master key committed on APQNs $APQNS \(MKVP $NEW_MKVP\)" \
		-e empty "$SECUREKEY" hsm commit --apqns "$APQNS"
}

# set_new: the officer sets NEW; CURRENT becomes OLD. Forced: the cases of
# these tests leave volumes unstaged on purpose (t_list checks the interlock).
set_new()
{
	atf_check -s exit:0 -o match:"NEW master key set on APQNs $APQNS" -e ignore \
		"$SECUREKEY" hsm set --apqns "$APQNS" --force
}

# pass_opens IMG: the passphrase keyslot 0 still opens IMG.
pass_opens()
{
	atf_check -s exit:0 -o ignore -e ignore \
		cryptsetup open --test-passphrase --key-slot 0 --key-file pass "$1"
}

# token_unlocks IMG PATH: the real cryptsetup unlocks IMG by the securekey
# token alone, and the plugin says it took PATH ("secure key under the
# CURRENT master key", "staged secure key", ...); so does
# securekey-cryptsetup open. Neither writes the header.
token_unlocks()
{
	_sum=$(sha256sum "$1")
	atf_check -s exit:0 -e ignore \
		-o match:"^# securekey: unlocking with the $2" \
		-o match:"Trying to open keyslot [0-9]+ with token [0-9]+ \(type securekey\)" \
		./pcs open --debug --test-passphrase --token-only --token-type securekey "$1"
	atf_check -s exit:0 -o match:"^$1: unlocks by token \(keyslot 1\)\.\$" -e empty \
		"$CR" open "$1" --test-passphrase
	test "$(sha256sum "$1")" = "$_sum" || atf_fail "unlocking $1 by token changed it"
}

# token_fails IMG STDERR_REGEXP [CR_STDERR_REGEXP]: neither cryptsetup (whose
# stderr matches STDERR_REGEXP) nor securekey-cryptsetup (CR_STDERR_REGEXP,
# default the same) unlock IMG by token, and nothing changes.
token_fails()
{
	snap >.sk-snap.tf-before
	atf_check -s not-exit:0 -o ignore -e "${2:+match:}${2:-ignore}" \
		./pcs open --test-passphrase --token-only --token-type securekey "$1"
	snap >.sk-snap.tf-after
	if ! cmp -s .sk-snap.tf-before .sk-snap.tf-after; then
		diff -u .sk-snap.tf-before .sk-snap.tf-after >&2
		atf_fail "a failed token unlock changed the work directory"
	fi
	rm -f .sk-snap.tf-before .sk-snap.tf-after
	refused "${3:-$2}" "$CR" open "$1" --test-passphrase
}

# keyslots_of IMG: the numbers of IMG's keyslots, sorted, on one line.
keyslots_of()
{
	cryptsetup luksDump --dump-json-metadata "$1" |
		"$PYTHON" -c 'import json, sys; print(" ".join(sorted(json.load(sys.stdin)["keyslots"])))'
}

# snap: snapshot of the work directory (common.sh) without the lock
# directory (a write command opens its per-UUID lock file before it checks
# anything, and a lock file is not a change) and without the state of the
# test's KMS servers (t_kms.sh), which log every connection.
snap()
{
	snapshot . | grep -Ev ' \./(run|kms)(/| |$)'
}

# refused STDERR_REGEXP COMMAND...: COMMAND exits 1 (SK_EXIT), prints nothing
# on stdout, says STDERR_REGEXP on stderr (anything when empty) and changes
# no byte of the work directory: image files, header backups, HSM, key files.
refused()
{
	_re=$1
	shift
	snap >.sk-snap.before
	atf_check -s "exit:${SK_EXIT:-1}" -o empty -e "${_re:+match:}${_re:-ignore}" "$@"
	snap >.sk-snap.after
	if ! cmp -s .sk-snap.before .sk-snap.after; then
		diff -u .sk-snap.before .sk-snap.after >&2
		atf_fail "refused command changed the work directory: $*"
	fi
	rm -f .sk-snap.before .sk-snap.after
}

# json_holds FILE NAME PYTHON-EXPR...: every expression over the JSON in
# FILE, bound to NAME, holds.
json_holds()
{
	atf_check -s exit:0 -o inline:"ok\n" -e empty "$PYTHON" -c '
import json, sys
data = json.load(open(sys.argv[1]))
for expr in sys.argv[3:]:
    if not eval(expr, {sys.argv[2]: data}):
        sys.exit("%s: %s does not hold in\n%s" % (sys.argv[1], expr, json.dumps(data, indent=1)))
print("ok")
' "$@"
}

# vjson IMG PYTHON-EXPR...: 'validate IMG --json' exits 0 and every
# expression over its output (v) holds. With VEXIT=1 it exits 1, saying on
# stderr that the token cannot unlock IMG here (no register holds the master
# key of its keys), and prints the JSON all the same.
vjson()
{
	_img=$1
	shift
	if [ "${VEXIT:-0}" = 1 ]; then
		atf_check -s exit:1 -o save:validate.json \
			-e match:"^$_img: the secure key is enciphered with a master key that no register of APQNs .* holds: the token cannot unlock the device here\$" \
			"$CR" validate "$_img" --json
	else
		atf_check -s exit:0 -o save:validate.json -e empty "$CR" validate "$_img" --json
	fi
	json_holds validate.json v "$@"
}

# vstate IMG REGISTER STAGED_REGISTER|- NEXT_STEP: the state validate --json
# reports, every key that a register holds verified.
vstate()
{
	if [ "$3" = - ]; then
		_staged='v["staged"] is None'
	else
		_staged="v['staged']['register'] == '$3' and v['staged']['valid'] == ('$3' != 'none' or None)"
	fi
	# no key under a register: validate exits 1
	VEXIT=0
	[ "$2" = none ] && { [ "$3" = - ] || [ "$3" = none ]; } && VEXIT=1
	vjson "$1" "v['secure_key']['register'] == '$2'" \
		"v['secure_key']['valid'] == ('$2' != 'none' or None)" "$_staged" \
		"v['next_step'] == '$4'"
	VEXIT=0
}

# token_json IMG [ID]: the securekey token's JSON as cryptsetup exports it.
token_json()
{
	cryptsetup token export --token-id "${2:-0}" "$1"
}

# flip_key IMG [current|staged [OFFSET]]: one bit of the ciphertext of IMG's
# secure key (or of its staged one; or of the byte at OFFSET) flipped, as a damaged sector or a bad copy would; the
# token is put back as token 0 with its keyslot. The JSON still parses,
# only the HSM can tell.
flip_key()
{
	token_json "$1" | "$PYTHON" -c '
import base64, json, sys
t = json.load(sys.stdin)
k = t["staged"] if sys.argv[1] == "staged" else t
blob = bytearray(base64.b64decode(k["secure_key"]))
blob[int(sys.argv[2])] ^= 1
k["secure_key"] = base64.b64encode(bytes(blob)).decode()
print(json.dumps(t, separators=(",", ":")))' "${2:-current}" "${3:-40}" >"$1.flipped.json"
	atf_check -s exit:0 -o ignore -e ignore cryptsetup token remove --token-id 0 "$1"
	atf_check -s exit:0 -o ignore -e ignore cryptsetup token import --token-id 0 \
		--json-file "$1.flipped.json" "$1"
	rm -f "$1.flipped.json"
}

# vk_of IMG FILE: the volume key of IMG into FILE (via the passphrase).
vk_of()
{
	atf_check -s exit:0 -o ignore -e ignore cryptsetup luksDump --dump-volume-key \
		--volume-key-file "$2" --batch-mode --key-file pass "$1"
}

# derived_pass VKFILE OUT: the token keyslot's passphrase as doc/design.md
# defines it: hex of HKDF-SHA256(VK, info "securekey-keyslot"), 32 bytes.
derived_pass()
{
	"$PYTHON" -c '
import hashlib, hmac, sys
vk = open(sys.argv[1], "rb").read()
prk = hmac.new(bytes(32), vk, hashlib.sha256).digest()
okm = hmac.new(prk, b"securekey-keyslot\x01", hashlib.sha256).digest()
open(sys.argv[2], "w").write(okm.hex())
' "$1" "$2"
	chmod 0600 "$2"
}

# rotate_and_stage_workers IMG...: enroll the new images IMG..., then a NEW
# master key and 'securekey rotate' with two workers: every image under the
# new CURRENT, unlocking by token, OLD valid; then another NEW key staged by
# 'securekey reencipher --staged' with two workers. Both commands fork their
# workers: a backend whose module a forked child cannot use (tpm2-pkcs11)
# fails here.
rotate_and_stage_workers()
{
	for _img in "$@"; do
		mkimg "$_img"
		enroll "$_img"
	done
	new_mk n1
	atf_check -s exit:0 -o match:"$# devices: $# ok" -e ignore \
		"$SECUREKEY" rotate --apqns "$APQNS" --key-file pass --jobs 2
	for _img in "$@"; do
		vjson "$_img" "v['secure_key']['mkvp'] == '$NEW_MKVP'" "v['staged'] is None"
		token_unlocks "$_img" "secure key under the CURRENT master key"
	done
	atf_check -s exit:0 -e empty -o match:"OLD +valid" -x "'$SECUREKEY' hsm status | grep '^01.0001 '"
	_mk1=$NEW_MKVP
	new_mk n2
	atf_check -s exit:0 -o match:"$# devices: $# ok" -e ignore \
		"$SECUREKEY" reencipher --staged --key-file pass --jobs 2 "$@"
	for _img in "$@"; do
		vjson "$_img" "v['secure_key']['mkvp'] == '$_mk1'" "v['staged']['mkvp'] == '$NEW_MKVP'"
		token_unlocks "$_img" "secure key under the CURRENT master key"
	done
}
