#!/bin/sh
# 'make check-valgrind' (tests/Makefile.am):
#   run.sh SRCDIR BUILDDIR TOP_BUILDDIR FILTER...
# runs, under valgrind memcheck, every ELF test program of the Kyuafiles
# that the kyua FILTERs select (the atf-c unit tests) and the securekey and
# securekey-cryptsetup binaries, and cryptsetup with the token plugin (./pcs),
# as the selected CLI tests run them; then prints
#   valgrind: N programs/cases, E errors
# N: the processes run under valgrind (a unit test case, its listing, a CLI
# invocation, a forked worker: each has its log in BUILDDIR/valgrind/logs);
# E: the errors memcheck reported in them (invalid reads and writes, uses
# of uninitialised values, bad frees, definite leaks). Exits 1 on any error
# or failed test case.
#
# How: BUILDDIR/valgrind/root mirrors the test tree for kyua's --build-root:
# each ELF test program becomes a script that execs it under valgrind, the
# atf-sh programs are symlinks. The CLI tests find the wrappers
# BUILDDIR/valgrind/bin/{securekey,securekey-cryptsetup,vg} through
# SECUREKEY_VALGRIND (tests/cli/common.sh, devices.sh). Third-party noise is
# suppressed in SRCDIR/valgrind.supp; memcheck's exit status 99 on an error
# makes the test case fail too.
set -u
srcdir=$1 builddir=$2 top_builddir=$3
shift 3
: "${VALGRIND:=valgrind}" "${KYUA:=kyua}"
vg=$builddir/valgrind
start=$(date +%s)

rm -rf "$vg"
mkdir -p "$vg/bin" "$vg/logs" "$vg/root" || exit 1

cat >"$vg/bin/vg" <<WRAP
#!/bin/sh
# vg PROGRAM ARGS...: PROGRAM under valgrind memcheck, its log in $vg/logs.
_n=\${1##*/}
exec $VALGRIND --tool=memcheck --error-exitcode=99 --leak-check=full \\
	--errors-for-leak-kinds=definite --show-leak-kinds=definite --num-callers=40 \\
	--suppressions=$srcdir/valgrind.supp \\
	--log-file="$vg/logs/\$_n.%p.log" "\$@"
WRAP
for prog in securekey securekey-cryptsetup; do
	printf '#!/bin/sh\nexec %s %s "$@"\n' "$vg/bin/vg" "$top_builddir/cli/$prog" >"$vg/bin/$prog"
done
chmod +x "$vg/bin/"*

# The test programs of every Kyuafile (kyua wants them all, selected or not).
(cd "$srcdir" && find . -name Kyuafile) | sed 's|^\./||' | while read -r kf; do
	dir=${kf%Kyuafile}
	sed -n 's/.*_test_program *{ *name *= *"\([^"]*\)".*/\1/p' "$srcdir/$kf" | while read -r name; do
		real=$builddir/$dir$name
		mkdir -p "$vg/root/$dir"
		if [ ! -e "$real" ]; then
			# Listed but not built (not in the Makefile yet): kyua must
			# find it; it fails only if selected.
			echo "check-valgrind: warning: $real is not built" >&2
			printf '#!/bin/sh\necho "%s is not built" >&2\nexit 1\n' "$real" >"$vg/root/$dir$name"
			chmod +x "$vg/root/$dir$name"
		elif [ "$(od -An -c -N4 "$real" 2>/dev/null | tr -d ' ')" = '177ELF' ]; then
			printf '#!/bin/sh\nexec %s %s "$@"\n' "$vg/bin/vg" "$real" >"$vg/root/$dir$name"
			chmod +x "$vg/root/$dir$name"
		else
			ln -s "$real" "$vg/root/$dir$name"
		fi
	done
done

echo "check-valgrind: kyua test $*"
SECUREKEY_VALGRIND=$vg/bin "$KYUA" --config=none --variable=parallelism="${VALGRIND_JOBS:-2}" \
	test --kyuafile="$srcdir/Kyuafile" --build-root="$vg/root" \
	--results-file="$vg/results.db" "$@" >"$vg/kyua.log" 2>&1
kyua_status=$?
grep -E '^[^ ]+:[^ ]+ +-> +(failed|broken)' "$vg/kyua.log"
"$KYUA" report --results-file="$vg/results.db" | grep -E '^Test cases: '

runs=0 errors=0 unfinished=0
for log in "$vg/logs"/*.log; do
	[ -e "$log" ] || continue
	runs=$((runs + 1))
	n=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$log" | tail -n 1)
	if [ -z "$n" ]; then
		# Killed (by a test, or a timeout) before memcheck could sum up.
		unfinished=$((unfinished + 1))
		continue
	fi
	if [ "$n" -gt 0 ]; then
		errors=$((errors + n))
		echo "--- $log: $n errors"
		sed -n '/^==[0-9]*== Command: /p' "$log"
		grep -vE '^==[0-9]+== (Memcheck|Copyright|Using Valgrind|Parent PID)' "$log" | head -n 60
	fi
done
[ "$unfinished" -gt 0 ] && echo "($unfinished of them ended before valgrind's summary: killed)"
echo "valgrind: $runs programs/cases, $errors errors ($(( $(date +%s) - start )) s; logs in $vg/logs)"
[ "$errors" -eq 0 ] && [ "$kyua_status" -eq 0 ] && [ "$runs" -gt 0 ]
