# Shared helpers of the securekey CLI tests (atf-sh), sourced by every
# tests/cli/t_*.sh after it set SK_BUILDDIR:
#
#	SK_BUILDDIR=@abs_top_builddir@
#	. @abs_top_srcdir@/tests/cli/common.sh
#
# This file is not substituted by make, so the build directory comes in
# through SK_BUILDDIR. kyua runs every test case in a fresh temporary
# working directory; all state of the product is pointed into it, so a test
# never touches /var/lib/securekey, /etc or /run.

: "${SK_BUILDDIR:?set SK_BUILDDIR to the build tree before sourcing common.sh}"

SECUREKEY=$SK_BUILDDIR/cli/securekey
# 'make check-valgrind' (tests/valgrind/run.sh) points SECUREKEY_VALGRIND to
# its wrappers, which run the binaries under valgrind memcheck.
if [ -n "${SECUREKEY_VALGRIND:-}" ]; then
	SECUREKEY=$SECUREKEY_VALGRIND/securekey
fi
PYTHON=/usr/bin/python3
APQNS=01.0001,02.0001

export SECUREKEY_HSM_DIR="$PWD/hsm"
# SK_BACKEND=pkcs11 (set by make in the *_pkcs11 copies of a test program):
# the same cases against a SoftHSM2 token whose files, PIN file and
# configuration live in ./hsm too, so the snapshots below cover the token.
# SK_BACKEND=pkcs11-rsa (the *_pkcs11rsa copies): the same token, with RSA-OAEP
# master keys forced as [hsm] master_key_kind = rsa-oaep does: securekey.conf
# puts it in the token's URI (x-securekey-master-key-kind), so the URI here
# carries it, and the cases that write their own securekey.conf keep it.
: "${SK_BACKEND:=soft}"
P11_MODULE=/usr/lib/softhsm/libsofthsm2.so
P11_TOKEN=securekey-test
P11_URI="pkcs11:token=$P11_TOKEN?module-path=$P11_MODULE&pin-source=file:$PWD/hsm/pin"
case $SK_BACKEND in
pkcs11)
	export SOFTHSM2_CONF="$PWD/hsm/softhsm2.conf"
	export SECUREKEY_HSM_DIR="$P11_URI"
	;;
pkcs11-rsa)
	export SOFTHSM2_CONF="$PWD/hsm/softhsm2.conf"
	export SECUREKEY_HSM_DIR="$P11_URI&x-securekey-master-key-kind=rsa-oaep"
	;;
tpm2)
	# tests/cli/t_tpm2: a TPM2 in swtpm, reached through tpm2-pkcs11, whose
	# store (a sqlite file) is in ./hsm; no master_key_kind: the token's
	# mechanisms choose RSA-OAEP. p11_token starts swtpm, tpm2_stop stops it.
	P11_MODULE=/usr/lib/x86_64-linux-gnu/pkcs11/libtpm2_pkcs11.so
	P11_URI="pkcs11:token=$P11_TOKEN?module-path=$P11_MODULE&pin-source=file:$PWD/hsm/pin"
	export TPM2_PKCS11_STORE="$PWD/hsm/store"
	export TPM2_PKCS11_LOG_LEVEL=0
	export SECUREKEY_HSM_DIR="$P11_URI"
	;;
esac
export SECUREKEY_STATE_DIR="$PWD/state"
export SECUREKEY_RUN_DIR="$PWD/run"
export SECUREKEY_CONF="$PWD/securekey.conf"
export SECUREKEY_LOCK_TIMEOUT=30
# Sanitizer builds: ASan and UBSan exit 1 on an error by default, which a
# refusal test would take for "refused"; make them abort (exit 134) instead.
# A leak report (LeakSanitizer) also ends with a status other than 0 and 1.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}abort_on_error=1"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}print_stacktrace=1:halt_on_error=1:abort_on_error=1"

# sanitized: true in an ASan+UBSan build, where every command is 2 to 3
# times slower; the long cases do less there to keep CI in its budget.
sanitized()
{
	ldd "$SK_BUILDDIR/cli/securekey" | grep -q libasan
}

# commands_of BINARY [GROUP]: the commands that BINARY [GROUP] --help lists
# ("securekey hsm" lists the hsm ones).
commands_of()
{
	"$SK_BUILDDIR/cli/$1" $2 --help |
		awk '/^Commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 } on && /^$/ { on = 0 }'
}

# sk ARGS...: run the securekey binary of this build.
sk()
{
	"$SECUREKEY" "$@"
}

# SoftHSM2 rewrites its token's own record (token.object, with the login
# bookkeeping, and generation, token.lock) at every login; the key objects
# are files of their own and stay in the snapshots.
snap_filter()
{
	if [ "$SK_BACKEND" = tpm2 ]; then
		# swtpm's own state (its NVRAM file) and the daemons' logs are not the token's;
		# the store's directory gets sqlite's journal at every open (its
		# mtime), the store file itself is compared
		grep -Ev '((^|[ /])hsm/(tpm/|[a-z]+\.log)| \./hsm/store -> $)'
	elif ! soft_backend; then
		grep -Ev '(^|[ /])hsm/tokens/[^/ ]+/(token\.object|token\.lock|generation)( |$)'
	else
		cat
	fi
}

# snapshot DIR...: every file under each DIR (dot files included) with its
# sha256, then every entry below DIR with its type, mode, owner, inode,
# mtime and symlink target, sorted; a DIR that does not exist prints one
# line saying so. Two snapshots are equal only if nothing was created,
# removed, written, replaced (rename), chmod'ed or chown'ed. The snapshot
# files of assert_unchanged (.sk-snap.*) are left out, and so is the mtime
# of DIR itself (atf-check keeps its temporary files in the work directory).
snapshot()
{
	for _dir in "$@"; do
		if [ ! -e "$_dir" ] && [ ! -L "$_dir" ]; then
			echo "absent $_dir"
			continue
		fi
		find "$_dir" -type f ! -name '.sk-snap.*' -print0 | LC_ALL=C sort -z |
			xargs -0 -r sha256sum | snap_filter
		find "$_dir" -mindepth 1 ! -name '.sk-snap.*' -printf '%y %m %u:%g %i %T@ %p -> %l\n' |
			snap_filter | LC_ALL=C sort
	done
}

# assert_unchanged STDERR_REGEXP COMMAND...: COMMAND (usually "$SECUREKEY"
# ...) must be refused with exit status 1, print nothing on stdout and a
# message matching STDERR_REGEXP (extended) on stderr, and leave the whole
# working directory byte-identical: the HSM directory, the state directory,
# key parts and secure-key files. SK_EXIT overrides the expected exit status
# (SK_EXIT=2 for usage errors). COMMAND may be "-x 'shell command'".
assert_unchanged()
{
	_re=$1
	shift
	snapshot . >.sk-snap.before
	atf_check -s "exit:${SK_EXIT:-1}" -o empty -e "match:$_re" "$@"
	snapshot . >.sk-snap.after
	if ! cmp -s .sk-snap.before .sk-snap.after; then
		diff -u .sk-snap.before .sk-snap.after >&2
		atf_fail "refused command changed the working directory: $*"
	fi
	rm -f .sk-snap.before .sk-snap.after
}

# soft_backend: true unless this is a *_pkcs11 copy.
soft_backend()
{
	[ "$SK_BACKEND" = soft ]
}

# add_soft_only_cases CASE...: cases that do not depend on the HSM backend
# (parsers, the passphrase gate) or test the soft HSM itself run in the soft
# copy only.
add_soft_only_cases()
{
	soft_backend || return 0
	for _c in "$@"; do
		atf_add_test_case "$_c"
	done
}

# p11_token: an empty SoftHSM2 token $P11_TOKEN (user PIN in ./hsm/pin,
# 0600) in ./hsm, as an HSM administrator hands it over; under SK_BACKEND=tpm2
# a tpm2-pkcs11 token on a fresh swtpm.
p11_token()
{
	if [ "$SK_BACKEND" = tpm2 ]; then
		tpm2_token
		return
	fi
	mkdir -p hsm/tokens
	chmod 0700 hsm
	printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
		"$PWD/hsm/tokens" >hsm/softhsm2.conf
	printf '4711-sk-pin' >hsm/pin
	chmod 0600 hsm/pin
	atf_check -s exit:0 -o ignore -e ignore softhsm2-util --init-token --free \
		--label "$P11_TOKEN" --pin 4711-sk-pin --so-pin 0815-so-pin
}

# tpm2_token: swtpm (TPM2) on two free TCP ports of localhost, its state in
# ./hsm/tpm; tpm2-abrmd, the TPM2 access broker and resource manager, on a
# private D-Bus session bus in front of it, as the kernel's /dev/tpmrm0 is on
# a host: without one, each process's loaded objects and sessions stay in
# the TPM (3 object slots in swtpm), so the next process fails with "out of
# memory for object contexts" or TPM_RC_AUTH_FAIL. Then the token, made with
# tpm2_ptool in ./hsm/store. The pids are in ./hsm/*.pid for tpm2_stop.
tpm2_token()
{
	mkdir -p hsm/tpm hsm/store
	chmod 0700 hsm
	# Ports at random in 40000..59999 (the KMS fixtures use 20000..39999);
	# another test may take a port between the check and swtpm's bind, so a
	# start that finds its port in use is tried again on other ports.
	for _try in 1 2 3 4 5 6 7 8; do
		_port=$($PYTHON -c '
import random, socket
rng = random.SystemRandom()
for _ in range(200):
    p = rng.randrange(40000, 59998, 2)
    try:
        a, b = socket.socket(), socket.socket()
        a.bind(("127.0.0.1", p)); b.bind(("127.0.0.1", p + 1))
        a.close(); b.close(); print(p); break
    except OSError:
        pass')
		# not under atf_check: a daemon would keep its output pipes open
		swtpm socket --tpm2 --daemon --server type=tcp,port="$_port",bindaddr=127.0.0.1 \
			--ctrl type=tcp,port=$((_port + 1)),bindaddr=127.0.0.1 \
			--tpmstate dir="$PWD/hsm/tpm" --pid file="$PWD/hsm/swtpm.pid" \
			--flags not-need-init,startup-clear >hsm/swtpm.log 2>&1 && break
		grep -q "Address already in use" hsm/swtpm.log ||
			atf_fail "swtpm did not start: $(cat hsm/swtpm.log)"
	done
	[ -s hsm/swtpm.pid ] || atf_fail "swtpm did not start: $(cat hsm/swtpm.log)"
	dbus-daemon --session --fork --print-address=3 --print-pid=4 \
		3>hsm/dbus.address 4>hsm/dbus.pid ||
		atf_fail "dbus-daemon did not start"
	DBUS_SESSION_BUS_ADDRESS=$(cat hsm/dbus.address)
	export DBUS_SESSION_BUS_ADDRESS
	tpm2-abrmd --session --allow-root --dbus-name=com.intel.tss2.Tabrmd.sk$_port \
		--tcti="swtpm:host=127.0.0.1,port=$_port" >hsm/abrmd.log 2>&1 &
	echo $! >hsm/abrmd.pid
	export TPM2_PKCS11_TCTI="tabrmd:bus_type=session,bus_name=com.intel.tss2.Tabrmd.sk$_port"
	export TPM2TOOLS_TCTI="$TPM2_PKCS11_TCTI"
	for _i in $(seq 50); do
		tpm2_getrandom 4 >/dev/null 2>&1 && break
		sleep 0.1
	done
	printf '4711-sk-pin' >hsm/pin
	chmod 0600 hsm/pin
	atf_check -s exit:0 -o ignore -e ignore tpm2_ptool init --path="$PWD/hsm/store"
	atf_check -s exit:0 -o ignore -e ignore tpm2_ptool addtoken --path="$PWD/hsm/store" \
		--pid=1 --label="$P11_TOKEN" --sopin=0815-so-pin --userpin=4711-sk-pin
}

# tpm2_stop: stop what tpm2_token started (a cleanup routine calls it).
tpm2_stop()
{
	for _pid in hsm/abrmd.pid hsm/dbus.pid hsm/swtpm.pid; do
		[ -f "$_pid" ] && kill "$(cat "$_pid")" 2>/dev/null
	done
	return 0
}

# make_part NAME: write a new 32-byte key part with generate-part.
make_part()
{
	atf_check -s exit:0 -o match:"Key part written to $1" "$SECUREKEY" hsm generate-part --out "$1"
}

# init_set [APQNS]: initialize APQNs (default 01.0001,02.0001) with a random
# CURRENT master key.
init_set()
{
	atf_check -s exit:0 -o match:"^Initialized APQNs ${1:-$APQNS} in " \
		"$SECUREKEY" hsm init --apqns "${1:-$APQNS}"
}

# load_parts [--apqns LIST] FILE...: load each part, in order.
load_parts()
{
	_apqns=$APQNS
	if [ "$1" = --apqns ]; then
		_apqns=$2
		shift 2
	fi
	for _p in "$@"; do
		atf_check -s exit:0 -o match:"^Key part loaded into the NEW register of APQNs $_apqns" \
			"$SECUREKEY" hsm load-part --apqns "$_apqns" --part-file "$_p"
	done
}

# mkvp_of_parts FILE...: the MKVP (16 hex digits) of the master key that is
# the XOR of the key part files, computed independently of securekey.
mkvp_of_parts()
{
	"$PYTHON" -c '
import hashlib, sys
mk = bytes(32)
for name in sys.argv[1:]:
    part = open(name, "rb").read()
    assert len(part) == 32, name
    mk = bytes(a ^ b for a, b in zip(mk, part))
print(hashlib.sha256(b"securekey-mkvp-v1" + mk).hexdigest()[:16])
' "$@"
}

# status_json_get EXPR: evaluate a python expression over the parsed
# 'hsm status --json' (as s) and print it.
status_json_get()
{
	"$SECUREKEY" hsm status --json >status.json || atf_fail "hsm status --json failed"
	"$PYTHON" -c 'import json, sys; s = json.load(open("status.json")); print(eval(sys.argv[1]))' "$1"
}

# reg_mkvp REGISTER [APQN]: MKVP of a register from 'hsm status --json'
# (of the first APQN by default), or None.
reg_mkvp()
{
	status_json_get "[a for a in s['apqns'] if '${2:-}' in ('', a['apqn'])][0]['registers']['$1']['mkvp']"
}

# blob_mkvp FILE: the MKVP named in a secure-key blob header (bytes 8..15).
blob_mkvp()
{
	"$PYTHON" -c 'import sys; print(open(sys.argv[1], "rb").read()[8:16].hex())' "$1"
}

# install_here: 'make install' into ./inst with paths that exist (prefix
# ./inst/usr, plugin into ./inst/tokens), so the installed scripts run here.
# /usr and /etc are read-only for it: an install dir that ignores the
# prefix fails here instead of writing into the host (the bash completions
# once did, and two cases installing at once collided there).
install_here()
{
	unshare -m sh -c 'for d in /usr /etc; do
			mount --bind -o ro "$d" "$d" || exit 1
		done
		exec make -s -C "$1" install prefix="$2/inst/usr" \
			CRYPTSETUP_TOKEN_DIR="$2/inst/tokens"' sh "$SK_BUILDDIR" "$PWD" \
		>install.log 2>&1 ||
		atf_fail "make install: $(tail -n 5 install.log | tr "\n" " ")"
	HELPER=$PWD/inst/usr/lib/securekey/securekey-udev
}

# blob_id IMG: the backend id of IMG's secure key (high nibble of byte 4).
blob_id()
{
	token_json "$1" | "$PYTHON" -c '
import base64, json, sys
print(base64.b64decode(json.load(sys.stdin)["secure_key"])[4] >> 4)'
}
