#! @ATF_SH@
# Header backups sized to what a write changes, and 'securekey-cryptsetup
# restore': a token write keeps both metadata copies (.hdr), the keyslot
# area is kept once per keyslot set (keyslots-HASH.area, sparse), restore
# puts any kind of backup back and refuses what it must, changing nothing
# then; a batch refuses to start when the state directory cannot hold its
# backups.

SK_BUILDDIR=@abs_top_builddir@
. @abs_top_srcdir@/tests/cli/common.sh

. @abs_top_srcdir@/tests/cli/devices.sh

# mkdefault NAME: an image made by a plain 'cryptsetup luksFormat': 16 KiB
# metadata, 16 MiB keyslot area (only the PBKDF is cheapened).
mkdefault()
{
	truncate -s 20M "$1"
	cryptsetup luksFormat --type luks2 --batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
		--key-file pass "$1" >luksformat.log 2>&1 ||
		atf_fail "cryptsetup luksFormat $1 failed: $(cat luksformat.log)"
	rm -f luksformat.log
}

# keep N: '[backup] keep = N' in the configuration.
keep()
{
	printf '[backup]\nkeep = %s\n' "$1" >"$SECUREKEY_CONF"
	chmod 0644 "$SECUREKEY_CONF"
}

# hdrs IMG: IMG's .hdr backups, oldest first.
hdrs()
{
	ls "state/backup/$(cryptsetup luksUUID "$1")"/*.hdr | LC_ALL=C sort
}

areas()
{
	find "state/backup/$(cryptsetup luksUUID "$1")" -name 'keyslots-*.area' | wc -l
}

# restore IMG BACKUP_NAME|-: restore it (the newest with -) and say so.
restore()
{
	if [ "$2" = - ]; then
		set -- "$1" "$(basename "$(hdrs "$1" | tail -n 1)")"
		atf_check -s exit:0 -o match:"^$1: restored header backup $2\.\$" -e empty \
			"$CR" restore "$1" --key-file pass
	else
		atf_check -s exit:0 -o match:"^$1: restored header backup $2\.\$" -e empty \
			"$CR" restore "$1" --backup "$2" --key-file pass
	fi
}

atf_test_case default_format_sizes
default_format_sizes_head()
{
	common_head du
	atf_set "descr" "on a default-format image a token write backs up 32 KiB, and the 16 MiB" \
		"keyslot area is kept once per keyslot set, sparse"
}
default_format_sizes_body()
{
	setup
	mkdefault img
	enroll img
	dir=state/backup/$(cryptsetup luksUUID img)
	# enroll: the header before its keyslot and before its token, two keyslot sets
	test "$(hdrs img | wc -l)" = 2 || atf_fail "not 2 backups after enroll: $(ls -l "$dir")"
	test "$(areas img)" = 2 || atf_fail "not 2 keyslot snapshots: $(ls -l "$dir")"
	new_mk n1
	cr reencipher img --key-file pass >/dev/null || atf_fail "staged re-encipher failed"
	set_new
	cr reencipher img --complete --key-file pass >/dev/null || atf_fail "complete failed"
	test "$(areas img)" = 2 || atf_fail "a token write took a keyslot snapshot: $(ls -l "$dir")"
	for f in $(hdrs img); do
		test "$(stat -c %s "$f")" = 32768 || atf_fail "$f is not 32 KiB: $(stat -c %s "$f")"
	done
	for f in "$dir"/keyslots-*.area; do
		test "$(stat -c %s "$f")" = 16744448 || atf_fail "$f is not the keyslot area's size"
		test "$(du -k "$f" | cut -f1)" -lt 1024 || atf_fail "$f is not sparse: $(du -k "$f")"
	done
	test "$(du -sk "$dir" | cut -f1)" -lt 2048 || atf_fail "backups take $(du -sk "$dir")"
	token_unlocks img "secure key under the CURRENT master key"
}

atf_test_case restore_every_kind
restore_every_kind_head()
{
	common_head
	atf_set "descr" "restore puts back each kind of backup: before remove, complete, staged," \
		"enroll's token and enroll's keyslot; [backup] keep is honoured"
}
restore_every_kind_body()
{
	setup
	keep 20
	mkdefault img
	enroll img
	enrolled=$(token_json img)
	new_mk n1
	cr reencipher img --key-file pass >/dev/null || atf_fail "staged re-encipher failed"
	staged=$(token_json img)
	set_new
	cr reencipher img --complete --key-file pass >/dev/null || atf_fail "complete failed"
	completed=$(token_json img)
	atf_check -s exit:0 -o ignore -e ignore "$CR" remove img --key-file pass
	test "$(keyslots_of img)" = 0 || atf_fail "remove left keyslots $(keyslots_of img)"
	# five writes, five backups, oldest first
	set -- $(hdrs img | xargs -n1 basename)
	test $# = 5 || atf_fail "not 5 backups: $*"
	restore img "$5" # before remove: token and keyslot back
	test "$(token_json img)" = "$completed" || atf_fail "the token before remove is not back"
	test "$(keyslots_of img)" = "0 1" || atf_fail "keyslot 1 is not back"
	token_unlocks img "secure key under the CURRENT master key"
	restore img "$4" # before complete
	test "$(token_json img)" = "$staged" || atf_fail "the staged token is not back"
	token_unlocks img "staged secure key"
	restore img "$3" # before the staged step
	test "$(token_json img)" = "$enrolled" || atf_fail "the enrolled token is not back"
	restore img "$2" # enroll's keyslot, no token yet
	test "$(keyslots_of img)" = "0 1" || atf_fail "keyslots $(keyslots_of img)"
	atf_check -s exit:0 -o match:"^  no securekey token, keyslots 0 1\$" -e empty \
		"$CR" restore img --list
	restore img "$1" # before enroll
	test "$(keyslots_of img)" = 0 || atf_fail "keyslots $(keyslots_of img)"
	pass_opens img
	# each restore backed the header up first: it can be undone
	restore img -
	test "$(keyslots_of img)" = "0 1" || atf_fail "undoing the last restore failed"
	test "$(hdrs img | wc -l)" = 11 || atf_fail "not 11 backups: $(hdrs img)"
}

atf_test_case keep_prunes_snapshots
keep_prunes_snapshots_head()
{
	common_head
	atf_set "descr" "[backup] keep = 2 keeps 2 backups and only the keyslot snapshots they use"
}
keep_prunes_snapshots_body()
{
	setup
	keep 2
	mkimg img
	enroll img
	new_mk n1
	cr reencipher img --key-file pass >/dev/null || atf_fail "staged re-encipher failed"
	set_new
	cr reencipher img --complete --key-file pass >/dev/null || atf_fail "complete failed"
	test "$(hdrs img | wc -l)" = 2 || atf_fail "not 2 backups: $(hdrs img)"
	test "$(areas img)" = 1 || atf_fail "an unused keyslot snapshot is kept"
	restore img -
	token_unlocks img "staged secure key"
	printf '[backup]\nkeep = 0\n' >"$SECUREKEY_CONF"
	SK_EXIT=1
	refused "keep must be 1 to 1000" "$CR" reencipher img --key-file pass
}

atf_test_case restore_refusals
restore_refusals_head()
{
	common_head
	atf_set "descr" "restore refuses another UUID, another volume key under a copied UUID, a" \
		"truncated or damaged backup, a missing keyslot snapshot, a header changed" \
		"outside securekey (unless --force) and a wrong passphrase; nothing changes"
}
restore_refusals_body()
{
	setup
	mkimg img
	enroll img
	dir=state/backup/$(cryptsetup luksUUID img)
	newest=$(hdrs img | tail -n 1)
	mkimg other
	cryptsetup luksHeaderBackup other --header-backup-file other.luks2
	refused "header backup $PWD/other.luks2 is of LUKS UUID .*, not of img" \
		"$CR" restore img --backup "$PWD/other.luks2" --key-file pass
	# the same UUID on another volume: the passphrase opens it, the key differs
	mkimg twin luks2 --uuid "$(cryptsetup luksUUID img)"
	cryptsetup luksHeaderBackup twin --header-backup-file twin.luks2
	refused "img: the backup does not hold this device's volume key; nothing was changed" \
		"$CR" restore img --backup "$PWD/twin.luks2" --key-file pass
	head -c 20000 "$newest" >short.hdr
	refused "header backup $PWD/short.hdr is truncated or damaged" \
		"$CR" restore img --backup "$PWD/short.hdr" --key-file pass
	# one bit flipped in the primary JSON area (its checksum covers it all)
	"$PYTHON" -c 'import sys; d = bytearray(open(sys.argv[1], "rb").read()); d[5000] ^= 1
open(sys.argv[2], "wb").write(d)' "$newest" bad.hdr
	refused "header backup $PWD/bad.hdr is damaged: a metadata copy fails" \
		"$CR" restore img --backup "$PWD/bad.hdr" --key-file pass
	refused "img has no header backup named nosuch" \
		"$CR" restore img --backup nosuch --key-file pass
	printf 'wrong' >wrong
	chmod 0600 wrong
	refused "no keyslot of img opens with this passphrase" \
		"$CR" restore img --key-file wrong
	mkdir away
	mv "$dir"/keyslots-*.area away/
	refused "the keyslot area snapshot .* that header backup .* needs is missing" \
		"$CR" restore img --key-file pass
	mv away/* "$dir"/
	# what restore reads must be as safe as what the writes made
	chmod 0777 "$dir"
	refused "chmod 0700 $PWD/$dir" "$CR" restore img --list
	refused "chmod 0700 $PWD/$dir" "$CR" restore img --key-file pass
	chmod 0700 "$dir"
	SK_EXIT=2
	refused "--list takes no --backup or --force" "$CR" restore img --list --backup x
	SK_EXIT=1
	# a change by cryptsetup since securekey's last write
	echo '{"type":"other","keyslots":[]}' | cryptsetup token import img
	refused "img: the header changed outside securekey since its last write" \
		"$CR" restore img --key-file pass
	atf_check -s exit:0 -o match:"needs --force" -e empty "$CR" restore img --list
	atf_check -s exit:0 -o match:"^img: restored header backup" \
		-e match:"restoring anyway \(--force\)" "$CR" restore img --force --key-file pass
	# the newest backup was taken before enroll's token write: keyslot, no tokens
	atf_check -s exit:0 -o not-match:"securekey|other" -e ignore cryptsetup luksDump img
	test "$(keyslots_of img)" = "0 1" || atf_fail "keyslots $(keyslots_of img)"
}

atf_test_case restore_unloadable
restore_unloadable_head()
{
	common_head
	atf_set "descr" "a header whose two metadata copies are wiped is restored from a backup named" \
		"by path with --force, after its first bytes are saved; without them it is refused"
}
restore_unloadable_body()
{
	setup
	mkdefault img
	enroll img
	uuid=$(cryptsetup luksUUID img)
	enrolled=$(token_json img)
	new_mk n1
	cr reencipher img --key-file pass >/dev/null || atf_fail "staged re-encipher failed"
	before_stage=$(hdrs img | tail -n 1)
	dd if=/dev/zero of=img bs=32k count=1 conv=notrunc 2>/dev/null
	atf_check -s exit:1 -o ignore -e ignore cryptsetup isLuks img
	refused "img: its LUKS2 header does not load .*--backup .*/backup/UUID/NAME --force" \
		"$CR" restore img --key-file pass
	refused "img: its LUKS2 header does not load" \
		"$CR" restore img --backup "$PWD/$before_stage" --key-file pass
	refused "no keyslot of img opens with this passphrase" \
		"$CR" restore img --backup "$PWD/$before_stage" --force --key-file pcs
	atf_check -s exit:0 -o match:"^img: restored header backup ${before_stage##*/} over a header that did not load\.\$" \
		-e empty "$CR" restore img --backup "$PWD/$before_stage" --force --key-file pass
	test "$(cryptsetup luksUUID img)" = "$uuid" || atf_fail "another UUID"
	test "$(token_json img)" = "$enrolled" || atf_fail "the token before the staged step is not back"
	token_unlocks img "secure key under the CURRENT master key"
	pass_opens img
	saved=$(ls state/backup/"$uuid"/*-unloadable-*.raw)
	test "$(stat -c '%a %s' "$saved")" = "600 16777216" || atf_fail "saved: $(stat -c '%a %s' "$saved")"
	# what was there: the wiped metadata, then the keyslot area as it was
	cmp -s -n 32768 "$saved" /dev/zero || atf_fail "$saved does not hold the wiped metadata"
}

atf_test_case batch_space
batch_space_head()
{
	common_head fallocate df
	atf_set "descr" "a batch re-encipher refuses to start, with the numbers, when the state" \
		"directory has no room for its backups, and changes nothing"
}
batch_space_body()
{
	setup
	mkimg a
	mkimg b
	mkimg c
	new_mk n1
	cat >run.sh <<'EOF'
set -e
mount -t tmpfs -o size=8m,mode=0700 tmpfs state
"$CR" enroll a --apqns "$APQNS" --key-file pass >/dev/null
"$CR" enroll b --apqns "$APQNS" --key-file pass >/dev/null
"$CR" enroll c --apqns "$APQNS" --key-file pass >/dev/null
sha256sum a b c >sums
avail=$(df --output=avail -B1 state | tail -n 1)
fallocate -l $((avail - 40960)) state/filler
rc=0
"$SECUREKEY" reencipher --staged --key-file pass a b c >out 2>err || rc=$?
echo "$rc" >rc
sha256sum -c --quiet sums
ls state/backup/*/*.hdr | wc -l >count
EOF
	mkdir -p state
	CR=$CR SECUREKEY=$SECUREKEY APQNS=$APQNS atf_check -s exit:0 -o ignore -e ignore \
		unshare -m sh run.sh
	test "$(cat rc)" = 1 || atf_fail "reencipher exited $(cat rc): $(cat err)"
	grep -Eq "^the header backups of 3 devices need [0-9]+ KiB in .*/state, which has [0-9]+ KiB free; nothing was changed" err ||
		atf_fail "no message with the numbers: $(cat err)"
	test "$(cat count)" = 6 || atf_fail "a backup was taken: $(cat count)"
}

atf_init_test_cases()
{
	atf_add_test_case default_format_sizes
	atf_add_test_case restore_every_kind
	atf_add_test_case keep_prunes_snapshots
	atf_add_test_case restore_refusals
	atf_add_test_case restore_unloadable
	atf_add_test_case batch_space
}
