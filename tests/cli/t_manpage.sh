#! @ATF_SH@
# Each man page and its binary's --help must describe the same options.

BUILDDIR=@abs_top_builddir@/cli
MANDIR=@abs_top_srcdir@/man

# The commands of BINARY ("securekey hsm" lists the hsm ones).
commands_of() {
	"$BUILDDIR/$1" $2 --help | awk '/^Commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 } on && /^$/ { on = 0 }'
}

help_options() { # BINARY [SUBCOMMAND-PREFIX...]
	bin=$1
	shift
	[ $# -gt 0 ] || set -- ""
	{
		"$BUILDDIR/$bin" --help
		for prefix in "$@"; do
			for cmd in $(commands_of "$bin" "$prefix"); do
				"$BUILDDIR/$bin" $prefix $cmd --help
			done
		done
	} | grep -oE -- '--[a-z][a-z-]+' | sort -u
}

man_options() {
	sed 's/\\-/-/g' "$MANDIR/$1.8" | grep -oE -- '--[a-z][a-z-]+' | sort -u
}

check_same_options() { # BINARY [SUBCOMMAND-PREFIX...]
	help_options "$@" > help.txt
	man_options "$1" > man.txt
	atf_check -s exit:0 -o empty comm -23 help.txt man.txt
	atf_check -s exit:0 -o empty comm -13 help.txt man.txt
}

check_commands_documented() { # BINARY [SUBCOMMAND-PREFIX]
	commands_of "$1" "$2" > cmds.txt
	atf_check -s exit:0 test -s cmds.txt
	while read -r cmd; do
		sed 's/\\-/-/g' "$MANDIR/$1.8" | grep -q "${2:+$2 }$cmd" ||
			atf_fail "'$2 $cmd' is missing from $1(8)"
	done < cmds.txt
}

atf_test_case securekey_options
securekey_options_head() {
	atf_set "descr" "securekey --help and securekey(8) name the same options"
}
securekey_options_body() {
	check_same_options securekey "" hsm kms
}

atf_test_case securekey_commands
securekey_commands_head() {
	atf_set "descr" "every command, hsm and kms command of --help has a section in securekey(8)"
}
securekey_commands_body() {
	check_commands_documented securekey ""
	check_commands_documented securekey hsm
	check_commands_documented securekey kms
}

atf_test_case cryptsetup_options
cryptsetup_options_head() {
	atf_set "descr" "securekey-cryptsetup --help and its man page name the same options"
}
cryptsetup_options_body() {
	check_same_options securekey-cryptsetup ""
}

atf_test_case cryptsetup_commands
cryptsetup_commands_head() {
	atf_set "descr" "every securekey-cryptsetup command has a section in its man page"
}
cryptsetup_commands_body() {
	check_commands_documented securekey-cryptsetup ""
}

atf_test_case udev_options
udev_options_head() {
	atf_set "descr" "securekey-udev --help and its man page name the same options"
}
udev_options_body() {
	check_same_options securekey-udev ""
}

atf_test_case udev_commands
udev_commands_head() {
	atf_set "descr" "every securekey-udev command has a section in its man page"
}
udev_commands_body() {
	check_commands_documented securekey-udev ""
}

atf_init_test_cases() {
	atf_add_test_case securekey_options
	atf_add_test_case securekey_commands
	atf_add_test_case cryptsetup_options
	atf_add_test_case cryptsetup_commands
	atf_add_test_case udev_options
	atf_add_test_case udev_commands
}
