#! @ATF_SH@
# The KMS (issue 5) against real PyKMIP servers on 127.0.0.1, with a test
# PKI made by the openssl CLI: kms configure/status/reencipher, enroll --kms
# checked with PyKMIP's own client, refresh after two master-key changes,
# kms refresh of many volumes over one connection, the plugin's KMS fallback, fail-over to a secondary, both servers down,
# and the TLS refusals (wrong CA, expired client certificate, wrong host).
# Every server a case starts is stopped by its cleanup.

SK_BUILDDIR=@abs_top_builddir@
. @abs_top_srcdir@/tests/cli/common.sh
. @abs_top_srcdir@/tests/cli/devices.sh

KMS_DIR=@abs_top_srcdir@/tests/kms
. @abs_top_srcdir@/tests/cli/kms.sh

# ------------------------------------------------------------- enroll

atf_test_case enroll_kms cleanup
enroll_kms_head()
{
	atf_set "descr" "enroll --kms registers the volume key; PyKMIP's client reads the same key"
	kms_head
}
enroll_kms_body()
{
	kms_setup
	mkimg img
	enroll img --kms
	vk_of img vk
	id=$(key_id img)
	uuid=$(cryptsetup luksUUID img)
	atf_check -s exit:0 -o inline:"$(od -An -tx1 -v vk | tr -d ' \n')\n" -e empty \
		./tool-primary get "$id"
	atf_check -s exit:0 -e ignore -o match:"Name: $uuid" \
		-o match:"Application Specific Information: securekey-device=img" \
		./tool-primary attrs "$id"
	vjson img "v['kms']['key_id'] == '$id'" "v['kms']['name'] == '$uuid'" \
		"v['kms']['servers'] == ['$URL_primary']"
	token_unlocks img "secure key under the CURRENT master key"
}
enroll_kms_cleanup() { kms_cleanup; }

atf_test_case enroll_kms_protocol_1_2 cleanup
enroll_kms_protocol_1_2_head()
{
	atf_set "descr" "KMIP 1.2 (Template-Attribute encoding) registers and fetches the key too"
	kms_head
}
enroll_kms_protocol_1_2_body()
{
	setup
	mkdir -p kms
	kms_certs "$PWD/kms" || atf_fail "cannot make the test PKI"
	start primary
	atf_check -s exit:0 -e empty -o match:"\(KMIP 1\.2\)" \
		"$SECUREKEY" kms configure --apqns "$APQNS" --ca kms/ca.pem --cert kms/client.pem \
		--key kms/client.key --protocol 1.2 --server "$URL_primary"
	mkimg img
	enroll img --kms
	vk_of img vk
	atf_check -s exit:0 -o inline:"$(od -An -tx1 -v vk | tr -d ' \n')\n" -e empty \
		./tool-primary get "$(key_id img)"
	change_mk_twice
	atf_check -s exit:0 -o match:"fetched from the KMS" -e empty "$CR" refresh img
	token_unlocks img "secure key under the CURRENT master key"
}
enroll_kms_protocol_1_2_cleanup() { kms_cleanup; }

atf_test_case enroll_kms_down cleanup
enroll_kms_down_head()
{
	atf_set "descr" "enroll --kms with the KMS down changes nothing on disk"
	kms_head
}
enroll_kms_down_body()
{
	kms_setup
	mkimg img
	kms_stop primary "$PWD/kms"
	refused "img: |KMS .*cannot connect" "$CR" enroll img --apqns "$APQNS" --kms --key-file pass
}
enroll_kms_down_cleanup() { kms_cleanup; }

# ------------------------------------------------------------- remove

atf_test_case remove_kms cleanup
remove_kms_head()
{
	atf_set "descr" "remove of a KMS-bound device names the key it leaves on the KMS;" \
		"--kms-destroy revokes and destroys it first (PyKMIP's client no longer finds it)," \
		"goes on when it is gone already, and refuses with nothing changed a key id that is" \
		"not the volume's and a KMS that is down"
	kms_head
}
remove_kms_body()
{
	kms_setup
	mkimg img
	mkimg other
	enroll img --kms
	enroll other --kms
	id=$(key_id img)
	vk_of img vk
	# Without --kms-destroy the key stays, and remove says where and how.
	atf_check -s exit:0 -e empty -o match:"^img: securekey token and keyslot 1 removed\.\$" \
		-o match:"^img: the KMS keeps a copy of the volume key \(key $id on $URL_primary\); destroy it there, or run 'securekey-cryptsetup restore img' and then 'securekey-cryptsetup remove img --kms-destroy'\.\$" \
		"$CR" remove img --key-file pass
	atf_check -s exit:0 -o inline:"$(od -An -tx1 -v vk | tr -d ' \n')\n" -e empty \
		./tool-primary get "$id"
	atf_check -s exit:0 -o match:"^img: restored header backup " -e empty \
		"$CR" restore img --key-file pass
	# A key id edited into other's token names img's key: not other's, kept.
	token_json other >other.json
	"$PYTHON" -c '
import json, sys
t = json.load(open("other.json"))
t["kms"]["key_id"] = sys.argv[1]
print(json.dumps(t))' "$id" >other-edited.json
	atf_check -s exit:0 -o ignore -e ignore cryptsetup token import --token-id 0 \
		--json-file other-edited.json --token-replace other
	refused "other: key $id on KMS 127\.0\.0\.1:[0-9]+ is not the volume key of this device; it is not destroyed and the device was not changed" \
		"$CR" remove other --kms-destroy --key-file pass
	atf_check -s exit:0 -o ignore -e empty ./tool-primary get "$id"
	atf_check -s exit:0 -o ignore -e ignore cryptsetup token import --token-id 0 \
		--json-file other.json --token-replace other
	# --kms-destroy: revoked and destroyed, then the token goes.
	atf_check -s exit:0 -e empty -o match:"^img: key $id revoked and destroyed on KMS $URL_primary\.\$" \
		-o match:"^img: securekey token and keyslot 1 removed\.\$" -o not-match:"KMS keeps" \
		"$CR" remove img --kms-destroy --key-file pass
	atf_check -s exit:1 -o empty -e ignore ./tool-primary get "$id"
	# A key gone already (a remove whose header write failed after the destroy).
	atf_check -s exit:0 -o ignore -e empty "$CR" restore img --key-file pass
	atf_check -s exit:0 -e match:"Item Not Found" \
		-o match:"^img: key $id is not on KMS $URL_primary \(destroyed before\)\.\$" \
		-o match:"^img: securekey token and keyslot 1 removed\.\$" \
		"$CR" remove img --kms-destroy --key-file pass
	# The KMS down: refused before the header is written; the token stays.
	kms_stop primary "$PWD/kms"
	refused "other: cannot destroy key $(key_id other) on KMS $URL_primary: .*; the device was not changed" \
		"$CR" remove other --kms-destroy --key-file pass
	token_unlocks other "secure key under the CURRENT master key"
}
remove_kms_cleanup() { kms_cleanup; }

# ------------------------------------------------------------- refresh

atf_test_case refresh_after_two_changes cleanup
refresh_after_two_changes_head()
{
	atf_set "descr" "two master-key changes leave the key under no register; refresh restores it"
	kms_head
}
refresh_after_two_changes_body()
{
	kms_setup
	mkimg img
	mkimg img2
	enroll img --kms
	enroll img2 --kms
	keyslots_json img >keyslots.before
	change_mk_twice
	vstate img none - "refresh or setkey"
	atf_check -s exit:0 -e empty \
		-o match:"^The volume key of img was fetched from the KMS \(key $(key_id img)\) and stored under the CURRENT master key" \
		-o match:"^The volume key of img2 was fetched from the KMS \(key $(key_id img2)\)" \
		"$CR" refresh img img2
	vstate img CURRENT - none
	vstate img2 CURRENT - none
	token_unlocks img "secure key under the CURRENT master key"
	pass_opens img
	keyslots_json img >keyslots.after
	atf_check -s exit:0 cmp keyslots.before keyslots.after
	atf_check -s exit:0 -o match:"nothing to refresh" -e empty "$CR" refresh img
}
refresh_after_two_changes_cleanup() { kms_cleanup; }

atf_test_case refresh_staged_while_new cleanup
refresh_staged_while_new_head()
{
	atf_set "descr" "refresh while a NEW master key is committed also stages the key to it"
	kms_head
}
refresh_staged_while_new_body()
{
	kms_setup
	mkimg img
	enroll img --kms
	change_mk_twice
	new_mk n3
	atf_check -s exit:0 -e empty -o match:"staged to the committed NEW master key" "$CR" refresh img
	vstate img CURRENT NEW "hsm set"
}
refresh_staged_while_new_cleanup() { kms_cleanup; }

atf_test_case plugin_fetches_from_kms cleanup
plugin_fetches_from_kms_head()
{
	atf_set "descr" "the plugin unlocks a key under no register, or one that does not unwrap," \
		"from the KMS, read-only"
	kms_head
}
plugin_fetches_from_kms_body()
{
	kms_setup
	mkimg img
	enroll img --kms
	change_mk_twice
	sum=$(sha256sum img)
	atf_check -s exit:0 -e ignore \
		-o match:"^# securekey: .*fetching volume key $(key_id img) from the KMS" \
		-o match:"^# securekey: .*volume key fetched from the KMS" \
		./pcs open --debug --test-passphrase --token-only --token-type securekey img
	atf_check -s exit:0 -o match:"unlocks by token" -e ignore "$CR" open img --test-passphrase
	test "$(sha256sum img)" = "$sum" || atf_fail "unlocking from the KMS wrote the header"
	vstate img none - "refresh or setkey"
	# A key that a register holds but that does not unwrap: the KMS too.
	mkimg img2
	enroll img2 --kms
	flip_key img2
	sum=$(sha256sum img2)
	atf_check -s exit:0 -e match:"^securekey: img2: the secure key under the CURRENT master key does not unwrap" \
		-o match:"^# securekey: img2: no secure key of the token unlocks the device; fetching volume key $(key_id img2) from the KMS" \
		./pcs open --debug --test-passphrase --token-only --token-type securekey img2
	test "$(sha256sum img2)" = "$sum" || atf_fail "unlocking from the KMS wrote the header"
}
plugin_fetches_from_kms_cleanup() { kms_cleanup; }

atf_test_case refresh_not_bound cleanup
refresh_not_bound_head()
{
	atf_set "descr" "refresh of a token without kms is refused with the step that applies to its key (none, reencipher --complete, setkey), nothing changes"
	kms_head
}
refresh_not_bound_body()
{
	kms_setup
	mkimg img
	enroll img
	refused "img: the token is not bound to a KMS \(enroll with --kms\); its secure key is under the CURRENT master key: nothing to do\$" \
		"$CR" refresh img
	# staged, then NEW set: completing is its step, not setkey
	new_mk n1
	atf_check -s exit:0 -e empty -o ignore "$CR" reencipher img --staged --key-file pass
	set_new
	refused "img: the token is not bound to a KMS \(enroll with --kms\); its next step is 'securekey-cryptsetup reencipher --complete img'\$" \
		"$CR" refresh img
	# under no register: setkey, from the passphrase or an exported key
	for n in n2 n3; do
		new_mk $n
		set_new
	done
	refused "img: the token is not bound to a KMS \(enroll with --kms\); restore the secure key with 'securekey-cryptsetup setkey img' \(add --secure-key-file FILE for an exported key\)\$" \
		"$CR" refresh img
}
refresh_not_bound_cleanup() { kms_cleanup; }

atf_test_case refresh_wrong_key cleanup
refresh_wrong_key_head()
{
	atf_set "descr" "a KMS object that is not the volume key is refused by crypt_volume_key_verify"
	kms_head
}
refresh_wrong_key_body()
{
	kms_setup
	mkimg img
	mkimg other
	enroll img --kms
	enroll other --kms
	change_mk_twice
	# point img's token at other's key id
	token_json other >other.json
	token_json img | "$PYTHON" -c '
import json, sys
t = json.load(sys.stdin)
t["kms"]["key_id"] = json.load(open("other.json"))["kms"]["key_id"]
print(json.dumps(t))' >img.json
	atf_check -s exit:0 -o ignore -e ignore cryptsetup token import --token-id 0 --json-file img.json \
		--token-replace img
	refused "is not this device's volume key; nothing was changed" "$CR" refresh img
}
refresh_wrong_key_cleanup() { kms_cleanup; }

# ------------------------------------------------------------- kms refresh

# sessions NAME: the TLS sessions PyKMIP server NAME has started so far.
sessions()
{
	grep -c "INFO - Starting session" "kms/$1/server.log"
}

# again_twice: change_mk_twice once more (its key part files go first).
again_twice()
{
	rm -f n1-a n1-b n2-a n2-b
	change_mk_twice
}

# bound_images N: img1..imgN enrolled with --kms, then two master-key changes.
bound_images()
{
	for _i in $(seq "$1"); do
		mkimg "img$_i"
		enroll "img$_i" --kms
	done
	change_mk_twice
}

atf_test_case kms_refresh_one_connection cleanup
kms_refresh_one_connection_head()
{
	atf_set "descr" "kms refresh and refresh DEV... fetch the keys of all devices over one TLS" \
		"connection, the Gets of kms refresh in one batched KMIP request"
	kms_head
}
kms_refresh_one_connection_body()
{
	kms_setup
	bound_images 3
	mkimg plain
	enroll plain
	before=$(sessions primary)
	atf_check -s exit:0 -e match:"^KMS session: 1 TLS connection opened$" \
		-o match:"^ok +[-0-9a-f]{36} +[^ ]*img1 +fetched from the KMS: under the CURRENT master key$" \
		-o match:"^ok +[-0-9a-f]{36} +[^ ]*img3 " \
		-o match:"^skipped +[-0-9a-f]{36} +[^ ]*plain +not bound to a KMS" \
		-o match:"^4 devices: 3 ok, 1 skipped, 0 failed \(" \
		"$SECUREKEY" kms refresh --debug
	[ "$(sessions primary)" -eq $((before + 1)) ] ||
		atf_fail "kms refresh made $(($(sessions primary) - before)) TLS connections, not 1"
	# One request with three Get batch items (Batch Count 3 in its header).
	atf_check -s exit:0 -o match:"^1$" -e empty sh -c \
		"grep -c 'Request encoding: .*42000d0200000004000000030000000042000f' kms/primary/server.log"
	for i in 1 2 3; do
		vstate "img$i" CURRENT - none
	done
	token_unlocks img2 "secure key under the CURRENT master key"
	# Nothing to fetch: no KMS connection at all.
	before=$(sessions primary)
	atf_check -s exit:0 -e empty -o match:"^skipped +[-0-9a-f]{36} +[^ ]*img1 +under the CURRENT master key: nothing to refresh" \
		-o match:"^4 devices: 0 ok, 4 skipped, 0 failed" "$SECUREKEY" kms refresh
	[ "$(sessions primary)" -eq "$before" ] || atf_fail "kms refresh connected with nothing to fetch"
	# securekey-cryptsetup refresh of several devices: one connection too.
	again_twice
	before=$(sessions primary)
	atf_check -s exit:0 -e empty -o match:"^The volume key of img3 was fetched" \
		"$CR" refresh img1 img2 img3
	[ "$(sessions primary)" -eq $((before + 1)) ] ||
		atf_fail "refresh DEV... made $(($(sessions primary) - before)) TLS connections, not 1"
}
kms_refresh_one_connection_cleanup() { kms_cleanup; }

atf_test_case kms_refresh_paths_apqns_json cleanup
kms_refresh_paths_apqns_json_head()
{
	atf_set "descr" "kms refresh PATH..., --apqns and --json: the table, JSON lines and exit" \
		"status of securekey reencipher"
	kms_head
}
kms_refresh_paths_apqns_json_body()
{
	kms_setup
	bound_images 3
	atf_check -s exit:0 -e empty -o save:out "$SECUREKEY" kms refresh --apqns 0f.000f
	atf_check -s exit:0 -o match:"^0 devices: 0 ok, 0 skipped, 0 failed" cat out
	vstate img1 none - "refresh or setkey"
	atf_check -s exit:0 -e empty \
		-o match:"^\{\"path\":\"img1\",\"uuid\":\"[-0-9a-f]{36}\",\"result\":\"ok\",\"detail\":\"fetched from the KMS: under the CURRENT master key\"\}$" \
		-o match:"^\{\"path\":\"img3\",.*\"result\":\"ok\"" \
		-o match:"^\{\"summary\":\{\"devices\":2,\"ok\":2,\"skipped\":0,\"failed\":0," \
		-o not-match:"img2" \
		"$SECUREKEY" kms refresh --apqns "$APQNS" --json img1 img3
	vstate img1 CURRENT - none
	vstate img2 none - "refresh or setkey"
	atf_check -s exit:2 -e match:"give --all or paths, not both" -o empty \
		"$SECUREKEY" kms refresh --all img2
	atf_check -s exit:2 -e match:"not a list of AA.DDDD" -o empty \
		"$SECUREKEY" kms refresh --apqns nonsense
}
kms_refresh_paths_apqns_json_cleanup() { kms_cleanup; }

atf_test_case kms_refresh_failures cleanup
kms_refresh_failures_head()
{
	atf_set "descr" "kms refresh: a key the KMS lost and a key that is not the volume's fail" \
		"with the reason, nothing written to them; the other devices are refreshed"
	kms_head
}
kms_refresh_failures_body()
{
	kms_setup
	bound_images 4
	lost=$(key_id img2)
	atf_check -s exit:0 -o ignore -e ignore ./tool-primary revoke "$lost"
	atf_check -s exit:0 -o ignore -e ignore ./tool-primary destroy "$lost"
	token_kms img3 "$(key_id img4)" "$URL_primary"
	sum2=$(sha256sum img2)
	sum3=$(sha256sum img3)
	atf_check -s exit:1 -e match:"refused Get of key $lost: Item Not Found" \
		-o match:"^failed +[-0-9a-f]{36} +[^ ]*img2 +no KMS server answered with volume key $lost \(tried 1 server\); $URL_primary: no such key$" \
		-o match:"^failed +[-0-9a-f]{36} +[^ ]*img3 +the key KMS object $(key_id img4) holds is not this device's volume key; nothing was changed$" \
		-o match:"^ok +[-0-9a-f]{36} +[^ ]*img1 " -o match:"^ok +[-0-9a-f]{36} +[^ ]*img4 " \
		-o match:"^4 devices: 2 ok, 0 skipped, 2 failed" \
		"$SECUREKEY" kms refresh
	test "$(sha256sum img2)" = "$sum2" || atf_fail "a failed refresh wrote img2"
	test "$(sha256sum img3)" = "$sum3" || atf_fail "a failed refresh wrote img3"
	vstate img1 CURRENT - none
	vstate img4 CURRENT - none
	# The KMS down: every device fails with the reason, within the timeout.
	again_twice
	kms_stop_all "$PWD/kms"
	atf_check -s exit:1 -e match:"cannot connect" \
		-o match:"^failed +[-0-9a-f]{36} +[^ ]*img1 +no KMS server answered with volume key $(key_id img1) \(tried 1 server\); $URL_primary: " \
		-o match:"^4 devices: 0 ok, 0 skipped, 4 failed" "$SECUREKEY" kms refresh
}
kms_refresh_failures_cleanup() { kms_cleanup; }

atf_test_case kms_refresh_server_without_batches cleanup
kms_refresh_server_without_batches_head()
{
	atf_set "descr" "a server that refuses batched requests and closes the connection after" \
		"each response: kms refresh asks one key at a time, connecting again"
	kms_head
}
kms_refresh_server_without_batches_body()
{
	kms_setup
	bound_images 3
	bad_server kmip "$(kms_port primary "$PWD/kms")" "$PWD/kms" nobatch close
	relay=kmip://127.0.0.1:$bad_port
	conf_servers 5 "$relay"
	for i in 1 2 3; do
		token_kms "img$i" "$(key_id "img$i")" "$relay"
	done
	atf_check -s exit:0 \
		-e match:"KMS $relay takes no batched requests; asking for one key at a time" \
		-e match:"closed the connection kept open; connecting again" \
		-o match:"^3 devices: 3 ok, 0 skipped, 0 failed" "$SECUREKEY" kms refresh -V
	vstate img2 CURRENT - none
}
kms_refresh_server_without_batches_cleanup() { bad_cleanup; }

# ------------------------------------------------------------- fail-over

atf_test_case failover_secondary cleanup
failover_secondary_head()
{
	atf_set "descr" "primary down: refresh and the plugin read from the secondary"
	kms_head
}
failover_secondary_body()
{
	kms_setup_two
	mkimg img
	enroll img --kms
	# The secondary holds a replica: the same key under the same id.
	vk_of img vk
	id=$(key_id img)
	atf_check -s exit:0 -o inline:"$id\n" -e empty \
		./tool-secondary register-aes "$(od -An -tx1 -v vk | tr -d ' \n')" "$(cryptsetup luksUUID img)"
	kms_stop primary "$PWD/kms"
	change_mk_twice
	atf_check -s exit:0 -e ignore -o match:"fetched from $URL_secondary \(a secondary server\)" \
		./pcs open --debug --test-passphrase --token-only --token-type securekey img
	atf_check -s exit:0 -o match:"fetched from the KMS" \
		-e match:"KMS 127\.0\.0\.1:[0-9]+: cannot connect" "$CR" refresh img -V
	vstate img CURRENT - none
}
failover_secondary_cleanup() { kms_cleanup; }

atf_test_case both_down cleanup
both_down_head()
{
	atf_set "descr" "both servers down: a clear error within the timeout, header unchanged"
	kms_head
}
both_down_body()
{
	kms_setup_two
	mkimg img
	enroll img --kms
	kms_stop_all "$PWD/kms"
	change_mk_twice
	start_s=$(date +%s)
	refused "no KMS server answered with volume key $(key_id img) \(tried 2 servers\)" \
		"$CR" refresh img
	token_fails img "no KMS server answered"
	elapsed=$(($(date +%s) - start_s))
	# 2 servers x 5 s timeout is the bound; refused connections are immediate.
	[ "$elapsed" -le 12 ] || atf_fail "took $elapsed s, more than the timeouts allow"
}
both_down_cleanup() { kms_cleanup; }

# token_kms IMG KEY_ID URL...: IMG's token names KEY_ID on the servers URL...
token_kms()
{
	_img=$1 _id=$2
	shift 2
	token_json "$_img" | "$PYTHON" -c '
import json, sys
t = json.load(sys.stdin)
t["kms"]["key_id"] = sys.argv[1]
t["kms"]["servers"] = sys.argv[2:]
print(json.dumps(t))' "$_id" "$@" >"$_img.json"
	atf_check -s exit:0 -o ignore -e ignore cryptsetup token import --token-id 0 \
		--json-file "$_img.json" --token-replace "$_img"
}

# conf_servers TIMEOUT URL...: the configuration's [kms] servers are URL...,
# its timeout TIMEOUT seconds.
conf_servers()
{
	_timeout=$1
	shift
	sed -e '/^server = /d' -e "s/^timeout = .*/timeout = $_timeout/" "$SECUREKEY_CONF" |
		awk -v urls="$*" '{ print } /^\[kms\]$/ { n = split(urls, u, " ")
			for (i = 1; i <= n; i++) print "server = " u[i] }' >conf.new
	cat conf.new >"$SECUREKEY_CONF"
	rm conf.new
}

# serve_token_from PORT: the server on PORT is configured too, and IMG's
# token names only it.
serve_token_from()
{
	sed -i "/^\[kms\]/a server = kmip://127.0.0.1:$1" "$SECUREKEY_CONF"
	token_kms img "$(key_id img)" "kmip://127.0.0.1:$1"
}

# refused_within MIN MAX REGEXP COMMAND...: refused (nothing changed) with
# REGEXP, after MIN to MAX seconds.
refused_within()
{
	_min=$1 _max=$2
	shift 2
	_t0=$(date +%s)
	refused "$@"
	_elapsed=$(($(date +%s) - _t0))
	[ "$_elapsed" -ge "$_min" ] && [ "$_elapsed" -le "$_max" ] ||
		atf_fail "gave up after $_elapsed s, not $_min to $_max s: $*"
}

atf_test_case stalled_server_times_out cleanup
stalled_server_times_out_head()
{
	atf_set "descr" "a server that accepts and never answers is given up after the timeout"
	kms_head
}
stalled_server_times_out_body()
{
	kms_setup
	mkimg img
	enroll img --kms
	change_mk_twice
	# a TCP listener that never speaks TLS, in place of the primary
	bad_server stall
	serve_token_from "$bad_port"
	refused_within 4 9 "KMS 127\.0\.0\.1:$bad_port: (TLS handshake failed|no complete response)" "$CR" refresh img
}
stalled_server_times_out_cleanup()
{
	bad_cleanup
}

atf_test_case server_resets_mid_response cleanup
server_resets_mid_response_head()
{
	atf_set "descr" "a server that sends part of a response, then resets the connection:" \
		"refresh and the plugin fail at once with a clear error, nothing written"
	kms_head
}
server_resets_mid_response_body()
{
	kms_setup
	mkimg img
	enroll img --kms
	change_mk_twice
	bad_server reset "$PWD/kms/server.pem" "$PWD/kms/server.key" "$PWD/kms/ca.pem"
	serve_token_from "$bad_port"
	refused_within 0 3 "^img: KMS 127\.0\.0\.1:$bad_port: .*(reset|no complete response|closed)" "$CR" refresh img
	token_fails img "KMS 127\.0\.0\.1:$bad_port"
	pass_opens img
}
server_resets_mid_response_cleanup()
{
	bad_cleanup
}

atf_test_case slow_server cleanup
slow_server_head()
{
	atf_set "descr" "a server whose every packet is held back 0.3 s (within the 5 s timeout):" \
		"refresh succeeds; one that trickles its response a byte every 0.5 s is" \
		"given up after the timeout, nothing written"
	kms_head
}
slow_server_body()
{
	kms_setup
	mkimg img
	enroll img --kms
	change_mk_twice
	port=$(kms_port primary "$PWD/kms")
	bad_server trickle "$port" 0.5
	serve_token_from "$bad_port"
	refused_within 4 12 "KMS 127\.0\.0\.1:$bad_port: " "$CR" refresh img
	bad_server slow "$port" 0.3
	serve_token_from "$bad_port"
	atf_check -s exit:0 -o match:"fetched from the KMS" -e empty "$CR" refresh img
	token_unlocks img "secure key under the CURRENT master key"
}
slow_server_cleanup()
{
	bad_cleanup
}

# ------------------------------------------------------------- hostile headers

atf_test_case header_server_not_configured cleanup
header_server_not_configured_head()
{
	atf_set "descr" "a KMS server that only the LUKS2 header names is never contacted: a" \
		"self-made image naming a second server of the same CA, which holds its volume" \
		"key, does not unlock; a configured server beside it in the header does"
	kms_head
}
header_server_not_configured_body()
{
	kms_setup
	start hostile
	mkimg evil
	enroll evil --kms
	primary_id=$(key_id evil)
	# The attacker's server holds the image's volume key; its secure key is
	# under no register, so the KMS is the way left.
	vk_of evil vk
	id=$(./tool-hostile register-aes "$(od -An -tx1 -v vk | tr -d ' \n')" \
		"$(cryptsetup luksUUID evil)") || atf_fail "cannot register on the hostile server"
	change_mk_twice
	token_kms evil "$id" "$URL_hostile"
	msg="evil: KMS server $URL_hostile named by the LUKS2 header is not configured in $SECUREKEY_CONF; it is not contacted"
	token_fails evil "$msg"
	refused "$msg" "$CR" refresh evil
	# Beside a configured server: that one is asked, the other still refused.
	token_kms evil "$primary_id" "$URL_hostile" "$URL_primary"
	atf_check -s exit:0 -e match:"$msg" -o match:"volume key $primary_id fetched from $URL_primary" \
		./pcs open --debug --test-passphrase --token-only --token-type securekey evil
}
header_server_not_configured_cleanup() { kms_cleanup; }

# ------------------------------------------------------------- one deadline

atf_test_case stalled_servers_one_deadline cleanup
stalled_servers_one_deadline_head()
{
	atf_set "descr" "[kms] timeout bounds the whole fetch: four configured servers that accept" \
		"and never answer end within it, for refresh and the plugin, nothing written"
	kms_head
}
stalled_servers_one_deadline_body()
{
	kms_setup
	mkimg img
	enroll img --kms
	change_mk_twice
	urls=""
	for n in 1 2 3 4; do
		bad_server stall
		urls="$urls kmip://127.0.0.1:$bad_port"
	done
	conf_servers 2 $urls
	token_kms img "$(key_id img)" $urls
	refused_within 1 4 "the KMS timeout of 2 s \(\[kms\] timeout\) passed before" "$CR" refresh img
	_t0=$(date +%s)
	atf_check -s not-exit:0 -o ignore -e match:"passed before" \
		./pcs open --test-passphrase --token-only --token-type securekey img
	_elapsed=$(($(date +%s) - _t0))
	[ "$_elapsed" -le 4 ] || atf_fail "the plugin gave up after $_elapsed s, not within 2 s + margin"
}
stalled_servers_one_deadline_cleanup()
{
	bad_cleanup
}

atf_test_case unresolvable_names_one_deadline cleanup
unresolvable_names_one_deadline_head()
{
	atf_set "descr" "server names whose lookup is never answered (resolv.conf at a local DNS" \
		"port that never answers, in a private mount and network namespace) end within" \
		"[kms] timeout, for refresh and the plugin, nothing written"
	kms_head
}
unresolvable_names_one_deadline_body()
{
	kms_setup
	mkimg img
	enroll img --kms
	change_mk_twice
	urls="kmip://kms-a.securekey.test:5696 kmip://kms-b.securekey.test:5696"
	conf_servers 1 $urls
	token_kms img "$(key_id img)" $urls
	echo "nameserver 127.0.0.1" >resolv.conf
	cat >dnsstall.py <<'EOF'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 53))
open(sys.argv[1], "w").close()
while True:
    s.recvfrom(4096)  # and never answer
EOF
	cat >inner.sh <<EOF
ip link set lo up
mount --bind "$PWD/resolv.conf" /etc/resolv.conf
"$PYTHON" dnsstall.py dns.ready &
while [ ! -e dns.ready ]; do sleep 0.1; done
# ms COMMAND...: run COMMAND, its milliseconds in COMMAND's name .ms
ms() { _n=\$1; shift; _t0=\$(date +%s%N); "\$@" >\$_n.out 2>\$_n.err; echo \$? >\$_n.rc
	echo \$(( (\$(date +%s%N) - _t0) / 1000000 )) >\$_n.ms; }
ms refresh "$CR" refresh img
ms plugin ./pcs open --test-passphrase --token-only --token-type securekey img
kill \$!
EOF
	sum=$(sha256sum img)
	atf_check -s exit:0 unshare -m -n sh inner.sh
	test "$(sha256sum img)" = "$sum" || atf_fail "a failed fetch changed the header"
	atf_check -s exit:0 -o inline:"1\n" cat refresh.rc
	atf_check -s exit:0 \
		-o match:"KMS kms-a\.securekey\.test:5696: cannot resolve the host: no answer before the deadline" \
		cat refresh.err
	atf_check -s exit:0 -o not-inline:"0\n" cat plugin.rc
	for n in refresh plugin; do
		[ "$(cat $n.ms)" -le 2500 ] ||
			atf_fail "$n gave up after $(cat $n.ms) ms, not within 1 s + margin: $(cat $n.err)"
	done
}
unresolvable_names_one_deadline_cleanup() { kms_cleanup; }

# ------------------------------------------------------------- TLS

atf_test_case tls_refusals cleanup
tls_refusals_head()
{
	atf_set "descr" "wrong CA, expired client certificate, wrong IP or host name: refused, nothing written"
	kms_head
}
tls_refusals_body()
{
	setup
	mkdir -p kms
	kms_certs "$PWD/kms" || atf_fail "cannot make the test PKI"
	start primary
	start wronghost wronghost.pem wronghost.key
	start rogue rogue-server.pem rogue-server.key
	chmod 0600 kms/expired.key
	refused "server certificate refused: .*(unable to get local issuer|self-signed)" \
		"$SECUREKEY" kms configure --apqns "$APQNS" --ca kms/rogue-ca.pem \
		--cert kms/client.pem --key kms/client.key --server "$URL_primary"
	refused "server certificate refused: .*(unable to get local issuer|self-signed)" \
		"$SECUREKEY" kms configure --apqns "$APQNS" --ca kms/ca.pem \
		--cert kms/client.pem --key kms/client.key --server "$URL_rogue"
	refused "server certificate refused: IP address mismatch" \
		"$SECUREKEY" kms configure --apqns "$APQNS" --ca kms/ca.pem \
		--cert kms/client.pem --key kms/client.key --server "$URL_wronghost"
	# a name, not an address: the certificate has no DNS name "localhost"
	refused "server certificate refused: hostname mismatch" \
		"$SECUREKEY" kms configure --apqns "$APQNS" --ca kms/ca.pem \
		--cert kms/client.pem --key kms/client.key \
		--server "kmip://localhost:$(kms_port primary "$PWD/kms")"
	refused "TLS handshake failed: .*certificate expired" \
		"$SECUREKEY" kms configure --apqns "$APQNS" --ca kms/ca.pem \
		--cert kms/expired.pem --key kms/expired.key --server "$URL_primary"
	refused "the identity key does not belong to the client certificate" \
		"$SECUREKEY" kms configure --apqns "$APQNS" --ca kms/ca.pem \
		--cert kms/client.pem --key kms/other.key --server "$URL_primary"
	test ! -e "$SECUREKEY_CONF" || atf_fail "a refused configure wrote the configuration"
}
tls_refusals_cleanup() { kms_cleanup; }

atf_test_case configure_refusals cleanup
configure_refusals_head()
{
	atf_set "descr" "configure: usage errors and an unprotected key file are refused"
	kms_head
}
configure_refusals_body()
{
	setup
	mkdir -p kms
	kms_certs "$PWD/kms" || atf_fail "cannot make the test PKI"
	start primary
	chmod 0644 kms/client.key
	refused "kms/client.key has mode 0644 .*chmod 0600" "$SECUREKEY" kms configure --apqns "$APQNS" \
		--ca kms/ca.pem --cert kms/client.pem --key kms/client.key --server "$URL_primary"
	chmod 0600 kms/client.key
	SK_EXIT=2 refused "required" "$SECUREKEY" kms configure --apqns "$APQNS" \
		--ca kms/ca.pem --cert kms/client.pem --key kms/client.key
	SK_EXIT=2 refused "is not kmip://HOST" "$SECUREKEY" kms configure --apqns "$APQNS" \
		--ca kms/ca.pem --cert kms/client.pem --key kms/client.key --server http://x
	SK_EXIT=2 refused "timeout" "$SECUREKEY" kms configure --apqns "$APQNS" \
		--ca kms/ca.pem --cert kms/client.pem --key kms/client.key --server "$URL_primary" \
		--timeout 0
	refused "no KMS is configured" "$SECUREKEY" kms status
	printf '[kms]\nbogus = 1\n' >"$SECUREKEY_CONF"
	refused "securekey.conf:2: unknown key in \[kms\]" "$SECUREKEY" kms status
}
configure_refusals_cleanup() { kms_cleanup; }

atf_test_case status_not_configured
status_not_configured_head()
{
	atf_set "descr" "kms status --json with no KMS configured (no configuration file, one without [kms]): one JSON object with configured false, exit 1 and the message on stderr as without --json"
}
status_not_configured_body()
{
	msg="no KMS is configured in $SECUREKEY_CONF: run 'securekey kms configure' first\n"
	for conf in none no-kms; do
		[ "$conf" = no-kms ] && printf '[batch]\nallow_token_auth = no\n' >"$SECUREKEY_CONF"
		atf_check -s exit:1 -o save:status.json -e inline:"$msg" "$SECUREKEY" kms status --json
		json_holds status.json s \
			"s == {'config': '$SECUREKEY_CONF', 'configured': False, 'servers': [], 'identity_key': None}"
		atf_check -s exit:1 -o empty -e inline:"$msg" "$SECUREKEY" kms status
	done
	# An unusable configuration is not "not configured": it says why, no JSON.
	printf '[kms]\nbogus = 1\n' >"$SECUREKEY_CONF"
	atf_check -s exit:1 -o empty -e match:"securekey.conf:2: unknown key in \[kms\]" \
		"$SECUREKEY" kms status --json
}

# ------------------------------------------------------------- identity key

atf_test_case identity_key_mk_change cleanup
identity_key_mk_change_head()
{
	atf_set "descr" "the identity key is staged and completed across a master-key change, the KMS working throughout; hsm set refuses while it is not staged"
	kms_head
}
identity_key_mk_change_body()
{
	kms_setup
	test "$(stat -c %a "$(dirname "$SECUREKEY_CONF")/kms/identity.skey")" = 600 ||
		atf_fail "identity key file is not 0600"
	if grep -q "PRIVATE KEY" "$(dirname "$SECUREKEY_CONF")"/kms/*; then
		atf_fail "a plain private key was stored"
	fi
	new_mk n1
	# hsm set would leave the identity key one register behind: refused
	refused "^KMS identity key $(dirname "$SECUREKEY_CONF")/kms/identity\.skey: not staged: run 'securekey kms reencipher --staged'\$" \
		"$SECUREKEY" hsm set --apqns "$APQNS"
	atf_check -s exit:1 -o empty -e match:"^hsm set refused: the KMS identity key is not staged to the NEW master key \(see above\); stage it first, or use --force\$" \
		"$SECUREKEY" hsm set --apqns "$APQNS"
	atf_check -s exit:0 -e empty -o match:"staged: enciphered with the NEW master key" \
		"$SECUREKEY" kms reencipher
	atf_check -s exit:0 -e empty -o save:status.json "$SECUREKEY" kms status --json
	atf_check -s exit:0 -o inline:"True\n" "$PYTHON" -c '
import json; s = json.load(open("status.json")); i = s["identity_key"]
print(s["configured"] is True and s["servers"][0]["reachable"]
      and i["secure_key"]["register"] == "CURRENT"
      and i["staged"]["register"] == "NEW" and i["next_step"] == "hsm set")'
	mkimg a
	enroll a --kms
	set_new
	atf_check -s exit:0 -e empty -o match:"reachable, KMIP 2\.0" \
		-o match:"next step: +reencipher --complete" "$SECUREKEY" kms status
	mkimg b
	enroll b --kms
	atf_check -s exit:0 -e empty -o match:"completed" "$SECUREKEY" kms reencipher --complete
	test ! -e "$(dirname "$SECUREKEY_CONF")/kms/identity.skey.staged" ||
		atf_fail "the staged identity key outlived --complete"
	atf_check -s exit:0 -e empty -o match:"next step: +none" "$SECUREKEY" kms status
	# one more change without re-enciphering it: in place from OLD
	new_mk n2
	set_new
	atf_check -s exit:0 -e empty -o match:"next step: +reencipher --in-place" "$SECUREKEY" kms status
	atf_check -s exit:0 -e empty -o match:"re-enciphered in place" "$SECUREKEY" kms reencipher
	# and one change too many: the identity key is lost, the KMS unreachable, clearly
	new_mk n3
	set_new
	new_mk n4
	set_new
	atf_check -s exit:1 -o ignore -e match:"identity key .* is enciphered with no master key" \
		"$SECUREKEY" kms status
}
identity_key_mk_change_cleanup() { kms_cleanup; }

# sign_csr CSR OUT SERIAL: the test CA signs a request for client authentication.
sign_csr()
{
	printf '%s\n' "basicConstraints = critical, CA:FALSE" \
		"keyUsage = critical, digitalSignature, keyEncipherment" \
		"extendedKeyUsage = clientAuth" >client_ext.cnf
	atf_check -s exit:0 -o ignore -e ignore openssl x509 -req -in "$1" -CA kms/ca.pem \
		-CAkey kms/ca.key -set_serial "$3" -days 30 -sha256 -extfile client_ext.cnf -out "$2"
}

# no_clear_key: no file of the work directory holds a PEM private key but the
# test PKI's own (kms/), and the identity key is a secure key blob.
no_clear_key()
{
	_kmsdir=$(dirname "$SECUREKEY_CONF")/kms
	if grep -rl "PRIVATE KEY" --exclude-dir=kms . || grep -l "PRIVATE KEY" "$_kmsdir"/*; then
		atf_fail "a clear private key was written"
	fi
	test "$(head -c 4 "$_kmsdir/identity.skey")" = SKEY ||
		atf_fail "$_kmsdir/identity.skey is not a secure key blob"
	test "$(stat -c %a "$_kmsdir/identity.skey")" = 600 || atf_fail "identity key file is not 0600"
}

atf_test_case generated_identity_key cleanup
generated_identity_key_head()
{
	atf_set "descr" "kms configure --generate-key: the client key made here, stored at once as the identity key and never in clear, a CSR signed by the test CA, the certificate installed without --key; enroll --kms and refresh work; a certificate of another key is refused"
	kms_head
}
generated_identity_key_body()
{
	setup
	mkdir -p kms
	kms_certs "$PWD/kms" || atf_fail "cannot make the test PKI"
	start primary
	kmsdir=$(dirname "$SECUREKEY_CONF")/kms
	SK_EXIT=2 refused "takes --apqns, --csr and --subject only" "$SECUREKEY" kms configure \
		--apqns "$APQNS" --generate-key --csr req.csr --server "$URL_primary"
	SK_EXIT=2 refused "subject 'CN=x' is not of the form" "$SECUREKEY" kms configure \
		--apqns "$APQNS" --generate-key --csr req.csr --subject CN=x
	SK_EXIT=2 refused "--csr and --subject go with --generate-key" "$SECUREKEY" kms configure \
		--apqns "$APQNS" --server "$URL_primary" --ca kms/ca.pem --cert kms/client.pem --csr x
	refused "no identity key in .*--generate-key" "$SECUREKEY" kms configure --apqns "$APQNS" \
		--server "$URL_primary" --ca kms/ca.pem --cert kms/client.pem
	atf_check -s exit:0 -e empty -o match:"never written in clear" \
		-o match:"^Certificate signing request for /CN=securekey-test written to req\.csr\.\$" \
		"$SECUREKEY" kms configure --apqns "$APQNS" --generate-key --csr req.csr \
		--subject /CN=securekey-test
	refused "req.csr exists" "$SECUREKEY" kms configure --apqns "$APQNS" --generate-key \
		--csr req.csr
	atf_check -s exit:0 -o match:"^subject=CN ?= ?securekey-test\$" -e ignore \
		openssl req -in req.csr -noout -verify -subject
	test "$(head -c 4 "$kmsdir/identity.skey.new")" = SKEY ||
		atf_fail "the generated key is not stored as a secure key blob"
	test ! -e "$SECUREKEY_CONF" || atf_fail "--generate-key wrote the configuration"
	sign_csr req.csr signed.pem 77
	# the certificate of another key: refused before anything is written
	refused "the certificate kms/client.pem is not for the identity key" "$SECUREKEY" kms \
		configure --apqns "$APQNS" --server "$URL_primary" --ca kms/ca.pem --cert kms/client.pem
	atf_check -s exit:0 -e empty -o match:"^KMS configured in $SECUREKEY_CONF" -o not-match:shred \
		"$SECUREKEY" kms configure --apqns "$APQNS" --server "$URL_primary" --ca kms/ca.pem \
		--cert signed.pem --timeout 5
	test ! -e "$kmsdir/identity.skey.new" || atf_fail "the pending key outlived its installation"
	atf_check -s exit:0 -e empty -o match:"reachable, KMIP" -o match:"next step: +none" \
		"$SECUREKEY" kms status
	mkimg img
	enroll img --kms
	change_mk_twice
	vstate img none - "refresh or setkey"
	atf_check -s exit:0 -e empty -o match:"^The volume key of img was fetched from the KMS" \
		"$CR" refresh img
	vstate img CURRENT - none
	no_clear_key
	# a renewed certificate for the identity key in use, installed the same way
	sign_csr req.csr renewed.pem 78
	atf_check -s exit:0 -e empty -o match:"^KMS configured in $SECUREKEY_CONF" \
		"$SECUREKEY" kms configure --apqns "$APQNS" --server "$URL_primary" --ca kms/ca.pem \
		--cert renewed.pem --timeout 5
	atf_check -s exit:0 -e empty -o match:"nothing to refresh" "$CR" refresh img
}
generated_identity_key_cleanup() { kms_cleanup; }

atf_test_case status_identity_lost cleanup
status_identity_lost_head()
{
	atf_set "descr" "kms status with the identity key under no register: the server is reachable but not authenticated, the next step and the recovery are a new key and certificate (never the shredded key file); the recovery as printed works"
	kms_head
}
status_identity_lost_body()
{
	kms_setup
	mkimg img
	enroll img --kms
	for n in n1 n2; do
		new_mk $n
		set_new
	done
	atf_check -s exit:1 -e match:"identity key .* is enciphered with no master key of APQNs $APQNS: it is lost" \
		-o match:"^Primary +$URL_primary: reachable \(TCP\); not authenticated: the identity key cannot be used\$" \
		-o not-match:"NOT reachable" -o not-match:"refresh or setkey" -o not-match:" --key " \
		-o match:"^  next step: +new identity key \(kms configure --generate-key\)\$" \
		-o match:"securekey kms configure --apqns $APQNS --generate-key --csr client.csr" \
		"$SECUREKEY" kms status
	atf_check -s exit:1 -e ignore -o save:status.json "$SECUREKEY" kms status --json
	json_holds status.json s "s['servers'][0]['reachable']" \
		"not s['servers'][0]['authenticated']" "'kmip' not in s['servers'][0]" \
		"s['identity_key']['lost'] and not s['identity_key']['usable']" \
		"s['identity_key']['next_step'] == 'new identity key (kms configure --generate-key)'"
	refused "it is lost; make a new one with 'securekey kms configure --apqns $APQNS --generate-key" \
		"$SECUREKEY" kms reencipher
	# the recovery as kms status prints it
	atf_check -s exit:0 -e empty -o ignore "$SECUREKEY" kms configure --apqns "$APQNS" \
		--generate-key --csr client.csr --subject /CN=securekey-test
	sign_csr client.csr signed.pem 79
	atf_check -s exit:0 -e empty -o match:"^KMS configured in $SECUREKEY_CONF" \
		"$SECUREKEY" kms configure --apqns "$APQNS" --server "$URL_primary" --ca kms/ca.pem \
		--cert signed.pem --timeout 5
	atf_check -s exit:0 -e empty -o match:"reachable, KMIP" -o match:"next step: +none" \
		"$SECUREKEY" kms status
	# the volume's key, registered by the old identity of the same subject, comes back
	vstate img none - "refresh or setkey"
	atf_check -s exit:0 -e empty -o match:"^The volume key of img was fetched from the KMS" \
		"$CR" refresh img
}
status_identity_lost_cleanup() { kms_cleanup; }

# ------------------------------------------------------------- operations

atf_test_case all_operations cleanup
all_operations_head()
{
	atf_set "descr" "Create, Locate, Get Attributes, Get, Activate, Revoke, Destroy on PyKMIP, KMIP 1.2 and 2.0"
	kms_head
}
all_operations_body()
{
	setup
	mkdir -p kms
	kms_certs "$PWD/kms" || atf_fail "cannot make the test PKI"
	start primary
	for v in 1.2 2.0; do
		atf_check -s exit:0 -e empty -o match:"\(KMIP $v\)" \
			"$SECUREKEY" kms configure --apqns "$APQNS" --ca kms/ca.pem \
			--cert kms/client.pem --key kms/client.key --protocol "$v" --server "$URL_primary"
		atf_check -s exit:0 -e empty -o save:uid "$SECUREKEY" kms debug create "ops-$v"
		uid=$(cat uid)
		atf_check -s exit:0 -e empty -o inline:"$uid\n" "$SECUREKEY" kms debug locate "ops-$v"
		# PreActive (1), AES (3), 256 bits, our name
		atf_check -s exit:0 -e empty -o match:"^name=ops-$v algorithm=3 length=256 state=1 " \
			"$SECUREKEY" kms debug attrs "$uid"
		atf_check -s exit:0 -e empty -o inline:"key of 32 bytes\n" "$SECUREKEY" kms debug get "$uid"
		atf_check -s exit:0 -e empty -o empty "$SECUREKEY" kms debug activate "$uid"
		atf_check -s exit:0 -e empty -o match:"state=2 " "$SECUREKEY" kms debug attrs "$uid"
		atf_check -s exit:1 -e match:"refused Destroy: Permission Denied: Object is active" \
			-o empty "$SECUREKEY" kms debug destroy "$uid"
		atf_check -s exit:0 -e empty -o empty "$SECUREKEY" kms debug revoke "$uid"
		atf_check -s exit:0 -e empty -o match:"state=3 " "$SECUREKEY" kms debug attrs "$uid"
		atf_check -s exit:0 -e empty -o empty "$SECUREKEY" kms debug destroy "$uid"
		atf_check -s exit:1 -e match:"refused Get: Item Not Found" -o empty \
			"$SECUREKEY" kms debug get "$uid"
		atf_check -s exit:0 -e empty -o empty "$SECUREKEY" kms debug locate "ops-$v"
	done
	# another client identity does not see our keys
	atf_check -s exit:0 -e empty -o save:uid "$SECUREKEY" kms debug create mine
	chmod 0600 kms/other.key
	atf_check -s exit:0 -e empty -o ignore \
		"$SECUREKEY" kms configure --apqns "$APQNS" --ca kms/ca.pem \
		--cert kms/other.pem --key kms/other.key --server "$URL_primary"
	atf_check -s exit:1 -e match:"refused Get: Permission Denied" -o empty \
		"$SECUREKEY" kms debug get "$(cat uid)"
}
all_operations_cleanup() { kms_cleanup; }

atf_test_case rotate_moves_identity_key cleanup
rotate_moves_identity_key_head()
{
	atf_set "descr" "securekey rotate re-enciphers the KMS identity key with the volumes, two changes in a row"
	kms_head
}
rotate_moves_identity_key_body()
{
	kms_setup
	mkimg img
	enroll img --kms
	for _n in r1 r2; do
		new_mk "$_n"
		atf_check -s exit:0 -e empty -o match:"^KMS identity key .*identity.skey: re-enciphered\.\$" \
			-o match:"^Rotation of APQNs $APQNS complete" \
			"$SECUREKEY" rotate --apqns "$APQNS" --key-file pass
		atf_check -s exit:0 -o match:"	ok	-	.*identity.skey	KMS identity key" \
			grep -E "^(stage|complete)	" state/rotate/$NEW_MKVP-$(echo "$APQNS" | tr , +).journal
	done
	# Two changes later the KMS is still reachable with the identity key.
	atf_check -s exit:0 -o match:"CURRENT" -e empty "$SECUREKEY" kms status
	mkimg img2
	enroll img2 --kms
	vstate img CURRENT - none
	token_unlocks img "secure key under the CURRENT master key"
}
rotate_moves_identity_key_cleanup() { kms_cleanup; }

atf_init_test_cases()
{
	atf_add_test_case rotate_moves_identity_key
	atf_add_test_case all_operations
	atf_add_test_case enroll_kms
	atf_add_test_case enroll_kms_protocol_1_2
	atf_add_test_case enroll_kms_down
	atf_add_test_case remove_kms
	atf_add_test_case refresh_after_two_changes
	atf_add_test_case refresh_staged_while_new
	atf_add_test_case plugin_fetches_from_kms
	atf_add_test_case refresh_not_bound
	atf_add_test_case refresh_wrong_key
	atf_add_test_case kms_refresh_one_connection
	atf_add_test_case kms_refresh_paths_apqns_json
	atf_add_test_case kms_refresh_failures
	atf_add_test_case kms_refresh_server_without_batches
	atf_add_test_case failover_secondary
	atf_add_test_case both_down
	atf_add_test_case header_server_not_configured
	atf_add_test_case stalled_servers_one_deadline
	atf_add_test_case unresolvable_names_one_deadline
	atf_add_test_case stalled_server_times_out
	atf_add_test_case server_resets_mid_response
	atf_add_test_case slow_server
	atf_add_test_case tls_refusals
	atf_add_test_case configure_refusals
	atf_add_test_case status_not_configured
	atf_add_test_case identity_key_mk_change
	atf_add_test_case generated_identity_key
	atf_add_test_case status_identity_lost
}
