#! @ATF_SH@
# The master-key change procedure that zkey's operators follow (issue 23),
# walked step by step with its own commands, 'zkey' read as 'securekey' and
# 'zkey-cryptsetup' as 'securekey-cryptsetup', on the procedure's APQNs
# 08.002f,09.002f: four LUKS2 image files, one bound to a KMS (a PyKMIP
# server with the identity key configured), one re-enciphered per device
# (step 7). Each step's outcome is checked: the key states (validate --json,
# list --json), unlocking by token with the plugin, the messages that mirror
# zkey-cryptsetup's. Also zkey's option spellings: short options, -V/-v,
# --to-new/--from-old and the combinations refused as usage errors.

SK_BUILDDIR=@abs_top_builddir@
. @abs_top_srcdir@/tests/cli/common.sh
. @abs_top_srcdir@/tests/cli/devices.sh

KMS_DIR=@abs_top_srcdir@/tests/kms
. @abs_top_srcdir@/tests/cli/kms.sh

# The APQNs of the procedure's examples (the soft HSM takes any).
APQNS=08.002f,09.002f

# ------------------------------------------------------------- helpers

# volumes: img1 bound to the KMS, img2 to img4 not; all known volumes.
volumes()
{
	kms_setup
	mkimg img1
	enroll img1 --kms
	for i in 2 3 4; do
		mkimg "img$i"
		enroll "img$i"
	done
}

# batch OUT ARGS...: 'securekey ARGS...' exits 0; its stdout into OUT.
batch()
{
	_out=$1
	shift
	atf_check -s exit:0 -o save:"$_out" -e empty "$SECUREKEY" "$@"
}

# row OUT RESULT IMG DETAIL-REGEXP: the batch table in OUT has IMG's row.
row()
{
	atf_check -s exit:0 -o ignore -e empty \
		grep -E "^$2 +[-0-9a-f]{36} +[^ ]*$3 +$4" "$1"
}

# listed EXPR: every row of 'securekey list --json' (as d) satisfies EXPR.
listed()
{
	atf_check -s exit:0 -o save:list.json -e empty "$SECUREKEY" list --apqns "$APQNS" --json
	json_holds list.json l "len(l) == 4" "all($1 for d in l)"
}

# step1 NAME: the security officer loads a NEW master key from two key parts
# and commits it (the TKE's part of step 1). Before the commit, staging is
# refused with the step that is missing, and nothing changes.
step1()
{
	make_part "$1-a"
	make_part "$1-b"
	load_parts "$1-a" "$1-b"
	NEW_MKVP=$(mkvp_of_parts "$1-a" "$1-b")
	sums=$(sha256sum img1 img2 img3 img4)
	atf_check -s exit:1 -e empty \
		-o match:"^failed +[-0-9a-f]{36} +[^ ]*img1 +a NEW master key is loaded but not committed: run 'securekey hsm commit --apqns $APQNS' first" \
		-o match:"^4 devices: 0 ok, 0 skipped, 4 failed" \
		"$SECUREKEY" reencipher --apqns "$APQNS" --to-new --staged --key-file pass
	refused "a NEW master key is loaded on APQNs $APQNS but not committed; run 'securekey hsm commit --apqns $APQNS' first" \
		"$SECUREKEY" kms reencipher --to-new --staged
	test "$(sha256sum img1 img2 img3 img4)" = "$sums" || atf_fail "staging before the commit changed a volume"
	atf_check -s exit:0 -e empty -o match:"^Next step: +hsm commit\$" \
		-o match:"^NEW master key: loaded, not committed: run 'securekey hsm commit --apqns $APQNS',\$" \
		"$CR" validate img2
	atf_check -s exit:0 -o match:"NEW master key committed on APQNs $APQNS \(MKVP $NEW_MKVP\)" \
		-e empty "$SECUREKEY" hsm commit --apqns "$APQNS"
	vstate img1 CURRENT - "reencipher --staged"
}

# step2: zkey kms reencipher --to-new --staged
step2()
{
	atf_check -s exit:0 -e empty \
		-o match:"^identity key .*: staged: enciphered with the NEW master key as well\.\$" \
		"$SECUREKEY" kms reencipher --to-new --staged
}

# step3 [SKIPPED-IMG]: zkey reencipher --apqns 08.002f,09.002f --to-new --staged
step3()
{
	batch out3 reencipher --apqns "$APQNS" --to-new --staged --key-file pass
	for i in 1 2 3 4; do
		if [ "img$i" = "${1:-}" ]; then
			row out3 skipped "img$i" "staged to the NEW master key: waits for 'securekey hsm set'"
		else
			row out3 ok "img$i" "staged to the NEW master key\$"
		fi
	done
	vstate img1 CURRENT NEW "hsm set"
	vstate img2 CURRENT NEW "hsm set"
	listed "d['register'] == 'CURRENT' and d['staged'] and d['next_step'] == 'hsm set'"
	token_unlocks img1 "secure key under the CURRENT master key"
}

# step4: the officer makes NEW the CURRENT master key: every known volume is
# staged, so the interlock lets it through without --force.
step4()
{
	atf_check -s exit:0 -o match:"NEW master key set on APQNs $APQNS" -e ignore \
		"$SECUREKEY" hsm set --apqns "$APQNS"
	test "$(reg_mkvp CURRENT)" = "$NEW_MKVP" || atf_fail "CURRENT is not MKVP $NEW_MKVP"
	vstate img1 OLD CURRENT "reencipher --complete"
	listed "d['register'] == 'OLD' and d['staged'] and d['next_step'] == 'reencipher --complete'"
	token_unlocks img2 "staged secure key \(NEW master key was set\)"
}

# step5: zkey kms reencipher --complete
step5()
{
	atf_check -s exit:0 -e empty \
		-o match:"^identity key .*: completed: the staged key is now the identity key\.\$" \
		"$SECUREKEY" kms reencipher --complete
}

# step7 IMG: zkey-cryptsetup reencipher IMG --staged, later --complete; the
# staged step says what zkey-cryptsetup says.
step7_staged()
{
	atf_check -s exit:0 -e empty \
		-o match:"^The secure volume key of $1 is enciphered with the CURRENT master key and was\$" \
		-o match:"^re-enciphered with the NEW master key \(MKVP $NEW_MKVP\), kept as staged\.\$" \
		-o match:"^After the NEW master key has been set to become the CURRENT master key, run\$" \
		-o match:"^'securekey-cryptsetup reencipher $1 --complete'\.\$" \
		"$CR" reencipher "$1" --staged --key-file pass
	vstate "$1" CURRENT NEW "hsm set"
}

step7_complete()
{
	atf_check -s exit:0 -e empty \
		-o match:"^The re-enciphering of the secure volume key of $1 is completed: it is enciphered with the CURRENT master key \(MKVP $NEW_MKVP\)\.\$" \
		"$CR" reencipher "$1" --complete --key-file pass
	vstate "$1" CURRENT - none
}

# all_current: every volume under the CURRENT master key, nothing to do, and
# each unlocks by token; the KMS-bound one still fetches from the KMS.
all_current()
{
	for i in 1 2 3 4; do
		vstate "img$i" CURRENT - none
	done
	listed "d['register'] == 'CURRENT' and not d['staged'] and d['next_step'] == 'none'"
	token_unlocks img1 "secure key under the CURRENT master key"
	token_unlocks img4 "secure key under the CURRENT master key"
	pass_opens img3
	rm -f vk
	vk_of img1 vk
	atf_check -s exit:0 -o inline:"$(od -An -tx1 -v vk | tr -d ' \n')\n" -e empty \
		./tool-primary get "$(key_id img1)"
}

# --------------------------------------------------------------- cases

atf_test_case procedure cleanup
procedure_head()
{
	atf_set "descr" "the seed's steps 1 to 7 as written, zkey read as securekey: NEW loaded and" \
		"committed, identity key and volumes staged --to-new, NEW set, identity key and" \
		"volumes completed, one device per device; then again with 'securekey kms refresh'" \
		"as step 6"
	kms_head
}
procedure_body()
{
	volumes
	step1 n1
	step2
	# Step 7 for img4, which the operator re-enciphers per device: staged
	# before step 3 (which then leaves it alone), completed before step 6.
	step7_staged img4
	step3 img4
	step4
	step5
	step7_complete img4
	# Step 6: zkey reencipher --apqns 08.002f,09.002f --complete
	batch out6 reencipher --apqns "$APQNS" --complete --key-file pass
	for i in 1 2 3; do
		row out6 ok "img$i" "completed: under the CURRENT master key\$"
	done
	row out6 skipped img4 "under the CURRENT master key: nothing to re-encipher"
	all_current

	# The change again, with step 6's alternative: zkey kms refresh. It
	# re-imports the KMS-bound key under CURRENT; "it does not re-encipher
	# local keys": those still take reencipher --complete.
	step1 n2
	step2
	step3
	step4
	step5
	batch out6 kms refresh --apqns "$APQNS"
	row out6 ok img1 "fetched from the KMS: under the CURRENT master key\$"
	for i in 2 3 4; do
		row out6 skipped "img$i" "not bound to a KMS"
	done
	vstate img1 CURRENT - none
	vstate img2 OLD CURRENT "reencipher --complete"
	batch out6 reencipher --apqns "$APQNS" --complete --key-file pass
	row out6 skipped img1 "under the CURRENT master key: nothing to re-encipher"
	for i in 2 3 4; do
		row out6 ok "img$i" "completed: under the CURRENT master key\$"
	done
	all_current
}
procedure_cleanup() { kms_cleanup; }

atf_test_case short_options
short_options_head()
{
	common_head
	atf_set "descr" "zkey-cryptsetup's short options and -V/-v as zkey has them; --to-new and" \
		"--from-old with zkey's defaults (staged, in place)"
}
short_options_body()
{
	setup
	mkimg img
	printf 'XXXXcorrect horse batteryYYYY' >padded
	chmod 0600 padded
	# -d -o -l: the passphrase from the middle of a key file; -q as zkey's
	atf_check -s exit:0 -e ignore -o match:"enrolled" \
		"$CR" enroll img --apqns "$APQNS" -d padded -o 4 -l 21 -q
	new_mk n1
	# -N is --staged by default
	atf_check -s exit:0 -e empty -o match:"kept as staged" "$CR" reencipher img -N -d pass
	vstate img CURRENT NEW "hsm set"
	set_new
	atf_check -s exit:0 -e empty -o match:"is completed" "$CR" reencipher img -c -d pass
	# -O is --in-place by default: a key left under OLD
	new_mk n2
	set_new
	atf_check -s exit:0 -e empty -o match:"re-enciphered in place from the OLD to the CURRENT" \
		"$CR" reencipher img -O -d pass -T 1
	vstate img CURRENT - none
	# -V is --verbose (accepted before and after the command), -v the version
	atf_check -s exit:0 -o ignore -e ignore "$CR" -V validate img -D
	atf_check -s exit:0 -o ignore -e ignore "$SECUREKEY" hsm status -V
	atf_check -s exit:0 -o match:"^securekey-cryptsetup [0-9]+\.[0-9]+" -e empty "$CR" -v
	atf_check -s exit:0 -o match:"^securekey [0-9]+\.[0-9]+" -e empty "$SECUREKEY" -v
	# -v after a command is no option of it: usage error, as zkey's
	atf_check -s exit:2 -o empty -e match:"invalid option" "$SECUREKEY" hsm status -v
	# zkey's -a for --apqns
	atf_check -s exit:0 -e empty -o match:"img" "$SECUREKEY" list -a "$APQNS"
	# setkey's -m (zkey-cryptsetup's --master-key-file)
	atf_check -s exit:0 -e empty -o ignore "$CR" export img --out img.skey
	atf_check -s exit:0 -e empty -o ignore "$CR" setkey img -m img.skey -d pass
}

atf_test_case conflicting_options
conflicting_options_head()
{
	common_head
	atf_set "descr" "contradicting step options are usage errors naming both, on every" \
		"re-encipher command, and change nothing; unknown commands name the program once"
}
conflicting_options_body()
{
	setup
	mkimg img
	enroll img
	new_mk n1
	SK_EXIT=2
	for pair in "--staged --in-place" "--staged --complete" "--in-place --complete" \
		"--to-new --from-old" "--to-new --complete" "--from-old --complete" \
		"--to-new --in-place" "--from-old --staged"; do
		# shellcheck disable=SC2086 # $pair: two options
		set -- $pair
		re="--${1#--} and --${2#--} cannot be given together"
		refused "^securekey-cryptsetup: reencipher: $re" "$CR" reencipher img $pair --key-file pass
		refused "^securekey: reencipher: $re" "$SECUREKEY" reencipher $pair --key-file pass
		refused "^securekey: kms reencipher: $re" "$SECUREKEY" kms reencipher $pair
	done
	refused "--staged and --complete cannot be given together" \
		"$CR" reencipher img -s -c --key-file pass
	refused "--staged and --in-place cannot be given together" \
		"$CR" reencipher img --staged --in-place --complete --key-file pass
	refused "--to-new and --from-old cannot be given together" \
		"$SECUREKEY" reencipher -n -o --key-file pass
	SK_EXIT=1
	# the same option twice is no conflict
	atf_check -s exit:0 -e empty -o match:"kept as staged" \
		"$CR" reencipher img --staged --to-new -s --key-file pass
	# unknown commands: the program named once
	for bin in "$SECUREKEY" "$CR"; do
		name=$(basename "$bin")
		atf_check -s exit:2 -o empty \
			-e inline:"$name: unknown command 'frobnicate' (see '$name --help')\n" "$bin" frobnicate
	done
	atf_check -s exit:2 -o empty -e match:"^securekey: hsm: unknown command 'frobnicate'" \
		"$SECUREKEY" hsm frobnicate
}

atf_init_test_cases()
{
	atf_add_test_case procedure
	atf_add_test_case short_options
	atf_add_test_case conflicting_options
}
