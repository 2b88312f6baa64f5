#! @ATF_SH@
# securekey-udev (issue 8) on the host, against image files and a real
# PyKMIP server: the udev properties of 'check', the one-line bounded
# 'refresh', the keyslot passphrase of 'passphrase' (what the crypttab
# keyscript yields), 'files' and 'needs-network'. tests/vm/t_boot runs the
# same helper at boot in a VM. Logs go to stderr here (JOURNAL_STREAM), not
# to the host's kernel log.

SK_BUILDDIR=@abs_top_builddir@
. @abs_top_srcdir@/tests/cli/common.sh
. @abs_top_srcdir@/tests/cli/devices.sh

KMS_DIR=@abs_top_srcdir@/tests/kms
. @abs_top_srcdir@/tests/cli/kms.sh

UDEV=$SK_BUILDDIR/cli/securekey-udev
export JOURNAL_STREAM=8:1

udev() { "$UDEV" "$@"; }

atf_test_case check_properties cleanup
check_properties_head()
{
	atf_set "descr" "check prints the token's udev properties and asks for a refresh only when the key is under no CURRENT master key"
	kms_head
}
check_properties_body()
{
	kms_setup
	mkimg img
	mkimg plain
	truncate -s 1M notluks
	enroll img --kms
	snapshot img hsm state >.sk-snap.before
	atf_check -s exit:0 -o empty -e empty "$UDEV" check plain
	atf_check -s exit:0 -o empty -e empty "$UDEV" check notluks
	atf_check -s exit:0 -e empty \
		-o inline:"SECUREKEY_TOKEN=0\nSECUREKEY_KMS=1\nSECUREKEY_REGISTER=CURRENT\n" \
		"$UDEV" check img
	snapshot img hsm state >.sk-snap.after
	atf_check -s exit:0 diff .sk-snap.before .sk-snap.after
	change_mk_twice
	atf_check -s exit:0 -e empty \
		-o inline:"SECUREKEY_TOKEN=0\nSECUREKEY_KMS=1\nSECUREKEY_REGISTER=none\nSECUREKEY_REFRESH=1\n" \
		"$UDEV" check img
	rm -rf hsm
	atf_check -s exit:0 -e ignore \
		-o inline:"SECUREKEY_TOKEN=0\nSECUREKEY_KMS=1\nSECUREKEY_REGISTER=unknown\n" \
		"$UDEV" check img
}
check_properties_cleanup() { kms_cleanup; }

atf_test_case check_known_devices cleanup
check_known_devices_head()
{
	atf_set "descr" "check asks for a refresh only for a device this host knows: a known" \
		"volume or one that crypttab names (UUID=, a path); an unknown LUKS2 device with a" \
		"securekey token that is due is not refreshed, and --verbose says why"
	kms_head
}
check_known_devices_body()
{
	kms_setup
	mkimg img
	enroll img --kms
	change_mk_twice
	uuid=$(cryptsetup luksUUID img)
	due="SECUREKEY_TOKEN=0\nSECUREKEY_KMS=1\nSECUREKEY_REGISTER=none\n"
	export SECUREKEY_CRYPTTAB="$PWD/crypttab:$PWD/cryptroot-crypttab"
	atf_check -s exit:0 -o inline:"${due}SECUREKEY_REFRESH=1\n" \
		-e match:"^img: refresh from the KMS due; a known volume \($PWD/state/volumes/$uuid\)\$" \
		"$UDEV" check img --verbose
	# the same disk, not known here (a disk that was plugged in)
	rm "state/volumes/$uuid"
	atf_check -s exit:0 -o inline:"$due" -e empty "$UDEV" check img
	atf_check -s exit:0 -o inline:"$due" \
		-e match:"^img: refresh from the KMS due, but not done: neither a known volume \($PWD/state/volumes/$uuid\) nor named in crypttab \($SECUREKEY_CRYPTTAB\)\$" \
		"$UDEV" check img --verbose
	# lines that do not name it: commented out, another UUID, another file
	printf '# vol UUID=%s none luks\nother UUID=5ec0e4e7-0000-4000-8000-000000000009 none luks\nimg2 %s/plain none luks\n' \
		"$uuid" "$PWD" >crypttab
	mkimg plain
	atf_check -s exit:0 -o inline:"$due" -e empty "$UDEV" check img
	# named in the initramfs' crypttab by UUID (as cryptroot writes it), then in crypttab by path
	printf 'croot\tUUID=%s none luks,keyscript=/usr/lib/securekey/keyscript,initramfs\n' \
		"$(echo "$uuid" | tr a-f A-F)" >cryptroot-crypttab
	atf_check -s exit:0 -o inline:"${due}SECUREKEY_REFRESH=1\n" \
		-e match:"^img: refresh from the KMS due; named by $PWD/cryptroot-crypttab, line 1\$" \
		"$UDEV" check img --verbose
	rm cryptroot-crypttab
	echo "vol $PWD/sub/../img none luks" >>crypttab
	mkdir sub
	atf_check -s exit:0 -o inline:"${due}SECUREKEY_REFRESH=1\n" \
		-e match:"^img: refresh from the KMS due; named by $PWD/crypttab, line 4\$" \
		"$UDEV" check img --verbose
	# refreshed, the key is not due any more: nothing to say
	atf_check -s exit:0 -o empty -e match:"img: secure key refreshed from the KMS" "$UDEV" refresh img
	atf_check -s exit:0 -o inline:"SECUREKEY_TOKEN=0\nSECUREKEY_KMS=1\nSECUREKEY_REGISTER=CURRENT\n" \
		-e empty "$UDEV" check img --verbose
}
check_known_devices_cleanup() { kms_cleanup; }

atf_test_case read_only_state cleanup
read_only_state_head()
{
	atf_set "descr" "readers need no write access: with the soft HSM and the state directory" \
		"read-only bind mounts (as at boot before / is remounted read-write), the plugin" \
		"unlocks, validate and check work, with and without a lock file"
	kms_head
}
read_only_state_body()
{
	kms_setup
	mkimg img
	enroll img --kms
	cat >inner.sh <<EOF
set -e
for d in "$PWD/hsm" "$PWD/state"; do
	mount --bind "\$d" "\$d"
	mount -o remount,bind,ro "\$d"
done
touch "$PWD/hsm/written" 2>/dev/null && { echo "the HSM directory is writable" >&2; exit 1; }
./pcs open --test-passphrase --token-only --token-type securekey img
"$CR" validate img
"$UDEV" check img
EOF
	test -e hsm/.lock || atf_fail "no soft HSM lock file to open read-only"
	snapshot img hsm state >.sk-snap.before
	atf_check -s exit:0 -e empty -o match:"CURRENT" \
		-o match:"^SECUREKEY_REGISTER=CURRENT\$" unshare -m sh inner.sh
	snapshot img hsm state >.sk-snap.after
	atf_check -s exit:0 diff .sk-snap.before .sk-snap.after
	rm hsm/.lock
	snapshot img hsm state >.sk-snap.before
	atf_check -s exit:0 -e empty -o match:"^SECUREKEY_REGISTER=CURRENT\$" unshare -m sh inner.sh
	snapshot img hsm state >.sk-snap.after
	atf_check -s exit:0 diff .sk-snap.before .sk-snap.after
}
read_only_state_cleanup() { kms_cleanup; }

atf_test_case refresh_one_line cleanup
refresh_one_line_head()
{
	atf_set "descr" "refresh re-wraps the key from the KMS and says so in one log line"
	kms_head
}
refresh_one_line_body()
{
	kms_setup
	mkimg img
	enroll img --kms
	change_mk_twice
	atf_check -s exit:0 -o empty \
		-e match:"^<5>securekey-udev: img: secure key refreshed from the KMS, now under the CURRENT master key \([0-9.]+ s\)\$" \
		"$UDEV" refresh img
	vstate img CURRENT - none
	token_unlocks img "secure key under the CURRENT master key"
	atf_check -s exit:0 -o empty \
		-e inline:"<5>securekey-udev: img: secure key already under the CURRENT master key, nothing to refresh\n" \
		"$UDEV" refresh img
}
refresh_one_line_cleanup() { kms_cleanup; }

atf_test_case refresh_bounded cleanup
refresh_bounded_head()
{
	atf_set "descr" "refresh gives up after --timeout against a stalled KMS and after the [kms] timeout when it is down, in one line, nothing written"
	kms_head
}
refresh_bounded_body()
{
	kms_setup
	mkimg img
	enroll img --kms
	change_mk_twice
	port=$(kms_port primary "$PWD/kms")
	kms_stop primary "$PWD/kms"
	snapshot img hsm state >.sk-snap.before
	atf_check -s exit:1 -o empty \
		-e match:"^<4>securekey-udev: img: refresh from the KMS failed \([0-9.]+ s\): .*Connection refused.*; the passphrase still unlocks it\$" \
		"$UDEV" refresh img
	# a TCP listener that never speaks TLS, in place of the server
	bad_server_on "$port" stall
	t0=$(date +%s)
	atf_check -s exit:1 -o empty \
		-e inline:"<4>securekey-udev: img: refresh from the KMS gave up after 2 s (--timeout); boot goes on without it\n" \
		"$UDEV" refresh --timeout 2 img
	[ $(($(date +%s) - t0)) -le 4 ] || atf_fail "refresh --timeout 2 took $(($(date +%s) - t0)) s"
	snapshot img hsm state >.sk-snap.after
	atf_check -s exit:0 diff .sk-snap.before .sk-snap.after
	vstate img none - "refresh or setkey"
}
refresh_bounded_cleanup() { bad_cleanup; }

atf_test_case passphrase_opens_keyslot
passphrase_opens_keyslot_head()
{
	atf_set "descr" "passphrase writes what opens the token's keyslot, and nothing when the token cannot unlock"
	common_head
}
passphrase_opens_keyslot_body()
{
	setup
	mkimg img
	enroll img
	snapshot img hsm state >.sk-snap.before
	udev passphrase img >derived || atf_fail "passphrase failed"
	atf_check -s exit:0 -o match:"^[0-9a-f]{64}\$" cat derived
	atf_check -s exit:0 -o ignore -e ignore \
		cryptsetup open --test-passphrase --key-slot 1 --key-file derived img
	snapshot img hsm state >.sk-snap.after
	atf_check -s exit:0 diff .sk-snap.before .sk-snap.after
	# two master-key changes and no KMS: the token cannot unlock any more
	new_mk n1
	set_new
	new_mk n2
	set_new
	atf_check -s exit:1 -o empty -e match:"img" "$UDEV" passphrase img
	atf_check -s exit:2 -o empty -e match:"expected one DEVICE" "$UDEV" passphrase
}

atf_test_case keyscript_yields_passphrase
keyscript_yields_passphrase_head()
{
	atf_set "descr" "the crypttab keyscript yields the token keyslot's passphrase for cryptroot"
	common_head
}
keyscript_yields_passphrase_body()
{
	setup
	mkimg img
	enroll img
	install_here
	CRYPTTAB_SOURCE=img CRYPTTAB_NAME=vol CRYPTTAB_TRIED=0 inst/usr/lib/securekey/keyscript >derived ||
		atf_fail "keyscript failed"
	atf_check -s exit:0 -o ignore -e ignore \
		cryptsetup open --test-passphrase --key-slot 1 --key-file derived img
	atf_check -s not-exit:0 -o empty -e match:"CRYPTTAB_SOURCE is not set" \
		env -u CRYPTTAB_SOURCE inst/usr/lib/securekey/keyscript
}

atf_test_case keyscript_reader_gone
keyscript_reader_gone_head()
{
	atf_set "descr" "cryptsetup that opened the volume by the token itself closes the pipe" \
		"unread: the helper and the keyscript exit 0 and ask for no passphrase" \
		"(SIGPIPE ended the helper with 141, and the keyscript asked)"
	common_head
}
keyscript_reader_gone_body()
{
	setup
	mkimg img
	enroll img
	install_here
	# unread CMD...: CMD with standard output a pipe whose reader is gone.
	cat >unread <<'EOF2'
import os, subprocess, sys
r, w = os.pipe()
os.close(r)
sys.exit(subprocess.call(sys.argv[1:], stdout=w, stdin=subprocess.DEVNULL))
EOF2
	atf_check -s exit:0 -o empty -e empty python3 unread "$UDEV" passphrase img
	atf_check -s exit:0 -o empty -e match:"img: the reader closed standard output unread" \
		python3 unread "$UDEV" passphrase --debug img
	atf_check -s exit:0 -o empty -e not-match:"did not unlock" -e not-match:"unlock disk" \
		env CRYPTTAB_SOURCE=img CRYPTTAB_NAME=vol CRYPTTAB_TRIED=0 \
		python3 unread inst/usr/lib/securekey/keyscript
}

atf_test_case initramfs_files
initramfs_files_head()
{
	atf_set "descr" "files lists the configuration, KMS credentials and soft HSM state; needs-network follows the KMS"
	common_head
}
initramfs_files_body()
{
	atf_check -s exit:0 -o ignore -e empty "$SECUREKEY" hsm init --apqns "$APQNS"
	atf_check -s exit:1 -o empty -e empty "$UDEV" needs-network
	cat >expected <<EOF2
$SECUREKEY_HSM_DIR/.lock	/var/lib/securekey/hsm/.lock	secret
$SECUREKEY_HSM_DIR/01.0001.mk	/var/lib/securekey/hsm/01.0001.mk	secret
$SECUREKEY_HSM_DIR/02.0001.mk	/var/lib/securekey/hsm/02.0001.mk	secret
EOF2
	atf_check -s exit:0 -o file:expected -e empty "$UDEV" files
	cat >"$SECUREKEY_CONF" <<EOF2
[hsm]
dir = /srv/hsm
[kms]
server = kmip://kms.example:5696
ca = /etc/sk/ca.pem
cert = /etc/sk/client.pem
identity_key = /etc/sk/identity.skey
apqns = $APQNS
EOF2
	atf_check -s exit:0 -o empty -e empty "$UDEV" needs-network
	cat >expected <<EOF2
$SECUREKEY_CONF	/etc/securekey/securekey.conf
/etc/sk/ca.pem	/etc/sk/ca.pem
/etc/sk/client.pem	/etc/sk/client.pem
/etc/sk/identity.skey	/etc/sk/identity.skey
$SECUREKEY_HSM_DIR/.lock	/srv/hsm/.lock	secret
$SECUREKEY_HSM_DIR/01.0001.mk	/srv/hsm/01.0001.mk	secret
$SECUREKEY_HSM_DIR/02.0001.mk	/srv/hsm/02.0001.mk	secret
EOF2
	atf_check -s exit:0 -o file:expected -e empty "$UDEV" files
	atf_check -s exit:2 -o empty -e match:"unexpected argument" "$UDEV" files extra
}

atf_init_test_cases()
{
	atf_add_test_case check_properties
	atf_add_test_case check_known_devices
	atf_add_test_case read_only_state
	atf_add_test_case refresh_one_line
	atf_add_test_case refresh_bounded
	atf_add_test_case passphrase_opens_keyslot
	atf_add_test_case keyscript_yields_passphrase
	atf_add_test_case keyscript_reader_gone
	atf_add_test_case initramfs_files
}
