#! @ATF_SH@
# The bash completion of securekey and securekey-cryptsetup (completion/):
# its static command and option lists against the --help of the binaries of
# this build, file and value completion of option arguments, and the filter
# that offers only the LUKS2 devices with a securekey token (a fake lsblk
# lists image files made here).
#
# Each completion runs the standard way: a new bash sources bash-completion
# and the completion file, sets COMP_WORDS, COMP_CWORD, COMP_LINE and
# COMP_POINT, calls the function registered for the command and prints
# COMPREPLY (./complete.bash).

SK_BUILDDIR=@abs_top_builddir@
. @abs_top_srcdir@/tests/cli/common.sh

. @abs_top_srcdir@/tests/cli/devices.sh

BUILDDIR=@abs_top_builddir@/cli
COMPDIR=@abs_top_srcdir@/completion
BASH_COMPLETION=/usr/share/bash-completion/bash_completion
BINARIES="securekey securekey-cryptsetup"

# prepare: ./complete.bash, and ./bin (first in PATH) with an lsblk that
# prints ./lsblk.out (nothing by default) and logs its arguments in
# ./lsblk.args: the host's block devices stay out. Completion runs in
# $COMPLETE_IN (the work directory, $W, unless a case says otherwise).
prepare()
{
	test -f "$BASH_COMPLETION" || atf_fail "bash-completion is not installed ($BASH_COMPLETION)"
	W=$PWD
	cat >complete.bash <<'EOF'
# complete.bash COMPLETION-FILE WORD...: in $COMPLETE_IN, complete the last
# WORD of the command line WORD... (the cursor at its end) with the function
# that COMPLETION-FILE registers for the first WORD; print COMPREPLY sorted,
# one a line. COMPLETION-FILE "-": bash-completion loads the file of the
# command as at the first TAB (__load_completion).
cd "${COMPLETE_IN:-.}" || exit 1
. "$BASH_COMPLETION" || exit 1
if [ "$1" = - ]; then
	__load_completion "$2" || exit 1
else
	. "$1" || exit 1
fi
shift
spec=$(complete -p "$1") || exit 1
fn=${spec#*-F }
fn=${fn%% *}
COMP_WORDS=("$@")
COMP_CWORD=$(($# - 1))
COMP_LINE="$*"
COMP_POINT=${#COMP_LINE}
COMPREPLY=()
"$fn" "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
if [ ${#COMPREPLY[@]} -gt 0 ]; then
	printf '%s\n' "${COMPREPLY[@]}" | LC_ALL=C sort
fi
EOF
	mkdir -p bin empty
	cat >bin/lsblk <<EOF
#!/bin/sh
echo "\$*" >>"$W/lsblk.args"
cat "$W/lsblk.out"
EOF
	chmod +x bin/lsblk
	: >lsblk.out
	PATH=$W/bin:$PATH
	COMPLETE_IN=$W
	export PATH BASH_COMPLETION COMPLETE_IN
	unset BASH_ENV
}

# complete_words BINARY WORD...: print what completing the last WORD of
# "BINARY WORD..." offers, sorted.
complete_words()
{
	bash "$W/complete.bash" "$COMPDIR/$1" "$@"
}

# comp_check EXPECTED-FILE BINARY WORD...: completing the last WORD of
# "BINARY WORD..." offers exactly the lines of EXPECTED-FILE (in any order,
# each once) and prints no error.
comp_check()
{
	_want=$1
	shift
	LC_ALL=C sort "$_want" >"$_want.sorted"
	atf_check -s exit:0 -o "file:$_want.sorted" -e empty \
		bash "$W/complete.bash" "$COMPDIR/$1" "$@"
}

# words WORD...: the WORDs, one a line, into $W/want.
words()
{
	if [ $# -gt 0 ]; then
		printf '%s\n' "$@" >"$W/want"
	else
		: >"$W/want"
	fi
}

# is_group BINARY COMMAND: COMMAND has commands of its own (securekey hsm).
is_group()
{
	"$BUILDDIR/$1" "$2" --help | grep -q '^Commands:'
}

# command_lines BINARY: every command line whose --help describes options:
# "" (the tool itself), each command, each command of a group ("hsm
# init"); one a line.
command_lines()
{
	echo ""
	for _c in $(commands_of "$1"); do
		if is_group "$1" "$_c"; then
			for _s in $(commands_of "$1" "$_c"); do
				echo "$_c $_s"
			done
		else
			echo "$_c"
		fi
	done
}

# option_column BINARY [WORD...]: the first column of each line of the
# Options: section of "BINARY WORD... --help" ("--apqns LIST", "-V,
# --verbose", "-a, --apqns LIST", "--auth=token").
option_column()
{
	_bin=$1
	shift
	"$BUILDDIR/$_bin" "$@" --help | awk '
		/^Options:/ { on = 1; next }
		on && /^[^ ]/ { on = 0 }
		on && /^  -/ { sub(/^  /, ""); sub(/  .*/, ""); print }'
}

# help_options BINARY [WORD...]: the options of that Options: section, one
# a line, sorted; one with a fixed value ("--auth=token") as the completion
# offers it: "--auth=".
help_options()
{
	option_column "$@" | grep -oE -- '(^|[ ,])--?[A-Za-z][A-Za-z-]*=?' |
		sed 's/^[ ,]//' | LC_ALL=C sort -u
}

# arg_options BINARY [WORD...]: "OPTION ARGUMENT" for each option of that
# Options: section that takes an argument ("--apqns LIST", "--auth token";
# "-d, --key-file F" gives "--key-file F").
arg_options()
{
	option_column "$@" | sed -n 's/^\(-[A-Za-z], \)\{0,1\}\(--[a-z-]*\)[ =]\([^ ,]*\)$/\2 \3/p'
}

# -------------------------------------------------------------- commands

atf_test_case commands_match_help
commands_match_help_head()
{
	atf_set "descr" "each binary and each command group completes exactly the commands of its --help"
}
commands_match_help_body()
{
	prepare
	groups=""
	for bin in $BINARIES; do
		commands_of "$bin" >cmds
		atf_check -s exit:0 test -s cmds
		comp_check cmds "$bin" ""
		# after global options and their arguments too
		comp_check cmds "$bin" --hsm-dir hsmdir --config=conf -V --debug ""
		for cmd in $(commands_of "$bin"); do
			is_group "$bin" "$cmd" || continue
			commands_of "$bin" "$cmd" >cmds
			atf_check -s exit:0 test -s cmds
			comp_check cmds "$bin" "$cmd" ""
			comp_check cmds "$bin" --hsm-dir hsmdir "$cmd" ""
			groups="$groups $bin:$cmd"
		done
	done
	# the groups found are those of securekey --help today
	test "$groups" = " securekey:hsm securekey:kms" || atf_fail "command groups:$groups"
	# a prefix narrows the list
	words generate-new generate-part
	comp_check want securekey hsm gen
	words reencipher refresh remove restore
	comp_check want securekey-cryptsetup re
	# an unknown command or group command completes nothing
	words
	comp_check want securekey frobnicate ""
	comp_check want securekey hsm frobnicate ""
	comp_check want securekey-cryptsetup frobnicate ""
}

# --------------------------------------------------------------- options

atf_test_case options_match_help
options_match_help_head()
{
	atf_set "descr" "for every command the options offered are those of its --help, and an" \
		"option's argument is not taken for a command or an operand"
}
options_match_help_body()
{
	prepare
	COMPLETE_IN=$W/empty
	n=0
	for bin in $BINARIES; do
		command_lines "$bin" >lines
		while read -r line; do
			# $line unquoted: the words of a command line
			help_options "$bin" $line >opts
			atf_check -s exit:0 test -s opts
			comp_check opts "$bin" $line -
			grep -e '^--' opts >opts.long
			comp_check opts.long "$bin" $line --
			# an option the help names elsewhere is in Options: too
			"$BUILDDIR/$bin" $line --help | grep -oE -- '--[a-z][a-z-]+' |
				LC_ALL=C sort -u >named
			sed 's/=$//' opts | LC_ALL=C sort -u >opts.names
			atf_check -s exit:0 -o empty comm -23 named opts.names
			# OPTION ARGUMENT before the current word changes nothing
			complete_words "$bin" $line "" >plain ||
				atf_fail "completing '$bin $line' failed"
			arg_options "$bin" $line >argopts
			while read -r opt arg; do
				comp_check plain "$bin" $line "$opt" "$arg" ""
			done <argopts
			n=$((n + 1))
		done <lines
	done
	# the 2 tools, securekey's 3 commands, 8 hsm and 4 kms ones, the 9 of
	# securekey-cryptsetup
	test "$n" -eq 27 || atf_fail "$n command lines"
	# A group's help names no options; it takes -h and --help.
	for group in hsm kms; do
		option_column securekey "$group" >group.opts
		atf_check -s exit:0 -o empty cat group.opts
		words -h --help
		comp_check want securekey "$group" -
		for opt in -h --help; do
			atf_check -s exit:0 -o "match:^Usage: securekey $group COMMAND" -e empty \
				"$BUILDDIR/securekey" "$group" "$opt"
		done
	done
	# --auth=token: offered as --auth=
	words --all --apqns --auth=
	comp_check want securekey reencipher --a
	# a command without operands offers its options on an empty word
	help_options securekey hsm init >want
	comp_check want securekey hsm init ""
}

# ------------------------------------------------------ option arguments

atf_test_case file_options
file_options_head()
{
	atf_set "descr" "every option with a FILE or F argument completes file names, one with" \
		"DIR directory names; fixed values complete to those values, numbers to nothing"
}
file_options_body()
{
	prepare
	mkdir -p d/sub
	: >d/pass1
	: >d/pass2
	: >d/other
	words d/pass1 d/pass2
	mv want files
	words d/sub
	mv want dirs
	n=0
	for bin in $BINARIES; do
		command_lines "$bin" >lines
		while read -r line; do
			arg_options "$bin" $line >argopts
			while read -r opt arg; do
				case $arg in
				F | FILE)
					comp_check files "$bin" $line "$opt" d/pa
					comp_check files "$bin" $line "$opt=d/pa"
					n=$((n + 1))
					;;
				DIR)
					comp_check dirs "$bin" $line "$opt" d/
					n=$((n + 1))
					;;
				esac
			done <argopts
		done <lines
	done
	# --hsm-dir and --config of 27 command lines, 7 --key-file (5 of
	# securekey-cryptsetup), 2 --part-file, 2 --out, --secure-key-file,
	# --ca, --cert, --key, --csr, --backup, 2 --key-file-map, securekey
	# reencipher's --secure-key-file
	test "$n" -eq 74 || atf_fail "$n options with a FILE or DIR argument"
	# an empty word lists the directory
	COMPLETE_IN=$W/d
	words other pass1 pass2 sub
	comp_check want securekey-cryptsetup enroll --key-file ""
	comp_check want securekey hsm generate-part --out ""
	COMPLETE_IN=$W

	# --auth=token and --protocol auto|1.2|... as the help gives them
	"$BUILDDIR/securekey" reencipher --help | grep -q -- '^  --auth=token ' ||
		atf_fail "no --auth=token in securekey reencipher --help"
	words token
	comp_check want securekey reencipher --auth ""
	comp_check want securekey rotate --auth=t
	"$BUILDDIR/securekey" kms configure --help |
		sed -n 's/.*--protocol \([a-z0-9.|]*\)\].*/\1/p' | tr '|' '\n' >want
	atf_check -s exit:0 -o match:'^auto$' -o match:'^2\.0$' cat want
	comp_check want securekey kms configure --protocol ""
	words 1.2 1.3 1.4
	comp_check want securekey kms configure --protocol=1
	words kmip://
	comp_check want securekey kms configure --server ""
	# APQN lists and numbers: nothing
	words
	comp_check want securekey hsm init --apqns ""
	comp_check want securekey rotate --jobs ""
	comp_check want securekey-cryptsetup reencipher --tries ""
	comp_check want securekey-cryptsetup enroll --apqns=0
}

# ---------------------------------------------------------------- devices

atf_test_case devices
devices_head()
{
	common_head
	atf_set "descr" "DEVICE operands complete the LUKS2 devices with a securekey token that" \
		"lsblk lists (enroll: every LUKS one) and file names; no error at TAB time"
}
devices_body()
{
	prepare
	setup
	mkimg tok.img
	enroll tok.img
	mkimg plain.img
	mkimg luks1.img luks1
	truncate -s 4M zero.img
	dd if=/dev/urandom of=noise.img bs=64k count=1 2>/dev/null
	# what lsblk -rnpo NAME,FSTYPE would print, were they block devices
	cat >lsblk.out <<EOF
$W/tok.img crypto_LUKS
$W/plain.img crypto_LUKS
$W/luks1.img crypto_LUKS
$W/noise.img crypto_LUKS
$W/zero.img
/dev/sk-fake0 ext4
/dev/sk-fake1 crypto_LUKS
EOF
	COMPLETE_IN=$W/empty

	words "$W/tok.img"
	n=0
	for cmd in $(commands_of securekey-cryptsetup); do
		[ "$cmd" = enroll ] && continue
		comp_check want securekey-cryptsetup "$cmd" ""
		# from the devices and from the file names, offered once
		comp_check want securekey-cryptsetup "$cmd" "$W/t"
		n=$((n + 1))
	done
	test "$n" -eq 9 || atf_fail "$n commands with the device filter"
	# enroll: every LUKS device (no token yet)
	words "$W/tok.img" "$W/plain.img" "$W/luks1.img" "$W/noise.img" /dev/sk-fake1
	comp_check want securekey-cryptsetup enroll ""
	words /dev/sk-fake1
	comp_check want securekey-cryptsetup enroll /dev/sk-fak
	# options and their arguments are skipped; one DEVICE, but refresh
	# and crypttab take many
	words "$W/tok.img"
	comp_check want securekey-cryptsetup --debug setkey --secure-key-file x --key-file=y --tries 2 ""
	comp_check want securekey-cryptsetup refresh "$W/tok.img" ""
	comp_check want securekey-cryptsetup crypttab --name x "$W/tok.img" ""
	help_options securekey-cryptsetup validate >want
	comp_check want securekey-cryptsetup validate "$W/tok.img" ""
	# image files come as file names
	words "$W/plain.img"
	comp_check want securekey-cryptsetup validate "$W/pl"
	atf_check -s exit:0 -o inline:"-rnpo NAME,FSTYPE\n" sort -u lsblk.args

	# securekey list and reencipher PATH...: the same filter. Installed as
	# bash-completion finds them; the securekey completion loads that of
	# securekey-cryptsetup for it.
	mkdir -p share/completions
	for bin in $BINARIES; do
		ln -s "$COMPDIR/$bin" "share/completions/$bin"
	done
	words "$W/tok.img"
	LC_ALL=C sort want >want.sorted
	for cmd in list reencipher; do
		atf_check -s exit:0 -o file:want.sorted -e empty env BASH_COMPLETION_USER_DIR="$W/share" \
			bash "$W/complete.bash" - securekey "$cmd" --apqns "$APQNS" ""
	done

	# no lsblk or cryptsetup in PATH: file names only, and no error
	mkdir nobin
	ln -s "$(command -v bash)" nobin/bash
	ln -s "$(command -v sort)" nobin/sort
	: >empty/f1
	words f1
	atf_check -s exit:0 -o file:want -e empty env PATH="$W/nobin" \
		bash "$W/complete.bash" "$COMPDIR/securekey-cryptsetup" securekey-cryptsetup validate ""
}

atf_init_test_cases()
{
	atf_add_test_case commands_match_help
	atf_add_test_case options_match_help
	atf_add_test_case file_options
	atf_add_test_case devices
}
