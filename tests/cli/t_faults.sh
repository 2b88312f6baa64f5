#! @ATF_SH@
# Fault injection (issue 7, item 2) with the LD_PRELOAD shim of
# tests/reliability/faultshim.c: ENOSPC and EIO on the LUKS2 header write
# (libcryptsetup's writes to the image) and on the header-backup write
# (under $SECUREKEY_STATE_DIR/backup), for enroll and reencipher; a corrupt,
# truncated or wrong-mode HSM state file; failing writes of the HSM state;
# the HSM lock and a device lock held by another process (flock(1)) with a
# bounded wait. Each time: a non-zero exit, one clear line naming the
# device (or file), and the image bytes as they were.

SK_BUILDDIR=@abs_top_builddir@
. @abs_top_srcdir@/tests/cli/common.sh
. @abs_top_srcdir@/tests/cli/devices.sh
. @abs_top_srcdir@/tests/reliability/shim.sh

# faulted ERRNO OPS PATH NTH COMMAND...: COMMAND with the NTH call of OPS on
# PATH (a pattern) failing with ERRNO; its stderr is saved in err.
faulted()
{
	_e=$1 _ops=$2 _path=$3 _nth=$4
	shift 4
	shim FAULTSHIM_ACTION="$_e" FAULTSHIM_OPS="$_ops" FAULTSHIM_PATH="$_path" \
		FAULTSHIM_NTH="$_nth" "$@" >out 2>err
}

# fails_cleanly IMG REGEXP COMMAND...: COMMAND (already run by faulted with
# exit status $rc) exited 1, printed nothing on stdout, and its stderr is one
# line, matching REGEXP; IMG has the bytes it had ($sum).
fails_cleanly()
{
	test "$rc" = 1 || atf_fail "exit $rc, not 1: $* ($(cat err))"
	test ! -s out || atf_fail "stdout of $*: $(cat out)"
	# libcryptsetup's own line on a failed backup: see backup_write_one_line
	grep -Ev "^Cannot (write|create) header backup file " err >err.ours
	test "$(wc -l <err.ours)" = 1 || atf_fail "not one line on stderr: $*: $(tr '\n' '|' <err)"
	grep -Eq "$2" err.ours || atf_fail "stderr of $* does not match '$2': $(cat err)"
	test "$(sha256sum <"$1")" = "$sum" || atf_fail "$* changed $1"
}

# refused1 REGEXP COMMAND...: like refused (devices.sh): COMMAND exits 1,
# prints nothing on stdout (validate --json: the error line as JSON),
# changes nothing in the work directory, and says
# one line on stderr, which matches REGEXP (extended).
refused1()
{
	_re=$1
	shift
	# the outputs go where snap does not look (devices.sh)
	mkdir -p run
	snap >.sk-snap.before
	"$@" >run/.refused1.out 2>run/.refused1.err
	_rc=$?
	snap >.sk-snap.after
	mv run/.refused1.err err1
	mv run/.refused1.out out1
	test "$_rc" = 1 || atf_fail "exit $_rc, not 1: $*: $(cat err1)"
	case " $* " in
	*" --json "*)
		# validate --json prints its refusal too: the error line, as JSON
		"$PYTHON" -c 'import json, sys
v = json.load(open("out1"))
sys.exit(0 if v.get("error") == open("err1").read().splitlines()[0] else 1)' ||
			atf_fail "stdout of $* is not the error as JSON: $(cat out1)"
		;;
	*) test ! -s out1 || atf_fail "stdout of $*: $(cat out1)" ;;
	esac
	test "$(wc -l <err1)" = 1 || atf_fail "not one line on stderr: $*: $(tr '\n' '|' <err1)"
	grep -Eq "$_re" err1 || atf_fail "stderr of $* does not match '$_re': $(cat err1)"
	if ! cmp -s .sk-snap.before .sk-snap.after; then
		diff -u .sk-snap.before .sk-snap.after >&2
		atf_fail "refused command changed the work directory: $*"
	fi
	rm -f .sk-snap.before .sk-snap.after out1 err1
}

# reenrollable IMG: an enrolled IMG without its token, its keyslot 1 kept,
# so that enroll only writes the token.
reenrollable()
{
	enroll "$1"
	atf_check -s exit:0 -o ignore -e ignore cryptsetup token remove --token-id 0 "$1"
}

atf_test_case header_write
header_write_head()
{
	atf_set "descr" "ENOSPC or EIO on the first header write of enroll (keyslot and token)," \
		"reencipher --staged and --complete: exit 1, one line naming the device," \
		"the image bytes as before; then the command runs"
	shim_head
}
header_write_body()
{
	setup
	mkimg img
	for e in ENOSPC EIO; do
		# enroll of a fresh image: its first write is the keyslot's
		sum=$(sha256sum <img)
		faulted $e write,pwrite "$PWD/img" 1 "$CR" enroll img --apqns "$APQNS" --key-file pass
		rc=$?
		test "$rc" = 1 || atf_fail "enroll with $e on the keyslot write: exit $rc"
		grep -q "^cannot add the securekey keyslot to img: " err ||
			atf_fail "enroll with $e on the keyslot write: $(cat err)"
		test "$(sha256sum <img)" = "$sum" || atf_fail "enroll with $e on the keyslot write changed img"
		test "$(keyslots_of img)" = 0 || atf_fail "keyslots: $(keyslots_of img)"
	done
	mkimg r
	reenrollable r
	for e in ENOSPC EIO; do
		# enroll that reuses its keyslot: the first write is the token's
		sum=$(sha256sum <r)
		faulted $e write,pwrite "$PWD/r" 1 "$CR" enroll r --apqns "$APQNS" --key-file pass
		rc=$?
		fails_cleanly r "^cannot write the securekey token of r: (Input/output error|No space left on device); nothing was changed\$" \
			"enroll with $e on the token write"
	done
	enroll r
	enroll img
	new_mk n1
	for e in ENOSPC EIO; do
		sum=$(sha256sum <img)
		faulted $e write,pwrite "$PWD/img" 1 "$CR" reencipher img --staged --key-file pass
		rc=$?
		fails_cleanly img "^cannot write the securekey token of img: (Input/output error|No space left on device); nothing was changed\$" \
			"reencipher --staged with $e"
		vstate img CURRENT - "reencipher --staged"
	done
	atf_check -s exit:0 -o match:"kept as staged" -e empty "$CR" reencipher img --staged --key-file pass
	set_new
	for e in ENOSPC EIO; do
		sum=$(sha256sum <img)
		faulted $e write,pwrite "$PWD/img" 1 "$CR" reencipher img --complete --key-file pass
		rc=$?
		fails_cleanly img "^cannot write the securekey token of img: (Input/output error|No space left on device); nothing was changed\$" \
			"reencipher --complete with $e"
		vstate img OLD CURRENT "reencipher --complete"
	done
	atf_check -s exit:0 -o match:"is completed" -e empty "$CR" reencipher img --complete --key-file pass
	token_unlocks img "secure key under the CURRENT master key"
	pass_opens img
}

atf_test_case header_write_later
header_write_later_head()
{
	atf_set "descr" "ENOSPC or EIO on each later write of a header update (libcryptsetup writes" \
		"two copies): exit 1, and the device is in the old or the new state, opens" \
		"with its passphrase and by token, and the re-run finishes it"
	shim_head
}
header_write_later_body()
{
	setup
	mkimg base
	enroll base
	new_mk n1
	# how many image writes one staged re-encipher makes
	cp base count
	shim FAULTSHIM_OPS=write,pwrite FAULTSHIM_PATH="$PWD/count" FAULTSHIM_COUNTER="$PWD/.count" \
		"$CR" reencipher count --staged --key-file pass >/dev/null 2>&1 ||
		atf_fail "staged re-encipher of count failed"
	writes=$(stat -c %s .count)
	test "$writes" -ge 2 || atf_fail "only $writes image writes"
	e=EIO
	for n in $(seq 2 "$writes"); do
		cp base img
		faulted $e write,pwrite "$PWD/img" "$n" "$CR" reencipher img --staged --key-file pass
		rc=$?
		test "$rc" = 1 || atf_fail "write $n of $writes failing ($e): exit $rc"
		grep -q "^cannot write the securekey token of img: " err ||
			atf_fail "write $n of $writes failing ($e): $(cat err)"
		pass_opens img
		atf_check -s exit:0 -o save:v.json -e empty "$CR" validate img --json
		json_holds v.json v "v['next_step'] in ('reencipher --staged', 'hsm set')" \
			"v['secure_key']['valid'] is True"
		atf_check -s exit:0 -o match:"unlocks by token" -e empty "$CR" open img --test-passphrase
		"$CR" reencipher img --staged --key-file pass >out 2>err
		rc=$?
		test "$rc" = 0 || { test "$rc" = 1 && grep -q "already staged to the NEW master key" err; } ||
			atf_fail "the re-run after write $n failed: exit $rc: $(cat err)"
		vstate img CURRENT NEW "hsm set"
		[ $e = EIO ] && e=ENOSPC || e=EIO
	done
}

atf_test_case backup_write
backup_write_head()
{
	atf_set "descr" "ENOSPC or EIO on the header-backup write of enroll (keyslot reused)," \
		"reencipher --staged and setkey: exit 1, one line naming the device and the" \
		"backup, the image bytes as before"
	shim_head
}
backup_write_body()
{
	setup
	mkimg img
	reenrollable img
	for e in ENOSPC EIO; do
		sum=$(sha256sum <img)
		faulted $e write "$PWD/state/backup/*" 1 "$CR" enroll img --apqns "$APQNS" --key-file pass
		rc=$?
		fails_cleanly img "^cannot back up the LUKS2 header of img to $PWD/state/backup/.*: .*; nothing was written\$" \
			"enroll with $e on the backup write"
	done
	enroll img
	new_mk n1
	for e in ENOSPC EIO; do
		sum=$(sha256sum <img)
		faulted $e write "$PWD/state/backup/*" 1 "$CR" reencipher img --staged --key-file pass
		rc=$?
		fails_cleanly img "^cannot back up the LUKS2 header of img to $PWD/state/backup/.*: .*; nothing was written\$" \
			"reencipher --staged with $e on the backup write"
		vstate img CURRENT - "reencipher --staged"
		sum=$(sha256sum <img)
		faulted $e write "$PWD/state/backup/*" 1 "$CR" setkey img --key-file pass
		rc=$?
		fails_cleanly img "^cannot back up the LUKS2 header of img to $PWD/state/backup/.*: .*; nothing was written\$" \
			"setkey with $e on the backup write"
	done
	# the open of the backup file fails
	sum=$(sha256sum <img)
	faulted EACCES open "$PWD/state/backup/*" 1 "$CR" reencipher img --staged --key-file pass
	rc=$?
	fails_cleanly img "^cannot back up the LUKS2 header of img to $PWD/state/backup/.*; nothing was written\$" \
		"reencipher --staged with EACCES on the backup open"
	atf_check -s exit:0 -o match:"kept as staged" -e empty "$CR" reencipher img --staged --key-file pass
	token_unlocks img "secure key under the CURRENT master key"
}

atf_test_case backup_write_one_line
backup_write_one_line_head()
{
	atf_set "descr" "a failed header-backup write is told in one line (ours), not also in" \
		"libcryptsetup's 'Cannot write header backup file'"
	shim_head
}
backup_write_one_line_body()
{
	setup
	mkimg img
	enroll img
	new_mk n1
	faulted EIO write "$PWD/state/backup/*" 1 "$CR" reencipher img --staged --key-file pass
	test $? = 1 || atf_fail "reencipher did not fail"
	grep -q "^cannot back up the LUKS2 header of img to .*: Input/output error; nothing was written\$" err ||
		atf_fail "no message of ours: $(cat err)"
	test "$(wc -l <err)" = 1 || atf_fail "not one line on stderr: $(tr '\n' '|' <err)"
}

atf_test_case backup_write_no_partial_file
backup_write_no_partial_file_head()
{
	atf_set "descr" "a failed header-backup write leaves no empty backup file behind (it would" \
		"count among the 5 kept and push out a good one)"
	shim_head
}
backup_write_no_partial_file_body()
{
	setup
	mkimg img
	enroll img
	new_mk n1
	uuid=$(cryptsetup luksUUID img)
	before=$(find "state/backup/$uuid" -name '*.hdr' | wc -l)
	faulted ENOSPC write "$PWD/state/backup/*" 1 "$CR" reencipher img --staged --key-file pass
	test $? = 1 || atf_fail "reencipher did not fail"
	test "$(find "state/backup/$uuid" -name '*.hdr' | wc -l)" = "$before" ||
		atf_fail "a failed backup left: $(find "state/backup/$uuid" -name '*.hdr' -size -1k -printf '%s bytes, mode %m: %p\n')"
}

atf_test_case enroll_fresh_fails_after_keyslot
enroll_fresh_fails_after_keyslot_head()
{
	atf_set "descr" "enroll of a fresh image failing at the backup or token write (after its" \
		"keyslot was added) leaves the header as it was"
	shim_head
}
enroll_fresh_fails_after_keyslot_body()
{
	setup
	mkimg img
	sum=$(sha256sum <img)
	faulted ENOSPC write "$PWD/state/backup/*" 1 "$CR" enroll img --apqns "$APQNS" --key-file pass
	rc=$?
	test "$rc" = 1 || atf_fail "enroll with ENOSPC on the backup write: exit $rc"
	grep -q "^cannot back up the LUKS2 header of img to .*; nothing was written\$" err ||
		atf_fail "enroll: $(cat err)"
	pass_opens img
	# the re-run reuses the keyslot left behind
	atf_check -s exit:0 -o match:"keyslot 1," -e ignore "$CR" enroll img --apqns "$APQNS" --key-file pass
	mkimg img2
	sum=$(sha256sum <img2)
	faulted ENOSPC write "$PWD/state/backup/*" 1 "$CR" enroll img2 --apqns "$APQNS" --key-file pass
	test "$(sha256sum <img2)" = "$sum" || atf_fail "the failed enroll changed img2: keyslots $(keyslots_of img2)"
}

atf_test_case hsm_state_bad
hsm_state_bad_head()
{
	atf_set "descr" "a corrupt (a flipped byte), truncated, longer or group-readable HSM state" \
		"file: validate, reencipher and hsm status (the flipped byte: enroll, setkey and" \
		"hsm set too) refused with one line naming the file; nothing changes"
	common_head
}
hsm_state_bad_body()
{
	setup
	mkimg img
	mkimg fresh
	enroll img
	new_mk n1
	cp -p hsm/02.0001.mk good.mk
	f=$PWD/hsm/02.0001.mk
	for bad in flip truncate longer mode; do
		cp -p good.mk "$f"
		case $bad in
		flip)
			"$PYTHON" -c 'import sys; b = bytearray(open(sys.argv[1], "rb").read()); b[60] ^= 1; open(sys.argv[1], "wb").write(b)' "$f"
			re="HSM state file $f is corrupt \(checksum mismatch\); restore it from a backup"
			;;
		truncate)
			truncate -s 100 "$f"
			re="HSM state file $f is corrupt \(size 100, expected [0-9]+\); restore it from a backup"
			;;
		longer)
			printf x >>"$f"
			re="HSM state file $f is corrupt \(size [0-9]+, expected [0-9]+\); restore it from a backup"
			;;
		mode)
			chmod 0640 "$f"
			re="HSM state file $f has mode 0640 and may be read by others; fix with: chmod 0600 $f"
			;;
		esac
		cmds="validate img|reencipher img --key-file pass"
		# every command on the first damage, two on the others
		[ $bad = flip ] && cmds="$cmds|validate img --json|setkey img --key-file pass|enroll fresh --apqns $APQNS --key-file pass"
		ifs=$IFS
		IFS='|'
		for cmd in $cmds; do
			IFS=$ifs
			# the message names the device it was acting on
			refused1 "^(img|fresh): $re\$" "$CR" $cmd
		done
		IFS=$ifs
		refused1 "^$re\$" "$SECUREKEY" hsm status
		# more than one line: see hsm_set_unusable_hsm
		[ $bad = flip ] && refused "^$re\$" "$SECUREKEY" hsm set --apqns "$APQNS" --force
	done
	cp -p good.mk "$f"
	vstate img CURRENT - "reencipher --staged"
	pass_opens img
	pass_opens fresh
}

atf_test_case hsm_state_write
hsm_state_write_head()
{
	atf_set "descr" "hsm set with ENOSPC or EIO on a state file's write or fsync, the" \
		"directory fsync or the commit marker, all before the commit point: exit 1," \
		"one line naming the file, the HSM directory as it was"
	shim_head
}
hsm_state_write_body()
{
	setup
	mkimg img
	enroll img
	new_mk n1
	cp -a hsm hsm.before
	# fsyncs: 01.0001.mk.new, the dir, 02.0001.mk.new, the dir, the marker, the dir
	for spec in "write 1 ENOSPC" "write 2 EIO" "fsync 1 EIO" "fsync 2 ENOSPC" "fsync 3 EIO" \
		"fsync 5 EIO" "fsync 6 ENOSPC"; do
		set -- $spec
		faulted "$3" "$1" "$PWD/hsm*" "$2" "$SECUREKEY" hsm set --apqns "$APQNS" --force
		rc=$?
		test "$rc" = 1 || atf_fail "hsm set with $spec: exit $rc"
		grep -v "not staged\|^--force" err >err.own
		grep -Eq "^cannot (write $PWD/hsm/0[12]\.0001\.mk\.new|write $PWD/hsm/commit|sync directory $PWD/hsm): " err.own ||
			atf_fail "hsm set with $spec: $(cat err)"
		test "$(wc -l <err.own)" = 1 || atf_fail "hsm set with $spec: not one line: $(cat err.own)"
		atf_check -s exit:0 -o empty -e empty diff -r hsm.before hsm
	done
	set_new
	token_unlocks img "secure key under the OLD master key"
}

atf_test_case hsm_set_rename_fails_after_commit
hsm_set_rename_fails_after_commit_head()
{
	atf_set "descr" "hsm set whose first or second state-file rename fails (after the commit" \
		"marker): the set is in effect on both APQNs at once, hsm set says so in a" \
		"warning, readers see the new registers, and the next change of the HSM" \
		"finishes the renames"
	shim_head
}
hsm_set_rename_fails_after_commit_body()
{
	setup
	mkimg img
	enroll img
	for nth in 1 2; do
		new_mk n$nth
		atf_check -s exit:0 -o match:"kept as staged" -e empty "$CR" reencipher img --staged --key-file pass
		faulted EIO rename "$PWD/hsm/*" $nth "$SECUREKEY" hsm set --apqns "$APQNS"
		test $? = 0 || atf_fail "hsm set (rename $nth fails): exit $?: $(cat err)"
		grep -q "^the change of the soft HSM in $PWD/hsm is committed and in effect" err ||
			atf_fail "hsm set (rename $nth fails): $(cat err)"
		test -e hsm/commit || atf_fail "no commit marker left"
		atf_check -s exit:0 -o save:status.json -e empty "$SECUREKEY" hsm status --json
		json_holds status.json s "all(a['registers']['CURRENT']['mkvp'] == '$NEW_MKVP' for a in s['apqns'])"
		token_unlocks img "staged secure key"
		atf_check -s exit:0 -o match:"is completed" -e empty "$CR" reencipher img --complete --key-file pass
		token_unlocks img "secure key under the CURRENT master key"
	done
	make_part n3-a
	atf_check -s exit:0 -o ignore -e empty "$SECUREKEY" hsm load-part --apqns "$APQNS" --part-file n3-a
	test ! -e hsm/commit && test -z "$(ls hsm | grep '\.new$')" ||
		atf_fail "the next change did not finish the renames: $(ls hsm)"
	token_unlocks img "secure key under the CURRENT master key"
}

# hold MODE FILE: hold a flock (-s or -x) on FILE in a background process
# until release; $holder is its pid.
hold()
{
	rm -f held
	(exec 9>>"$2" && flock "$1" 9 && : >held && exec sleep 60) &
	holder=$!
	wait_for held
}

release()
{
	kill "$holder" 2>/dev/null
	wait "$holder" 2>/dev/null
	holder=
}

# bounded EXIT_STATUS REGEXP COMMAND...: with SECUREKEY_LOCK_TIMEOUT=2,
# COMMAND gives up after 2 to 6 s with exit 1, one line matching REGEXP on
# stderr, and changes nothing (refused).
bounded()
{
	_re=$1
	shift
	_t0=$(date +%s%N)
	refused1 "^$_re\$" env SECUREKEY_LOCK_TIMEOUT=2 "$@"
	_ms=$((($(date +%s%N) - _t0) / 1000000))
	test "$_ms" -ge 2000 && test "$_ms" -lt 6000 || atf_fail "gave up after $_ms ms: $*"
}

atf_test_case hsm_lock_held
hsm_lock_held_head()
{
	atf_set "descr" "the soft HSM's lock held by another process (flock): reencipher, validate," \
		"enroll, hsm status and hsm set (no known volume) wait SECUREKEY_LOCK_TIMEOUT=2 s," \
		"then say so in one line and exit 1; nothing changes"
	common_head flock
}
hsm_lock_held_body()
{
	setup
	mkimg img
	mkimg fresh
	enroll img
	new_mk n1
	msg="soft HSM $PWD/hsm is locked by another process \(lock file $PWD/hsm/\.lock\); gave up after 2\.000 s, try again when it has finished"
	hold -x hsm/.lock
	bounded "img: $msg" "$CR" reencipher img --staged --key-file pass
	bounded "img: $msg" "$CR" validate img
	bounded "fresh: $msg" "$CR" enroll fresh --apqns "$APQNS" --key-file pass
	bounded "$msg" "$SECUREKEY" hsm status
	# hsm set with no known volume (with one: see hsm_set_unusable_hsm)
	bounded "$msg" env SECUREKEY_STATE_DIR="$PWD/nostate" "$SECUREKEY" hsm set --apqns "$APQNS" --force
	release
	# a reader (shared) lets readers in, not a writer
	hold -s hsm/.lock
	atf_check -s exit:0 -o ignore -e empty env SECUREKEY_LOCK_TIMEOUT=2 "$CR" validate img
	bounded "$msg" env SECUREKEY_STATE_DIR="$PWD/nostate" "$SECUREKEY" hsm set --apqns "$APQNS" --force
	release
	test ! -e nostate || atf_fail "hsm set created its state directory $PWD/nostate"
	atf_check -s exit:0 -o match:"kept as staged" -e empty "$CR" reencipher img --staged --key-file pass
}

atf_test_case hsm_set_unusable_hsm
hsm_set_unusable_hsm_head()
{
	atf_set "descr" "hsm set with known volumes, the HSM lock held or a state file corrupt:" \
		"one line, and one bounded wait (SECUREKEY_LOCK_TIMEOUT=2)"
	common_head flock
}
hsm_set_unusable_hsm_body()
{
	setup
	mkimg a
	mkimg b
	enroll a
	enroll b
	new_mk n1
	msg="soft HSM $PWD/hsm is locked by another process \(lock file $PWD/hsm/\.lock\); gave up after 2\.000 s, try again when it has finished"
	hold -x hsm/.lock
	t0=$(date +%s%N)
	env SECUREKEY_LOCK_TIMEOUT=2 "$SECUREKEY" hsm set --apqns "$APQNS" --force >out 2>err
	rc=$?
	ms=$((($(date +%s%N) - t0) / 1000000))
	release
	test "$rc" = 1 || atf_fail "exit $rc"
	head -1 err | grep -Eq "^$msg\$" || atf_fail "first line: $(head -1 err)"
	cp -p hsm/01.0001.mk good.mk
	truncate -s 100 hsm/01.0001.mk
	"$SECUREKEY" hsm set --apqns "$APQNS" >out2 2>err2
	test $? = 1 || atf_fail "hsm set with a corrupt state file did not fail"
	cp -p good.mk hsm/01.0001.mk
	test "$ms" -lt 6000 || atf_fail "hsm set with 2 known volumes gave up after $ms ms, not about 2 s"
	test "$(wc -l <err)" = 1 || atf_fail "lock held: $(wc -l <err) lines: $(tr '\n' '|' <err)"
	test "$(wc -l <err2)" = 1 || atf_fail "corrupt state file: $(wc -l <err2) lines: $(tr '\n' '|' <err2)"
}

atf_test_case device_lock_held
device_lock_held_head()
{
	atf_set "descr" "a device's lock held by another process (flock): reencipher, setkey and" \
		"enroll of that device wait SECUREKEY_LOCK_TIMEOUT=2 s, then say so and exit 1;" \
		"nothing changes, other devices are not held up"
	common_head flock
}
device_lock_held_body()
{
	setup
	mkimg img
	mkimg other
	mkimg fresh
	enroll img
	enroll other
	new_mk n1
	mkdir -p run
	for dev in img fresh; do
		uuid=$(cryptsetup luksUUID $dev)
		hold -x "run/$uuid.lock"
		msg="LUKS device $dev \(UUID $uuid\) is locked by another process \(lock file $PWD/run/$uuid\.lock\); gave up after 2\.000 s, try again when it has finished"
		if [ $dev = img ]; then
			bounded "$msg" "$CR" reencipher img --staged --key-file pass
			bounded "$msg" "$CR" setkey img --key-file pass
			atf_check -s exit:0 -o match:"kept as staged" -e empty \
				env SECUREKEY_LOCK_TIMEOUT=2 "$CR" reencipher other --staged --key-file pass
		else
			bounded "$msg" "$CR" enroll fresh --apqns "$APQNS" --key-file pass
		fi
		release
	done
	atf_check -s exit:0 -o match:"kept as staged" -e empty "$CR" reencipher img --staged --key-file pass
	vstate img CURRENT NEW "hsm set"
}

atf_init_test_cases()
{
	atf_add_test_case header_write
	atf_add_test_case header_write_later
	atf_add_test_case backup_write
	atf_add_test_case backup_write_one_line
	atf_add_test_case backup_write_no_partial_file
	atf_add_test_case enroll_fresh_fails_after_keyslot
	atf_add_test_case hsm_state_bad
	atf_add_test_case hsm_state_write
	atf_add_test_case hsm_set_rename_fails_after_commit
	atf_add_test_case hsm_lock_held
	atf_add_test_case hsm_set_unusable_hsm
	atf_add_test_case device_lock_held
}
