#! @ATF_SH@
# Memory and secrets (issue 7 item 5): after an operation the volume key
# (VK), the keyslot passphrase derived from it and the user's passphrase are
# no longer anywhere in the memory of the process.
#
# How: tests/secrets/stopshim.so, preloaded, stops the process (SIGSTOP)
# when main has returned, i.e. after all of the program's own cleanup but
# before exit runs the atexit handlers and library destructors (OpenSSL's
# cleanup, libcryptsetup's), so that nothing passes only because exit
# cleaned it up; open and validate are also stopped at the very end, after
# those (see stopshim.c). tests/secrets/scanmem.py then reads, through
# /proc/PID/mem, every mapping with pages in memory (heap, stack, libraries'
# data, anonymous mappings, whatever their protection) and looks for each
# secret, whole and every 16-byte window of it. Then the process is let go
# (SIGCONT) and its exit status and output are checked as usual.
#
# The controls (scan_finds_live_secrets) show the scan finds what is there:
# a process holding the secrets; copies of a VK that python dropped without
# wiping, found in freed memory at the stop when main returned; and our
# own token handler stopped on entry to crypt_volume_key_verify(), when it
# certainly holds the VK. There the VK must lie only in locked (VmFlags
# "lo"; not in a sanitizer build, whose ASan makes mlock a no-op) memory
# excluded from core dumps ("dd"), and core dumps must be off
# (RLIMIT_CORE 0, soft and hard, although the test allows them). When a
# program has ended no secret is mapped any more, so the "lo"/"dd" check is
# made at that live stop only; RLIMIT_CORE is checked at every stop of our
# binaries.
#
# Scope: securekey-cryptsetup, the parent of 'securekey reencipher' and the
# token plugin in the real cryptsetup (./spcs; whether cryptsetup allows core
# dumps is its own business). For the plugin the whole cryptsetup process is
# scanned, so the
# result covers libcryptsetup too; were a VK found there, the case compares
# with cryptsetup unlocking by passphrase without the plugin: when
# libcryptsetup alone leaves copies, the case is skipped as outside our
# control instead of failing. The workers of 'securekey reencipher' end with
# _exit (their memory goes with them) and are not stopped.

SK_BUILDDIR=@abs_top_builddir@
. @abs_top_srcdir@/tests/cli/common.sh

. @abs_top_srcdir@/tests/cli/devices.sh

# Always the binaries themselves: a valgrind wrapper (SECUREKEY_VALGRIND)
# would put valgrind's memory in the scan.
SECUREKEY=$SK_BUILDDIR/cli/securekey
CR=$SK_BUILDDIR/cli/securekey-cryptsetup
SHIM=$SK_BUILDDIR/tests/secrets/.libs/stopshim.so
SCANMEM=@abs_top_srcdir@/tests/secrets/scanmem.py

# secrets_setup: setup (devices.sh), an image img, and the files the scan
# looks for: vk (the VK), tokpass and tokpass.raw (the derived keyslot
# passphrase in hex, as libcryptsetup gets it, and raw) and pass.
secrets_setup()
{
	test -f "$SHIM" || atf_fail "$SHIM is not built (make check builds it)"
	setup
	mkimg img
	vk_of img vk
	derived_pass vk tokpass
	"$PYTHON" -c 'import sys; open(sys.argv[2], "wb").write(bytes.fromhex(open(sys.argv[1]).read()))' \
		tokpass tokpass.raw
	# In a sanitizer build the ASan runtime must come first.
	_asan=$(ldd "$CR" | awk '/libasan/ { print $3 }')
	PRELOAD="${_asan:+$_asan }$SHIM"
	# ./spcs: like ./pcs, but the preload (in SK_PRELOAD) reaches cryptsetup
	# only, not unshare, sh and mount.
	_dir=$(cryptsetup --help | sed -n 's/^LUKS2 external token plugin path: \(.*\)\.$/\1/p')
	cat >spcs <<EOF
#!/bin/sh
exec unshare -m sh -c 'mount --bind "$PLUGIN_DIR" "${_dir:-/lib/x86_64-linux-gnu/cryptsetup}" &&
	exec env LD_PRELOAD="\$SK_PRELOAD" ${_asan:+ASAN_OPTIONS=\$ASAN_OPTIONS:detect_leaks=0} cryptsetup "\$@"' spcs "\$@"
EOF
	chmod +x spcs
}

# fail_with FILE MESSAGE: fail with MESSAGE (one line, as kyua wants it),
# FILE on stderr.
fail_with()
{
	cat "$1" >&2
	atf_fail "$2 (see $1 on stderr)"
}

# stopped NAME MODE COMM COMMAND...: run COMMAND with the stop shim
# (SK_STOPSHIM=MODE: main, exit or verify; only in a process named COMM,
# e.g. not in unshare, sh or mount of ./spcs), core dumps allowed as
# far as the hard limit lets (the program must forbid them itself); once
# it is stopped keep its /proc limits in NAME.limits and the scan in
# NAME.scan; then let it go on and keep its exit status in NAME.rc, its
# output in NAME.out and NAME.err.
stopped()
{
	_name=$1 _mode=$2 _comm=$3
	shift 3
	rm -f "$_name.pid"
	(
		ulimit -S -c "$(ulimit -H -c)"
		export SK_PRELOAD="$PRELOAD" SK_STOPSHIM="$_mode" SK_STOPSHIM_COMM="$_comm" \
			SK_STOPSHIM_PIDFILE="$PWD/$_name.pid"
		case $1 in
		./spcs) exec "$@" ;;
		*) LD_PRELOAD="$PRELOAD" exec "$@" ;;
		esac
	) >"$_name.out" 2>"$_name.err" &
	_bg=$!
	_pid= _i=0
	while :; do
		if [ -z "$_pid" ] && [ -s "$_name.pid" ]; then
			_pid=$(cat "$_name.pid")
		fi
		if [ -n "$_pid" ] && [ "$(sed 's/.*) //' "/proc/$_pid/stat" 2>/dev/null | cut -d' ' -f1)" = T ]; then
			break
		fi
		_st=$(sed 's/.*) //' "/proc/$_bg/stat" 2>/dev/null | cut -d' ' -f1)
		if [ -z "$_st" ] || [ "$_st" = Z ]; then
			wait "$_bg"
			fail_with "$_name.err" "$_name: ${1##*/} ended (status $?) without stopping"
		fi
		_i=$((_i + 1))
		if [ "$_i" -gt 1200 ]; then
			kill -KILL "$_bg" ${_pid:+"$_pid"} 2>/dev/null
			atf_fail "$_name: ${1##*/} did not stop in 120 s"
		fi
		sleep 0.1
	done
	cp "/proc/$_pid/limits" "$_name.limits"
	"$PYTHON" "$SCANMEM" "$_pid" vk=vk tokpass=tokpass tokpass.raw=tokpass.raw \
		pass=pass ${SCAN_MORE:-} >"$_name.scan" 2>"$_name.scanerr"
	_scan=$?
	kill -CONT "$_pid"
	wait "$_bg"
	echo $? >"$_name.rc"
	[ "$_scan" -eq 0 ] || fail_with "$_name.scanerr" "$_name: the memory scan failed"
	grep -q '^scanned [1-9]' "$_name.scan" || atf_fail "$_name: nothing scanned"
}

# hits NAME SECRET: how many places of the scan NAME hold SECRET.
hits()
{
	sed -n "s/^hits $2 //p" "$1.scan"
}

# ok NAME OUT-REGEXP: the stopped command of NAME exited 0, its stdout
# matching OUT-REGEXP (extended).
ok()
{
	test "$(cat "$1.rc")" = 0 || fail_with "$1.err" "$1: exit status $(cat "$1.rc")"
	[ -z "$2" ] || grep -Eq "$2" "$1.out" || fail_with "$1.out" "$1: output does not match $2"
}

# clean NAME SECRET...: no SECRET left in the memory of NAME's process.
clean()
{
	_name=$1
	shift
	for _s in "$@"; do
		if [ "$(hits "$_name" "$_s")" != 0 ]; then
			cat "$_name.scan" >&2
			atf_fail "$_name: $_s is still in the memory of the stopped process (see stderr)"
		fi
	done
}

# no_core NAME: RLIMIT_CORE was 0, soft and hard, in NAME's process.
no_core()
{
	grep -Eq '^Max core file size +0 +0 +bytes' "$1.limits" ||
		atf_fail "$1: core dumps are not disabled: $(grep core "$1.limits")"
}

# only_in_locked_nodump NAME SECRET: every place of SECRET in NAME's scan is
# in a locked mapping excluded from core dumps. Not "locked" in a sanitizer
# build: ASan's interceptor turns mlock into a no-op there.
only_in_locked_nodump()
{
	_lo=lo
	[ -z "$_asan" ] || _lo=
	if grep "^hit $2 " "$1.scan" |
		awk -v lo="$_lo" '(lo != "" && $7 !~ "(^|,)" lo "(,|$)") || $7 !~ /(^|,)dd(,|$)/' |
		grep -q .; then
		cat "$1.scan" >&2
		atf_fail "$1: $2 lies in memory that is not locked or would be dumped"
	fi
}

atf_test_case scan_finds_live_secrets
scan_finds_live_secrets_head()
{
	common_head ldd
	atf_set "descr" "controls: the scan finds every secret in a process that holds it, a VK" \
		"left unwiped in freed memory when main has returned, and the" \
		"VK in securekey-cryptsetup and in cryptsetup with the plugin while the token handler" \
		"holds it; there it lies only in locked memory excluded from core dumps, and core" \
		"dumps are off in securekey-cryptsetup"
}
scan_finds_live_secrets_body()
{
	secrets_setup
	enroll img
	# A process that holds the secrets: every kind of needle is found. No
	# shim there: python writes its pid file and stops itself.
	_preload=$PRELOAD
	PRELOAD=
	stopped holder none python3 "$PYTHON" -c '
import os, signal
held = [open(n, "rb").read() for n in ("vk", "tokpass", "tokpass.raw", "pass")]
open("holder.pid.tmp", "w").write("%d\n" % os.getpid())
os.rename("holder.pid.tmp", "holder.pid")
os.kill(os.getpid(), signal.SIGSTOP)'
	for s in vk tokpass tokpass.raw pass; do
		test "$(hits holder "$s")" -ge 1 || fail_with holder.scan "the scan does not find $s"
	done
	# The shim's stop when main has returned, and what a program leaves in
	# freed memory: python drops, unwiped, 4 KiB buffers (the C heap, not
	# python's small-object pools, which python's own exit reuses) made of
	# copies of the VK. (The shim alone: python is not built with ASan.)
	PRELOAD=$SHIM
	stopped dropped main python3 "$PYTHON" -c '
k = [open("vk", "rb").read() * 64 for _ in range(8)]
del k'
	PRELOAD=$_preload
	ok dropped ""
	test "$(hits dropped vk)" -ge 1 || fail_with dropped.scan "the scan does not find a dropped VK"
	# Our token handler in securekey-cryptsetup, on entry to
	# crypt_volume_key_verify with the unwrapped VK.
	stopped live verify securekey-cryptsetup "$CR" open img --test-passphrase
	ok live "^img: unlocks by token \(keyslot 1\)\.\$"
	test "$(hits live vk)" -ge 1 || fail_with live.scan "the VK is not found while it is held"
	only_in_locked_nodump live vk
	no_core live
	# The same handler in the plugin, in cryptsetup's process.
	stopped plugin-live verify cryptsetup ./spcs open --test-passphrase --token-only img
	ok plugin-live ""
	test "$(hits plugin-live vk)" -ge 1 ||
		fail_with plugin-live.scan "the VK is not found in cryptsetup while the plugin holds it"
	only_in_locked_nodump plugin-live vk
}

atf_test_case cli_leaves_no_secret
cli_leaves_no_secret_head()
{
	common_head ldd
	atf_set "descr" "when main has returned in securekey-cryptsetup enroll, open, validate," \
		"reencipher (staged, complete, in place), setkey, export and remove, and in" \
		"securekey reencipher (the parent), neither the VK, nor the derived keyslot" \
		"passphrase, nor the passphrase are in the process's memory (nor at the very end of" \
		"open and validate), and core dumps are off"
}
cli_leaves_no_secret_body()
{
	secrets_setup
	# check NAME OUT-REGEXP COMMAND...
	# check [--exit] NAME OUT-REGEXP COMMAND...: stopped when main returned,
	# or with --exit after the exit handlers, the secrets are gone.
	check()
	{
		_at=main
		if [ "$1" = --exit ]; then
			_at=exit
			shift
		fi
		_n=$1 _re=$2
		shift 2
		stopped "$_n" $_at "${1##*/}" "$@"
		ok "$_n" "$_re"
		clean "$_n" vk tokpass tokpass.raw pass
		no_core "$_n"
	}
	check enroll "enrolled: securekey token 0, keyslot 1" \
		"$CR" enroll img --apqns "$APQNS" --key-file pass
	check open "^img: unlocks by token \(keyslot 1\)\.\$" "$CR" open img --test-passphrase
	check --exit open-exit "^img: unlocks by token" "$CR" open img --test-passphrase
	check validate "^Next step: +none" "$CR" validate img
	new_mk n1
	check staged "kept as staged" "$CR" reencipher img --staged --key-file pass
	check validate-staged "^Staged key: .*verified" "$CR" validate img
	check --exit validate-exit "^Staged key: .*verified" "$CR" validate img
	check export "" "$CR" export img --out staged.skey --staged
	test -s staged.skey || atf_fail "export wrote nothing"
	set_new
	check complete "is completed" "$CR" reencipher img --complete --key-file pass
	new_mk n2
	set_new
	check in-place "re-enciphered in place" "$CR" reencipher img --in-place --key-file pass
	new_mk n3
	set_new
	new_mk n4
	set_new
	check setkey "was set" "$CR" setkey img --key-file pass
	# The batch command: the parent reads the passphrase; the workers, which
	# unwrap the keys, end with _exit and take their memory with them.
	new_mk n5
	check batch "" "$SECUREKEY" reencipher img --key-file pass --jobs 1
	vstate img CURRENT NEW "hsm set"
	check open-again "^img: unlocks by token" "$CR" open img --test-passphrase
	check remove "" "$CR" remove img --key-file pass
	pass_opens img
}

atf_test_case plugin_leaves_no_secret
plugin_leaves_no_secret_head()
{
	common_head ldd
	atf_set "descr" "when main has returned in cryptsetup open --test-passphrase --token-only" \
		"with the plugin (current and staged key), and at its very end, neither the VK nor the" \
		"derived keyslot passphrase are in cryptsetup's memory; were they, libcryptsetup is" \
		"checked on its own"
}
plugin_leaves_no_secret_body()
{
	secrets_setup
	enroll img
	stopped plugin main cryptsetup ./spcs open --test-passphrase --token-only img
	stopped plugin-exit exit cryptsetup ./spcs open --test-passphrase --token-only img
	new_mk n1
	atf_check -s exit:0 -o match:"kept as staged" -e empty "$CR" reencipher img --key-file pass
	set_new
	stopped plugin-staged main cryptsetup ./spcs open --debug --test-passphrase --token-only img
	ok plugin-staged "securekey: unlocking with the staged secure key"
	for n in plugin plugin-exit plugin-staged; do
		test "$(cat $n.rc)" = 0 || fail_with $n.err "$n: exit status $(cat $n.rc)"
		if [ "$(hits $n vk)" != 0 ] || [ "$(hits $n tokpass)" != 0 ] ||
			[ "$(hits $n tokpass.raw)" != 0 ]; then
			cat $n.scan >&2
			# Outside our control? libcryptsetup on its own, by passphrase.
			stopped alone main cryptsetup cryptsetup open --disable-external-tokens \
				--test-passphrase --key-file pass img
			cat alone.scan >&2
			if [ "$(hits alone vk)" != 0 ]; then
				atf_skip "libcryptsetup itself leaves the VK in memory (unlocking by" \
					"passphrase without the plugin): the plugin's share cannot be told apart"
			fi
			atf_fail "$n: a secret is left in cryptsetup's memory after unlocking with the plugin," \
				"and libcryptsetup alone leaves none"
		fi
	done
}

# identity_needles KEYFILE: the KMS identity (TLS client) key as the scan
# looks for it: each private number of the RSA key (d, p, q, dp, dq, qinv)
# big-endian (as in its DER) and little-endian (OpenSSL's BIGNUM words on
# x86_64), in $SCAN_MORE. Not the DER as a whole: most of it is the public
# modulus, which TLS sends anyway.
identity_needles()
{
	openssl pkey -in "$1" -outform DER -out id.der 2>/dev/null || atf_fail "cannot read $1"
	"$PYTHON" -c '
import sys
from cryptography.hazmat.primitives.serialization import load_der_private_key
n = load_der_private_key(open("id.der", "rb").read(), None).private_numbers()
for name, v in (("d", n.d), ("p", n.p), ("q", n.q), ("dp", n.dmp1), ("dq", n.dmq1), ("qi", n.iqmp)):
    b = v.to_bytes((v.bit_length() + 7) // 8, "big")
    open("id." + name + ".be", "wb").write(b)
    open("id." + name + ".le", "wb").write(b[::-1])'
	SCAN_MORE=""
	for _n in d p q dp dq qi; do
		SCAN_MORE="$SCAN_MORE id.$_n.be=id.$_n.be id.$_n.le=id.$_n.le"
	done
}

atf_test_case kms_path_leaves_no_secret cleanup
kms_path_leaves_no_secret_head()
{
	common_head ldd openssl
	atf_set "require.files" "/usr/bin/pykmip-server /usr/bin/python3"
	atf_set "descr" "the KMS path: while the plugin in cryptsetup verifies a volume key fetched" \
		"from the KMS, it lies only in locked memory excluded from core dumps; when main" \
		"has returned (and at the very end) in cryptsetup with the plugin and in" \
		"securekey-udev passphrase, neither the volume key, nor the keyslot passphrase," \
		"nor the KMS identity key is in the process's memory"
}
kms_path_leaves_no_secret_body()
{
	KMS_DIR=@abs_top_srcdir@/tests/kms
	. @abs_top_srcdir@/tests/cli/kms.sh
	secrets_setup
	mkdir -p kms
	kms_certs "$PWD/kms" || atf_fail "cannot make the test PKI"
	start primary
	configure --server "$URL_primary"
	enroll img --kms
	change_mk_twice
	identity_needles kms/client.key
	ids=""
	for _n in d p q dp dq qi; do ids="$ids id.$_n.be id.$_n.le"; done
	stopped kms-live verify cryptsetup ./spcs open --debug --test-passphrase --token-only img
	ok kms-live "volume key fetched from the KMS"
	test "$(hits kms-live vk)" -ge 1 || fail_with kms-live.scan "the VK is not found while it is held"
	only_in_locked_nodump kms-live vk
	for at in main exit; do
		stopped kms-$at $at cryptsetup ./spcs open --debug --test-passphrase --token-only img
		ok kms-$at "volume key fetched from the KMS"
		clean kms-$at vk tokpass tokpass.raw $ids
	done
	UDEV=$SK_BUILDDIR/cli/securekey-udev
	stopped udev-pass main securekey-udev "$UDEV" passphrase --timeout 20 img
	ok udev-pass ""
	test -s udev-pass.out || atf_fail "securekey-udev passphrase wrote no passphrase"
	clean udev-pass vk tokpass tokpass.raw $ids
	no_core udev-pass
}
kms_path_leaves_no_secret_cleanup()
{
	# a cleanup runs in a shell of its own: the body's sourcing is gone
	KMS_DIR=@abs_top_srcdir@/tests/kms
	. @abs_top_srcdir@/tests/cli/kms.sh
	kms_stop_all "$PWD/kms" >/dev/null 2>&1 || true
}

atf_init_test_cases()
{
	atf_add_test_case scan_finds_live_secrets
	atf_add_test_case cli_leaves_no_secret
	atf_add_test_case plugin_leaves_no_secret
	atf_add_test_case kms_path_leaves_no_secret
}
