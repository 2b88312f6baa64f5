#! @ATF_SH@
# RSA-OAEP master keys in a TPM2 (issue 26): swtpm, tpm2-pkcs11 and the
# shared flows of the pkcs11 backend, with no master_key_kind: the token's
# mechanisms (RSA, no AES-GCM or AES-KWP) choose the kind. Each case starts
# its own swtpm on free localhost ports, with tpm2-abrmd in front of it
# (tpm2_token in common.sh), and its cleanup stops them.

SK_BUILDDIR=@abs_top_builddir@
SK_BACKEND=tpm2
. @abs_top_srcdir@/tests/cli/common.sh
. @abs_top_srcdir@/tests/cli/devices.sh

tpm2_head()
{
	common_head swtpm tpm2-abrmd dbus-daemon tpm2_ptool tpm2_getrandom pkcs11-tool
	atf_set "require.files" "$P11_MODULE"
	atf_set "timeout" "600"
}

atf_test_case flow cleanup
flow_head()
{
	tpm2_head
	atf_set "descr" "a TPM2 token: hsm init picks RSA-OAEP; enroll, validate, unlock by the" \
		"plugin, generate-new, commit, reencipher staged, hsm set, complete; the private" \
		"keys are sensitive, never extractable and decrypt only; key parts are refused"
}
flow_body()
{
	setup
	mk0=$MK0
	atf_check -s exit:0 -e empty -o match:"^Kind: rsa-oaep \(chosen from the token's mechanisms\)\$" \
		-o match:"^Cipher: RSA-OAEP, RSA-2048 \(CKM_RSA_PKCS_OAEP\)\$" \
		-o match:"^OAEP hash: CURRENT SHA-256\$" \
		"$SECUREKEY" hsm status
	atf_check -s exit:0 -e empty -o match:'"kind":"rsa-oaep"' "$SECUREKEY" hsm status --json
	pkcs11-tool --module "$P11_MODULE" --login --pin 4711-sk-pin --list-objects >objects 2>&1
	atf_check -s exit:0 -o match:"^ +Usage: +decrypt\$" \
		-o match:"^ +Access: +sensitive, always sensitive, never extractable, local\$" \
		-o not-match:"Usage:.*(sign|unwrap|derive)" \
		-x "grep -A4 '^Private Key Object' objects"
	make_part p1
	assert_unchanged "key parts do not apply to them; use 'securekey hsm generate-new' for NEW" \
		"$SECUREKEY" hsm load-part --apqns "$APQNS" --part-file p1

	mkimg img
	enroll img
	# backend 3: RSA-OAEP with SHA-256, which the TPM decrypts
	test "$(blob_id img)" = 3 || atf_fail "the secure key is not an RSA-OAEP SHA-256 blob (id $(blob_id img))"
	vstate img CURRENT - none
	token_unlocks img "secure key under the CURRENT master key"
	new_mk n1
	mk1=$NEW_MKVP
	test "$mk1" != "$mk0" || atf_fail "NEW has the MKVP of CURRENT"
	atf_check -s exit:0 -e empty -o match:"kept as staged" "$CR" reencipher img --staged --key-file pass
	vstate img CURRENT NEW "hsm set"
	token_unlocks img "secure key under the CURRENT master key"
	set_new
	token_unlocks img "staged secure key \(NEW master key was set\)"
	atf_check -s exit:0 -e empty -o match:"completed" "$CR" reencipher img --complete --key-file pass
	vjson img "v['secure_key']['mkvp'] == '$mk1'"
	token_unlocks img "secure key under the CURRENT master key"
	pass_opens img
}
flow_cleanup()
{
	tpm2_stop
}

atf_test_case rotate cleanup
rotate_head()
{
	tpm2_head
	atf_set "descr" "a TPM2 token: 'securekey rotate' (two workers) moves three volumes to a" \
		"NEW master key generated in the TPM; 'securekey reencipher --staged' (two workers)" \
		"stages them to the next one"
}
rotate_body()
{
	# The workers of 'securekey rotate' must not inherit the parent's
	# tpm2-pkcs11: with its TPM sessions the TPM rejected their session
	# HMACs (TPM_RC_AUTH_FAIL), and even after C_Finalize the tabrmd TCTI's
	# GDBus worker thread, which a forked child lacks, made their D-Bus
	# calls time out. The parent uses the token in child processes only
	# (cli_isolated); each worker opens its own. Two jobs: two workers use
	# the TPM side by side.
	setup
	for img in r1 r2 r3; do
		mkimg $img
		enroll $img
	done
	new_mk n1
	atf_check -s exit:0 -o match:"3 devices: 3 ok" -e ignore \
		"$SECUREKEY" rotate --apqns "$APQNS" --key-file pass --jobs 2
	for img in r1 r2 r3; do
		vjson $img "v['secure_key']['mkvp'] == '$NEW_MKVP'" "v['staged'] is None"
		token_unlocks $img "secure key under the CURRENT master key"
	done
	atf_check -s exit:0 -e empty -o match:"OLD +valid" -x "'$SECUREKEY' hsm status | grep '^01.0001 '"
	# 'securekey reencipher' forks its workers the same way
	mk1=$NEW_MKVP
	new_mk n2
	atf_check -s exit:0 -o match:"3 devices: 3 ok" -e ignore \
		"$SECUREKEY" reencipher --staged --key-file pass --jobs 2 r1 r2 r3
	for img in r1 r2 r3; do
		vjson $img "v['secure_key']['mkvp'] == '$mk1'" "v['staged']['mkvp'] == '$NEW_MKVP'"
		token_unlocks $img "secure key under the CURRENT master key"
	done
}
rotate_cleanup()
{
	tpm2_stop
}

atf_init_test_cases()
{
	atf_add_test_case flow
	atf_add_test_case rotate
}
