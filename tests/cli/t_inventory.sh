#! @ATF_SH@
# Known volumes are found by their LUKS UUID, not by the path enroll
# recorded: list, the 'hsm set' interlock, reencipher and rotate take the
# recorded path only when the header there has the recorded UUID, else the
# block device libblkid finds with it. A known volume found nowhere is
# reported as missing (list), blocks 'hsm set' (--force overrides) and fails
# in a batch; a token-less LUKS2 image put at its old path is not it.

SK_BUILDDIR=@abs_top_builddir@
. @abs_top_srcdir@/tests/cli/common.sh
. @abs_top_srcdir@/tests/cli/devices.sh

# missing_re IMG UUID: what names a known volume found nowhere.
missing_re()
{
	echo "$PWD/$1 \\(UUID $2\\): not found"
}

# setup_three: setup, and the known volumes a, b and c with their UUIDs in
# $ua, $ub and $uc.
setup_three()
{
	setup
	for img in a b c; do
		mkimg $img
		enroll $img
	done
	ua=$(cryptsetup luksUUID a)
	ub=$(cryptsetup luksUUID b)
	uc=$(cryptsetup luksUUID c)
}

atf_test_case moved_away
moved_away_head()
{
	atf_set "descr" "three known volumes moved away, token-less LUKS2 images at their paths: hsm set refuses naming each, list shows them missing, reencipher fails them; --force sets"
	common_head
}
moved_away_body()
{
	setup_three
	new_mk n1
	mkdir away
	mv a b c away/
	for img in a b c; do
		mkimg $img
	done
	# the images at the old paths are other volumes: the interlock names
	# each known one, what is there now and the fixes
	SK_EXIT=1 refused "$(missing_re a "$ua"): $PWD/a holds LUKS UUID $(cryptsetup luksUUID a), and no block device has its UUID" \
		"$SECUREKEY" hsm set --apqns "$APQNS"
	atf_check -s exit:1 -o empty -e match:"$(missing_re a "$ua")" -e match:"$(missing_re b "$ub")" \
		-e match:"$(missing_re c "$uc")" \
		-e match:"securekey-cryptsetup enroll NEWPATH --apqns $APQNS" \
		-e match:"delete $PWD/state/volumes/$ua" \
		-e match:"hsm set refused: 3 known volumes bound to these APQNs cannot be found" \
		-e match:"or use --force" \
		"$SECUREKEY" hsm set --apqns "$APQNS"
	# list shows them missing, at their recorded paths
	atf_check -s exit:1 -o save:list.json -e match:"$(missing_re a "$ua")" \
		-e match:"$(missing_re b "$ub")" -e match:"$(missing_re c "$uc")" \
		"$SECUREKEY" list --json
	json_holds list.json l "len(l) == 3" "all(d['missing'] is True for d in l)" \
		"sorted((d['uuid'], d['path']) for d in l) == sorted([('$ua', '$PWD/a'), ('$ub', '$PWD/b'), ('$uc', '$PWD/c')])" \
		"all(d['apqns'] == '$APQNS' and d['next_step'] == 'not found' for d in l)"
	atf_check -s exit:1 -o match:"^$ua +unknown +\\? +\\? +not found +$PWD/a \\($APQNS\\)\$" \
		-e ignore "$SECUREKEY" list
	# reencipher fails each, changing nothing
	snapshot a b c away hsm state >before
	atf_check -s exit:1 -e ignore -o match:"^failed +$ua +$PWD/a +known volume not found: $PWD/a holds LUKS UUID" \
		-o match:"^failed +$ub +$PWD/b " -o match:"^failed +$uc +$PWD/c " \
		-o match:"3 devices: 0 ok, 0 skipped, 3 failed" \
		"$SECUREKEY" reencipher --key-file pass
	snapshot a b c away hsm state >after
	atf_check -s exit:0 cmp before after
	# --force: each one warned about, set
	atf_check -s exit:0 -o match:"NEW master key set on APQNs $APQNS" \
		-e match:"$(missing_re a "$ua")" -e match:"$(missing_re c "$uc")" \
		-e match:"--force: setting the NEW master key although 3 known volumes bound to these APQNs cannot be found" \
		"$SECUREKEY" hsm set --apqns "$APQNS" --force
}

atf_test_case renamed_path
renamed_path_head()
{
	atf_set "descr" "a known volume renamed is missing until enroll records its new path or a link at its old path leads to it; a gone one until its entry is deleted"
	common_head
}
renamed_path_body()
{
	setup_three
	mv a a.renamed
	mv b b.renamed
	rm c
	atf_check -s exit:1 -o ignore -e match:"$(missing_re a "$ua"): nothing is at $PWD/a" \
		"$SECUREKEY" list
	# enroll at the new path records it there (the token is already on it)
	atf_check -s exit:0 -e empty \
		-o match:"^a.renamed: already enrolled \\(securekey token 0\\); now recorded among the known volumes at this path \\(was $PWD/a\\)\\.\$" \
		"$CR" enroll a.renamed --apqns "$APQNS" --key-file pass
	# ... once: then it is enrolled at this path
	refused "a.renamed already has a securekey token" \
		"$CR" enroll a.renamed --apqns "$APQNS" --key-file pass
	# a link at the recorded path to the volume counts: the UUID is the same
	ln -s b.renamed b
	rm "state/volumes/$uc"
	atf_check -s exit:0 -o save:list.json -e empty "$SECUREKEY" list --json
	json_holds list.json l \
		"sorted((d['uuid'], d['path'], d['missing']) for d in l) == sorted([('$ua', '$PWD/a.renamed', False), ('$ub', '$PWD/b', False)])"
	# with both found and staged, set goes through quietly
	new_mk n1
	atf_check -s exit:0 -o match:"2 devices: 2 ok" -e ignore \
		"$SECUREKEY" reencipher --staged --key-file pass
	atf_check -s exit:0 -o match:"NEW master key set" -e empty "$SECUREKEY" hsm set --apqns "$APQNS"
}

atf_test_case rotate_missing
rotate_missing_head()
{
	atf_set "descr" "rotate fails a known volume found nowhere like any failed device (NEW is set, exit 1); once enroll records its new path, --resume finishes it"
	common_head
}
rotate_missing_body()
{
	setup_three
	new_mk n1
	mv c c.moved
	mkimg c
	atf_check -s exit:1 -o save:rotate.out \
		-e match:"setting the NEW master key although 1 volume could not be staged" \
		"$SECUREKEY" rotate --apqns "$APQNS" --key-file pass
	test "$(grep -Ec "^failed +$uc +$PWD/c +known volume not found: $PWD/c holds LUKS UUID" rotate.out)" -eq 2 ||
		atf_fail "c is not failed in both passes: $(cat rotate.out)"
	grep -Eq "^3 devices: 2 ok, 0 skipped, 1 failed " rotate.out ||
		atf_fail "not 2 ok and 1 failed: $(cat rotate.out)"
	atf_check -s exit:0 -o match:"now recorded among the known volumes at this path" -e empty \
		"$CR" enroll c.moved --apqns "$APQNS" --key-file pass
	atf_check -s exit:0 -e empty -o match:"^ok +$uc +$PWD/c.moved +re-enciphered in place to CURRENT\$" \
		-o match:"^Rotation of APQNs $APQNS complete" \
		"$SECUREKEY" rotate --apqns "$APQNS" --key-file pass --resume
}

atf_test_case renumbered_block_device cleanup
renumbered_block_device_head()
{
	atf_set "descr" "a known volume on a loop device that comes back under another number is found by libblkid; the token-less volume at its old path is not it"
	common_head losetup
}
renumbered_block_device_body()
{
	setup
	mkimg a
	mkimg other
	dev1=$(losetup --show -f a) || atf_skip "cannot attach a loop device here"
	echo "$dev1" >loops
	enroll "$dev1"
	ua=$(cryptsetup luksUUID a)
	# a comes back under another number, another volume takes its old one
	atf_check -s exit:0 losetup -d "$dev1"
	: >loops
	losetup "$dev1" other || atf_skip "$dev1 was taken meanwhile"
	echo "$dev1" >loops
	dev2=$(losetup --show -f a) || atf_fail "cannot attach a again"
	echo "$dev2" >>loops
	atf_check -s exit:0 -o save:list.json -e empty "$SECUREKEY" list --json
	json_holds list.json l "[(d['uuid'], d['path'], d['missing']) for d in l] == [('$ua', '$dev2', False)]"
	new_mk n1
	SK_EXIT=1 refused "$dev2 \\(UUID $ua\\): not staged: run 'securekey-cryptsetup reencipher $dev2 --staged'" \
		"$SECUREKEY" hsm set --apqns "$APQNS"
	atf_check -s exit:0 -o match:"^ok +$ua +$dev2 +staged" -e ignore \
		"$SECUREKEY" reencipher --staged --key-file pass
	atf_check -s exit:0 -o match:"NEW master key set" -e empty "$SECUREKEY" hsm set --apqns "$APQNS"
}
renumbered_block_device_cleanup()
{
	test -f loops && while read -r dev; do losetup -d "$dev"; done <loops
	true
}

atf_init_test_cases()
{
	atf_add_test_case moved_away
	atf_add_test_case renamed_path
	atf_add_test_case rotate_missing
	atf_add_test_case renumbered_block_device
}
