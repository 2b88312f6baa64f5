#!/bin/sh
# selftest.sh: smoke test of the KMS test fixture (kmsenv.sh, kmip_tool.py,
# vectors). Starts two PyKMIP servers, registers and gets a key on each,
# stops them and checks that no process is left. Prints OK, exits 0.
#
#	sh tests/kms/selftest.sh

KMS_DIR=$(cd "$(dirname "$0")" && pwd) || exit 1
. "$KMS_DIR/kmsenv.sh"

PY=/usr/bin/python3
d=$(mktemp -d "${TMPDIR:-/tmp}/kms-selftest.XXXXXX") || exit 1

fail()
{
	echo "selftest: FAIL: $*" >&2
	kms_stop_all "$d"
	rm -rf "$d"
	exit 1
}

trap 'kms_stop_all "$d"; rm -rf "$d"; exit 1' INT TERM HUP

tool()
{
	_port=$1
	shift
	"$PY" "$KMS_TOOL" --port "$_port" --cert "$d/client.pem" \
		--key "$d/client.key" --ca "$d/ca.pem" "$@"
}

kms_certs "$d" || fail "kms_certs"
kms_start_any primary "$d" || fail "start primary"
kms_start_any secondary "$d" || fail "start secondary"
p1=$(kms_port primary "$d") && p2=$(kms_port secondary "$d") || fail "ports"
[ "$p1" != "$p2" ] || fail "same port twice"

key1=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
key2=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
uid1=$(tool "$p1" register-aes "$key1" selftest-1) || fail "register on primary"
uid2=$(tool "$p2" register-aes "$key2" selftest-2 --app securekey=selftest) ||
	fail "register on secondary"
[ "$(tool "$p1" get "$uid1")" = "$key1" ] || fail "get on primary"
[ "$(tool "$p2" get "$uid2")" = "$key2" ] || fail "get on secondary"
[ "$(tool "$p1" locate selftest-1)" = "$uid1" ] || fail "locate on primary"
[ -z "$(tool "$p2" locate selftest-1)" ] || fail "servers share a database"
tool "$p2" attrs "$uid2" | grep -qx 'Application Specific Information: securekey=selftest' ||
	fail "attrs on secondary"
# another identity must not see the key
"$PY" "$KMS_TOOL" --port "$p1" --cert "$d/other.pem" --key "$d/other.key" \
	--ca "$d/ca.pem" get "$uid1" 2>/dev/null
[ $? -eq 1 ] || fail "other client identity could get the key"
# a server cert for the wrong CA must fail the TLS handshake (exit 3)
"$PY" "$KMS_TOOL" --port "$p1" --cert "$d/client.pem" --key "$d/client.key" \
	--ca "$d/rogue-ca.pem" get "$uid1" 2>/dev/null
[ $? -eq 3 ] || fail "client accepted a server cert of another CA"
t=$(tool "$p1" bench-get "$uid1" 3) || fail "bench-get"
case $t in [0-9]*.[0-9]*) ;; *) fail "bench-get printed '$t'" ;; esac

pg1=$(kms_pid primary "$d") && pg2=$(kms_pid secondary "$d") || fail "pids"
kms_stop primary "$d" || fail "stop primary"
kms_stop_all "$d" || fail "stop all"
for g in $pg1 $pg2; do
	if ps -e -o pgid=,stat= | awk -v g="$g" '$1 == g && $2 !~ /^Z/ { f = 1 } END { exit !f }'; then
		fail "processes of group $g left behind"
	fi
done
if ps -e -o args= | grep -F "$d/" | grep -v grep >/dev/null; then
	fail "a server of $d is still running"
fi

"$PY" "$KMS_DIR/vectors.py" --check >/dev/null || fail "vectors.py --check"

rm -rf "$d"
echo OK
