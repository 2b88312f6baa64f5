# KMS helpers of the tests that run real PyKMIP servers (cli/t_kms,
# cli/t_udev): sourced after common.sh and devices.sh, with KMS_DIR set to
# tests/kms of the source tree.

: "${KMS_DIR:?set KMS_DIR to tests/kms before sourcing kms.sh}"

# kms configure copies the CA and certificate next to the configuration.
export SECUREKEY_CONF="$PWD/etc/securekey.conf"
mkdir -p etc

KMS_CERT_CACHE=$SK_BUILDDIR/tests/kms-cert-cache
. "$KMS_DIR/kmsenv.sh"

# ------------------------------------------------------------- helpers

kms_head()
{
	common_head openssl
	atf_set "require.files" "/usr/bin/pykmip-server /usr/bin/python3"
}

kms_cleanup()
{
	kms_stop_all "$PWD/kms"
}

# start NAME [CERT KEY]: a PyKMIP server; its URL in $URL_<NAME>.
start()
{
	kms_start_any "$1" "$PWD/kms" ${2:+"$PWD/kms/$2"} ${3:+"$PWD/kms/$3"} ||
		atf_fail "cannot start PyKMIP server $1"
	eval "URL_$1=kmip://127.0.0.1:$(kms_port "$1" "$PWD/kms")"
	tool "$1"
}

# kms_setup: HSM, ./pcs, the PKI, a primary server, and the configuration.
kms_setup()
{
	setup
	mkdir -p kms
	kms_certs "$PWD/kms" || atf_fail "cannot make the test PKI"
	start primary
	configure --server "$URL_primary"
}

# kms_setup_two: the same with a primary and a secondary server.
kms_setup_two()
{
	setup
	mkdir -p kms
	kms_certs "$PWD/kms" || atf_fail "cannot make the test PKI"
	start primary
	start secondary
	configure --server "$URL_primary" --server "$URL_secondary"
}

# configure ARGS...: kms configure with the test PKI and the APQNs.
configure()
{
	atf_check -s exit:0 -e empty -o match:"^KMS configured in $SECUREKEY_CONF" \
		"$SECUREKEY" kms configure --apqns "$APQNS" --ca kms/ca.pem --cert kms/client.pem \
		--key kms/client.key --timeout 5 "$@"
}

# tool NAME: ./tool-NAME, PyKMIP's client for server NAME as our client identity.
tool()
{
	cat >"tool-$1" <<EOF
#!/bin/sh
exec "$PYTHON" "$KMS_TOOL" --port "$(kms_port "$1" "$PWD/kms")" --cert kms/client.pem \
	--key kms/client.key --ca kms/ca.pem "\$@"
EOF
	chmod +x "tool-$1"
}

# key_id IMG: the KMS key id the token of IMG records.
key_id()
{
	token_json "$1" | "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["kms"]["key_id"])'
}

# keyslots_json IMG: the "keyslots" object of IMG's LUKS2 metadata, sorted.
keyslots_json()
{
	cryptsetup luksDump --dump-json-metadata "$1" | "$PYTHON" -c \
		'import json, sys; print(json.dumps(json.load(sys.stdin)["keyslots"], sort_keys=True))'
}

# change_mk_twice: two master-key changes without re-enciphering the volumes,
# the identity key kept current (so the KMS stays reachable).
change_mk_twice()
{
	for _n in n1 n2; do
		new_mk "$_n"
		atf_check -s exit:0 -o match:"staged" -e empty "$SECUREKEY" kms reencipher --staged
		set_new
		atf_check -s exit:0 -o match:"completed" -e empty "$SECUREKEY" kms reencipher --complete
	done
}

# bad_server MODE ARGS...: tests/kms/badserver.py on a free port ($bad_port),
# stopped by bad_cleanup; bad_server_on PORT MODE ARGS...: on PORT.
bad_server()
{
	bad_server_on "$(kms_free_port)" "$@"
}

bad_server_on()
{
	bad_port=$1
	shift
	rm -f bad.ready
	"$PYTHON" "$KMS_DIR/badserver.py" "$bad_port" bad.ready "$@" &
	echo $! >>bad.pid
	while [ ! -e bad.ready ]; do sleep 0.1; done
}

bad_cleanup()
{
	[ -f bad.pid ] && kill $(cat bad.pid) 2>/dev/null
	kms_cleanup
}
