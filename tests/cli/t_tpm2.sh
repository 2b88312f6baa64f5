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
	rotate_and_stage_workers r1 r2 r3
}
rotate_cleanup()
{
	tpm2_stop
}

kms_tpm2_head()
{
	common_head swtpm tpm2-abrmd dbus-daemon tpm2_ptool tpm2_getrandom pkcs11-tool openssl
	atf_set "require.files" "$P11_MODULE /usr/bin/pykmip-server /usr/bin/python3"
	atf_set "timeout" "600"
}

atf_test_case kms_refresh cleanup
kms_refresh_head()
{
	kms_tpm2_head
	atf_set "descr" "a TPM2 token: 'securekey kms refresh' (two workers) fetches the keys of" \
		"three volumes whose secure keys are under no register any more, over a KMS whose" \
		"identity key (EC, generated) the TPM wraps, and stores them under CURRENT"
}
# kms_tpm2_setup IMG...: a KMS (PyKMIP) whose identity key (EC, generated)
# the TPM wraps, and IMG... bound to it with their secure keys under no
# register any more.
kms_tpm2_setup()
{
	KMS_DIR=@abs_top_srcdir@/tests/kms
	. @abs_top_srcdir@/tests/cli/kms.sh
	setup
	mkdir -p kms
	kms_certs "$PWD/kms" || atf_fail "cannot make the test PKI"
	start primary
	# the test PKI's RSA-2048 client key does not fit one RSA-OAEP block
	atf_check -s exit:0 -e empty -o match:"never written in clear" "$SECUREKEY" kms configure \
		--apqns "$APQNS" --generate-key --csr req.csr --subject /CN=securekey-test
	printf '%s\n' "basicConstraints = critical, CA:FALSE" \
		"keyUsage = critical, digitalSignature, keyEncipherment" \
		"extendedKeyUsage = clientAuth" >client_ext.cnf
	atf_check -s exit:0 -o ignore -e ignore openssl x509 -req -in req.csr -CA kms/ca.pem \
		-CAkey kms/ca.key -set_serial 77 -days 30 -sha256 -extfile client_ext.cnf -out signed.pem
	atf_check -s exit:0 -e empty -o match:"^KMS configured in $SECUREKEY_CONF" \
		"$SECUREKEY" kms configure --apqns "$APQNS" --server "$URL_primary" --ca kms/ca.pem \
		--cert signed.pem --timeout 30
	for img in "$@"; do
		mkimg $img
		enroll $img --kms
	done
	change_mk_twice
	for img in "$@"; do
		vstate $img none - "refresh or setkey"
	done
}

kms_refresh_body()
{
	# As for rotate: the parent of 'kms refresh' must not load tpm2-pkcs11
	# before it forks its workers. It reads the registers and unwraps the
	# identity key in a child process (cli_isolated); each worker opens its
	# own token. The token plugin's own fallback: plugin_kms.
	kms_tpm2_setup k1 k2 k3
	atf_check -s exit:0 -e ignore -o match:"^3 devices: 3 ok, 0 skipped, 0 failed" \
		-o match:"^ok +[-0-9a-f]{36} +[^ ]*k2 +fetched from the KMS: under the CURRENT master key\$" \
		"$SECUREKEY" kms refresh --jobs 2 k1 k2 k3
	for img in k1 k2 k3; do
		vstate $img CURRENT - none
		token_unlocks $img "secure key under the CURRENT master key"
	done
}
kms_refresh_cleanup()
{
	KMS_DIR=@abs_top_srcdir@/tests/kms
	. @abs_top_srcdir@/tests/cli/kms.sh
	kms_cleanup
	tpm2_stop
}

atf_test_case plugin_kms cleanup
plugin_kms_head()
{
	kms_tpm2_head
	atf_set "descr" "a TPM2 token: the plugin (in cryptsetup) and 'securekey-cryptsetup open'" \
		"unlock a volume whose secure key is under no register from the KMS, the identity" \
		"key unwrapped by the TPM"
}
plugin_kms_body()
{
	# The plugin has used the token for the volume's own secure keys when
	# it falls back to the KMS; the child that does the TLS and KMIP must
	# not use the token (TPM_RC_AUTH_FAIL, D-Bus timeouts: see rotate), so
	# the plugin unwraps the identity key itself and hands the child its DER.
	kms_tpm2_setup k1
	sum=$(sha256sum k1)
	atf_check -s exit:0 -e ignore \
		-o match:"^# securekey: k1: no register holds the secure key's master key; fetching volume key $(key_id k1) from the KMS" \
		-o match:"^# securekey: k1: volume key fetched from the KMS" \
		./pcs open --debug --test-passphrase --token-only --token-type securekey k1
	atf_check -s exit:0 -o match:"^k1: unlocks by token \(keyslot 1\)\.\$" -e ignore \
		"$CR" open k1 --test-passphrase
	test "$(sha256sum k1)" = "$sum" || atf_fail "unlocking from the KMS wrote the header"
	vstate k1 none - "refresh or setkey"
}
plugin_kms_cleanup()
{
	kms_refresh_cleanup
}

atf_init_test_cases()
{
	atf_add_test_case flow
	atf_add_test_case rotate
	atf_add_test_case kms_refresh
	atf_add_test_case plugin_kms
}
