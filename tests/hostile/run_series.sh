#!/bin/sh
# run_series.sh HI OUT SPEC...: run every SPEC over every image of the
# hostile corpus HI (made by make_headers.py) and record what happened in
# OUT, for tests/cli/t_hostile.sh to judge. HI and OUT are directories below
# the current one, the test's work directory.
#
# SPEC is "KIND WORD..." where the word @ stands for the image and KIND says
# which program runs: cr-* securekey-cryptsetup ($CR), sk-* securekey
# ($SECUREKEY), ud-* securekey-udev ($UDEV), pcs-* cryptsetup (the caller puts this script in a mount
# namespace where libcryptsetup finds the plugin of the build; $PCS_PRELOAD,
# if set, is preloaded into cryptsetup, e.g. the ASan runtime).
#
# A listing of the work directory has every entry but HI, OUT and the lock
# directory run, with type, mode, size, inode and mtime (ns).
#
# HOSTILE_LIST=each (the default; for commands that may write): each image
# is copied to ./NAME.img and the commands run on the copy. For command N of
# image NAME: OUT/NAME.N.out and .err (its output) and OUT/NAME.N.list (the
# listing after it); OUT/NAME.0.list is the listing before the first. A
# command that exits 0 and changed the image or wrote hostile.skey (export)
# is undone (the image copied again, the file removed) so that the next
# command starts from the same image; its listing before the undo is
# OUT/NAME.N.pre.
#
# HOSTILE_LIST=image (for commands that only read; a listing costs an exec,
# and thousands of commands run): the commands run on HI/NAME.img itself,
# and the work directory is listed once after the commands of each image,
# as OUT/NAME.list; an export's hostile.skey is removed after it.
#
# One line per command in OUT/index:
#
#     NAME  N  KIND  EXIT  UNDONE  UPSTREAM  COMMAND
#
# UNDONE: 0 nothing to undo, 1 hostile.skey removed, 2 the image copied
# again, 3 both. UPSTREAM is 1 when cryptsetup aborted on an assertion of
# libcryptsetup and the host's cryptsetup without any token plugin aborts
# the same way. After the commands of an image:
#
#     NAME  sha256  same|differs  LISTING-BEFORE  LISTING-AFTER
#
# (the sha256 of the image the commands ran on against the manifest's).
#
# A watchdog kills (SIGKILL) a command that runs longer than HOSTILE_TIMEOUT
# seconds (default 60): its exit status is then 137, and OUT/hung names it.
# (A watchdog rather than timeout(1) for each command: an exec less each.)
#
# Environment: CR, SECUREKEY, UDEV, PCS_PRELOAD, HOSTILE_TIMEOUT, HOSTILE_LIST,
# HOSTILE_ONLY (blank-separated shell patterns: only the images whose names
# match), HOSTILE_EXPECT (blank-separated EXPECT values of the manifest:
# only the images expected so), HOSTILE_EVERY=N (only every Nth image of the
# manifest, from the first).

hi=$1
out=$2
shift 2
timeout=${HOSTILE_TIMEOUT:-60}
each=yes
[ "${HOSTILE_LIST:-each}" = image ] && each=
# A crash is told by the exit status; no core files in the work directory.
ulimit -c 0

listing()
{
	# A directory's size and mtime are left out: a refused token write
	# creates its header backup and removes it again, which leaves the
	# backup directory's entries as they were but not its mtime.
	find . -mindepth 1 \( -path "./$hi" -o -path "./$out" -o -path ./run \) -prune \
		-o -type d -printf '%y %m - %i - %p\n' -o -printf '%y %m %s %i %T@ %p\n'
}

picked()
{
	[ -z "${HOSTILE_ONLY:-}" ] && return 0
	set -f
	for _p in $HOSTILE_ONLY; do
		case $1 in
		$_p)
			set +f
			return 0
			;;
		esac
	done
	set +f
	return 1
}

# upstream_abort COMMAND-ARG...: see UPSTREAM above.
upstream_abort()
{
	_assert=$(grep -m 1 -o 'lib/luks2/[a-z0-9_]*\.c:[0-9]*: [a-z_]*: Assertion' "$p.err") ||
		return 1
	timeout -k 5 "$timeout" cryptsetup --disable-external-tokens "$@" >/dev/null 2>"$p.upstream" \
		</dev/null
	[ $? -eq 134 ] && grep -Fq "$_assert" "$p.upstream"
}

# watchdog: every second, read OUT/running ("PID N NAME" of the command that
# runs, empty between commands); kill a command seen for HOSTILE_TIMEOUT
# seconds. Ends when OUT/running is gone.
watchdog()
{
	_last=
	_secs=0
	while sleep 1; do
		[ -e "$out/running" ] || exit 0
		read -r _cur <"$out/running" || _cur=
		if [ -z "$_cur" ] || [ "$_cur" != "$_last" ]; then
			_last=$_cur
			_secs=0
			continue
		fi
		_secs=$((_secs + 1))
		if [ "$_secs" -ge "$timeout" ]; then
			echo "$_cur" >>"$out/hung"
			kill -KILL "${_cur%% *}" 2>/dev/null
			_secs=-3600
		fi
	done
}

# run_one KIND WORD...: command $n over $target.
run_one()
{
	_kind=$1
	shift
	_n=$#
	for _w; do
		[ "$_w" = @ ] && _w=$target
		set -- "$@" "$_w"
	done
	shift "$_n"
	p=$out/$name.$n
	_tries=0
	while :; do
		case $_kind in
		cr-*) "$CR" "$@" >"$p.out" 2>"$p.err" </dev/null & ;;
		sk-*) "$SECUREKEY" "$@" >"$p.out" 2>"$p.err" </dev/null & ;;
		ud-*) "$UDEV" "$@" >"$p.out" 2>"$p.err" </dev/null & ;;
		pcs-*)
			if [ -n "${PCS_PRELOAD:-}" ]; then
				LD_PRELOAD=$PCS_PRELOAD ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" \
					cryptsetup "$@" >"$p.out" 2>"$p.err" </dev/null &
			else
				cryptsetup "$@" >"$p.out" 2>"$p.err" </dev/null &
			fi
			;;
		esac
		_pid=$!
		echo "$_pid $n $name" >"$out/running"
		wait "$_pid"
		_rc=$?
		: >"$out/running"
		# 126, 127: the shell could not run the program; the build tree's
		# binaries may be being relinked: wait for them (a minute at most).
		[ "$_rc" -eq 126 ] || [ "$_rc" -eq 127 ] || break
		_tries=$((_tries + 1))
		[ "$_tries" -le 60 ] || break
		sleep 1
	done
	_undone=0
	if [ -n "$each" ]; then
		listing >"$p.list"
		if [ "$_rc" -eq 0 ]; then
			[ -e hostile.skey ] && _undone=1
			cmp -s "$hi/$img" "$img" || _undone=$((_undone + 2))
		fi
		if [ "$_undone" -ne 0 ]; then
			mv "$p.list" "$p.pre"
			if [ "$_undone" -ge 2 ]; then
				cp --sparse=always "$hi/$img" "$img" || exit 1
			fi
			rm -f hostile.skey
			listing >"$p.list"
		fi
	elif [ -e hostile.skey ]; then
		rm -f hostile.skey
		_undone=1
	fi
	_upstream=0
	if [ "$_rc" -eq 134 ] && [ "${_kind%-*}" = pcs ] && upstream_abort "$@"; then
		_upstream=1
	fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$n" "$_kind" "$_rc" "$_undone" "$_upstream" \
		"${_kind%-*} $*" >>"$out/index"
}

mkdir -p "$out"
: >"$out/index"
: >"$out/running"
watchdog &
watchdog_pid=$!
trap 'rm -f "$out/running"' EXIT
before=$out/start.list
[ -n "$each" ] || listing >"$before"
nth=0
while IFS='	' read -r name expect loadable why sha desc; do
	nth=$((nth + 1))
	[ $(((nth - 1) % ${HOSTILE_EVERY:-1})) -eq 0 ] || continue
	picked "$name" || continue
	case " ${HOSTILE_EXPECT:-$expect} " in *" $expect "*) ;; *) continue ;; esac
	img=$name.img
	if [ -n "$each" ]; then
		target=$img
		cp --sparse=always "$hi/$img" "$img" || exit 1
		before=$out/$name.0.list
		listing >"$before"
	else
		target=$hi/$img
	fi
	n=0
	for spec; do
		n=$((n + 1))
		set -f
		run_one $spec
		set +f
	done
	after=$out/$name.$n.list
	[ -n "$each" ] || listing >"$after"
	_sum=$(sha256sum <"$target")
	[ "${_sum%% *}" = "$sha" ] && _same=same || _same=differs
	printf '%s\tsha256\t%s\t%s\t%s\n' "$name" "$_same" "$before" "$after" >>"$out/index"
	[ -n "$each" ] && rm -f "$img"
	before=$after
done <"$hi/manifest.tsv"
rm -f "$out/running"
wait "$watchdog_pid"
