# kmsenv.sh: test fixture for a real PyKMIP server (KMIP over TLS 1.2).
#
# To be sourced by atf-sh tests (bash or dash) and by plain sh/bash scripts:
#
#	KMS_DIR=$srcdir/tests/kms	# needed under dash (bash finds it)
#	. "$KMS_DIR/kmsenv.sh"
#	dir=$PWD/kms
#	kms_certs "$dir" || atf_fail "certs"
#	kms_start_any primary "$dir" || atf_fail "server"
#	port=$(kms_port primary "$dir")
#	/usr/bin/python3 "$KMS_TOOL" --port "$port" --cert "$dir/client.pem" \
#	    --key "$dir/client.key" --ca "$dir/ca.pem" register-aes HEX NAME
#	...
#	kms_stop_all "$dir"		# in the cleanup part of the test case
#
# Functions:
#	kms_certs DIR				test PKI (see below)
#	kms_free_port				print a free port
#	kms_start NAME PORT DIR [CERT KEY]	start server NAME on PORT
#	kms_start_any NAME DIR [CERT KEY]	same, on a free port
#	kms_port NAME DIR / kms_pid NAME DIR	print its port / pid (=pgid)
#	kms_log_tail NAME DIR [LINES]		its logs, on stderr
#	kms_stop NAME DIR			kill it (whole process group)
#	kms_stop_all DIR			kill all servers of DIR
#
# Nothing here prints anything on success. A function that fails says why on
# stderr and returns non-zero; nothing here exits the calling shell and no
# shell option is set. Only names starting with kms_ / _kms_ / KMS_ are used
# (plus "local", which dash, bash and busybox sh have).
# shellcheck disable=SC3043
#
# Knobs (environment, all optional):
#	KMS_PYTHON		Python with PyKMIP (default /usr/bin/python3)
#	KMS_SERVER		server entry script (default /usr/bin/pykmip-server)
#	KMS_OPENSSL		openssl CLI (default openssl)
#	KMS_START_TIMEOUT	seconds kms_start waits for the port (default 20)
#	KMS_LIFETIME		seconds after which a server kills itself, a safety
#				net against a missing cleanup (default 600)
#	KMS_LOG_LEVEL		server logging_level (default DEBUG: the log then
#				has the hex of every request and response)
#	KMS_TLS_CIPHER_SUITES	server tls_cipher_suites (default: empty, i.e.
#				PyKMIP's whole TLS1.2 list, see FACTS.md)
#	KMS_LISTEN		address the servers bind (default 127.0.0.1)
#	KMS_CERT_CACHE		directory to share one generated PKI between
#				tests (see kms_certs); unset: none
#	KMS_DIR, KMS_TOOL	this directory, kmip_tool.py (set on source)
#
# Layout of DIR after kms_certs + kms_start NAME ...:
#	DIR/ca.pem ca.key server.* client.* other.* expired.* wronghost.*
#	    rogue-ca.pem rogue-ca.key rogue-server.*	(see kms_certs)
#	DIR/NAME/server.conf pid port server.log stdout.log database.sqlite
#	DIR/NAME/policies/ (empty)

: "${KMS_PYTHON:=/usr/bin/python3}"
: "${KMS_SERVER:=/usr/bin/pykmip-server}"
: "${KMS_OPENSSL:=openssl}"
: "${KMS_START_TIMEOUT:=20}"
: "${KMS_LIFETIME:=600}"
: "${KMS_LOG_LEVEL:=DEBUG}"
: "${KMS_TLS_CIPHER_SUITES:=}"
: "${KMS_LISTEN:=127.0.0.1}"

# Directory of this file, for kmip_tool.py (KMS_TOOL). Works when sourced
# from bash; otherwise callers may set KMS_DIR before sourcing.
if [ -z "${KMS_DIR:-}" ] && [ -n "${BASH_SOURCE:-}" ]; then
	KMS_DIR=$(cd "$(dirname "$BASH_SOURCE")" && pwd)
fi
if [ -n "${KMS_DIR:-}" ]; then
	: "${KMS_TOOL:=$KMS_DIR/kmip_tool.py}"
fi

_kms_err()
{
	printf 'kmsenv: %s\n' "$*" >&2
}

# _kms_abs DIR: canonical absolute path of directory DIR (one spelling per
# directory: kms_stop finds its server by the path in its command line).
_kms_abs()
{
	(cd "$1" 2>/dev/null && pwd -P) || { _kms_err "no directory: $1"; return 1; }
}

# _kms_ssl ARGS...: the openssl CLI with our private config (never the
# system one), output shown only on failure.
_kms_ssl()
{
	_kms_ssl_out=$(OPENSSL_CONF=$_kms_cnf "$KMS_OPENSSL" "$@" 2>&1) || {
		_kms_err "openssl $1 failed: $_kms_ssl_out"
		return 1
	}
	return 0
}

# kms_certs DIR: create the test PKI in DIR (created if missing):
#	ca.pem/ca.key			test CA (CN=securekey test CA)
#	server.pem/server.key		CN=127.0.0.1, SAN IP:127.0.0.1 and IP:10.0.2.2
#					(the host as qemu's user network shows it), serverAuth
#	client.pem/client.key		CN=securekey-test, clientAuth
#	other.pem/other.key		CN=securekey-other, clientAuth (another
#					identity, for ownership tests)
#	expired.pem/expired.key		CN=securekey-test, clientAuth, valid only
#					2020-01-01..2020-01-02
#	wronghost.pem/wronghost.key	server cert for IP:127.0.0.2,
#					DNS:other.example (CN=other.example)
#	rogue-ca.pem/rogue-ca.key	another CA
#	rogue-server.pem/rogue-server.key  like server.pem, signed by rogue CA
# Keys: RSA 2048, unencrypted PKCS#8 PEM, mode 0600. Certs: sha256, 10 years
# (except expired.pem). Scratch (openssl config, CSRs, CA database) goes to
# DIR/.pki.
#
# If KMS_CERT_CACHE names a directory, a complete set found there (and not
# expiring within a day) is copied instead of generating one (RSA key
# generation takes 1-4 s, per test case); a generated set is stored there
# for the next test (atomically: tests run in parallel).
_KMS_CERT_FILES="ca.pem ca.key server.pem server.key client.pem client.key
	other.pem other.key expired.pem expired.key wronghost.pem wronghost.key
	rogue-ca.pem rogue-ca.key rogue-server.pem rogue-server.key"

kms_certs()
{
	[ $# -eq 1 ] || { _kms_err "usage: kms_certs DIR"; return 2; }
	mkdir -p "$1" || { _kms_err "cannot create $1"; return 1; }
	local d f c
	d=$(_kms_abs "$1") || return 1
	c=${KMS_CERT_CACHE:-}
	if [ -n "$c" ] && [ -f "$c/set/complete-v2" ] &&
	    "$KMS_OPENSSL" x509 -noout -checkend 86400 -in "$c/set/client.pem" \
	    >/dev/null 2>&1; then
		if (umask 077
		    for f in $_KMS_CERT_FILES; do rm -f "$d/$f"; done
		    for f in $_KMS_CERT_FILES; do
			cp "$c/set/$f" "$d/$f" 2>/dev/null || exit 1
		    done) && chmod 0600 "$d"/*.key && chmod 0644 "$d"/*.pem; then
			return 0
		fi
		# the cache went away under us: generate
	fi
	_kms_certs_make "$d" || return 1
	if [ -n "$c" ]; then
		# best effort, atomic for the readers: a set is complete or absent
		local t
		if mkdir -p "$c" 2>/dev/null &&
		    t=$(mktemp -d "$c/tmp.XXXXXX" 2>/dev/null); then
			if (for f in $_KMS_CERT_FILES; do
				cp -p "$d/$f" "$t/$f" || exit 1
			    done) && : >"$t/complete-v2"; then
				# an existing set here is stale (expiring) or broken
				[ -d "$c/set" ] && mv -T "$c/set" "$t.old" 2>/dev/null
				mv -T "$t" "$c/set" 2>/dev/null
			fi
			rm -rf "$t" "$t.old"
		fi
	fi
	return 0
}

_kms_certs_make()
{
	local d="$1"
	local p="$d/.pki"
	if ! rm -rf "$p" || ! mkdir -p "$p"; then
		_kms_err "cannot create $p"
		return 1
	fi
	_kms_cnf=$p/openssl.cnf
	cat >"$_kms_cnf" <<EOF || { _kms_err "cannot write $_kms_cnf"; return 1; }
# generated by kmsenv.sh kms_certs
[ req ]
distinguished_name = req_dn
prompt = no
[ req_dn ]
CN = unused
[ v3_ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ server_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, IP:10.0.2.2
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ wronghost_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.2, DNS:other.example
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ client_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ ca ]
default_ca = ca_default
[ ca_default ]
dir = $p
database = $p/index.txt
new_certs_dir = $p
serial = $p/serial
certificate = $d/ca.pem
private_key = $d/ca.key
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none
email_in_dn = no
[ policy_any ]
commonName = supplied
EOF
	: >"$p/index.txt" && echo 1000 >"$p/serial" || return 1

	# Key generation dominates; run it in parallel.
	local n pids='' rc=0
	for n in ca server client other expired wronghost rogue-ca rogue-server; do
		(umask 077; rm -f "$d/$n.key" &&
		 OPENSSL_CONF=$_kms_cnf "$KMS_OPENSSL" genpkey -algorithm RSA \
			-pkeyopt rsa_keygen_bits:2048 -out "$d/$n.key" \
			>"$p/$n.genpkey.log" 2>&1) &
		pids="$pids $!"
	done
	for n in $pids; do
		wait "$n" || rc=1
	done
	if [ $rc -ne 0 ]; then
		_kms_err "RSA key generation failed: $(cat "$p"/*.genpkey.log)"
		return 1
	fi
	chmod 0600 "$d"/*.key || return 1

	# CAs
	_kms_ssl req -config "$_kms_cnf" -new -x509 -key "$d/ca.key" \
		-subj "/CN=securekey test CA" -days 3650 -sha256 \
		-extensions v3_ca -set_serial 1 -out "$d/ca.pem" || return 1
	_kms_ssl req -config "$_kms_cnf" -new -x509 -key "$d/rogue-ca.key" \
		-subj "/CN=securekey rogue CA" -days 3650 -sha256 \
		-extensions v3_ca -set_serial 1 -out "$d/rogue-ca.pem" || return 1

	# name CN EXT CA SERIAL
	local spec name cn ext ca serial
	for spec in "server|127.0.0.1|server_ext|ca|2" \
	    "client|securekey-test|client_ext|ca|3" \
	    "other|securekey-other|client_ext|ca|4" \
	    "wronghost|other.example|wronghost_ext|ca|5" \
	    "rogue-server|127.0.0.1|server_ext|rogue-ca|2"; do
		IFS='|' read -r name cn ext ca serial <<EOF
$spec
EOF
		_kms_ssl req -config "$_kms_cnf" -new -key "$d/$name.key" \
			-subj "/CN=$cn" -out "$p/$name.csr" || return 1
		_kms_ssl x509 -req -in "$p/$name.csr" -CA "$d/$ca.pem" \
			-CAkey "$d/$ca.key" -set_serial "$serial" -days 3650 \
			-sha256 -extfile "$_kms_cnf" -extensions "$ext" \
			-out "$d/$name.pem" || return 1
	done

	# expired client cert: openssl 3.0 x509 has no -not_before/-not_after
	# (3.4+), "openssl ca" takes explicit dates.
	_kms_ssl req -config "$_kms_cnf" -new -key "$d/expired.key" \
		-subj "/CN=securekey-test" -out "$p/expired.csr" || return 1
	_kms_ssl ca -config "$_kms_cnf" -batch -notext -md sha256 \
		-startdate 20200101000000Z -enddate 20200102000000Z \
		-extensions client_ext -extfile "$_kms_cnf" \
		-in "$p/expired.csr" -out "$d/expired.pem" || return 1
	return 0
}

# kms_free_port: print a TCP port on 127.0.0.1 that is free right now,
# chosen at random in 20000..39999 (tests run in parallel).
kms_free_port()
{
	"$KMS_PYTHON" - <<'EOF'
import random, socket, sys
for _ in range(200):
    port = random.SystemRandom().randint(20000, 39999)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    print(port)
    sys.exit(0)
sys.stderr.write("kmsenv: no free TCP port found\n")
sys.exit(1)
EOF
}

# _kms_pid_alive PID: true if process PID exists and is not a zombie.
_kms_pid_alive()
{
	kill -0 "$1" 2>/dev/null || return 1
	command -v ps >/dev/null 2>&1 || return 0
	case $(ps -o stat= -p "$1" 2>/dev/null) in
	Z*|'') return 1 ;;
	esac
	return 0
}

# _kms_ours PGID CONF: true if process group PGID has a live (not zombie)
# process whose command line has CONF, i.e. it is still our server and not
# a stranger that got the recycled number. Without ps(1): kill -0.
# (dash's kill takes no "--"; "kill -SIG -PGID" works in dash and bash.)
_kms_ours()
{
	kill -0 "-$1" 2>/dev/null || return 1
	command -v ps >/dev/null 2>&1 || return 0
	ps -e -o pgid=,stat=,args= 2>/dev/null | awk -v g="$1" -v c="$2" \
		'$1 == g && $2 !~ /^Z/ && index($0, c) { f = 1 } END { exit !f }'
}

# kms_log_tail NAME DIR [LINES]: last lines of the server's logs on stderr.
kms_log_tail()
{
	local s="$2/$1"
	{
		echo "---- $s/server.log (tail) ----"
		tail -n "${3:-40}" "$s/server.log" 2>/dev/null
		echo "---- $s/stdout.log (tail) ----"
		tail -n "${3:-40}" "$s/stdout.log" 2>/dev/null
		echo "----"
	} >&2
}

# kms_start NAME PORT DIR [CERT KEY]: start a PyKMIP server called NAME on
# 127.0.0.1:PORT with its state in DIR/NAME (config, SQLite database, log,
# empty policy directory, pid, port). The server cert/key default to
# DIR/server.pem and DIR/server.key, the client CA is DIR/ca.pem. TLS 1.2,
# client certs required and must carry extendedKeyUsage clientAuth.
# Returns 0 once the server listens (bounded by KMS_START_TIMEOUT); on
# failure prints the log tail, leaves nothing running and returns 3 if the
# port was in use, 1 otherwise (2: usage). The server runs in its own
# process group (via timeout(1), which also bounds its life to KMS_LIFETIME).
kms_start()
{
	if [ $# -ne 3 ] && [ $# -ne 5 ]; then
		_kms_err "usage: kms_start NAME PORT DIR [CERT KEY]"
		return 2
	fi
	local name="$1" port="$2" d
	d=$(_kms_abs "$3") || return 1
	local s="$d/$name"
	local cert="${4:-$d/server.pem}" key="${5:-$d/server.key}"
	case $port in
	''|*[!0-9]*) _kms_err "bad port: $port"; return 2 ;;
	esac
	case $cert in /*) ;; *) cert=$PWD/$cert ;; esac
	case $key in /*) ;; *) key=$PWD/$key ;; esac
	local f
	for f in "$cert" "$key" "$d/ca.pem"; do
		[ -r "$f" ] || { _kms_err "missing $f (run kms_certs first?)"; return 1; }
	done
	if [ -f "$s/pid" ] && _kms_ours "$(cat "$s/pid")" "$s/server.conf"; then
		_kms_err "server $name already running in $d"
		return 1
	fi
	mkdir -p "$s/policies" || { _kms_err "cannot create $s"; return 1; }
	rm -f "$s/pid" "$s/port"
	: >"$s/server.log" && : >"$s/stdout.log" || return 1
	cat >"$s/server.conf" <<EOF || { _kms_err "cannot write $s/server.conf"; return 1; }
# generated by kmsenv.sh kms_start
[server]
hostname=$KMS_LISTEN
port=$port
certificate_path=$cert
key_path=$key
ca_path=$d/ca.pem
auth_suite=TLS1.2
policy_path=$s/policies
enable_tls_client_auth=True
tls_cipher_suites=$KMS_TLS_CIPHER_SUITES
logging_level=$KMS_LOG_LEVEL
database_path=$s/database.sqlite
EOF
	# -l: the default log path is /var/log/pykmip; -d repeats the conf.
	# cd /: the server must not depend on (or hold) the caller's cwd.
	# timeout: new process group (killed as a whole by kms_stop) and a
	# bounded lifetime if nobody calls kms_stop.
	# The subshell makes it no job of the caller's shell: bash would print
	# "Killed ..." when kms_stop kills it, and could leave a zombie.
	(
		cd / || exit 1
		timeout -s KILL "$KMS_LIFETIME" \
			"$KMS_PYTHON" "$KMS_SERVER" -f "$s/server.conf" \
			-l "$s/server.log" -d "$s/database.sqlite" \
			</dev/null >>"$s/stdout.log" 2>&1 &
		echo "$!" >"$s/pid"
	)
	local pid
	pid=$(cat "$s/pid" 2>/dev/null)
	case $pid in
	''|*[!0-9]*) _kms_err "cannot start the server"; return 1 ;;
	esac
	echo "$port" >"$s/port"

	# Ready once the log says the socket listens ("Starting connection
	# service..." is logged right after listen()) and the port is in LISTEN
	# state. A server that dies (e.g. port taken) is noticed at once.
	# A failed bind does not end the process (PyKMIP's multiprocessing
	# manager and policy monitor keep it alive), so look for it in the logs.
	local waited=0 limit=$((KMS_START_TIMEOUT * 10))
	while :; do
		if grep -q 'Address already in use' "$s/server.log" 2>/dev/null ||
		    grep -q 'Server failed to bind' "$s/stdout.log" 2>/dev/null; then
			_kms_err "server $name: port $port is in use"
			kms_stop "$name" "$d" 2>/dev/null
			return 3
		fi
		if ! _kms_pid_alive "$pid" ||
		    grep -q '^Traceback' "$s/stdout.log" 2>/dev/null; then
			_kms_err "server $name (port $port) failed during start-up"
			kms_log_tail "$name" "$d"
			kms_stop "$name" "$d" 2>/dev/null
			return 1
		fi
		if grep -q 'Starting connection service' "$s/server.log" 2>/dev/null &&
		    _kms_listening "$port"; then
			return 0
		fi
		if [ $waited -ge $limit ]; then
			_kms_err "server $name (port $port) not listening after ${KMS_START_TIMEOUT}s"
			kms_log_tail "$name" "$d"
			kms_stop "$name" "$d" 2>/dev/null
			return 1
		fi
		sleep 0.1
		waited=$((waited + 1))
	done
}

# kms_start_any NAME DIR [CERT KEY]: kms_start on a random free port,
# retried with another port if the chosen one was taken meanwhile (tests
# run in parallel). The port is then in DIR/NAME/port: $(kms_port NAME DIR).
kms_start_any()
{
	if [ $# -ne 2 ] && [ $# -ne 4 ]; then
		_kms_err "usage: kms_start_any NAME DIR [CERT KEY]"
		return 2
	fi
	local name="$1" d="$2" try=0 port rc
	shift 2
	while [ $try -lt 5 ]; do
		port=$(kms_free_port) || return 1
		kms_start "$name" "$port" "$d" "$@" 2>"$d/.kms_start.err"
		rc=$?
		if [ $rc -ne 3 ]; then
			cat "$d/.kms_start.err" >&2
			rm -f "$d/.kms_start.err"
			return $rc
		fi
		try=$((try + 1))
	done
	cat "$d/.kms_start.err" >&2
	rm -f "$d/.kms_start.err"
	return 1
}

# _kms_listening PORT: true if something listens on 127.0.0.1:PORT.
_kms_listening()
{
	if command -v ss >/dev/null 2>&1; then
		[ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]
	else
		"$KMS_PYTHON" -c 'import socket,sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)
s.close()' "$1" 2>/dev/null
	fi
}

# kms_port NAME DIR: print the port of server NAME.
kms_port()
{
	cat "$2/$1/port" 2>/dev/null || { _kms_err "no server $1 in $2"; return 1; }
}

# kms_pid NAME DIR: print the pid (= process group) of server NAME.
kms_pid()
{
	cat "$2/$1/pid" 2>/dev/null || { _kms_err "no server $1 in $2"; return 1; }
}

# kms_stop NAME DIR: kill server NAME (its whole process group: the server,
# its multiprocessing manager and policy monitor) and wait until all of them
# are gone (at most ~10 s). SIGKILL: PyKMIP's SIGTERM/SIGINT shutdown takes
# up to 10 s per thread; state is in SQLite, which survives this, so a
# kms_start of the same NAME later serves the same objects.
# Stopping a server that is not running is not an error.
kms_stop()
{
	[ $# -eq 2 ] || { _kms_err "usage: kms_stop NAME DIR"; return 2; }
	local d s pid i=0
	d=$(_kms_abs "$2" 2>/dev/null) || return 0
	s="$d/$1"
	[ -f "$s/pid" ] || return 0
	pid=$(cat "$s/pid") || return 1
	case $pid in ''|*[!0-9]*) _kms_err "bad pid file $s/pid"; return 1 ;; esac
	while _kms_ours "$pid" "$s/server.conf"; do
		if [ $i -ge 100 ]; then
			_kms_err "server $1 (pgid $pid) does not go away"
			return 1
		fi
		kill -KILL "-$pid" 2>/dev/null
		sleep 0.1
		i=$((i + 1))
	done
	rm -f "$s/pid"
	return 0
}

# kms_stop_all DIR: kms_stop every server started in DIR.
kms_stop_all()
{
	[ $# -eq 1 ] || { _kms_err "usage: kms_stop_all DIR"; return 2; }
	local f n rc=0
	for f in "$1"/*/pid; do
		[ -f "$f" ] || continue
		n=${f%/pid}
		n=${n##*/}
		kms_stop "$n" "$1" || rc=1
	done
	return $rc
}
