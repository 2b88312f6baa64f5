#! @ATF_SH@
# securekey-cryptsetup and the token plugin on LUKS2 image files made by the
# real cryptsetup: the zkey-cryptsetup master-key change (seed 000 step 7),
# in-place re-encipher, refusals that leave every byte as it was, and the
# acceptance checks of issue 4 (a re-encipher changes only the token; no
# secret in any output).
#
# The real cryptsetup sees the plugin only in a private mount namespace in
# which this build's plugin directory is bind-mounted over libcryptsetup's
# (see ./pcs in devices.sh); nothing is installed. Hence root.

SK_BUILDDIR=@abs_top_builddir@
. @abs_top_srcdir@/tests/cli/common.sh

. @abs_top_srcdir@/tests/cli/devices.sh

# verror_json STDERR_REGEXP DEVICE [ARG...]: 'validate DEVICE --json' fails
# as 'refused' checks it (exit 1, STDERR_REGEXP on stderr, no byte of the
# work directory changed) but prints one JSON object all the same: the
# device as given and, as "error", the first line of stderr.
verror_json()
{
	_re=$1
	_dev=$2
	shift 2
	snap >.sk-snap.before
	# .sk-snap.*: left out of the snapshots
	atf_check -s exit:1 -o save:.sk-snap.vout -e save:.sk-snap.verr \
		"$CR" validate "$_dev" --json "$@"
	grep -Eq -- "$_re" .sk-snap.verr || atf_fail "validate $_dev --json: stderr does not match $_re: $(cat .sk-snap.verr)"
	json_holds .sk-snap.vout v "sorted(v) == ['device', 'error']" "v['device'] == '$_dev'" \
		"v['error'] == open('.sk-snap.verr').read().splitlines()[0]"
	snap >.sk-snap.after
	if ! cmp -s .sk-snap.before .sk-snap.after; then
		diff -u .sk-snap.before .sk-snap.after >&2
		atf_fail "validate --json changed the work directory"
	fi
	rm -f .sk-snap.before .sk-snap.after .sk-snap.vout .sk-snap.verr
}

# ---------------------------------------------------------------- usage

atf_test_case help
help_head()
{
	common_head
	atf_set "descr" "--help of the tool and of each command exits 0; usage errors exit 2 and change nothing"
}
help_body()
{
	atf_check -s exit:0 -o match:"^Usage: securekey-cryptsetup COMMAND ARGUMENTS" \
		-o match:"^  reencipher " -e empty "$CR" --help
	atf_check -s exit:0 -o match:"^securekey-cryptsetup [0-9]+\.[0-9]+" -e empty "$CR" --version
	# The passphrase options are in the help of the commands that take
	# them, and only there.
	for cmd in enroll reencipher setkey remove; do
		atf_check -s exit:0 -o match:"^Usage: securekey-cryptsetup $cmd" \
			-o match:"--key-file F" -o match:"--tries N" -o not-match:"--json" \
			-e empty "$CR" "$cmd" --help
	done
	for cmd in validate export refresh open; do
		atf_check -s exit:0 -o match:"^Usage: securekey-cryptsetup $cmd" \
			-o not-match:"--key-file|--tries|--batch-mode" -e empty "$CR" "$cmd" --help
	done
	setup
	mkimg img
	enroll img
	SK_EXIT=2
	refused "unknown command 'frobnicate'" "$CR" frobnicate img
	refused "expected DEVICE" "$CR" validate
	refused "expected DEVICE" "$CR" validate img extra
	refused "enroll: --apqns is required" "$CR" enroll img --key-file pass
	refused "export: --out FILE is required" "$CR" export img
	refused "open: expected DEVICE and NAME" "$CR" open img
	refused "not a valid number" "$CR" reencipher img --key-file pass --keyfile-size x
	refused "not a valid number" "$CR" reencipher img --tries 0
	refused "unrecognized option|invalid option" "$CR" validate img --frobnicate
	refused "unrecognized option|invalid option" "$CR" validate img --key-file pass
	refused "unrecognized option|invalid option" "$CR" open img --test-passphrase --tries 2
	refused "unrecognized option|invalid option" "$CR" enroll img --apqns "$APQNS" --key-file pass --json
	# The usage error wins over a missing device.
	refused "expected DEVICE" "$CR" reencipher
	atf_check -s exit:2 -o match:"^Usage: securekey-cryptsetup" "$CR"
}

# ------------------------------------------------------- the zkey flow

atf_test_case zkey_flow
zkey_flow_head()
{
	common_head
	atf_set "descr" "seed 000 step 7 with the automatic step: enroll, NEW loaded and committed," \
		"reencipher (staged), hsm set, reencipher (complete); the real cryptsetup unlocks" \
		"by token all along and the passphrase keyslot still opens"
}
zkey_flow_body()
{
	setup
	mk0=$MK0
	mkimg img
	uuid=$(cryptsetup luksUUID img)
	enroll img
	vstate img CURRENT - none
	vjson img "v['device'] == 'img'" "v['uuid'] == '$uuid'" "v['token'] == 0" \
		"v['keyslot'] == 1" "v['key_type'] == 'aes-xts-512'" \
		"v['apqns'] == ['01.0001', '02.0001']" "v['secure_key']['mkvp'] == '$mk0'" \
		"v['kms'] is None" \
		"sorted(v) == ['apqns', 'device', 'key_type', 'keyslot', 'kms', 'next_step', 'secure_key', 'staged', 'token', 'uuid']"
	pass_opens img
	token_unlocks img "secure key under the CURRENT master key"

	# NEW loaded but not committed: the missing step is named, exit 1.
	load_new n1
	mk1=$NEW_MKVP
	vstate img CURRENT - "hsm commit"
	for step in "" --staged --to-new; do
		refused "^img: a NEW master key is loaded on APQNs $APQNS but not committed; run 'securekey hsm commit --apqns $APQNS' first" \
			"$CR" reencipher img $step --key-file pass
	done
	atf_check -s exit:0 -o ignore -e empty "$SECUREKEY" hsm commit --apqns "$APQNS"
	vstate img CURRENT - "reencipher --staged"

	# Step 3: the automatic step is --staged.
	atf_check -s exit:0 -e empty \
		-o match:"^The secure volume key of img is enciphered with the CURRENT master key and was\$" \
		-o match:"^re-enciphered with the NEW master key \(MKVP $mk1\), kept as staged\.\$" \
		-o match:"^'securekey-cryptsetup reencipher img --complete'\.\$" \
		"$CR" reencipher img --key-file pass
	vstate img CURRENT NEW "hsm set"
	vjson img "v['secure_key']['mkvp'] == '$mk0'" "v['staged']['mkvp'] == '$mk1'"
	pass_opens img
	token_unlocks img "secure key under the CURRENT master key"
	# Staged again before the set: refused, with the next step.
	refused "already staged to the NEW master key; set it with 'securekey hsm set', then run 'securekey-cryptsetup reencipher img --complete'" \
		"$CR" reencipher img --key-file pass

	# Step 4: the officer sets NEW; the disk unlocks through its staged key.
	set_new
	vstate img OLD CURRENT "reencipher --complete"
	token_unlocks img "staged secure key \(NEW master key was set\)"
	pass_opens img

	# Step 7: complete (the automatic step now).
	atf_check -s exit:0 -e empty \
		-o match:"^The re-enciphering of the secure volume key of img is completed: it is enciphered with the CURRENT master key \(MKVP $mk1\)\.\$" \
		"$CR" reencipher img --key-file pass
	vstate img CURRENT - none
	vjson img "v['secure_key']['mkvp'] == '$mk1'"
	token_unlocks img "secure key under the CURRENT master key"
	pass_opens img
	atf_check -s exit:0 -e empty -o match:"nothing to re-encipher" \
		"$CR" reencipher img --key-file pass
	# Every write left a header backup (0600; enroll's keyslot and token, staged,
	# completed); the last 5 are kept.
	test "$(find state/backup/"$uuid" -name '*.hdr' -perm 0600 | wc -l)" -eq 4 ||
		atf_fail "expected 4 header backups: $(ls -l state/backup/"$uuid")"
}

atf_test_case zkey_flow_explicit
zkey_flow_explicit_head()
{
	common_head
	atf_set "descr" "the flow with explicit --staged and --complete; a step that does not fit" \
		"the state is refused with the next step and changes nothing"
}
zkey_flow_explicit_body()
{
	setup
	mkimg img
	enroll img
	refused "cannot re-encipher img --staged: its next step is 'none'" \
		"$CR" reencipher img --staged --key-file pass
	refused "cannot re-encipher img --complete: its next step is 'none'" \
		"$CR" reencipher img --complete --key-file pass
	refused "cannot re-encipher img --in-place: its next step is 'none'" \
		"$CR" reencipher img --in-place --key-file pass
	new_mk n1
	refused "cannot re-encipher img --complete: its next step is 'reencipher --staged'" \
		"$CR" reencipher img --complete --key-file pass
	refused "cannot re-encipher img --in-place: its next step is 'reencipher --staged'" \
		"$CR" reencipher img --in-place --key-file pass
	atf_check -s exit:0 -e empty -o match:"kept as staged" \
		"$CR" reencipher img --staged --key-file pass
	vstate img CURRENT NEW "hsm set"
	refused "already staged to the NEW master key" "$CR" reencipher img --staged --key-file pass
	refused "already staged to the NEW master key" "$CR" reencipher img --complete --key-file pass
	token_unlocks img "secure key under the CURRENT master key"
	set_new
	refused "cannot re-encipher img --staged: its next step is 'reencipher --complete'" \
		"$CR" reencipher img --staged --key-file pass
	refused "cannot re-encipher img --in-place: its next step is 'reencipher --complete'" \
		"$CR" reencipher img --in-place --key-file pass
	token_unlocks img "staged secure key"
	atf_check -s exit:0 -e empty -o match:"is completed: .*MKVP $NEW_MKVP" \
		"$CR" reencipher img --complete --key-file pass
	vstate img CURRENT - none
	token_unlocks img "secure key under the CURRENT master key"
	pass_opens img
	refused "cannot re-encipher img --complete: its next step is 'none'" \
		"$CR" reencipher img --complete --key-file pass

	# A second change on the same disk, explicit again.
	new_mk n2
	atf_check -s exit:0 -e empty -o match:"MKVP $NEW_MKVP\), kept as staged" \
		"$CR" reencipher img --staged --key-file pass
	set_new
	atf_check -s exit:0 -e empty -o match:"is completed" \
		"$CR" reencipher img --complete --key-file pass
	vjson img "v['secure_key']['mkvp'] == '$NEW_MKVP'" "v['next_step'] == 'none'"
	token_unlocks img "secure key under the CURRENT master key"
	pass_opens img
}

atf_test_case in_place
in_place_head()
{
	common_head
	atf_set "descr" "NEW set without staging: the key is under OLD, still unlocks, and" \
		"reencipher --in-place (or the automatic step) moves it to CURRENT"
}
in_place_body()
{
	setup
	mk0=$MK0
	mkimg a.img
	mkimg b.img
	enroll a.img
	enroll b.img
	new_mk n1
	set_new
	for img in a.img b.img; do
		vstate "$img" OLD - "reencipher --in-place"
		vjson "$img" "v['secure_key']['mkvp'] == '$mk0'"
		token_unlocks "$img" "secure key under the OLD master key"
		refused "cannot re-encipher $img --staged: its next step is 'reencipher --in-place'" \
			"$CR" reencipher "$img" --staged --key-file pass
		refused "cannot re-encipher $img --complete: its next step is 'reencipher --in-place'" \
			"$CR" reencipher "$img" --complete --key-file pass
	done
	atf_check -s exit:0 -e empty \
		-o match:"^The secure volume key of a.img was re-enciphered in place from the OLD to the CURRENT master key \(MKVP $NEW_MKVP\)\.\$" \
		"$CR" reencipher a.img --in-place --key-file pass
	atf_check -s exit:0 -e empty -o match:"re-enciphered in place from the OLD to the CURRENT" \
		"$CR" reencipher b.img --key-file pass
	for img in a.img b.img; do
		vstate "$img" CURRENT - none
		vjson "$img" "v['secure_key']['mkvp'] == '$NEW_MKVP'"
		token_unlocks "$img" "secure key under the CURRENT master key"
		pass_opens "$img"
	done
}

atf_test_case no_register
no_register_head()
{
	common_head
	atf_set "descr" "two master-key changes without re-encipher: the key is under no register;" \
		"validate says so, every re-encipher is refused with advice (refresh, setkey), nothing changes"
}
no_register_body()
{
	setup
	mkimg img
	enroll img
	new_mk n1
	set_new
	new_mk n2
	set_new
	vstate img none - "setkey"
	# the token cannot unlock here: validate says so and exits 1
	atf_check -s exit:1 -e match:"^img: .*: the token cannot unlock the device here\$" \
		-o match:"^Secure key: +MKVP [0-9a-f]{16}, under no master key register\$" \
		-o match:"^Next step: +setkey\$" "$CR" validate img
	# enrolled without --kms: refresh does not apply, list says so too
	atf_check -s exit:0 -e empty -o match:"^[-0-9a-f]{36} +none +no +- +setkey +img " \
		"$SECUREKEY" list img
	advice="in no register of its APQNs and the volume is not bound to a KMS; restore it with 'securekey-cryptsetup setkey img' \(add --secure-key-file FILE for an exported key\)\$"
	refused "$advice" "$CR" reencipher img --key-file pass
	for step in --staged --in-place --complete; do
		refused "$advice" "$CR" reencipher img $step --key-file pass
	done
	# Also before any passphrase is asked: no key file at all.
	refused "$advice" "$CR" reencipher img
	token_fails img "securekey: .*img: the secure key is enciphered with a master key in no register"
	pass_opens img
}

# ------------------------------------------------------------ the gate

atf_test_case wrong_passphrase
wrong_passphrase_head()
{
	common_head setsid
	atf_set "descr" "a wrong passphrase, key file, key-file offset or size, a missing or empty" \
		"key file, no terminal, or the token's own keyslot passphrase are refused; nothing changes"
}
wrong_passphrase_body()
{
	setup
	mkimg img
	mkimg fresh
	printf 'wrong horse battery' >wrong
	: >empty
	printf 'XXXXcorrect horse battery' >offset
	printf 'correct horse battery staple' >longer
	chmod 0600 wrong empty offset longer
	enroll img
	vk_of img vk.bin
	derived_pass vk.bin tokpass
	# The derivation is the one in doc/design.md: the token's keyslot opens with it.
	atf_check -s exit:0 -o ignore -e ignore \
		cryptsetup open --test-passphrase --key-slot 1 --key-file tokpass img
	new_mk n1

	for cmd in "reencipher img" "reencipher img --staged" "setkey img" "remove img" \
		"enroll fresh --apqns $APQNS"; do
		dev=${cmd#* }
		dev=${dev%% *}
		refused "no keyslot of $dev opens with this passphrase" $CR $cmd --key-file wrong
		refused "no keyslot of $dev opens with this passphrase" \
			$CR $cmd --key-file offset
		refused "no keyslot of $dev opens with this passphrase" \
			$CR $cmd --key-file pass --keyfile-size 7
		refused "no keyslot of $dev opens with this passphrase" \
			$CR $cmd --key-file pass --keyfile-offset 1
		refused "no keyslot of $dev opens with this passphrase" $CR $cmd --key-file longer
		refused "cannot open key file missing: No such file or directory" \
			$CR $cmd --key-file missing
		refused "key file empty is empty" $CR $cmd --key-file empty
		refused "no terminal to ask for the passphrase of $dev; use --key-file" \
			setsid -w $CR $cmd
	done
	for cmd in "reencipher img" "setkey img" "remove img"; do
		refused "img: that is the securekey token's own keyslot; give the passphrase of a passphrase keyslot" \
			$CR $cmd --key-file tokpass
	done
	refused "no keyslot of img opens with this passphrase" \
		sh -c "\"$CR\" reencipher img --key-file - <wrong"
	vstate img CURRENT - "reencipher --staged"

	# The right one, through an offset, a size and stdin.
	atf_check -s exit:0 -e empty -o match:"kept as staged" \
		"$CR" reencipher img --key-file offset --keyfile-offset 4
	set_new
	atf_check -s exit:0 -e empty -o match:"is completed" \
		"$CR" reencipher img --key-file longer --keyfile-size 21
	new_mk n2
	atf_check -s exit:0 -e empty -o match:"kept as staged" \
		sh -c "\"$CR\" reencipher img --key-file - <pass"
	pass_opens img
	pass_opens fresh
}

# ------------------------------------------------------------ validate

atf_test_case validate_states
validate_states_head()
{
	common_head
	atf_set "descr" "validate (text and --json) in each state: enrolled, NEW committed, staged," \
		"set, completed, under OLD, under no register; changes nothing; no passphrase"
}
validate_states_body()
{
	setup
	mk0=$MK0
	mkimg img
	enroll img
	text()
	{
		_where="under the $2 master key"
		_exit="-s exit:0 -e empty"
		if [ "$2" = none ]; then
			_where="under no master key register"
			_exit="-s exit:1 -e match:^img:.*cannot.unlock.the.device.here"
		fi
		snap >.sk-snap.v-before
		# $_exit unquoted: its words are atf_check options
		atf_check $_exit -o match:"^Device: +img\$" \
			-o match:"^UUID: +$(cryptsetup luksUUID img)\$" \
			-o match:"^Token: +0 \(keyslot 1\)\$" -o match:"^Key type: +aes-xts-512\$" \
			-o match:"^APQNs: +$APQNS\$" -o match:"^KMS: +none\$" \
			-o match:"^Secure key: +MKVP $1, $_where$3\$" \
			-o match:"^Next step: +$4\$" -o "$5" "$CR" validate img
		snap >.sk-snap.v-after
		cmp -s .sk-snap.v-before .sk-snap.v-after || atf_fail "validate changed the work directory"
	}
	text "$mk0" CURRENT ", verified" none "not-match:^Staged key:"
	new_mk n1
	mk1=$NEW_MKVP
	text "$mk0" CURRENT ", verified" "reencipher --staged" "not-match:^Staged key:"
	vjson img "v['staged'] is None" "v['next_step'] == 'reencipher --staged'"
	cr reencipher img --staged --key-file pass >/dev/null || atf_fail "staged re-encipher failed"
	text "$mk0" CURRENT ", verified" "hsm set" \
		"match:^Staged key: +MKVP $mk1, under the NEW master key, verified\$"
	vjson img "v['staged'] == {'mkvp': '$mk1', 'register': 'NEW', 'valid': True}" \
		"v['secure_key'] == {'mkvp': '$mk0', 'register': 'CURRENT', 'valid': True}"
	set_new
	text "$mk0" OLD ", verified" "reencipher --complete" \
		"match:^Staged key: +MKVP $mk1, under the CURRENT master key, verified\$"
	vjson img "v['staged'] == {'mkvp': '$mk1', 'register': 'CURRENT', 'valid': True}" \
		"v['secure_key'] == {'mkvp': '$mk0', 'register': 'OLD', 'valid': True}" \
		"v['next_step'] == 'reencipher --complete'"
	cr reencipher img --complete --key-file pass >/dev/null || atf_fail "complete failed"
	text "$mk1" CURRENT ", verified" none "not-match:^Staged key:"
	new_mk n2
	set_new
	text "$mk1" OLD ", verified" "reencipher --in-place" "not-match:^Staged key:"
	new_mk n3
	set_new
	text "$mk1" none "" "setkey" "not-match:^Staged key:"
	VEXIT=1 # the key cannot unlock here: validate exits 1, the JSON all the same
	vjson img "v['secure_key'] == {'mkvp': '$mk1', 'register': 'none', 'valid': None}"
	VEXIT=0
	# A staged key whose NEW was cleared instead of set is under no register.
	cr setkey img --key-file pass >/dev/null || atf_fail "setkey failed"
	new_mk n4
	cr reencipher img --key-file pass >/dev/null || atf_fail "staged re-encipher failed"
	atf_check -s exit:0 -o ignore -e empty "$SECUREKEY" hsm clear-new --apqns "$APQNS"
	vjson img "v['staged']['register'] == 'none'" "v['staged']['valid'] is None" \
		"v['secure_key']['register'] == 'CURRENT'" "v['next_step'] == 'none'"
}

atf_test_case read_only
read_only_head()
{
	common_head
	atf_set "descr" "an image on a read-only mount: validate, export and open --test-passphrase" \
		"work; reencipher, setkey and remove are refused and the image keeps every byte"
}
read_only_body()
{
	setup
	mkdir ro
	mkimg ro/img
	enroll ro/img
	new_mk n1
	sum=$(sha256sum ro/img)
	# chmod 0444 does not stop root, so the image sits on a read-only bind
	# mount in a private mount namespace.
	cat >ro.sh <<EOF
mount --bind ro ro && mount -o remount,bind,ro ro || exit 99
set -x
"$CR" validate ro/img --json >validate.json || exit 10
"$CR" export ro/img --out exported.skey || exit 11
"$CR" open ro/img --test-passphrase || exit 12
"$CR" reencipher ro/img --key-file pass 2>reencipher.err && exit 13
"$CR" setkey ro/img --key-file pass 2>setkey.err && exit 14
"$CR" remove ro/img --key-file pass 2>remove.err && exit 15
exit 0
EOF
	atf_check -s exit:0 -o ignore -e ignore unshare -m sh ro.sh
	test "$(sha256sum ro/img)" = "$sum" || atf_fail "the read-only image changed"
	for f in reencipher setkey remove; do
		grep -q "ro/img: Read-only file system" $f.err || atf_fail "$f: $(cat $f.err)"
	done
	atf_check -s exit:0 -o inline:"ok\n" "$PYTHON" -c '
import json
v = json.load(open("validate.json"))
assert v["device"] == "ro/img" and v["next_step"] == "reencipher --staged", v
print("ok")'
	test -s exported.skey || atf_fail "export from a read-only image wrote nothing"
}

# ---------------------------------------------------- setkey and export

atf_test_case setkey_export
setkey_export_head()
{
	common_head
	atf_set "descr" "export, then setkey: from a blob under no register refused, from the" \
		"passphrase and from a current export restored; a blob of another device or" \
		"an altered blob refused"
}
setkey_export_body()
{
	setup
	mk0=$MK0
	mkimg img
	mkimg other
	enroll img
	enroll other
	atf_check -s exit:0 -e empty \
		-o match:"^Secure key of img written to old.skey \(MKVP $mk0\)\.\$" \
		"$CR" export img --out old.skey
	test "$(stat -c %a old.skey)" = 600 || atf_fail "export wrote mode $(stat -c %a old.skey)"
	test "$(blob_mkvp old.skey)" = "$mk0" || atf_fail "old.skey is not under $mk0"
	cmp -s old.skey "$(token_json img | "$PYTHON" -c '
import base64, json, sys
open("token.bin", "wb").write(base64.b64decode(json.load(sys.stdin)["secure_key"]))
print("token.bin")')" || atf_fail "the export is not the token's blob"
	refused "old.skey" "$CR" export img --out old.skey
	refused "img has no staged secure key" "$CR" export img --out staged.skey --staged
	atf_check -s exit:0 -o ignore -e empty "$CR" export other --out other.skey

	# setkey from its own current export: the same key again.
	atf_check -s exit:0 -e empty -o match:"^The secure key of img was set \(MKVP $mk0\)\.\$" \
		"$CR" setkey img --secure-key-file old.skey --key-file pass
	vstate img CURRENT - none
	# Another device's blob, a flipped byte, a truncated blob, a missing file.
	refused "other.skey does not hold the volume key of img; nothing was changed" \
		"$CR" setkey img --secure-key-file other.skey --key-file pass
	"$PYTHON" -c '
b = bytearray(open("old.skey", "rb").read())
b[40] ^= 1
open("flipped.skey", "wb").write(bytes(b))
open("short.skey", "wb").write(bytes(b[:50]))'
	refused "altered or enciphered with another key" \
		"$CR" setkey img --secure-key-file flipped.skey --key-file pass
	refused "corrupt" "$CR" setkey img --secure-key-file short.skey --key-file pass
	refused "missing.skey" "$CR" setkey img --secure-key-file missing.skey --key-file pass
	# The blob is checked against the passphrase's volume key, after the gate.
	printf 'wrong' >wrong
	refused "no keyslot of img opens" "$CR" setkey img --secure-key-file old.skey --key-file wrong

	# Two master-key changes later the old export is under no register.
	new_mk n1
	set_new
	new_mk n2
	set_new
	vstate img none - "setkey"
	token_fails img "in no register"
	refused "MKVP $mk0" "$CR" setkey img --secure-key-file old.skey --key-file pass
	refused "setkey img" "$CR" reencipher img --key-file pass
	# setkey from the passphrase: the VK wrapped anew under CURRENT.
	mk2=$NEW_MKVP
	atf_check -s exit:0 -e empty -o match:"^The secure key of img was set \(MKVP $mk2\)\.\$" \
		"$CR" setkey img --key-file pass
	vstate img CURRENT - none
	token_unlocks img "secure key under the CURRENT master key"
	pass_opens img
	atf_check -s exit:0 -o ignore -e empty "$CR" export img --out cur.skey

	# A staged export, restored once its master key is CURRENT; it drops
	# nothing but the stale staged key.
	new_mk n3
	mk3=$NEW_MKVP
	cr reencipher img --key-file pass >/dev/null || atf_fail "staged re-encipher failed"
	atf_check -s exit:0 -e empty -o match:"written to staged.skey \(MKVP $mk3\)" \
		"$CR" export img --out staged.skey --staged
	set_new
	atf_check -s exit:0 -e empty -o match:"was set \(MKVP $mk3\)" \
		"$CR" setkey img --secure-key-file staged.skey --key-file pass
	vstate img CURRENT - none
	# An export under OLD is accepted too; the next step is then in place.
	atf_check -s exit:0 -e empty -o match:"was set \(MKVP $mk2\)" \
		"$CR" setkey img --secure-key-file cur.skey --key-file pass
	vstate img OLD - "reencipher --in-place"
	token_unlocks img "secure key under the OLD master key"
	atf_check -s exit:0 -e empty -o match:"in place" "$CR" reencipher img --key-file pass
	# The other device's current export is still not this device's key.
	atf_check -s exit:0 -e empty -o ignore "$CR" setkey other --key-file pass
	token_unlocks other "secure key under the CURRENT master key"
	atf_check -s exit:0 -o ignore -e empty "$CR" export other --out other2.skey
	refused "other2.skey does not hold the volume key of img" \
		"$CR" setkey img --secure-key-file other2.skey --key-file pass

	# Staged, set, and set again before completing: the staged key is under
	# OLD and the current one under none. The plugin unlocks with the staged
	# key, and the in-place re-encipher starts from it (the gate too).
	new_mk n4
	cr reencipher img --key-file pass >/dev/null || atf_fail "staged re-encipher failed"
	set_new
	new_mk n5
	set_new
	vstate img none OLD "reencipher --in-place"
	token_unlocks img "staged secure key under the OLD master key"
	refused "no keyslot of img opens" "$CR" reencipher img --key-file wrong
	atf_check -s exit:0 -e empty \
		-o match:"re-enciphered in place from the OLD to the CURRENT master key \(MKVP $NEW_MKVP\)" \
		"$CR" reencipher img --key-file pass
	vstate img CURRENT - none
	token_unlocks img "secure key under the CURRENT master key"
	pass_opens img
	pass_opens other
}

# ------------------------------------------- devices securekey refuses

atf_test_case validate_json_no_token
validate_json_no_token_head()
{
	common_head
	atf_set "descr" "validate --json of a LUKS2 device without a securekey token: one JSON" \
		"object (token null, next step enroll), exit 1 and the one line on stderr as without" \
		"--json; nothing changes"
}
validate_json_no_token_body()
{
	setup
	mkimg img
	snap >.sk-snap.v-before
	atf_check -s exit:1 -o save:validate.json \
		-e inline:"img has no securekey token; enroll it with 'securekey-cryptsetup enroll img'\n" \
		"$CR" validate img --json
	json_holds validate.json v "v == {'device': 'img', 'uuid': '$(cryptsetup luksUUID img)', 'token': None, 'next_step': 'enroll'}"
	rm validate.json
	snap >.sk-snap.v-after
	cmp -s .sk-snap.v-before .sk-snap.v-after || atf_fail "validate changed the work directory"
	# Without --json: the same line, nothing on stdout.
	refused "^img has no securekey token; enroll it with 'securekey-cryptsetup enroll img'\$" \
		"$CR" validate img
	enroll img
	vjson img "v['token'] == 0" "v['next_step'] == 'none'"
}

atf_test_case not_luks2
not_luks2_head()
{
	common_head
	atf_set "descr" "a LUKS1 image, a non-LUKS file, a missing file, a directory: every command" \
		"refused with one clear line, nothing created or changed"
}
not_luks2_body()
{
	setup
	mkimg luks1.img luks1
	truncate -s 4M plain.img
	mkdir adir
	for cmd in "enroll @ --apqns $APQNS --key-file pass" "reencipher @ --key-file pass" "validate @" \
		"setkey @ --key-file pass" "export @ --out x.skey" \
		"remove @ --key-file pass" "open @ --test-passphrase"; do
		set -- $(echo "$cmd" | sed 's/@/luks1.img/')
		refused "^luks1\.img is a LUKS1 device; securekey needs LUKS2 \('cryptsetup convert --type luks2'\)\$" \
			"$CR" "$@"
		set -- $(echo "$cmd" | sed 's/@/plain.img/')
		refused "^plain\.img is not a LUKS device \(or its header is damaged\)\$" \
			"$CR" "$@"
		set -- $(echo "$cmd" | sed 's/@/missing.img/')
		refused "^cannot open missing\.img: No such file or directory\$" \
			"$CR" "$@"
		set -- $(echo "$cmd" | sed 's/@/adir/')
		refused "^adir is neither a block device nor an image file\$" "$CR" "$@"
	done
	# validate --json says the same in its one JSON object.
	verror_json "^luks1\.img is a LUKS1 device; securekey needs LUKS2" luks1.img
	verror_json "^plain\.img is not a LUKS device \(or its header is damaged\)\$" plain.img
	verror_json "^cannot open missing\.img: No such file or directory\$" missing.img
	verror_json "^adir is neither a block device nor an image file\$" adir
	# One line each, nothing from libcryptsetup around it.
	atf_check -s exit:1 -o empty -e inline:"luks1.img is a LUKS1 device; securekey needs LUKS2 ('cryptsetup convert --type luks2')\n" \
		"$CR" reencipher luks1.img --key-file pass
	atf_check -s exit:1 -o empty -e inline:"plain.img is not a LUKS device (or its header is damaged)\n" \
		"$CR" reencipher plain.img --key-file pass
	atf_check -s exit:1 -o empty -e inline:"cannot open missing.img: No such file or directory\n" \
		"$CR" reencipher missing.img --key-file pass
	atf_check -s exit:1 -o empty -e inline:"adir is neither a block device nor an image file\n" \
		"$CR" reencipher adir --key-file pass
	test ! -e x.skey || atf_fail "a refused export wrote x.skey"
	test ! -e state || atf_fail "a refused command created the state directory"
	pass_opens luks1.img
}

atf_test_case foreign_tokens
foreign_tokens_head()
{
	common_head
	atf_set "descr" "a zkey-style and a systemd-style token beside ours: enroll takes a free" \
		"token id, every command and the plugin use only ours, the others stay byte-identical"
}
foreign_tokens_body()
{
	setup
	mkimg img
	printf '%s' '{"type":"zkey","keyslots":["0"],"key":"AAAA","apqns":["01.0001"]}' >zkey.json
	printf '%s' '{"type":"systemd-tpm2","keyslots":["0"],"tpm2-blob":"AAAA","tpm2-pcrs":[7]}' >sd.json
	atf_check -s exit:0 -o ignore -e ignore cryptsetup token import --token-id 0 img --json-file zkey.json
	# The host's systemd plugin would check the token; it is a dummy.
	atf_check -s exit:0 -o ignore -e ignore cryptsetup token import --token-id 2 img \
		--json-file sd.json --disable-external-tokens
	refused "img has no securekey token; enroll it with 'securekey-cryptsetup enroll img'" \
		"$CR" validate img
	refused "img has no securekey token" "$CR" reencipher img --key-file pass
	atf_check -s exit:0 -e ignore \
		-o match:"^img: enrolled: securekey token 1, keyslot 1, " \
		"$CR" enroll img --apqns "$APQNS" --key-file pass
	vjson img "v['token'] == 1" "v['keyslot'] == 1" "v['next_step'] == 'none'"
	new_mk n1
	atf_check -s exit:0 -e empty -o match:"kept as staged" "$CR" reencipher img --key-file pass
	set_new
	atf_check -s exit:0 -o match:"Trying to open keyslot 1 with token 1 \(type securekey\)" \
		-o match:"unlocking with the staged secure key" -e ignore \
		./pcs open --debug --test-passphrase --token-only img
	atf_check -s exit:0 -e empty -o match:"is completed" "$CR" reencipher img --key-file pass
	atf_check -s exit:0 -o match:"^img: unlocks by token \(keyslot 1\)" -e empty \
		"$CR" open img --test-passphrase
	# The foreign tokens are as they were imported.
	atf_check -s exit:0 -o file:zkey.json -e empty cryptsetup token export --token-id 0 img
	atf_check -s exit:0 -o file:sd.json -e empty cryptsetup token export --token-id 2 img
	atf_check -s exit:0 -o match:"^  0: zkey\$" -o match:"^  1: securekey\$" \
		-o match:"^  2: systemd-tpm2\$" -e ignore ./pcs luksDump img
	atf_check -s exit:0 -o match:"securekey token and keyslot 1 removed" -e empty \
		"$CR" remove img --key-file pass
	atf_check -s exit:0 -o file:zkey.json -e empty cryptsetup token export --token-id 0 img
	atf_check -s exit:0 -o file:sd.json -e empty cryptsetup token export --token-id 2 img
	pass_opens img
}

atf_test_case two_tokens
two_tokens_head()
{
	common_head
	atf_set "descr" "a second securekey token (a copy imported as token 5): every command is" \
		"refused naming both, nothing changes"
}
two_tokens_body()
{
	setup
	mkimg img
	enroll img
	token_json img >t0.json
	atf_check -s exit:0 -o ignore -e ignore cryptsetup token import --token-id 5 img --json-file t0.json
	msg="img has two securekey tokens \(0 and 5\); remove one with 'cryptsetup token remove --token-id N'"
	refused "$msg" "$CR" validate img
	verror_json "$msg" img
	refused "$msg" "$CR" reencipher img --key-file pass
	refused "$msg" "$CR" setkey img --key-file pass
	refused "$msg" "$CR" export img --out x.skey
	refused "$msg" "$CR" remove img --key-file pass
	refused "$msg" "$CR" open img --test-passphrase
	refused "$msg" "$CR" enroll img --apqns "$APQNS" --key-file pass
	atf_check -s exit:0 -o ignore -e ignore cryptsetup token remove --token-id 5 img
	vstate img CURRENT - none
	pass_opens img
}

atf_test_case missing_keyslot
missing_keyslot_head()
{
	common_head
	atf_set "descr" "a token naming a keyslot that does not exist cannot be imported; a token" \
		"whose keyslot was killed, or that names a passphrase keyslot, is reported with" \
		"advice and refused; re-enrolling repairs it"
}
missing_keyslot_body()
{
	setup
	mkimg img
	enroll img
	token_json img >t0.json
	sed 's/"keyslots":\["1"\]/"keyslots":["7"]/' t0.json >t7.json
	# cryptsetup itself refuses a token for a keyslot that is not there.
	refused "" cryptsetup token import --token-id 3 img --json-file t7.json
	refused "" ./pcs token import --token-id 3 img --json-file t7.json

	# Killing the token's keyslot empties the token's "keyslots".
	atf_check -s exit:0 -o ignore -e ignore cryptsetup luksKillSlot --batch-mode img 1
	atf_check -s exit:0 -o match:'"keyslots":\[\]' -e empty cryptsetup token export --token-id 0 img
	msg="field 'keyslots' lists no keyslot: the token's keyslot was removed"
	advice="img: securekey token 0 is invalid \(see above\); remove it with 'cryptsetup token remove --token-id 0 img' and enroll again"
	for cmd in "validate img" "reencipher img --key-file pass" "setkey img --key-file pass" \
		"open img --test-passphrase" "export img --out x.skey" "remove img --key-file pass"; do
		refused "$msg" $CR $cmd
		refused "$advice" $CR $cmd
	done
	# libcryptsetup skips a token without keyslots; the plugin is not asked.
	token_fails img "" "lists no keyslot"
	pass_opens img
	# The advice works.
	atf_check -s exit:0 -o ignore -e ignore cryptsetup token remove --token-id 0 img
	enroll img
	token_unlocks img "secure key under the CURRENT master key"

	# A token that names the passphrase keyslot: its key does not open it.
	token_json img >t1.json
	sed 's/"keyslots":\["1"\]/"keyslots":["0"]/' t1.json >t0slot.json
	atf_check -s exit:0 -o ignore -e ignore cryptsetup token remove --token-id 0 img
	atf_check -s exit:0 -o ignore -e ignore cryptsetup token import --token-id 0 img --json-file t0slot.json
	snap >.sk-snap.x-before
	atf_check -s exit:1 -o match:"^Secure key: .*under the CURRENT master key, INVALID \(see above\)\$" \
		-e match:"img: keyslot 0 of the securekey token does not open with the secure key; remove the token and enroll again" \
		"$CR" validate img
	atf_check -s exit:1 -o match:'"valid":false' -e match:"keyslot 0 of the securekey token" \
		"$CR" validate img --json
	snap >.sk-snap.x-after
	cmp -s .sk-snap.x-before .sk-snap.x-after || atf_fail "validate changed the work directory"
	token_fails img "" "img: its securekey token 0 does not unlock it"
	pass_opens img
	# Such a token is not its keyslot's owner: remove (gated by another
	# passphrase keyslot) drops the token and keeps keyslot 0.
	refused "img: that is the securekey token's own keyslot" "$CR" remove img --key-file pass
	printf 'second passphrase' >pass2
	chmod 0600 pass2
	atf_check -s exit:0 -o ignore -e ignore cryptsetup luksAddKey --batch-mode --pbkdf pbkdf2 \
		--pbkdf-force-iterations 1000 --key-file pass img pass2
	atf_check -s exit:0 -o match:"^img: securekey token removed\.\$" \
		-e inline:"img: keyslot 0 does not open with the secure key, so it is not the token's own; it is kept\n" \
		"$CR" remove img --key-file pass2
	test "$(keyslots_of img)" = "0 1 2" || atf_fail "keyslots after remove: $(keyslots_of img)"
	pass_opens img
}

atf_test_case malformed_token
malformed_token_head()
{
	common_head
	atf_set "descr" "cryptsetup token import with the plugin rejects a malformed securekey token" \
		"(plugin validate); one imported without the plugin is refused by every command;" \
		"a bit-flipped ciphertext is caught by validate and by the unlock"
}
malformed_token_body()
{
	setup
	mkimg img
	enroll img
	token_json img >good.json
	"$PYTHON" - <<'EOF'
import base64, json
t = json.load(open("good.json"))
blob = base64.b64decode(t["secure_key"])

def write(name, **change):
    u = dict(t)
    for k, v in change.items():
        if v is None:
            del u[k]
        else:
            u[k] = v
    open(name + ".json", "w").write(json.dumps(u, separators=(",", ":")))

def b64(b):
    return base64.b64encode(bytes(b)).decode()

flip = lambda i: bytes(b ^ (1 if j == i else 0) for j, b in enumerate(blob))
# Caught without the HSM (token parse): "bad" tokens.
write("bad-truncated", secure_key=b64(blob[:-1]))
write("bad-short", secure_key=b64(blob[:20]))
write("bad-base64", secure_key=t["secure_key"][:-4] + "!!!=")
write("bad-magic", secure_key=b64(flip(0)))
write("bad-blobmkvp", secure_key=b64(flip(10)))
write("bad-mkvp", mkvp="0" * 16)
write("bad-mkvphex", mkvp="xyz")
write("bad-version", version=2)
write("bad-keytype", key_type="des-56")
write("bad-apqn", apqns=["1.1"])
write("bad-apqndup", apqns=["01.0001", "01.0001"])
write("bad-noapqns", apqns=[])
write("bad-nokey", secure_key=None)
write("bad-staged", staged={"secure_key": t["secure_key"][:-8], "mkvp": t["mkvp"]})
write("bad-twoslots", keyslots=["1", "0"])
# Parse fine, only the HSM can tell: "flip" tokens.
write("flip-ciphertext", secure_key=b64(flip(40)))
write("flip-tag", secure_key=b64(flip(len(blob) - 1)))
write("flip-nonce", secure_key=b64(flip(20)))
EOF
	# A copy without the token: its keyslot 1 is there to be named.
	cp img spare
	atf_check -s exit:0 -o ignore -e ignore cryptsetup token remove --token-id 0 spare
	sum=$(sha256sum spare)
	for f in bad-*.json; do
		name=${f%.json}
		# With the plugin, cryptsetup asks its validate and rejects the token.
		atf_check -s not-exit:0 -o ignore -e match:"securekey" \
			./pcs token import --token-id 0 spare --json-file "$f"
		test "$(sha256sum spare)" = "$sum" || atf_fail "import of $name changed the image"
		# Without it cryptsetup cannot tell; securekey-cryptsetup refuses.
		cp img "$name.img"
		atf_check -s exit:0 -o ignore -e ignore cryptsetup token remove --token-id 0 "$name.img"
		atf_check -s exit:0 -o ignore -e ignore cryptsetup token import --token-id 0 "$name.img" \
			--json-file "$f"
		invalid="$name.img: securekey token 0 is invalid \(see above\)"
		refused "$invalid" "$CR" validate "$name.img"
		refused "$invalid" "$CR" reencipher "$name.img" --key-file pass
		token_fails "$name.img" "securekey: securekey token" "$invalid"
		pass_opens "$name.img"
		# Every check above snapshots the work directory: keep it small.
		rm -f "$name.img"
	done
	for f in flip-*.json; do
		name=${f%.json}
		cp img "$name.img"
		atf_check -s exit:0 -o ignore -e ignore cryptsetup token remove --token-id 0 "$name.img"
		atf_check -s exit:0 -o ignore -e ignore ./pcs token import --token-id 0 "$name.img" \
			--json-file "$f"
		snap >.sk-snap.x-before
		atf_check -s exit:1 -o match:"under the CURRENT master key, INVALID" \
			-e match:"it was altered or enciphered with another key" \
			-e match:"$name.img: the secure key does not unwrap" "$CR" validate "$name.img"
		snap >.sk-snap.x-after
		cmp -s .sk-snap.x-before .sk-snap.x-after || atf_fail "validate of $name changed the work directory"
		token_fails "$name.img" "altered or enciphered with another key"
		pass_opens "$name.img"
		# setkey from the passphrase repairs it.
		atf_check -s exit:0 -o match:"was set" -e empty "$CR" setkey "$name.img" --key-file pass
		token_unlocks "$name.img" "secure key under the CURRENT master key"
		rm -f "$name.img"
	done
}

atf_test_case damaged_key_fallback
damaged_key_fallback_head()
{
	common_head
	atf_set "descr" "a token whose first key is damaged unlocks with its other key, with a" \
		"warning and the header untouched; with both damaged the unlock fails naming each"
}
damaged_key_fallback_body()
{
	setup
	mkimg img
	enroll img
	new_mk n1
	atf_check -s exit:0 -o match:"staged" -e empty "$CR" reencipher img --staged --key-file pass
	# The key under CURRENT is damaged: the staged one (under NEW) opens.
	flip_key img
	sum=$(sha256sum img)
	atf_check -s exit:0 -e ignore \
		-o match:"^# securekey: unlocking with the staged secure key under the NEW master key\$" \
		-o match:"Trying to open keyslot 1 with token 0 \(type securekey\)" \
		./pcs open --debug --test-passphrase --token-only --token-type securekey img
	atf_check -s exit:0 -e ignore \
		-o match:"securekey: img: unlocked with the staged secure key under the NEW master key instead; check the token with 'securekey-cryptsetup validate'" \
		./pcs open --test-passphrase --token-only --token-type securekey img
	atf_check -s exit:0 -o match:"^img: unlocks by token \(keyslot 1\)\.\$" \
		-e match:"^securekey: img: the secure key under the CURRENT master key does not unwrap \(see above\)\$" \
		-e match:"^securekey: img: unlocked with the staged secure key under the NEW master key instead" \
		"$CR" open img --test-passphrase
	test "$(sha256sum img)" = "$sum" || atf_fail "unlocking with the second key wrote the header"
	# After the set, the staged key comes first; damaged, the other (under
	# OLD) opens.
	atf_check -s exit:0 -o match:"was set" -e empty "$CR" setkey img --key-file pass
	atf_check -s exit:0 -o match:"staged" -e empty "$CR" reencipher img --staged --key-file pass
	set_new
	flip_key img staged
	atf_check -s exit:0 -e ignore \
		-o match:"^# securekey: unlocking with the secure key under the OLD master key\$" \
		./pcs open --debug --test-passphrase --token-only --token-type securekey img
	# Both damaged, no KMS: refused, each key named, nothing written.
	flip_key img
	token_fails img "the secure key under the OLD master key does not unwrap" \
		"^securekey: img: the secure key under the OLD master key does not unwrap \(see above\)\$"
	pass_opens img
}

atf_test_case hsm_unavailable
hsm_unavailable_head()
{
	common_head setpriv
	atf_set "descr" "the soft HSM directory missing, unreadable, or without the token's APQNs:" \
		"one clear line naming it, and every byte as it was"
}
hsm_unavailable_body()
{
	setup
	mkimg img
	enroll img
	new_mk n1
	for cmd in "validate img" "reencipher img --key-file pass" \
		"setkey img --key-file pass" "open img --test-passphrase"; do
		refused "soft HSM directory $PWD/gone does not exist" \
			$CR $cmd --hsm-dir "$PWD/gone"
		refused "soft HSM directory $PWD/gone does not exist" \
			env SECUREKEY_HSM_DIR="$PWD/gone" $CR $cmd
	done
	verror_json "soft HSM directory $PWD/gone does not exist" img --hsm-dir "$PWD/gone"
	token_fails_env()
	{
		atf_check -s not-exit:0 -o ignore -e "match:$2" \
			env SECUREKEY_HSM_DIR="$1" ./pcs open --test-passphrase --token-only img
	}
	token_fails_env "$PWD/gone" "securekey: soft HSM directory $PWD/gone does not exist"
	atf_check -s exit:1 -o empty \
		-e inline:"img: soft HSM directory $PWD/gone does not exist; create it with 'securekey hsm init --apqns AA.DDDD'\n" \
		"$CR" reencipher img --key-file pass --hsm-dir "$PWD/gone"

	# An HSM without the token's APQNs.
	atf_check -s exit:0 -o ignore -e empty "$SECUREKEY" hsm init --hsm-dir "$PWD/other" \
		--apqns 03.0001
	refused "other.*01\.0001|01\.0001.*other" "$CR" validate img --hsm-dir "$PWD/other"
	verror_json "other.*01\.0001|01\.0001.*other" img --hsm-dir "$PWD/other"
	refused "01\.0001" "$CR" reencipher img --key-file pass --hsm-dir "$PWD/other"
	token_fails_env "$PWD/other" "01\.0001"

	# Unreadable: root reads anything, so drop the capabilities that let it.
	if ! setpriv --bounding-set -dac_override,-dac_read_search true 2>/dev/null; then
		atf_skip "setpriv cannot drop CAP_DAC_OVERRIDE here; the unreadable cases were not run"
	fi
	nodac="setpriv --bounding-set -dac_override,-dac_read_search"
	chmod 000 hsm/01.0001.mk
	for cmd in "validate img" "reencipher img --key-file pass" "setkey img --key-file pass" \
		"open img --test-passphrase"; do
		refused "cannot open HSM state file $PWD/hsm/01\.0001\.mk: Permission denied" \
			$nodac $CR $cmd
	done
	chmod 600 hsm/01.0001.mk
	chmod 000 hsm
	refused "$PWD/hsm.*Permission denied" $nodac "$CR" validate img
	refused "$PWD/hsm.*Permission denied" $nodac "$CR" reencipher img --key-file pass
	chmod 700 hsm
	# Group- or world-readable state is refused too.
	chmod 644 hsm/02.0001.mk
	refused "$PWD/hsm/02\.0001\.mk" "$CR" validate img
	chmod 600 hsm/02.0001.mk
	vstate img CURRENT - "reencipher --staged"
	pass_opens img
}

# -------------------------------------------------- enroll and remove

atf_test_case enroll_remove
enroll_remove_head()
{
	common_head
	atf_set "descr" "enroll twice refused; remove takes the token and its keyslot, keeps the" \
		"passphrase keyslot; enroll again after a token-only removal reuses the keyslot"
}
enroll_remove_body()
{
	setup
	mkimg img
	refused "img has no securekey token; enroll it with 'securekey-cryptsetup enroll img'" \
		"$CR" remove img --key-file pass
	enroll img
	refused "img already has a securekey token \(0\); re-encipher it, or remove it first" \
		"$CR" enroll img --apqns "$APQNS" --key-file pass
	token_unlocks img "secure key under the CURRENT master key"
	atf_check -s exit:0 -e empty -o match:"^img: securekey token and keyslot 1 removed\.\$" \
		-o match:"^img: header backups that still hold the secure key: 1 in " \
		"$CR" remove img --key-file pass
	atf_check -s exit:1 -o ignore -e ignore cryptsetup token export --token-id 0 img
	test "$(keyslots_of img)" = 0 || atf_fail "keyslots after remove: $(keyslots_of img)"
	pass_opens img
	refused "img has no securekey token" "$CR" validate img
	token_fails img "" "img has no securekey token"

	# Enroll again; then drop only the token with cryptsetup: the next enroll
	# finds the keyslot that its key opens and reuses it.
	enroll img
	atf_check -s exit:0 -o ignore -e ignore cryptsetup token remove --token-id 0 img
	atf_check -s exit:0 -e ignore -o match:"securekey token 0, keyslot 1," \
		"$CR" enroll img --apqns "$APQNS" --key-file pass
	test "$(keyslots_of img)" = "0 1" || atf_fail "keyslots after re-enroll: $(keyslots_of img)"
	token_unlocks img "secure key under the CURRENT master key"
	# enroll asks a passphrase keyslot's passphrase too.
	mkimg img2
	printf 'wrong' >wrong
	refused "no keyslot of img2 opens" "$CR" enroll img2 --apqns "$APQNS" --key-file wrong
	# APQNs the HSM does not have.
	refused "03\.0001" "$CR" enroll img2 --apqns 03.0001 --key-file pass
	pass_opens img2
}

# keyring_token IMG: a builtin luks2-keyring token on IMG's keyslot 0, and
# ./inkr, which runs a command in a session keyring of its own holding
# ./pass as the user key that token names (nothing else on the host sees
# it), so that the token unlocks IMG without a PIN there and nowhere else.
keyring_token()
{
	_desc="securekey-test-$$-$1"
	atf_check -s exit:0 -o ignore -e ignore cryptsetup token add --key-description "$_desc" "$1"
	cat >inkr <<EOF
#!/bin/sh
keyctl new_session >/dev/null || exit 97
keyctl padd user '$_desc' @s <pass >/dev/null || exit 98
exec "\$@"
EOF
	chmod +x inkr
	atf_check -s exit:0 -o ignore -e ignore ./inkr cryptsetup open --test-passphrase --token-only "$1"
}

# allow_token_auth: the configuration lets root use --auth=token.
allow_token_auth()
{
	printf '[batch]\nallow_token_auth = yes\n' >"$SECUREKEY_CONF"
}

atf_test_case enroll_auth_token
enroll_auth_token_head()
{
	common_head keyctl
	atf_set "descr" "enroll --auth=token takes the volume key from a LUKS2 token that unlocks" \
		"without a PIN (the builtin luks2-keyring token); refused, every byte as it was, when" \
		"the configuration does not allow it, with --key-file, and when no token unlocks"
}
enroll_auth_token_body()
{
	setup
	mkimg img
	keyring_token img
	notallowed="^--auth=token is not enabled: set 'allow_token_auth = yes' in \[batch\] of $SECUREKEY_CONF, or give the passphrase with --key-file\$"
	refused "$notallowed" ./inkr "$CR" enroll img --apqns "$APQNS" --auth=token
	printf '[batch]\nallow_token_auth = no\n' >"$SECUREKEY_CONF"
	refused "$notallowed" ./inkr "$CR" enroll img --apqns "$APQNS" --auth=token
	allow_token_auth
	SK_EXIT=2 refused "give --auth=token or --key-file, not both" \
		./inkr "$CR" enroll img --apqns "$APQNS" --auth=token --key-file pass
	SK_EXIT=2 refused "--auth: 'pin' is not known; the only value is 'token'" \
		./inkr "$CR" enroll img --apqns "$APQNS" --auth=pin
	# Outside its keyring the token does not unlock: one line, nothing changed.
	nounlock="img: no LUKS2 token unlocks it without a PIN; give the passphrase of a keyslot with --key-file; nothing was changed"
	refused "^$nounlock\$" "$CR" enroll img --apqns "$APQNS" --auth=token
	atf_check -s exit:1 -o empty -e inline:"$nounlock\n" "$CR" enroll img --apqns "$APQNS" --auth=token
	mkimg bare
	refused "^bare: no LUKS2 token unlocks it" ./inkr "$CR" enroll bare --apqns "$APQNS" --auth=token
	test "$(keyslots_of img)" = 0 || atf_fail "keyslots after the refusals: $(keyslots_of img)"

	# In its keyring it does: no passphrase is read (stdin is empty).
	atf_check -s exit:0 -e empty \
		-o match:"^img: enrolled: securekey token 1, keyslot 1, secure key under the CURRENT master key of APQNs $APQNS\.\$" \
		./inkr "$CR" enroll img --apqns "$APQNS" --auth=token </dev/null
	test "$(keyslots_of img)" = "0 1" || atf_fail "keyslots after enroll: $(keyslots_of img)"
	vjson img "v['token'] == 1" "v['keyslot'] == 1" "v['secure_key']['valid'] is True"
	token_unlocks img "secure key under the CURRENT master key"
	pass_opens img
}

atf_test_case remove_auth_token
remove_auth_token_head()
{
	common_head
	atf_set "descr" "remove --auth=token: the key unwrapped from the securekey token; refused," \
		"every byte as it was, when the configuration does not allow it, with --key-file," \
		"and when no keyslot but the token's own would remain"
}
remove_auth_token_body()
{
	setup
	mkimg img
	enroll img
	refused "^--auth=token is not enabled: set 'allow_token_auth = yes' in \[batch\] of $SECUREKEY_CONF, or give the passphrase with --key-file\$" \
		"$CR" remove img --auth=token
	allow_token_auth
	SK_EXIT=2 refused "give --auth=token or --key-file, not both" \
		"$CR" remove img --auth=token --key-file pass

	# Only the token's keyslot left: removing it would lock the device out.
	cp img alone
	atf_check -s exit:0 -o ignore -e ignore cryptsetup luksKillSlot --batch-mode alone 0
	test "$(keyslots_of alone)" = 1 || atf_fail "keyslots of alone: $(keyslots_of alone)"
	refused "^alone: no keyslot but the securekey token's own \(1\) would remain, so the device would have no way in; add a passphrase keyslot first; nothing was changed\$" \
		"$CR" remove alone --auth=token
	token_unlocks alone "secure key under the CURRENT master key"

	# A passphrase keyslot remains: removed without a passphrase.
	atf_check -s exit:0 -e empty -o match:"^img: securekey token and keyslot 1 removed\.\$" \
		"$CR" remove img --auth=token </dev/null
	atf_check -s exit:1 -o ignore -e ignore cryptsetup token export --token-id 0 img
	test "$(keyslots_of img)" = 0 || atf_fail "keyslots after remove: $(keyslots_of img)"
	pass_opens img
}

# crypttab_want DEVICE UUID [NAME]: the lines crypttab prints for DEVICE
# (the keyscript line active) into stdout; $KEYSCRIPT is the installed path.
crypttab_want()
{
	printf '# %s: initramfs-tools (cryptroot) unlocks it with the securekey keyscript\n' "$1"
	printf '%s\tUUID=%s\tnone\tluks,keyscript=%s,initramfs\n' "${3:-luks-$2}" "$2" "$KEYSCRIPT"
	printf '# %s: systemd-cryptsetup (dracut, systemd) unlocks it with the token plugin\n' "$1"
	printf '#%s\tUUID=%s\tnone\tluks,token-timeout=60\n' "${3:-luks-$2}" "$2"
}

# crypttab_fields FILE ACTIVE: the lines of FILE are crypttab(5) lines of
# four fields (name, UUID= of an image here, none, options); per volume
# name one line is active and it is the ACTIVE kind (keyscript or systemd);
# the systemd line has only options systemd-cryptsetup knows.
crypttab_fields()
{
	"$PYTHON" - "$1" "$2" <<'PY' || atf_fail "crypttab lines of $1 do not parse"
import re, subprocess, sys
uuids = {subprocess.run(["cryptsetup", "luksUUID", f], capture_output=True, text=True).stdout.strip()
         for f in ("a", "b")}
active = {}
for line in open(sys.argv[1]):
    if line.startswith("# "):
        continue
    on = not line.startswith("#")
    fields = line.lstrip("#").rstrip("\n").split("\t")
    assert len(fields) == 4, fields
    name, source, key, opts = fields
    assert re.fullmatch(r"[^\s/#][^\s/]{0,126}", name), name
    assert source.startswith("UUID=") and source[5:] in uuids, source
    assert key == "none", key
    opts = opts.split(",")
    kind = "keyscript" if any(o.startswith("keyscript=") for o in opts) else "systemd"
    if kind == "systemd":
        # systemd's crypttab(5): token-timeout= takes a time span
        for o in opts:
            assert o == "luks" or re.fullmatch(r"token-timeout=[0-9]+(s|min|ms)?", o), o
    else:
        assert opts[0] == "luks" and opts[2] == "initramfs" and len(opts) == 3, opts
        assert opts[1].startswith("keyscript=/") and opts[1].endswith("/lib/securekey/keyscript")
    if on:
        assert name not in active, "two active lines for " + name
        active[name] = kind
assert active and set(active.values()) == {sys.argv[2]}, active
PY
}

atf_test_case crypttab_lines
crypttab_lines_head()
{
	common_head
	atf_set "descr" "crypttab prints a keyscript and a systemd line per device (or known" \
		"volume), named luks-UUID or --name, as crypttab(5) fields; a device without a" \
		"securekey token makes it print nothing"
}
crypttab_lines_body()
{
	setup
	KEYSCRIPT=$(sed -n 's/^prefix = //p' "$SK_BUILDDIR/cli/Makefile")/lib/securekey/keyscript
	mkimg a
	mkimg b
	mkimg plain
	enroll a
	enroll b
	ua=$(cryptsetup luksUUID a)
	ub=$(cryptsetup luksUUID b)
	{
		crypttab_want a "$ua"
		crypttab_want b "$ub"
	} >want
	atf_check -s exit:0 -o file:want -e empty "$CR" crypttab a b
	atf_check -s exit:0 -o save:out -e empty "$CR" crypttab a b
	crypttab_fields out keyscript
	# --systemd: the other line of each is the active one
	atf_check -s exit:0 -o save:out.systemd -e empty "$CR" crypttab a b --systemd
	crypttab_fields out.systemd systemd
	sed -e 's/^luks-/#luks-/' -e 's/^#\(luks-[^\t]*\tUUID=[^\t]*\tnone\tluks,token\)/\1/' want >want.systemd
	atf_check -s exit:0 -o file:want.systemd -e empty cat out.systemd
	# without DEVICE: the known volumes, by UUID, at their recorded paths
	for u in $(printf '%s\n' "$ua" "$ub" | LC_ALL=C sort); do
		if [ "$u" = "$ua" ]; then crypttab_want "$PWD/a" "$u"; else crypttab_want "$PWD/b" "$u"; fi
	done >want.known
	atf_check -s exit:0 -o file:want.known -e empty "$CR" crypttab
	# --name for one device
	crypttab_want a "$ua" root_crypt >want.named
	atf_check -s exit:0 -o file:want.named -e empty "$CR" crypttab a --name root_crypt
	# refusals print nothing and change nothing
	refused "plain has no securekey token" "$CR" crypttab a plain b
	SK_EXIT=2 refused "--name names one DEVICE" "$CR" crypttab a b --name x
	SK_EXIT=2 refused "'x y' is not a volume name" "$CR" crypttab a --name "x y"
	SK_EXIT=2 refused "is not a volume name" "$CR" crypttab a --name ../x
	mv b b.moved
	refused "known volume $PWD/b \(LUKS UUID $ub\) is not found" "$CR" crypttab
}

atf_test_case remove_leaves_backups
remove_leaves_backups_head()
{
	common_head
	atf_set "descr" "remove names the header backups that still hold the secure key (its own" \
		"among them); --purge-backups deletes them with the token or after it, keeps files" \
		"securekey did not write, and a token without a KMS refuses --kms-destroy"
}
remove_leaves_backups_body()
{
	setup
	mkimg img
	enroll img
	new_mk n1
	atf_check -s exit:0 -o ignore -e empty "$CR" reencipher img --staged --key-file pass
	uuid=$(cryptsetup luksUUID img)
	dir=$PWD/state/backup/$uuid
	refused "img: the token is not bound to a KMS, so --kms-destroy has nothing to destroy" \
		"$CR" remove img --kms-destroy --key-file pass
	# Kept: remove names how many hold the token, its own backup included.
	atf_check -s exit:0 -o save:out -e empty "$CR" remove img --key-file pass
	n=$(grep -l -a '"type":"securekey"' "$dir"/*.hdr | wc -l)
	test "$n" -ge 2 || atf_fail "only $n backups hold the token"
	printf '%s\n' "img: securekey token and keyslot 1 removed." \
		"img: header backups that still hold the secure key: $n in $dir (the newest taken by this remove); 'securekey-cryptsetup restore img' puts the token back from one, 'securekey-cryptsetup remove img --purge-backups' deletes them." >want
	atf_check -s exit:0 -o file:want -e empty cat out
	atf_check -s exit:0 -o match:"^img: restored header backup " -e empty \
		"$CR" restore img --key-file pass
	token_unlocks img "secure key under the CURRENT master key"
	# Purged with the token: no backup is left to restore it from.
	atf_check -s exit:0 -e empty -o match:"^img: securekey token and keyslot 1 removed\.\$" \
		-o match:"^img: [0-9]+ files of header backups deleted from $dir\.\$" \
		-o not-match:"still hold" "$CR" remove img --key-file pass --purge-backups
	test ! -e "$dir" || atf_fail "$dir is still there: $(ls -a "$dir")"
	refused "" "$CR" restore img --key-file pass
	pass_opens img
	# Purged after the token went: no passphrase is asked.
	enroll img
	atf_check -s exit:0 -o ignore -e empty "$CR" remove img --key-file pass
	test -d "$dir" || atf_fail "remove took no backup"
	atf_check -s exit:0 -e empty -o match:"^img: [0-9]+ files of header backups deleted from $dir\.\$" \
		"$CR" remove img --purge-backups </dev/null
	test ! -e "$dir" || atf_fail "$dir is still there"
	atf_check -s exit:0 -e empty -o inline:"img: 0 files of header backups deleted from $dir.\n" \
		"$CR" remove img --purge-backups </dev/null
	# A file securekey did not write stays, and is named.
	enroll img
	: >"$dir/notes"
	atf_check -s exit:0 -o match:"deleted from" \
		-e inline:"$dir holds 1 file securekey did not write; kept\n" \
		"$CR" remove img --key-file pass --purge-backups
	atf_check -s exit:0 -o inline:"notes\n" -e empty ls "$dir"
}

atf_test_case enroll_new_committed
enroll_new_committed_head()
{
	common_head
	atf_set "descr" "enroll while a NEW master key is committed creates the token already" \
		"staged to it; while NEW is only partly loaded, not"
}
enroll_new_committed_body()
{
	setup
	mk0=$MK0
	mkimg early
	mkimg late
	if soft_backend; then
		make_part n1-a
		make_part n1-b
		load_parts n1-a
	fi
	enroll early
	# one key part of NEW loaded (soft HSM): the officer's other part, then the commit
	if soft_backend; then
		vstate early CURRENT - "hsm load-part"
		atf_check -s exit:0 -e empty \
			-o match:"^NEW master key: loaded, not committed: load its remaining key parts \('securekey hsm load-part --apqns $APQNS'\) and run 'securekey hsm commit --apqns $APQNS',\$" \
			"$CR" validate early
	else
		vstate early CURRENT - none
	fi
	if soft_backend; then
		load_parts n1-b
		atf_check -s exit:0 -o ignore -e empty "$SECUREKEY" hsm commit --apqns "$APQNS"
		mk1=$(mkvp_of_parts n1-a n1-b)
	else
		new_mk n1
		mk1=$NEW_MKVP
	fi
	atf_check -s exit:0 -e match:"A NEW master key is committed: the token is created staged to it\." \
		-o match:"^late: enrolled: securekey token 0, keyslot 1" \
		"$CR" enroll late --apqns "$APQNS" --key-file pass
	vstate late CURRENT NEW "hsm set"
	vjson late "v['secure_key']['mkvp'] == '$mk0'" "v['staged']['mkvp'] == '$mk1'"
	token_unlocks late "secure key under the CURRENT master key"
	set_new
	token_unlocks late "staged secure key"
	atf_check -s exit:0 -e empty -o match:"is completed" "$CR" reencipher late --key-file pass
	atf_check -s exit:0 -e empty -o match:"re-enciphered in place" \
		"$CR" reencipher early --key-file pass
	vstate late CURRENT - none
	vstate early CURRENT - none
	pass_opens late
	pass_opens early
}

atf_test_case key_types
key_types_head()
{
	common_head
	atf_set "descr" "AES-XTS 256 and AES-CBC 256/128 volume keys: enrolled with their key type," \
		"re-enciphered staged and completed, unlocked by the real cryptsetup"
}
key_types_body()
{
	setup
	mkimg xts256 luks2 --cipher aes-xts-plain64 --key-size 256
	mkimg cbc256 luks2 --cipher aes-cbc-essiv:sha256 --key-size 256
	mkimg cbc128 luks2 --cipher aes-cbc-essiv:sha256 --key-size 128
	for img in xts256 cbc256 cbc128; do
		enroll "$img"
		token_unlocks "$img" "secure key under the CURRENT master key"
	done
	vjson xts256 "v['key_type'] == 'aes-xts-256'"
	vjson cbc256 "v['key_type'] == 'aes-256'"
	vjson cbc128 "v['key_type'] == 'aes-128'"
	new_mk n1
	for img in xts256 cbc256 cbc128; do
		atf_check -s exit:0 -o match:"kept as staged" -e empty "$CR" reencipher "$img" --key-file pass
	done
	set_new
	for img in xts256 cbc256 cbc128; do
		token_unlocks "$img" "staged secure key"
		atf_check -s exit:0 -o match:"is completed" -e empty "$CR" reencipher "$img" --key-file pass
		vstate "$img" CURRENT - none
		token_unlocks "$img" "secure key under the CURRENT master key"
		pass_opens "$img"
	done
}

atf_test_case parallel_reencipher
parallel_reencipher_head()
{
	common_head
	atf_set "descr" "six re-enciphers of one device at once: the per-device lock lets one stage" \
		"the key, the others see it staged and refuse; the token is whole"
}
parallel_reencipher_body()
{
	setup
	mkimg img
	enroll img
	new_mk n1
	for n in 1 2 3 4 5 6; do
		("$CR" reencipher img --key-file pass >"o$n" 2>"e$n"; echo $? >"r$n") &
	done
	wait
	atf_check -s exit:0 -o inline:"      1 0\n      5 1\n" -e empty sh -c 'cat r? | sort | uniq -c'
	atf_check -s exit:0 -o match:"^1\$" -e empty sh -c 'grep -l "kept as staged" o? | wc -l'
	atf_check -s exit:0 -o match:"^5\$" -e empty sh -c 'grep -l "already staged to the NEW master key" e? | wc -l'
	vstate img CURRENT NEW "hsm set"
	set_new
	token_unlocks img "staged secure key"
}

atf_test_case header_backups
header_backups_head()
{
	common_head
	atf_set "descr" "every write backs the header up first (0600 in a 0700 directory), the last" \
		"5 are kept, and 'restore' puts back the token a backup held"
}
header_backups_body()
{
	setup
	mkimg img
	uuid=$(cryptsetup luksUUID img)
	dir=state/backup/$uuid
	enroll img
	test "$(stat -c %a state/backup "$dir")" = "700
700" || atf_fail "backup directories: $(stat -c '%a %n' state/backup "$dir")"
	# The first backup holds the header as it was before the enroll: no token.
	atf_check -s exit:0 -o match:"^  no securekey token, keyslots 0\$" -e empty \
		"$CR" restore img --list
	new_mk n1
	cr reencipher img --key-file pass >/dev/null || atf_fail "staged re-encipher failed"
	staged_json=$(token_json img)
	set_new
	# Seven backups in all: enroll's two (keyslot, token), staged, four setkeys.
	for n in 1 2 3 4; do
		cr setkey img --key-file pass >/dev/null || atf_fail "setkey $n failed"
	done
	test "$(find "$dir" -name '*.hdr' | wc -l)" -eq 5 ||
		atf_fail "expected the last 5 backups: $(ls -l "$dir")"
	test -z "$(find "$dir" -type f ! -perm 0600)" || atf_fail "a backup is not 0600"
	# The enroll's backups are gone. The oldest one kept is the header before
	# the staged re-encipher; the next, before the first setkey, holds the
	# staged token: restore it.
	second=$(ls "$dir"/*.hdr | LC_ALL=C sort | sed -n 2p)
	atf_check -s exit:0 -o match:"^img: restored header backup ${second##*/}\.\$" -e empty \
		"$CR" restore img --backup "${second##*/}" --key-file pass
	test "$(token_json img)" = "$staged_json" || atf_fail "the restored token differs"
	vstate img OLD CURRENT "reencipher --complete"
	token_unlocks img "staged secure key"
	pass_opens img
}

# ----------------------------------------------------------- luksDump

atf_test_case luksdump_plugin
luksdump_plugin_head()
{
	common_head
	atf_set "descr" "cryptsetup luksDump with the plugin shows the token: key type, APQNs," \
		"MKVP, staged MKVP when staged, KMS; without the plugin only its type"
}
luksdump_plugin_body()
{
	setup
	mk0=$MK0
	mkimg img
	enroll img
	atf_check -s exit:0 -e empty -o match:"^  0: securekey\$" \
		-o match:"^	Key type:   aes-xts-512\$" -o match:"^	APQNs:      $APQNS\$" \
		-o match:"^	MKVP:       $mk0\$" -o not-match:"Staged" -o match:"^	KMS:        none\$" \
		-o match:"^	Keyslot:    1\$" ./pcs luksDump img
	new_mk n1
	cr reencipher img --key-file pass >/dev/null || atf_fail "staged re-encipher failed"
	atf_check -s exit:0 -e empty -o match:"^	MKVP:       $mk0\$" \
		-o match:"^	Staged MKVP: $NEW_MKVP\$" ./pcs luksDump img
	# Without the plugin cryptsetup knows nothing but the type.
	atf_check -s exit:0 -e empty -o match:"^  0: securekey\$" -o not-match:"MKVP" \
		cryptsetup luksDump img
}

# ------------------------------------------------------- acceptance

atf_test_case reencipher_changes_only_token
reencipher_changes_only_token_head()
{
	common_head
	atf_set "descr" "acceptance: staged, complete, in-place and setkey change only the securekey" \
		"token: keyslot/segment/digest/config JSON, keyslot area bytes, the data, other" \
		"tokens and unknown token fields are identical"
}
reencipher_changes_only_token_body()
{
	setup
	mkimg img
	enroll img
	# An unknown field in our token and a foreign token must survive.
	token_json img | "$PYTHON" -c '
import json, sys
t = json.load(sys.stdin)
t["x-note"] = {"owner": "ops", "n": [1, 2]}
json.dump(t, open("noted.json", "w"))'
	atf_check -s exit:0 -o ignore -e ignore cryptsetup token remove --token-id 0 img
	atf_check -s exit:0 -o ignore -e ignore ./pcs token import --token-id 0 img --json-file noted.json
	printf '%s' '{"type":"zkey","keyslots":["0"],"key":"AAAA"}' >zkey.json
	atf_check -s exit:0 -o ignore -e ignore cryptsetup token import --token-id 4 img --json-file zkey.json

	cat >compare.py <<'EOF'
# compare.py BEFORE AFTER: the images differ only in the securekey token's
# secure_key, mkvp and staged (and the header's seqid and checksums).
import json, subprocess, sys

def meta(img):
    out = subprocess.run(["cryptsetup", "luksDump", "--dump-json-metadata", img],
                         check=True, capture_output=True).stdout
    return json.loads(out)

a, b = sys.argv[1:3]
ma, mb = meta(a), meta(b)
ta, tb = ma.pop("tokens"), mb.pop("tokens")
assert ma == mb, "metadata besides the tokens changed"
assert sorted(ta) == sorted(tb), (sorted(ta), sorted(tb))
for tid in ta:
    if ta[tid]["type"] != "securekey":
        assert ta[tid] == tb[tid], "foreign token %s changed" % tid
        continue
    keep = lambda t: {k: v for k, v in t.items() if k not in ("secure_key", "mkvp", "staged")}
    assert keep(ta[tid]) == keep(tb[tid]), (ta[tid], tb[tid])
    assert ta[tid] != tb[tid], "the securekey token did not change"
da, db = open(a, "rb").read(), open(b, "rb").read()
assert len(da) == len(db)
for n, ks in ma["keyslots"].items():
    off, size = int(ks["area"]["offset"]), int(ks["area"]["size"])
    assert da[off:off + size] == db[off:off + size], "keyslot %s area changed" % n
# Everything after the two metadata copies: keyslot areas, padding, data.
hdr = int(ma["config"]["json_size"]) + 4096
assert da[2 * hdr:] == db[2 * hdr:], "bytes after the LUKS2 metadata changed"
print("only the token changed")
EOF
	step()
	{
		cp img before.img
		atf_check -s exit:0 -o match:"$1" -e empty "$CR" reencipher img --key-file pass $2
		atf_check -s exit:0 -o inline:"only the token changed\n" -e empty \
			"$PYTHON" compare.py before.img img
		pass_opens img
	}
	new_mk n1
	step "kept as staged" --staged
	set_new
	step "is completed" --complete
	new_mk n2
	step "kept as staged"
	set_new
	step "is completed"
	new_mk n3
	set_new
	step "re-enciphered in place" --in-place
	new_mk n4
	set_new
	new_mk n5
	set_new
	cp img before.img
	atf_check -s exit:0 -o match:"was set" -e empty "$CR" setkey img --key-file pass
	atf_check -s exit:0 -o inline:"only the token changed\n" -e empty \
		"$PYTHON" compare.py before.img img
	token_json img >after.json
	atf_check -s exit:0 -o inline:"{'owner': 'ops', 'n': [1, 2]}\n" -e empty \
		"$PYTHON" -c 'import json; print(json.load(open("after.json"))["x-note"])'
	atf_check -s exit:0 -o file:zkey.json -e empty cryptsetup token export --token-id 4 img
	token_unlocks img "secure key under the CURRENT master key"
}

atf_test_case no_secret_in_output
no_secret_in_output_head()
{
	common_head
	atf_set "descr" "acceptance: no output of --debug, luksDump (with the plugin) or validate" \
		"--json holds the volume key, a master key, a key part or the keyslot passphrase" \
		"(hex in any case and spacing, base64, raw)"
}
no_secret_in_output_body()
{
	setup
	mkimg img
	mkdir out
	n=0
	# run CMD...: stdout and stderr of CMD (any exit status) into out/.
	run()
	{
		n=$((n + 1))
		"$@" >"out/$n.out" 2>"out/$n.err" || true
		printf '%s\n' "$*" >"out/$n.cmd"
	}
	D="--debug -V"
	run "$CR" enroll img --apqns "$APQNS" --key-file pass $D
	vk_of img vk.bin
	derived_pass vk.bin tokpass
	printf 'wrong' >wrong
	run "$CR" validate img --json $D
	run "$CR" validate img $D
	run ./pcs luksDump img
	run ./pcs luksDump --debug img
	run ./pcs luksDump --dump-json-metadata img
	run ./pcs open --debug --debug-json --test-passphrase --token-only img
	run "$CR" open img --test-passphrase $D
	new_mk n1
	run "$CR" reencipher img --staged --key-file pass $D
	run "$CR" validate img --json $D
	run ./pcs luksDump img
	run "$CR" export img --out staged.skey --staged $D
	set_new
	run ./pcs open --debug --test-passphrase --token-only img
	run "$CR" open img --test-passphrase $D
	run "$CR" reencipher img --complete --key-file pass $D
	run "$CR" validate img --json $D
	run "$CR" setkey img --key-file pass $D
	run "$CR" reencipher img --key-file wrong $D
	run "$CR" reencipher img --key-file "$PWD/tokpass" $D
	run "$CR" remove img --key-file pass $D
	run "$SECUREKEY" hsm status --json $D
	test "$(ls out/*.out | wc -l)" -eq "$n" || atf_fail "lost outputs"
	cat >scan.py <<'EOF'
# scan.py SECRET_FILE... -- OUTPUT_FILE...: exit 1 naming every output that
# holds a secret, or any 16-byte window of one, in any encoding.
import base64, binascii, hmac, hashlib, sys

args = sys.argv[1:]
cut = args.index("--")
secrets = {}
for name in args[:cut]:
    secrets[name] = open(name, "rb").read()
parts = [secrets[n] for n in args[:cut] if "-" in n or n.startswith("i")]
# The master keys are XORs of pairs of parts.
def xor(a, b):
    return bytes(x ^ y for x, y in zip(a, b))
for a, b in (("i1", "i2"), ("n1-a", "n1-b")):
    if a in secrets and b in secrets:
        secrets["MK(%s,%s)" % (a, b)] = xor(secrets[a], secrets[b])
vk = secrets["vk.bin"]
prk = hmac.new(bytes(32), vk, hashlib.sha256).digest()
secrets["derived-raw"] = hmac.new(prk, b"securekey-keyslot\x01", hashlib.sha256).digest()

def needles(secret):
    for i in range(0, len(secret) - 15):
        w = secret[i:i + 16]
        h = w.hex()
        yield w
        yield h.encode()
        yield h.upper().encode()
        for sep in (" ", ":", "\\x"):
            yield sep.join(h[j:j + 2] for j in range(0, 32, 2)).encode()
            yield sep.join(h[j:j + 2] for j in range(0, 32, 2)).upper().encode()
    # base64 of the secret from each of the 3 alignments, minus the ragged ends.
    for k in range(3):
        for enc in (base64.b64encode, base64.urlsafe_b64encode):
            s = enc(secret[k:]).rstrip(b"=")[:-2]
            if len(s) >= 20:
                yield s[:20]

bad = []
outputs = {n: open(n, "rb").read() for n in args[cut + 1:]}
for sname, secret in secrets.items():
    ns = set(needles(secret))
    for oname, data in outputs.items():
        if any(x in data for x in ns):
            bad.append("%s holds %s" % (oname, sname))
if bad:
    sys.exit("\n".join(bad))
print("clean", len(outputs))
EOF
	# The secrets: the key parts of the soft HSM, the token's PIN on PKCS#11.
	secrets="vk.bin tokpass i1 i2 n1-a n1-b"
	soft_backend || secrets="vk.bin tokpass hsm/pin"
	# The scanner finds what it should.
	cryptsetup luksDump --dump-volume-key --batch-mode --key-file pass img >control.out 2>&1
	base64 vk.bin >control.b64
	atf_check -s exit:1 -o empty -e match:"control.out holds vk.bin" -e match:"control.b64 holds vk.bin" \
		"$PYTHON" scan.py $secrets -- control.out control.b64
	atf_check -s exit:0 -o match:"^clean " -e empty \
		"$PYTHON" scan.py $secrets -- out/*.out out/*.err
	# The outputs are not empty: the debug messages were there to be scanned.
	grep -q "securekey: unlocking with the" out/*.out || atf_fail "no plugin debug output scanned"
	grep -q "Staged MKVP" out/*.out || atf_fail "no luksDump token output scanned"
}

atf_init_test_cases()
{
	# The sanitizer build runs the pkcs11 copy on three cases that cover its
	# code (CI time); the default build runs every one.
	if ! soft_backend && sanitized; then
		atf_add_test_case zkey_flow
		atf_add_test_case setkey_export
		atf_add_test_case no_secret_in_output
		return 0
	fi
	# The per-device flow, on the soft HSM and (t_cryptsetup_pkcs11) on a
	# PKCS#11 token.
	atf_add_test_case zkey_flow
	atf_add_test_case zkey_flow_explicit
	atf_add_test_case in_place
	atf_add_test_case no_register
	atf_add_test_case validate_states
	atf_add_test_case read_only
	atf_add_test_case setkey_export
	atf_add_test_case enroll_remove
	atf_add_test_case enroll_auth_token
	atf_add_test_case remove_auth_token
	atf_add_test_case remove_leaves_backups
	atf_add_test_case crypttab_lines
	atf_add_test_case enroll_new_committed
	atf_add_test_case key_types
	atf_add_test_case parallel_reencipher
	atf_add_test_case header_backups
	atf_add_test_case luksdump_plugin
	atf_add_test_case reencipher_changes_only_token
	atf_add_test_case no_secret_in_output
	atf_add_test_case damaged_key_fallback
	# Usage, parsers and the passphrase gate: no HSM backend involved; and
	# the soft HSM's own directory and files.
	add_soft_only_cases help wrong_passphrase not_luks2 validate_json_no_token foreign_tokens two_tokens \
		missing_keyslot malformed_token hsm_unavailable
}
