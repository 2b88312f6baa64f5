#! @ATF_SH@
# The pkcs11 HSM backend on a SoftHSM2 token (issue 9): what only this
# backend has. The shared flows run in t_cryptsetup_pkcs11 and
# t_rotate_pkcs11, the same programs as t_cryptsetup and t_rotate with the
# backend switched.

SK_BUILDDIR=@abs_top_builddir@
SK_BACKEND=pkcs11
. @abs_top_srcdir@/tests/cli/common.sh
. @abs_top_srcdir@/tests/cli/devices.sh
. @abs_top_srcdir@/tests/reliability/shim.sh

P11_PIN=4711-sk-pin

p11_head()
{
	common_head softhsm2-util pkcs11-tool
	atf_set "require.files" "$P11_MODULE"
}

# OpenSC's pkcs11-tool on the test token, logged in (a command line, so
# that atf_check can run it; no word of it has a blank).
P11TOOL="pkcs11-tool --module $P11_MODULE --token-label $P11_TOKEN --login --pin $P11_PIN"

# objects: "LABEL ID" of every object on the token, sorted.
objects()
{
	$P11TOOL --list-objects 2>/dev/null | awk '
		/^[A-Z][a-z]+ (Key )?[Oo]bject/ { if (l != "") print l, i; l = ""; i = "-" }
		/label:/ { sub(/.*label: */, ""); gsub(/\047/, ""); l = $0 }
		/ID:/ { i = $2 }
		END { if (l != "") print l, i }' | LC_ALL=C sort
}

atf_test_case status_and_objects
status_and_objects_head()
{
	p11_head
	atf_set "descr" "hsm status names the backend, module, token label and serial; the master keys are AES-256 objects, sensitive, never extractable, labelled by register with the MKVP as CKA_ID; enrolling adds no object (the volume key is enciphered inside the token, never stored in it)"
}
status_and_objects_body()
{
	setup
	serial=$(softhsm2-util --show-slots | awk '/Serial number:/ { s = $3 } /Label: *securekey-test/ { print s; exit }')
	atf_check -s exit:0 -e empty -o match:"^HSM: pkcs11 backend, pkcs11:token=$P11_TOKEN\?" \
		-o match:"^Token: '$P11_TOKEN', serial $serial, SoftHSM project SoftHSM v2\$" \
		-o match:"^Module: $P11_MODULE\$" \
		-o match:"^01\.0001 +CURRENT +valid +- +$MK0\$" "$SECUREKEY" hsm status
	test "$(status_json_get "(s['backend'], s['token']['label'], s['token']['serial'], s['token']['module'], s['repair'])")" = \
		"('pkcs11', '$P11_TOKEN', '$serial', '$P11_MODULE', None)" || atf_fail "status --json: $(cat status.json)"
	new_mk n1
	objects >before.txt
	atf_check -s exit:0 -o inline:"securekey-apqns -\nsecurekey-mk-current $MK0\nsecurekey-mk-new $NEW_MKVP\n" \
		cat before.txt
	$P11TOOL --list-objects --type secrkey >keys.txt 2>/dev/null
	test "$(grep -c 'AES length 32' keys.txt)" -eq 2 || atf_fail "not two AES-256 keys: $(cat keys.txt)"
	test "$(grep -c 'Access: *sensitive, always sensitive, never extractable, local' keys.txt)" -eq 2 ||
		atf_fail "master keys not sensitive and never extractable: $(cat keys.txt)"
	# the key value cannot be read from outside
	atf_check -s not-exit:0 -o ignore -e ignore \
		$P11TOOL --read-object --type secrkey --label securekey-mk-current
	mkimg img
	enroll img
	objects >after.txt
	cmp -s before.txt after.txt || atf_fail "enroll changed the token's objects: $(cat after.txt)"
	token_unlocks img "secure key under the CURRENT master key"
}

atf_test_case wrong_pin
wrong_pin_head()
{
	p11_head
	atf_set "descr" "a wrong PIN, a PIN file readable by others, a PIN in the URI, no PIN source and no terminal: one clear line, exit 1, the image and the token unchanged; the passphrase still opens"
}
wrong_pin_body()
{
	setup
	mkimg img
	enroll img
	good=$SECUREKEY_HSM_DIR
	printf 'not-the-pin' >badpin
	chmod 0600 badpin
	export SECUREKEY_HSM_DIR="${good%pin-source=*}pin-source=file:$PWD/badpin"
	refused "^img: wrong PIN for PKCS#11 token '$P11_TOKEN' in file:$PWD/badpin\$" \
		"$CR" validate img
	refused "wrong PIN for PKCS#11 token" "$CR" reencipher img --key-file pass
	refused "wrong PIN for PKCS#11 token '$P11_TOKEN'" "$SECUREKEY" hsm status
	token_fails img "" "wrong PIN for PKCS#11 token"
	chmod 0644 badpin
	refused "PIN file $PWD/badpin .*(group|other|0644|chmod)" "$SECUREKEY" hsm status
	export SECUREKEY_HSM_DIR="pkcs11:token=$P11_TOKEN;pin-value=$P11_PIN?module-path=$P11_MODULE"
	refused "carries the PIN \(pin-value\); put it in a 0600 file" "$SECUREKEY" hsm status
	export SECUREKEY_HSM_DIR="pkcs11:token=$P11_TOKEN?module-path=$P11_MODULE"
	refused "no PIN for PKCS#11 token '$P11_TOKEN': add pin-source=file:PATH" \
		setsid -w "$SECUREKEY" hsm status
	export SECUREKEY_HSM_DIR=$good
	vstate img CURRENT - none
	pass_opens img
}

atf_test_case pin_prompt
pin_prompt_head()
{
	p11_head
	atf_set "descr" "without a PIN source the PIN is asked on the terminal, echo off; the right one logs in, a wrong one is refused"
}
pin_prompt_body()
{
	setup
	export SECUREKEY_HSM_DIR="pkcs11:token=$P11_TOKEN?module-path=$P11_MODULE"
	cat >askpin.py <<'PY'
import os, pty, sys
pin, argv = sys.argv[1].encode(), sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    os.execv(argv[0], argv)
out = b""
while b"PIN for PKCS#11 token" not in out:
    out += os.read(fd, 1024)
os.write(fd, pin + b"\n")
while True:
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
status = os.waitpid(pid, 0)[1]
sys.stdout.write(out.decode(errors="replace").replace("\r", ""))
sys.exit(os.waitstatus_to_exitcode(status))
PY
	atf_check -s exit:0 -e empty -o match:"^PIN for PKCS#11 token '$P11_TOKEN': \$" \
		-o match:"CURRENT +valid +- +$MK0" -o not-match:"4711" \
		"$PYTHON" askpin.py 4711-sk-pin "$SECUREKEY" hsm status
	atf_check -s exit:1 -e empty -o match:"wrong PIN for PKCS#11 token '$P11_TOKEN'\$" \
		"$PYTHON" askpin.py 1234 "$SECUREKEY" hsm status
}

atf_test_case token_pin_asked
token_pin_asked_head()
{
	p11_head
	atf_set "descr" "without a PIN source the plugin returns -ENOANO, so cryptsetup asks for the" \
		"token PIN: the right one unlocks, a wrong one is refused (the passphrase still" \
		"opens); securekey-udev passphrase exits 3 and takes the PIN with --pin-stdin;" \
		"the PIN is in no output, nothing is written"
}
token_pin_asked_body()
{
	setup
	mkimg img
	enroll img
	export SECUREKEY_HSM_DIR="pkcs11:token=$P11_TOKEN?module-path=$P11_MODULE"
	sum=$(sha256sum img)
	atf_check -s exit:0 -o not-match:"$P11_PIN" -e not-match:"$P11_PIN" -x \
		"printf '%s\n' '$P11_PIN' | ./pcs open --debug --test-passphrase --token-only img"
	atf_check -s exit:1 -o ignore -e match:"wrong PIN for PKCS#11 token '$P11_TOKEN'\$" -x \
		"printf 'not-the-pin\n' | ./pcs open --test-passphrase --token-only img"
	atf_check -s exit:1 -o ignore -e match:"Nothing to read on input" \
		./pcs open --test-passphrase --token-only img </dev/null
	UDEV=$SK_BUILDDIR/cli/securekey-udev
	atf_check -s exit:3 -o empty -e match:"img: the PKCS#11 token needs its PIN; give it with --pin-stdin" \
		"$UDEV" passphrase img </dev/null
	atf_check -s exit:0 -o save:tokpass -e empty -x \
		"printf '%s\n' '$P11_PIN' | '$UDEV' passphrase --pin-stdin img"
	atf_check -s exit:0 -o ignore -e ignore cryptsetup open --test-passphrase --key-slot 1 \
		--key-file tokpass img
	atf_check -s exit:1 -o empty -e match:"wrong PIN for PKCS#11 token '$P11_TOKEN'" -x \
		"printf 'not-the-pin\n' | '$UDEV' passphrase --pin-stdin img"
	SK_EXIT=2 refused "--pin-stdin is for 'passphrase' only" "$UDEV" check --pin-stdin img
	test "$(sha256sum img)" = "$sum" || atf_fail "an unlock changed the image"
	pass_opens img
}

atf_test_case initramfs_files
initramfs_files_head()
{
	p11_head
	atf_set "descr" "securekey-udev files with the pkcs11 backend: the module and libp11-kit as" \
		"libraries, SoftHSM2's configuration (to its default path) and token files, the" \
		"PIN file as a secret, every initramfs_file (a directory's files), no soft HSM state"
}
initramfs_files_body()
{
	setup
	unset SECUREKEY_HSM_DIR
	export SECUREKEY_CONF=$PWD/securekey.conf
	mkdir -p vendor/sub
	echo a >vendor/a.conf
	echo b >vendor/sub/b.state
	printf '[hsm]\nbackend = pkcs11\nuri = pkcs11:token=%s\nmodule = %s\npin_file = %s\ninitramfs_file = %s\n' \
		"$P11_TOKEN" "$P11_MODULE" "$PWD/hsm/pin" "$PWD/vendor" >securekey.conf
	atf_check -s exit:0 -e empty -o save:files "$SK_BUILDDIR/cli/securekey-udev" files
	T=$(printf '\t')
	for line in "$P11_MODULE$T$P11_MODULE${T}library" \
		"$SOFTHSM2_CONF$T/etc/softhsm/softhsm2.conf" \
		"$PWD/hsm/pin$T$PWD/hsm/pin${T}secret" \
		"$PWD/vendor/a.conf$T$PWD/vendor/a.conf" \
		"$PWD/vendor/sub/b.state$T$PWD/vendor/sub/b.state" \
		"$PWD/securekey.conf$T/etc/securekey/securekey.conf"; do
		grep -qxF "$line" files || { cat files >&2; atf_fail "files lacks: $line"; }
	done
	grep -qE "/libp11-kit\.so\.0$T.*/libp11-kit\.so\.0${T}library\$" files ||
		{ cat files >&2; atf_fail "files lacks libp11-kit"; }
	grep -qE "^$PWD/hsm/tokens/[^/]+/token\.object$T" files ||
		{ cat files >&2; atf_fail "files lacks the token's objects"; }
	! grep -q "\.mk$T" files || atf_fail "soft HSM state listed for the pkcs11 backend"
}

atf_test_case token_absent
token_absent_head()
{
	p11_head
	atf_set "descr" "no token with that label, a module that does not exist, a token without user PIN: the message names the URI or module and the tokens present; nothing changes"
}
token_absent_body()
{
	setup
	mkimg img
	enroll img
	good=$SECUREKEY_HSM_DIR
	export SECUREKEY_HSM_DIR="pkcs11:token=nope?module-path=$P11_MODULE&pin-source=file:$PWD/hsm/pin"
	refused "^img: no PKCS#11 token matches pkcs11:token=nope\?.* in $P11_MODULE \(tokens present: '$P11_TOKEN'\)\$" \
		"$CR" validate img
	refused "no PKCS#11 token matches" "$SECUREKEY" hsm status
	token_fails img "" "no PKCS#11 token matches"
	export SECUREKEY_HSM_DIR="pkcs11:token=$P11_TOKEN?module-path=$PWD/nonexistent.so&pin-source=file:$PWD/hsm/pin"
	refused "cannot load PKCS#11 module $PWD/nonexistent.so" "$SECUREKEY" hsm status
	export SECUREKEY_HSM_DIR="pkcs11:token=$P11_TOKEN?module-path=$P11_MODULE&pin-source=file:$PWD/hsm/pin&bogus=1"
	export SECUREKEY_HSM_DIR="pkcs11:token=$P11_TOKEN?module-path=$P11_MODULE&pin-source=relative/pin"
	refused "pin-source relative/pin of PKCS#11 token '$P11_TOKEN' is not a file" "$SECUREKEY" hsm status
	export SECUREKEY_HSM_DIR=$good
	# an uninitialized token of the same module: not this one
	atf_check -s exit:0 -o ignore -e ignore softhsm2-util --init-token --free --label other \
		--pin 1111 --so-pin 2222
	export SECUREKEY_HSM_DIR="pkcs11:token=other?module-path=$P11_MODULE&pin-source=file:$PWD/hsm/pin"
	refused "wrong PIN for PKCS#11 token 'other'" "$SECUREKEY" hsm status
	export SECUREKEY_HSM_DIR=$good
	vstate img CURRENT - none
}

atf_test_case object_missing
object_missing_head()
{
	p11_head
	atf_set "descr" "the CURRENT master key deleted from the token, the APQN names missing, an APQN the token does not know: clear refusals, nothing changed; a soft-HSM secure key is refused by the pkcs11 backend by name"
}
object_missing_body()
{
	setup
	mkimg img
	enroll img
	refused "APQN 03\.0001 is not initialized: it is not a name of PKCS#11 token '$P11_TOKEN' \(01\.0001,02\.0001\)" \
		"$SECUREKEY" hsm status --apqns 03.0001
	# a secure key made by the soft HSM
	atf_check -s exit:0 -o ignore -e empty env SECUREKEY_HSM_DIR="$PWD/softhsm" \
		"$SECUREKEY" hsm init --apqns "$APQNS"
	atf_check -s exit:0 -o ignore -e ignore "$CR" export img --out p11.skey
	mkimg soft
	atf_check -s exit:0 -o ignore -e ignore env SECUREKEY_HSM_DIR="$PWD/softhsm" \
		"$CR" enroll soft --apqns "$APQNS" --key-file pass
	refused "soft: the secure key was enciphered by the soft HSM backend, and the HSM configured here is pkcs11; select that backend" \
		"$CR" open soft --test-passphrase
	refused "img: the secure key was enciphered by the pkcs11 HSM backend, and the HSM configured here is soft" \
		env SECUREKEY_HSM_DIR="$PWD/softhsm" "$CR" open img --test-passphrase
	# setkey unwraps the file's blob itself: the backend's own words
	refused "secure key \(MKVP [0-9a-f]{16}\) was enciphered by the pkcs11 HSM backend, not by the soft HSM" \
		env SECUREKEY_HSM_DIR="$PWD/softhsm" "$CR" setkey soft --secure-key-file p11.skey --key-file pass
	# the CURRENT key deleted behind securekey's back
	atf_check -s exit:0 -o ignore -e ignore \
		$P11TOOL --delete-object --type secrkey --label securekey-mk-current
	refused "img: the secure key is enciphered with a master key in no register of its APQNs" \
		"$CR" open img --test-passphrase
	token_fails img "" "in no register of its APQNs"
	refused "secure key needs master key MKVP $MK0, which no register of PKCS#11 token '$P11_TOKEN' holds \(OLD -, CURRENT -, NEW -\)" \
		"$CR" setkey img --secure-key-file p11.skey --key-file pass
	refused "the CURRENT register of PKCS#11 token '$P11_TOKEN' is empty; initialize it with 'securekey hsm init'" \
		"$SECUREKEY" hsm generate-new --apqns "$APQNS"
	pass_opens img
	# the APQN names deleted
	atf_check -s exit:0 -o ignore -e ignore $P11TOOL --delete-object --type data --label securekey-apqns
	refused "PKCS#11 token '$P11_TOKEN' holds no securekey master keys; create them with 'securekey hsm init" \
		"$SECUREKEY" hsm status
}

atf_test_case parts_refused
parts_refused_head()
{
	p11_head
	atf_set "descr" "key parts on a module without CKM_XOR_BASE_AND_DATA (SoftHSM2): init with parts and load-part are refused with the way out (generate-new), the token unchanged; generate-new, commit, clear-new and the refusals around them"
}
parts_refused_body()
{
	p11_token
	make_part p1
	make_part p2
	refused "^PKCS#11 token '$P11_TOKEN' cannot combine key parts: its module has no CKM_XOR_BASE_AND_DATA, and securekey never combines them outside the token; .*'securekey hsm generate-new' for NEW\$" \
		"$SECUREKEY" hsm init --apqns "$APQNS" --part-file p1 --part-file p2
	atf_check -s exit:0 -o match:"\(random\)" -e empty "$SECUREKEY" hsm init --apqns "$APQNS"
	refused "already holds securekey master keys \(securekey-mk-current\)" \
		"$SECUREKEY" hsm init --apqns "$APQNS"
	refused "cannot combine key parts: its module has no CKM_XOR_BASE_AND_DATA" \
		"$SECUREKEY" hsm load-part --apqns "$APQNS" --part-file p1
	refused "the NEW register of PKCS#11 token '$P11_TOKEN' is empty; run 'securekey hsm generate-new' \(or load key parts\) before commit" \
		"$SECUREKEY" hsm commit --apqns "$APQNS"
	refused "NEW register of PKCS#11 token '$P11_TOKEN' is empty; run 'securekey hsm generate-new' \(or load key parts\) and 'securekey hsm commit'" \
		"$SECUREKEY" hsm set --apqns "$APQNS" --force
	atf_check -s exit:0 -o match:"^NEW master key generated on APQNs $APQNS \(MKVP [0-9a-f]{16}\)\.\$" \
		-e empty "$SECUREKEY" hsm generate-new --apqns "$APQNS"
	test "$(reg_mkvp NEW) $(status_json_get "s['apqns'][0]['registers']['NEW']['state']")" != "None full-uncommitted" ||
		atf_fail "NEW not full-uncommitted"
	refused "is full-uncommitted; run 'securekey hsm commit' or 'securekey hsm clear-new' first" \
		"$SECUREKEY" hsm generate-new --apqns "$APQNS"
	atf_check -s exit:0 -o ignore -e empty "$SECUREKEY" hsm clear-new --apqns "$APQNS"
	test "$(objects | grep -c securekey-mk-new)" -eq 0 || atf_fail "clear-new left a NEW key: $(objects)"
	new_mk n1
	refused "already committed \(MKVP $NEW_MKVP\); next: 'securekey hsm set'" \
		"$SECUREKEY" hsm commit --apqns "$APQNS"
}

# p11_mkvp_of_parts PART...: the MKVP the token gives the XOR of the parts:
# SHA-256("securekey-mkvp-p11" | AES-256-ECB_key(16 zero bytes)), 8 bytes.
p11_mkvp_of_parts()
{
	_key=$("$PYTHON" -c '
import functools, sys
parts = [open(f, "rb").read() for f in sys.argv[1:]]
print(functools.reduce(lambda a, b: bytes(x ^ y for x, y in zip(a, b)), parts).hex())' "$@")
	{
		printf 'securekey-mkvp-p11'
		head -c 16 /dev/zero | openssl enc -aes-256-ecb -nopad -K "$_key"
	} | sha256sum | cut -c1-16
}

atf_test_case parts_xor
parts_xor_head()
{
	common_head softhsm2-util pkcs11-tool openssl
	atf_set "require.files" "$P11_MODULE $P11SHIM"
	atf_set "descr" "key parts on a module with CKM_XOR_BASE_AND_DATA (SoftHSM2 behind the test shim, which offers it): init from two parts and load-part of three give the MKVP of their XOR, with no part or pending key left; a part loaded twice (cancelling out), a commit with one part and a fourth part are refused with nothing changed; the change of master key runs through; --repair removes keys left by a step cut short"
}
parts_xor_body()
{
	p11_token
	export SK_P11SHIM_MODULE=$P11_MODULE SK_P11SHIM_XOR=1
	export SECUREKEY_HSM_DIR="pkcs11:token=$P11_TOKEN?module-path=$P11SHIM&pin-source=file:$PWD/hsm/pin"
	printf 'correct horse battery' >pass
	chmod 0600 pass
	for p in a b c d; do make_part "$p"; done
	atf_check -s exit:0 -o match:"from key parts" -e empty \
		"$SECUREKEY" hsm init --apqns "$APQNS" --part-file a --part-file b
	MK0=$(p11_mkvp_of_parts a b)
	test "$(reg_mkvp CURRENT)" = "$MK0" || atf_fail "CURRENT is $(reg_mkvp CURRENT), not the XOR of the parts ($MK0)"
	objects >objects.txt
	atf_check -s exit:0 -o inline:"securekey-apqns -\nsecurekey-mk-current $MK0\n" cat objects.txt
	make_pcs
	mkimg img
	enroll img
	atf_check -s exit:0 -o match:"NEW register of APQNs $APQNS: partial, 1 of at most 3 parts" -e empty \
		"$SECUREKEY" hsm load-part --apqns "$APQNS" --part-file a
	refused "holds 1 key part; load at least 2 key parts" "$SECUREKEY" hsm commit --apqns "$APQNS"
	# the XOR is only known inside the token: the key made to check it is
	# destroyed again, so the token's objects are unchanged (its directory is not)
	objects >before.txt
	atf_check -s exit:1 -o empty \
		-e match:"the key parts cancel each other out \(was one part given twice, or is a part all zeros\?\); nothing was kept" \
		"$SECUREKEY" hsm load-part --apqns "$APQNS" --part-file a
	objects >after.txt
	cmp -s before.txt after.txt || atf_fail "a refused part changed the token: $(cat after.txt)"
	atf_check -s exit:0 -o ignore -e empty "$SECUREKEY" hsm load-part --apqns "$APQNS" --part-file c
	atf_check -s exit:0 -o match:": full-uncommitted, 3 of at most 3 parts" -e empty \
		"$SECUREKEY" hsm load-part --apqns "$APQNS" --part-file d
	refused "already holds 3 key parts, the most a master key has" \
		"$SECUREKEY" hsm load-part --apqns "$APQNS" --part-file b
	NEW_MKVP=$(p11_mkvp_of_parts a c d)
	atf_check -s exit:0 -o match:"NEW master key committed on APQNs $APQNS \(MKVP $NEW_MKVP\)" \
		-e empty "$SECUREKEY" hsm commit --apqns "$APQNS"
	objects >objects.txt
	atf_check -s exit:0 -o inline:"securekey-apqns -\nsecurekey-mk-current $MK0\nsecurekey-mk-new $NEW_MKVP\n" cat objects.txt
	atf_check -s exit:0 -o match:"kept as staged" -e empty "$CR" reencipher img --key-file pass
	set_new
	atf_check -s exit:0 -o ignore -e empty "$CR" reencipher img --key-file pass
	vstate img CURRENT - none
	token_unlocks img "secure key under the CURRENT master key"
	# keys a step cut short leaves: a pending key, a part key beside a committed NEW
	atf_check -s exit:0 -o ignore -e empty "$SECUREKEY" hsm load-part --apqns "$APQNS" --part-file b
	atf_check -s exit:0 -o ignore -e empty "$SECUREKEY" hsm load-part --apqns "$APQNS" --part-file c
	atf_check -s exit:0 -o ignore -e empty "$SECUREKEY" hsm commit --apqns "$APQNS"
	atf_check -s exit:0 -o ignore -e ignore $P11TOOL --keygen --key-type AES:32 --label securekey-mk-new-part2 --id 0102030405060708
	atf_check -s exit:0 -o ignore -e ignore $P11TOOL --keygen --key-type AES:32 --label securekey-mk-pending
	atf_check -s exit:0 -o match:"cut short after it was done; --repair removes the old part keys" \
		-e empty "$SECUREKEY" hsm status
	refused "holds keys of key parts that a finished step left behind; run 'securekey hsm status --repair' first" \
		"$SECUREKEY" hsm set --apqns "$APQNS" --force
	atf_check -s exit:0 -o ignore -e empty "$SECUREKEY" hsm status --repair
	objects >objects.txt
	atf_check -s exit:0 -o match:"^securekey-mk-new $(p11_mkvp_of_parts b c)\$" -o not-match:"part|pending" \
		cat objects.txt
	atf_check -s exit:0 -o ignore -e empty "$SECUREKEY" hsm clear-new --apqns "$APQNS"
	export SK_P11SHIM_XOR=0
	refused "cannot combine key parts: its module has no CKM_XOR_BASE_AND_DATA" \
		"$SECUREKEY" hsm load-part --apqns "$APQNS" --part-file a
}

atf_test_case set_cut_short
set_cut_short_head()
{
	shim_head softhsm2-util pkcs11-tool
	atf_set "descr" "hsm set killed at every 8th file the token opens: afterwards the registers are as before, as after, or (no CURRENT, committed NEW) reported by status and finished by status --repair; secure keys under both keys unlock through it all"
}
set_cut_short_body()
{
	setup
	mkimg img
	enroll img
	new_mk n1
	atf_check -s exit:0 -o ignore -e empty "$CR" reencipher img --staged --key-file pass
	k1=$MK0 k2=$NEW_MKVP
	cp -a hsm hsm.base
	mkimg img2
	# how many files one set opens on the token
	atf_check -s exit:0 -o ignore -e ignore \
		env LD_PRELOAD="$SHIM_LD" FAULTSHIM_OPS=open FAULTSHIM_PATH="$PWD/hsm/tokens/*" \
		FAULTSHIM_LOG="$PWD/opens.log" "$SECUREKEY" hsm set --apqns "$APQNS" --force
	n=$(wc -l <opens.log)
	test "$n" -gt 8 || atf_fail "hsm set opened only $n token files"
	before=0 after=0 cut=0
	k=1
	while [ "$k" -le "$n" ]; do
		rm -rf hsm && cp -a hsm.base hsm
		env LD_PRELOAD="$SHIM_LD" FAULTSHIM_OPS=open FAULTSHIM_PATH="$PWD/hsm/tokens/*" \
			FAULTSHIM_ACTION=kill FAULTSHIM_NTH="$k" \
			"$SECUREKEY" hsm set --apqns "$APQNS" --force >set.out 2>&1
		regs=$(status_json_get "' '.join(str(s['apqns'][0]['registers'][r]['mkvp']) for r in ('OLD', 'CURRENT', 'NEW')) + ' ' + str(s['repair'] is not None)")
		case $regs in
		"None $k1 $k2 False") before=$((before + 1)) ;;
		"$k1 $k2 None False") after=$((after + 1)) ;;
		"$k1 None $k2 True")
			cut=$((cut + 1))
			atf_check -s exit:0 -e empty -o match:"^Needs repair: an 'hsm set' was cut short" \
				"$SECUREKEY" hsm status
			token_unlocks img "secure key under the OLD master key"
			refused "has no CURRENT master key: an 'hsm set' was cut short; run 'securekey hsm status --repair'" \
				"$CR" enroll img2 --apqns "$APQNS" --key-file pass
			atf_check -s exit:0 -e empty -o match:"^Repaired the change that was cut short" \
				"$SECUREKEY" hsm status --repair
			test "$(reg_mkvp CURRENT) $(reg_mkvp OLD)" = "$k2 $k1" || atf_fail "repair did not set NEW"
			;;
		*) atf_fail "after a kill at open $k of $n: registers OLD CURRENT NEW repair = $regs" ;;
		esac
		token_unlocks img "(staged secure key|secure key under the CURRENT master key)"
		rm -f set.out
		k=$((k + 8))
	done
	echo "kills: $before before, $after after, $cut cut short (of $n opens)"
	test "$before" -gt 0 && test "$after" -gt 0 || atf_fail "the kills missed a side: $before before, $after after"
	# The state a kill between the relabels leaves, made directly (a kill
	# lands there only when it hits the few opens between them): CURRENT
	# gone, OLD and a committed NEW.
	rm -rf hsm && cp -a hsm.base hsm
	atf_check -s exit:0 -o ignore -e ignore "$SECUREKEY" hsm set --apqns "$APQNS" --force
	new_mk n2
	atf_check -s exit:0 -o ignore -e ignore \
		$P11TOOL --delete-object --type secrkey --label securekey-mk-current
	atf_check -s exit:0 -e empty -o match:"^Needs repair: an 'hsm set' was cut short: NEW is committed but there is no CURRENT; --repair makes NEW CURRENT\.\$" \
		"$SECUREKEY" hsm status
	atf_check -s exit:0 -e empty -o match:"^Repaired" -o match:"^01\.0001 +CURRENT +valid +- +$NEW_MKVP\$" \
		"$SECUREKEY" hsm status --repair
	atf_check -s exit:0 -e empty -o match:"^Nothing to repair" "$SECUREKEY" hsm status --repair
}

atf_test_case p11kit_missing
p11kit_missing_head()
{
	p11_head
	atf_set "descr" "libp11-kit.so.0 cannot be loaded (an empty file bind-mounted over it): the pkcs11 backend says which library and package it needs, exit 1, nothing changed; the soft backend does not need it"
}
p11kit_missing_body()
{
	setup
	mkimg img
	enroll img
	lib=$(ldconfig -p | awk '$1 == "libp11-kit.so.0" { print $NF; exit }')
	test -n "$lib" || atf_fail "ldconfig knows no libp11-kit.so.0"
	without_p11kit="unshare -m sh -c 'mount --bind /dev/null \"\$0\" && exec \"\$@\"' $lib"
	refused "^the pkcs11 HSM backend needs libp11-kit.so.0 \(apt-get install p11-kit-modules or libp11-kit0\): " \
		sh -c "$without_p11kit \"\$@\"" sh "$SECUREKEY" hsm status
	refused "^img: the pkcs11 HSM backend needs libp11-kit.so.0" \
		sh -c "$without_p11kit \"\$@\"" sh "$CR" validate img
	export SECUREKEY_HSM_DIR="$PWD/softhsm"
	atf_check -s exit:0 -o match:"^Initialized APQNs 01.0001 " -e empty \
		sh -c "$without_p11kit \"\$@\"" sh "$SECUREKEY" hsm init --apqns 01.0001
}

atf_test_case config_backend
config_backend_head()
{
	p11_head
	atf_set "descr" "securekey.conf [hsm] backend = pkcs11 with uri, module and pin_file selects the token (no SECUREKEY_HSM_DIR); conflicting or malformed [hsm] keys are refused with file and line"
}
config_backend_body()
{
	setup
	unset SECUREKEY_HSM_DIR
	printf '[hsm]\nbackend = pkcs11\nuri = pkcs11:token=%s\nmodule = %s\npin_file = %s\n' \
		"$P11_TOKEN" "$P11_MODULE" "$PWD/hsm/pin" >securekey.conf
	atf_check -s exit:0 -e empty -o match:"^HSM: pkcs11 backend, pkcs11:token=$P11_TOKEN\?module-path=$P11_MODULE&pin-source=file:$PWD/hsm/pin\$" \
		-o match:"CURRENT +valid +- +$MK0" "$SECUREKEY" hsm status
	mkimg img
	enroll img
	token_unlocks img "secure key under the CURRENT master key"
	printf '[hsm]\nbackend = pkcs11\ndir = /x\nuri = pkcs11:token=a\n' >securekey.conf
	refused "securekey.conf: backend = pkcs11 needs \[hsm\] uri, and no dir" "$SECUREKEY" hsm status
	printf '[hsm]\nuri = pkcs11:token=a\n' >securekey.conf
	refused "uri, module, pin, pin_file, initramfs_file and master_key_kind need backend = pkcs11" "$SECUREKEY" hsm status
	printf '[hsm]\nbackend = hardware\n' >securekey.conf
	refused "securekey.conf:2: backend must be soft or pkcs11" "$SECUREKEY" hsm status
	printf '[hsm]\nbackend = pkcs11\nuri = token=a\n' >securekey.conf
	refused "securekey.conf:3: uri must be a PKCS#11 URI" "$SECUREKEY" hsm status
	printf '[hsm]\nbackend = pkcs11\nuri = pkcs11:token=a\npin_file = pin\n' >securekey.conf
	refused "securekey.conf:4: module and pin_file must be absolute paths" "$SECUREKEY" hsm status
}

atf_test_case pin_in_config
pin_in_config_head()
{
	p11_head
	atf_set "descr" "[hsm] pin in a 0600 securekey.conf logs in (hsm status, enroll, the plugin's unlock); the value never shows in any output, the file is marked secret for the initramfs and not rewritten by kms configure; a config readable by others, pin with pin_file, and a wrong pin are refused with nothing changed"
}
pin_in_config_body()
{
	setup
	unset SECUREKEY_HSM_DIR
	conf() # PIN [more lines]
	{
		printf '[hsm]\nbackend = pkcs11\nuri = pkcs11:token=%s\nmodule = %s\npin =  %s \n%s' \
			"$P11_TOKEN" "$P11_MODULE" "$1" "${2:-}" >securekey.conf
	}
	conf "$P11_PIN"
	chmod 0644 securekey.conf
	refused "^configuration holding the PKCS#11 PIN $PWD/securekey.conf has mode 0644 .*chmod 0600" \
		"$SECUREKEY" hsm status
	chmod 0600 securekey.conf
	atf_check -s exit:0 -e empty -o save:status.txt \
		-o match:"^HSM: pkcs11 backend, pkcs11:token=$P11_TOKEN\?module-path=$P11_MODULE&pin-source=securekey-conf:$PWD/securekey.conf\$" \
		-o match:"CURRENT +valid +- +$MK0" "$SECUREKEY" hsm status
	mkimg img
	atf_check -s exit:0 -o save:enroll.txt -e save:enroll.err "$CR" enroll img --key-file pass --apqns "$APQNS" --verbose
	token_unlocks img "secure key under the CURRENT master key"
	atf_check -s exit:0 -o save:files.txt -e empty "$SK_BUILDDIR/cli/securekey-udev" files
	atf_check -s exit:0 -o inline:"$PWD/securekey.conf	/etc/securekey/securekey.conf	secret\n" \
		grep securekey.conf files.txt
	refused "holds the PKCS#11 PIN \(\[hsm\] pin\) and is not rewritten.*pin_file" \
		"$SECUREKEY" kms configure --server kmip://127.0.0.1:1 --ca "$PWD/pass" \
		--cert "$PWD/pass" --key "$PWD/ik" --apqns "$APQNS"
	if grep -l -F -- "$P11_PIN" status.txt enroll.txt enroll.err files.txt; then
		atf_fail "the PIN was printed"
	fi
	conf "$P11_PIN" "pin_file = $PWD/hsm/pin
"
	refused "securekey.conf: pin and pin_file both give the PIN; keep one" "$SECUREKEY" hsm status
	conf not-the-pin
	refused "^img: wrong PIN for PKCS#11 token '$P11_TOKEN' in securekey-conf:$PWD/securekey.conf\$" \
		"$CR" validate img
	token_fails img "" "wrong PIN for PKCS#11 token"
	conf ""
	refused "securekey.conf:5: pin is empty" "$SECUREKEY" hsm status
	printf '[hsm]\nbackend = soft\npin = 1\n' >securekey.conf
	refused "uri, module, pin, pin_file, initramfs_file and master_key_kind need backend = pkcs11" "$SECUREKEY" hsm status
	conf "$P11_PIN"
	vstate img CURRENT - none
}

NSS_SOFTOKN=$(ldconfig -p | awk '$1 == "libsoftokn3.so" { print $NF; exit }')
P11SHIM=$SK_BUILDDIR/tests/p11shim/.libs/p11shim.so

# nss_token HIDE: NSS's softoken database token in ./hsm/nss (user PIN in
# ./hsm/pin), reached through the test shim, which hides the mechanisms in
# HIDE (hex, comma-separated) as a module without them would.
nss_token()
{
	mkdir -p hsm/nss
	chmod 0700 hsm
	printf '%s\n' "$P11_PIN" >hsm/pin
	chmod 0600 hsm/pin
	atf_check -s exit:0 -o ignore -e ignore certutil -N -d "sql:$PWD/hsm/nss" -f hsm/pin
	export SK_P11SHIM_MODULE=$NSS_SOFTOKN
	export SK_P11SHIM_INIT_ARGS="configdir='sql:$PWD/hsm/nss' certPrefix='' keyPrefix='' secmod='secmod.db' flags="
	export SK_P11SHIM_HIDE=$1
	export SECUREKEY_HSM_DIR="pkcs11:token=NSS%20Certificate%20DB?module-path=$P11SHIM&pin-source=file:$PWD/hsm/pin"
}

atf_test_case kwp_without_gcm
kwp_without_gcm_head()
{
	common_head certutil
	atf_set "require.files" "$NSS_SOFTOKN $P11SHIM"
	atf_set "descr" "a token without CKM_AES_GCM (NSS softoken with GCM hidden) enciphers secure keys with CKM_AES_KEY_WRAP_KWP: hsm status says so, the blob carries backend id 2, the plugin unlocks with it through a master-key change, a changed header byte is caught by the wrapped check; with GCM back the KWP key still opens; a token with neither is refused with nothing written"
}
kwp_without_gcm_body()
{
	printf 'correct horse battery' >pass
	chmod 0600 pass
	nss_token 0x1087
	atf_check -s exit:0 -o match:"\(random\)" -e empty "$SECUREKEY" hsm init --apqns "$APQNS"
	atf_check -s exit:0 -e empty -o match:"^Token: 'NSS Certificate DB', serial " \
		-o match:"^Cipher: AES-KWP \(CKM_AES_KEY_WRAP_KWP\)\$" "$SECUREKEY" hsm status
	MK0=$(reg_mkvp CURRENT)
	make_pcs
	mkimg img
	enroll img
	test "$(blob_id img)" = 2 || atf_fail "the secure key is not an AES-KWP blob (id $(blob_id img))"
	token_unlocks img "secure key under the CURRENT master key"
	new_mk n1
	atf_check -s exit:0 -o match:"kept as staged" -e empty "$CR" reencipher img --key-file pass
	set_new
	token_unlocks img "staged secure key \(NEW master key was set\)"
	atf_check -s exit:0 -o ignore -e empty "$CR" reencipher img --key-file pass
	vstate img CURRENT - none
	test "$(blob_id img)" = 2 || atf_fail "the re-enciphered key is not an AES-KWP blob"
	token_unlocks img "secure key under the CURRENT master key"
	cp img good.img
	flip_key img current 20
	token_fails img "does not verify under master key MKVP [0-9a-f]+: it was altered or enciphered with another key \(AES-KWP\)"
	cp good.img img
	flip_key img
	token_fails img "does not verify under master key MKVP [0-9a-f]+: it was altered or enciphered with another key \(AES-KWP\)"
	cp good.img img
	export SK_P11SHIM_HIDE=
	atf_check -s exit:0 -e empty -o match:"^Cipher: AES-GCM \(CKM_AES_GCM\)\$" "$SECUREKEY" hsm status
	token_unlocks img "secure key under the CURRENT master key"
	# without GCM and KWP, NSS's RSA-OAEP is the kind new master keys get;
	# CURRENT stays an AES key that no mode is left for
	export SK_P11SHIM_HIDE=0x1087,0x210b
	atf_check -s exit:0 -e empty -o match:"^Kind: rsa-oaep \(chosen from the token's mechanisms\)\$" \
		"$SECUREKEY" hsm status
	mkimg other
	refused "offers neither CKM_AES_GCM nor CKM_AES_KEY_WRAP_KWP for C_Encrypt/C_Decrypt" \
		"$CR" enroll other --apqns "$APQNS" --key-file pass
	export SK_P11SHIM_HIDE=0x1087,0x210b,0x9
	atf_check -s exit:0 -e empty -o match:"^Cipher: none " "$SECUREKEY" hsm status
	refused "offers neither CKM_AES_GCM nor CKM_AES_KEY_WRAP_KWP for C_Encrypt/C_Decrypt" \
		"$CR" enroll other --apqns "$APQNS" --key-file pass
}

# p11_rsa_token: the SoftHSM2 token of p11_token, named by securekey.conf
# with master_key_kind = rsa-oaep (not by SECUREKEY_HSM_DIR).
p11_rsa_token()
{
	p11_token
	export SECUREKEY_HSM_DIR=
	printf '[hsm]\nbackend = pkcs11\nuri = pkcs11:token=%s\nmodule = %s\npin_file = %s\nmaster_key_kind = rsa-oaep\n' \
		"$P11_TOKEN" "$P11_MODULE" "$PWD/hsm/pin" >"$SECUREKEY_CONF"
}

atf_test_case rsa_oaep
rsa_oaep_head()
{
	p11_head
	atf_set "descr" "master_key_kind = rsa-oaep in securekey.conf: hsm status shows the kind (text, --json); the master keys are RSA-2048 pairs whose private key is sensitive, never extractable and decrypt only, with the MKVP of the public key; key parts are refused (generate-part, init --part-file, load-part) with nothing changed; the pair keeps the OAEP hash SoftHSM2 decrypts with (SHA-1: it refuses SHA-256), shown by hsm status (text, --json), and the blob carries it (backend id 4); secure keys unwrap, stage, complete; a changed byte is caught; a kind the configuration names wrongly is refused"
}
rsa_oaep_body()
{
	printf 'correct horse battery' >pass
	chmod 0600 pass
	p11_rsa_token
	head -c 32 /dev/urandom >p1
	head -c 32 /dev/urandom >p2
	chmod 0600 p1 p2
	assert_unchanged "^the PKCS#11 token of pkcs11:token=$P11_TOKEN.* keeps RSA-OAEP master keys \(master_key_kind = rsa-oaep\), key pairs generated inside it: key parts do not apply to them; use 'securekey hsm generate-new' for NEW\$" \
		"$SECUREKEY" hsm generate-part --out p3
	# the lock file of the first token access, before the snapshot
	atf_check -s exit:1 -o empty -e match:"holds no securekey master keys" "$SECUREKEY" hsm status
	assert_unchanged "^PKCS#11 token '$P11_TOKEN' keeps RSA-OAEP master keys, key pairs generated inside it: key parts do not apply to them; use 'securekey hsm generate-new' for NEW \('securekey hsm init' without --part-file for CURRENT\)\$" \
		"$SECUREKEY" hsm init --apqns "$APQNS" --part-file p1 --part-file p2
	atf_check -s exit:0 -o match:"\(random\)" -e empty "$SECUREKEY" hsm init --apqns "$APQNS"
	# SoftHSM2 2.6.1 decrypts RSA-OAEP with SHA-1 only (CKR_ARGUMENTS_BAD to
	# SHA-256, and C_GetMechanismInfo does not say so): the test decryption
	# when the pair is made finds it, and the pair keeps SHA-1
	atf_check -s exit:0 -e empty -o match:"^Kind: rsa-oaep \(master_key_kind in securekey.conf\)\$" \
		-o match:"^Cipher: RSA-OAEP, RSA-2048 \(CKM_RSA_PKCS_OAEP\)\$" \
		-o match:"^OAEP hash: CURRENT SHA-1\$" "$SECUREKEY" hsm status
	atf_check -s exit:0 -e empty -o match:'"kind":"rsa-oaep"' -o match:'"kind_from":"securekey.conf"' \
		-x "'$SECUREKEY' hsm status --json | tr -d ' \n' | grep -o '\"oaep_hash\":{[^}]*}' | grep -x '\"oaep_hash\":{\"OLD\":null,\"CURRENT\":\"SHA-1\",\"NEW\":null}' && '$SECUREKEY' hsm status --json"
	MK0=$(reg_mkvp CURRENT)
	test "$(objects)" = "$(printf "securekey-apqns -\nsecurekey-mk-current %s\nsecurekey-mk-public-sha1 %s" "$MK0" "$MK0")" ||
		atf_fail "unexpected objects: $(objects)"
	$P11TOOL --list-objects >objects.txt 2>&1
	atf_check -s exit:0 -o match:"^ +Usage: +decrypt\$" \
		-o match:"^ +Access: +sensitive, always sensitive, never extractable, local\$" \
		-x "grep -A4 '^Private Key Object; RSA' objects.txt"
	# the MKVP: SHA-256 of "securekey-mkvp-rsa" and the DER SubjectPublicKeyInfo, 8 bytes
	atf_check -s exit:0 -o ignore -e ignore $P11TOOL --read-object --type pubkey --id "$MK0" -o pub.der
	atf_check -s exit:0 -o ignore -e ignore openssl pkey -pubin -inform DER -in pub.der -outform DER -out spki.der
	atf_check -s exit:0 -o inline:"$MK0\n" $PYTHON -c \
		'import hashlib; print(hashlib.sha256(b"securekey-mkvp-rsa" + open("spki.der", "rb").read()).hexdigest()[:16])'
	assert_unchanged "key parts do not apply to them" \
		"$SECUREKEY" hsm load-part --apqns "$APQNS" --part-file p1
	cp securekey.conf good.conf
	printf '[hsm]\nbackend = pkcs11\nuri = pkcs11:token=a\nmaster_key_kind = rsa\n' >securekey.conf
	refused "securekey.conf:4: master_key_kind must be aes-gcm, aes-kwp or rsa-oaep" "$SECUREKEY" hsm status
	mv good.conf securekey.conf
	make_pcs
	mkimg img
	enroll img
	vstate img CURRENT - none
	# backend 4: RSA-OAEP with SHA-1, the hash of the key pair
	test "$(blob_id img)" = 4 || atf_fail "the secure key is not an RSA-OAEP SHA-1 blob (id $(blob_id img))"
	token_unlocks img "secure key under the CURRENT master key"
	new_mk n1
	test "$(objects | grep -c '^securekey-mk-public-sha1 ')" = 2 || atf_fail "not two public keys: $(objects)"
	atf_check -s exit:0 -e empty -o match:"^OAEP hash: CURRENT SHA-1, NEW SHA-1\$" "$SECUREKEY" hsm status
	atf_check -s exit:0 -o match:"kept as staged" -e empty "$CR" reencipher img --key-file pass
	set_new
	token_unlocks img "staged secure key \(NEW master key was set\)"
	atf_check -s exit:0 -o ignore -e empty "$CR" reencipher img --key-file pass
	test "$(blob_id img)" = 4 || atf_fail "the re-enciphered key is not an RSA-OAEP SHA-1 blob"
	cp img good.img
	flip_key img current 100
	token_fails img "does not verify under master key MKVP [0-9a-f]+: it was altered or enciphered with another key \(RSA-OAEP SHA-1\)"
	cp good.img img
	token_unlocks img "secure key under the CURRENT master key"
}

atf_test_case rsa_oaep_rotate
rsa_oaep_rotate_head()
{
	p11_head
	atf_set "descr" "RSA-OAEP master keys on SoftHSM2 (master_key_kind = rsa-oaep; the *_pkcs11rsa copies of the shared flows are not run, for time): 'securekey rotate' with two workers moves three volumes to a NEW key pair, validate and the plugin agree, 'securekey reencipher' stages them to the next one"
}
rsa_oaep_rotate_body()
{
	printf 'correct horse battery' >pass
	chmod 0600 pass
	p11_rsa_token
	atf_check -s exit:0 -o ignore -e empty "$SECUREKEY" hsm init --apqns "$APQNS"
	make_pcs
	rotate_and_stage_workers r1 r2 r3
}

atf_test_case rsa_identity_key cleanup
rsa_identity_key_head()
{
	common_head softhsm2-util openssl
	atf_set "require.files" "$P11_MODULE /usr/bin/pykmip-server /usr/bin/python3"
	atf_set "descr" "RSA-OAEP master keys: kms configure refuses an identity key longer than one RSA-OAEP block takes (the test PKI's RSA-2048 client key) with nothing written, and stores a generated EC P-256 one"
}
rsa_identity_key_body()
{
	# kms.sh points SECUREKEY_CONF at ./etc first
	KMS_DIR=@abs_top_srcdir@/tests/kms
	. @abs_top_srcdir@/tests/cli/kms.sh
	p11_rsa_token
	cp "$SECUREKEY_CONF" conf.before
	atf_check -s exit:0 -o ignore -e empty "$SECUREKEY" hsm init --apqns "$APQNS"
	mkdir -p kms
	kms_certs "$PWD/kms" || atf_fail "cannot make the test PKI"
	start primary
	atf_check -s exit:1 -o ignore -e match:"^a key of 1[12][0-9][0-9] bytes does not fit one RSA-OAEP block of PKCS#11 token '$P11_TOKEN' \(at most 182 bytes under its RSA-2048 master key\); use an EC identity key, or an AES master key on a token that has AES-GCM or AES-KWP\$" \
		"$SECUREKEY" kms configure --apqns "$APQNS" --server "$URL_primary" --ca kms/ca.pem \
		--cert kms/client.pem --key kms/client.key --timeout 5
	cmp -s conf.before "$SECUREKEY_CONF" || atf_fail "the refused configure changed $SECUREKEY_CONF"
	test -z "$(find "$(dirname "$SECUREKEY_CONF")" -name 'identity.skey*')" ||
		atf_fail "the refused configure left an identity key"
	atf_check -s exit:0 -e empty -o match:"never written in clear" "$SECUREKEY" kms configure \
		--apqns "$APQNS" --generate-key --csr req.csr --subject /CN=securekey-test
}
rsa_identity_key_cleanup()
{
	KMS_DIR=@abs_top_srcdir@/tests/kms
	. @abs_top_srcdir@/tests/cli/kms.sh
	kms_cleanup
}

atf_init_test_cases()
{
	atf_add_test_case status_and_objects
	atf_add_test_case wrong_pin
	atf_add_test_case pin_prompt
	atf_add_test_case token_pin_asked
	atf_add_test_case initramfs_files
	atf_add_test_case token_absent
	atf_add_test_case object_missing
	atf_add_test_case parts_refused
	atf_add_test_case parts_xor
	atf_add_test_case set_cut_short
	atf_add_test_case config_backend
	atf_add_test_case p11kit_missing
	atf_add_test_case pin_in_config
	atf_add_test_case kwp_without_gcm
	atf_add_test_case rsa_oaep
	atf_add_test_case rsa_oaep_rotate
	atf_add_test_case rsa_identity_key
}
