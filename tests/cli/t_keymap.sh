#! @ATF_SH@
# securekey reencipher and rotate --key-file-map: volumes with different
# passphrases in one batch, each device's key file found by its path or its
# LUKS UUID; a device missing from the map is skipped (and makes the exit
# status 1), a wrong passphrase fails only its device, and neither changes a
# byte of it. The map and its key files must be 0600; rotate records the map
# and --resume takes it again.

SK_BUILDDIR=@abs_top_builddir@
. @abs_top_srcdir@/tests/cli/common.sh
. @abs_top_srcdir@/tests/cli/devices.sh

# volume IMG PASSPHRASE: a LUKS2 image whose keyslot 0 opens with
# PASSPHRASE, enrolled (a known volume), and keys/IMG.key (0600) holding it.
volume()
{
	mkdir -p keys
	cp pass pass.common
	printf '%s' "$2" >pass
	mkimg "$1"
	enroll "$1"
	cp pass "keys/$1.key"
	chmod 0600 "keys/$1.key"
	mv pass.common pass
}

# four volumes: k1 and k2 by path (k2 relative to the map), k3 by UUID with
# the key file of another volume (a wrong passphrase), k4 not in the map.
four_volumes()
{
	setup
	volume k1 'first passphrase'
	volume k2 'second passphrase'
	volume k3 'third passphrase'
	volume k4 'fourth passphrase'
	U3=$(cryptsetup luksUUID k3)
	U4=$(cryptsetup luksUUID k4)
	cat >keys/map <<EOF
# device (path or LUKS UUID)   key file (relative: from this directory)
$PWD/k1   k1.key

../k2     $PWD/keys/k2.key
   # indented comment
UUID=$U3  k1.key
EOF
	chmod 0600 keys/map
}

# sums IMG...: the sha256 of each IMG, one a line.
sums()
{
	sha256sum "$@"
}

atf_test_case reencipher_map
reencipher_map_head()
{
	atf_set "descr" "reencipher --key-file-map: each volume's own passphrase; one missing from the map is skipped, one with a wrong passphrase fails; neither changes; exit 1"
	common_head
}
reencipher_map_body()
{
	four_volumes
	new_mk n1
	sums k3 k4 >untouched.sum
	atf_check -s exit:1 -o save:staged.out \
		-e match:"^1 device was skipped: the key file map keys/map has no passphrase for it, and its key still needs the step\$" \
		"$SECUREKEY" reencipher --staged --key-file-map keys/map --jobs 2
	for img in k1 k2; do
		grep -Eq "^ok +$(cryptsetup luksUUID $img) +$PWD/$img +staged to the NEW master key\$" staged.out ||
			atf_fail "$img is not staged: $(cat staged.out)"
	done
	grep -Eq "^failed +$U3 +$PWD/k3 +no keyslot of $PWD/k3 opens with this passphrase\$" staged.out ||
		atf_fail "k3 is not failed: $(cat staged.out)"
	grep -Eq "^skipped +$U4 +$PWD/k4 +no passphrase: neither its path nor its LUKS UUID is in the key file map keys/map; add a line '$U4 KEYFILE' and run again\$" staged.out ||
		atf_fail "k4 is not skipped: $(cat staged.out)"
	grep -Eq '^4 devices: 2 ok, 1 skipped \(1 without a passphrase\), 1 failed ' staged.out ||
		atf_fail "summary: $(cat staged.out)"
	atf_check -s exit:0 -o ignore -e empty sha256sum -c untouched.sum
	vstate k1 CURRENT NEW "hsm set"
	vstate k2 CURRENT NEW "hsm set"
	vstate k3 CURRENT - "reencipher --staged"
	vstate k4 CURRENT - "reencipher --staged"
	# the JSON summary counts them; a device with nothing to do needs no passphrase
	atf_check -s exit:1 -o save:again.json -e match:"1 device was skipped" \
		"$SECUREKEY" reencipher --key-file-map keys/map --json
	atf_check -s exit:0 -o inline:"ok\n" -e empty "$PYTHON" -c '
import json, sys
lines = [json.loads(l) for l in open("again.json")]
r, s = {d["path"].rsplit("/", 1)[1]: d for d in lines[:-1]}, lines[-1]["summary"]
assert (s["devices"], s["ok"], s["skipped"], s["no_passphrase"], s["failed"]) == (4, 0, 3, 1, 1), s
assert r["k1"]["result"] == r["k2"]["result"] == "skipped", r
assert r["k4"]["result"] == "skipped" and r["k4"]["detail"].startswith("no passphrase"), r
assert r["k3"]["result"] == "failed", r
print("ok")'
	atf_check -s exit:0 -o ignore -e empty sha256sum -c untouched.sum
	# fixed: k3's own key file, k4 added by its UUID; both staged now
	sed -i "s|^UUID=$U3  k1.key|UUID=$U3  k3.key|" keys/map
	echo "$U4 k4.key" >>keys/map
	atf_check -s exit:0 -o match:"^4 devices: 2 ok, 2 skipped \(0 without a passphrase\), 0 failed " \
		-e empty "$SECUREKEY" reencipher --staged --key-file-map keys/map
	for img in k1 k2 k3 k4; do
		vstate "$img" CURRENT NEW "hsm set"
	done
	# paths given: only those, by the map
	set_new
	atf_check -s exit:0 -o match:"^1 device: 1 ok, 0 skipped \(0 without a passphrase\), 0 failed " \
		-e empty "$SECUREKEY" reencipher --key-file-map keys/map k3
	vstate k3 CURRENT - none
	token_unlocks k3 "secure key under the CURRENT master key"
}

# bad_line LINE STDERR_REGEXP: keys/map (map.good) with LINE added as its
# line 7 is refused with STDERR_REGEXP and nothing changes; then map.good
# is put back.
bad_line()
{
	cp map.good keys/map
	echo "$1" >>keys/map
	refused "key file map keys/map, line 7: $2\$" \
		"$SECUREKEY" reencipher --staged --key-file-map keys/map
	cp map.good keys/map
}

atf_test_case map_refusals
map_refusals_head()
{
	atf_set "descr" "a key file map or key file that others may read, a missing key file, a line that is not two fields, a device named twice and a bad UUID are refused before any device changes; --key-file-map with --key-file or --auth=token is a usage error"
	common_head
}
map_refusals_body()
{
	four_volumes
	new_mk n1
	chmod 0644 keys/map
	refused "key file map keys/map has mode 0644 and may be read by others; fix with: chmod 0600 keys/map\$" \
		"$SECUREKEY" reencipher --staged --key-file-map keys/map
	chmod 0600 keys/map
	chmod 0640 keys/k2.key
	refused "key file $PWD/keys/k2.key has mode 0640 and may be read by others; fix with: chmod 0600 $PWD/keys/k2.key\$" \
		"$SECUREKEY" reencipher --staged --key-file-map keys/map
	chmod 0600 keys/k2.key
	cp keys/map map.good
	bad_line "$PWD/k4 nowhere.key" \
		"cannot open key file $PWD/keys/nowhere.key: No such file or directory"
	bad_line "$PWD/k4 k4.key extra" "not 'DEVICE-OR-UUID KEYFILE'"
	bad_line "../k1 k1.key" "\\.\\./k1 is named twice; keep one line for it"
	bad_line "UUID=not-a-uuid k1.key" "'UUID=not-a-uuid' is not a LUKS UUID"
	printf '# nothing\n' >empty.map
	chmod 0600 empty.map
	refused "names no device" "$SECUREKEY" reencipher --staged --key-file-map empty.map
	SK_EXIT=2 refused "give --key-file-map or --key-file, not both" \
		"$SECUREKEY" reencipher --staged --key-file-map keys/map --key-file pass
	SK_EXIT=2 refused "give --key-file-map or --auth=token, not both" \
		"$SECUREKEY" rotate --apqns "$APQNS" --key-file-map keys/map --auth=token
}

atf_test_case rotate_map_resume
rotate_map_resume_head()
{
	atf_set "descr" "rotate --key-file-map: a volume missing from the map is skipped in both passes and keeps the rotation open (exit 1); the journal records the map, and --resume with no passphrase option takes it again"
	common_head
}
rotate_map_resume_body()
{
	four_volumes
	sed -i "s|^UUID=$U3  k1.key|UUID=$U3  k3.key|" keys/map
	old=$MK0
	new_mk n1
	sums k4 >untouched.sum
	atf_check -s exit:1 -o save:rotate.out \
		-e match:"setting the NEW master key although 1 volume could not be staged" \
		-e match:"1 volume of APQNs $APQNS is not completed \(see above\); fix the cause and run 'securekey rotate --apqns $APQNS --resume'" \
		"$SECUREKEY" rotate --apqns "$APQNS" --key-file-map keys/map --jobs 2
	test "$(grep -Ec "^skipped +$U4 +$PWD/k4 +no passphrase: " rotate.out)" -eq 2 ||
		atf_fail "k4 is not skipped in both passes: $(cat rotate.out)"
	test "$(grep -Ec '^4 devices: 3 ok, 1 skipped \(1 without a passphrase\), 0 failed ' rotate.out)" -eq 2 ||
		atf_fail "summaries: $(cat rotate.out)"
	atf_check -s exit:0 -o ignore -e empty sha256sum -c untouched.sum
	journal="state/rotate/$NEW_MKVP-$(echo "$APQNS" | tr , +).journal"
	atf_check -s exit:0 -o inline:"key-file-map	$PWD/keys/map\n" -e empty grep '^key-file-map' "$journal"
	atf_check -s exit:0 -o not-match:'^end' -e empty cat "$journal"
	for img in k1 k2 k3; do
		vstate "$img" CURRENT - none
	done
	vstate k4 OLD - "reencipher --in-place"
	# the map fixed, --resume from another directory takes the recorded map
	echo "$U4 k4.key" >>keys/map
	mkdir elsewhere
	atf_check -s exit:0 -e empty \
		-o match:"^Using the key file map $PWD/keys/map of this rotation\.\$" \
		-o match:"^ok +$U4 +$PWD/k4 +re-enciphered in place to CURRENT\$" \
		-o match:"^Rotation of APQNs $APQNS complete" \
		sh -c 'cd elsewhere && exec "$0" rotate --apqns "$1" --resume' "$SECUREKEY" "$APQNS"
	for img in k1 k2 k3 k4; do
		vstate "$img" CURRENT - none
	done
	test "$(reg_mkvp CURRENT)" = "$NEW_MKVP" || atf_fail "CURRENT is not MKVP $NEW_MKVP"
	test "$(reg_mkvp OLD)" = "$old" || atf_fail "OLD is not MKVP $old"
}

atf_init_test_cases()
{
	atf_add_test_case reencipher_map
	atf_add_test_case map_refusals
	atf_add_test_case rotate_map_resume
}
