#! @ATF_SH@
# Secure keys in files: 'securekey-cryptsetup export' writes one, and
# 'securekey reencipher --secure-key-file F' takes it through the master-key
# changes as zkey does for its repository (staged into F's .renc file,
# --complete, --in-place), so that the file still restores its device with
# 'securekey-cryptsetup setkey --secure-key-file'. setkey takes a staged
# file as the device's staged key. Files that are not 0600, not secure keys
# or under no register are refused with no change.

SK_BUILDDIR=@abs_top_builddir@
. @abs_top_srcdir@/tests/cli/common.sh
. @abs_top_srcdir@/tests/cli/devices.sh

# exported IMG FILE: IMG enrolled, and its secure key exported to FILE (0600).
exported()
{
	mkimg "$1"
	enroll "$1"
	atf_check -s exit:0 -o match:"^Secure key of $1 written to $2 \(MKVP $MK0\)\.\$" -e empty \
		"$CR" export "$1" --out "$2"
	test "$(stat -c %a "$2")" = 600 || atf_fail "$2 is not mode 0600"
}

# rsk ARGS...: securekey reencipher --secure-key-file ARGS... exits 0, says
# nothing on stderr; its stdout is in rsk.out.
rsk()
{
	atf_check -s exit:0 -o save:rsk.out -e empty "$SECUREKEY" reencipher --secure-key-file "$@"
}

# restores IMG FILE: setkey IMG from FILE, and IMG unlocks by its token
# under the CURRENT master key.
restores()
{
	atf_check -s exit:0 -o match:"^The secure key of $1 was set \(MKVP $(reg_mkvp CURRENT)\)\.\$" \
		-e empty "$CR" setkey "$1" --secure-key-file "$2" --key-file pass
	vstate "$1" CURRENT - none
	token_unlocks "$1" "secure key under the CURRENT master key"
}

atf_test_case staged_set_complete
staged_set_complete_head()
{
	atf_set "descr" "export, then a master-key change on the file: staged into d1.renc, hsm set, --complete; then --in-place to NEW before the next set, and in place from OLD after one; each time the file restores the device with setkey"
	common_head
}
staged_set_complete_body()
{
	setup
	exported d1 d1.skey
	cp d1.skey d1.orig
	new_mk n1
	# no step option: staged, beside the file; the file itself is unchanged
	rsk d1.skey
	atf_check -s exit:0 -o inline:"d1.skey: staged to the NEW master key (MKVP $NEW_MKVP) in d1.renc; after 'securekey hsm set', run 'securekey reencipher --secure-key-file d1.skey --complete'.\n" \
		cat rsk.out
	atf_check -s exit:0 cmp d1.skey d1.orig
	test "$(blob_mkvp d1.renc)" = "$NEW_MKVP" || atf_fail "d1.renc is not under NEW"
	test "$(stat -c %a d1.renc)" = 600 || atf_fail "d1.renc is not mode 0600"
	# staged already: refused, nothing changes
	refused "d1.skey is already staged to the NEW master key in d1.renc; after 'securekey hsm set', run 'securekey reencipher --secure-key-file d1.skey --complete'" \
		"$SECUREKEY" reencipher --secure-key-file d1.skey --staged
	set_new
	rsk d1.skey --complete
	atf_check -s exit:0 -o inline:"d1.skey: completed: under the CURRENT master key (MKVP $NEW_MKVP); d1.renc removed.\n" \
		cat rsk.out
	test ! -e d1.renc || atf_fail "d1.renc is still there"
	test "$(blob_mkvp d1.skey)" = "$NEW_MKVP" || atf_fail "d1.skey is not under CURRENT"
	test "$(stat -c %a d1.skey)" = 600 || atf_fail "d1.skey is not mode 0600"
	# the device was not re-enciphered: the file restores it under CURRENT
	vstate d1 OLD - "reencipher --in-place"
	restores d1 d1.skey
	# nothing to do now
	rsk d1.skey
	atf_check -s exit:0 -o match:"^d1.skey: under the CURRENT master key \(MKVP $NEW_MKVP\): nothing to re-encipher\.\$" \
		cat rsk.out
	# zkey's --in-place of a key under CURRENT: to NEW at once, no .renc
	mk1=$NEW_MKVP
	new_mk n2
	rsk d1.skey --in-place
	atf_check -s exit:0 -o match:"^d1.skey: re-enciphered in place to the NEW master key \(MKVP $NEW_MKVP\); it can be used once 'securekey hsm set' makes NEW the CURRENT one\.\$" \
		cat rsk.out
	test ! -e d1.renc || atf_fail "--in-place left a d1.renc"
	set_new
	restores d1 d1.skey
	# left under OLD by a set: in place to CURRENT
	new_mk n3
	set_new
	test "$(blob_mkvp d1.skey)" = "$(reg_mkvp OLD)" || atf_fail "d1.skey is not under OLD"
	rsk d1.skey --in-place
	atf_check -s exit:0 -o match:"^d1.skey: re-enciphered in place to the CURRENT master key \(MKVP $NEW_MKVP\)\.\$" \
		cat rsk.out
	restores d1 d1.skey
	test "$mk1" != "$NEW_MKVP" || atf_fail "the master key did not change"
}

atf_test_case file_refusals
file_refusals_head()
{
	atf_set "descr" "a secure key file that others may read, one that holds no secure key, one under no register, a step that is not the file's, and device or passphrase options with --secure-key-file are refused with no change"
	common_head
}
file_refusals_body()
{
	setup
	exported d1 d1.skey
	new_mk n1
	chmod 0644 d1.skey
	refused "^secure key file d1.skey has mode 0644 and may be read by others; fix with: chmod 0600 d1.skey\$" \
		"$SECUREKEY" reencipher --secure-key-file d1.skey
	chmod 0600 d1.skey
	head -c 80 /dev/urandom >noise.skey
	chmod 0600 noise.skey
	refused "^noise.skey: secure key is corrupt" "$SECUREKEY" reencipher --secure-key-file noise.skey
	refused "^cannot open missing.skey: No such file or directory\$" \
		"$SECUREKEY" reencipher --secure-key-file missing.skey
	# not this step: nothing is staged to complete
	refused "cannot re-encipher d1.skey --complete: its next step is 'reencipher --staged'" \
		"$SECUREKEY" reencipher --secure-key-file d1.skey --complete
	SK_EXIT=2 refused "give --secure-key-file without device paths" \
		"$SECUREKEY" reencipher --secure-key-file d1.skey d1
	SK_EXIT=2 refused "give --secure-key-file without --key-file" \
		"$SECUREKEY" reencipher --secure-key-file d1.skey --key-file pass
	SK_EXIT=2 refused "give --secure-key-file without --all" \
		"$SECUREKEY" reencipher --secure-key-file d1.skey --all
	# two sets without a re-encipher: under no register any more
	set_new
	new_mk n2
	set_new
	refused "^d1.skey is enciphered with MKVP $MK0, which no register of APQNs $APQNS holds: it cannot be re-enciphered any more; export the device's key again" \
		"$SECUREKEY" reencipher --secure-key-file d1.skey
}

atf_test_case setkey_staged_file
setkey_staged_file_head()
{
	atf_set "descr" "setkey --secure-key-file with a file staged to NEW: the device keeps a key under CURRENT and takes the file as its staged key; after hsm set it unlocks with it and completes"
	common_head
}
setkey_staged_file_body()
{
	setup
	exported d1 d1.skey
	new_mk n1
	rsk d1.skey --staged
	atf_check -s exit:0 \
		-o match:"^The secure key of d1 was set \(MKVP $MK0\), staged to the NEW master key \(MKVP $NEW_MKVP\)\.\$" \
		-e empty "$CR" setkey d1 --secure-key-file d1.renc --key-file pass
	vstate d1 CURRENT NEW "hsm set"
	token_unlocks d1 "secure key under the CURRENT master key"
	atf_check -s exit:0 -o inline:"ok\n" -e empty "$PYTHON" -c '
import base64, json, sys
t = json.loads(sys.stdin.read())
staged = base64.b64decode(t["staged"]["secure_key"])
assert staged == open("d1.renc", "rb").read(), "the staged key is not the file"
print("ok")' <<EOF
$(token_json d1)
EOF
	set_new
	token_unlocks d1 "staged secure key"
	atf_check -s exit:0 -o ignore -e empty "$CR" reencipher d1 --complete --key-file pass
	vstate d1 CURRENT - none
}

atf_init_test_cases()
{
	atf_add_test_case staged_set_complete
	atf_add_test_case file_refusals
	atf_add_test_case setkey_staged_file
}
