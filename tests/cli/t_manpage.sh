#! @ATF_SH@
# The man page and --help must describe the same options.

SECUREKEY=@abs_top_builddir@/cli/securekey
MANPAGE=@abs_top_srcdir@/man/securekey.8

help_options() {
	for cmd in "" "hsm init" "hsm status" "hsm generate-part" "hsm load-part" \
		"hsm commit" "hsm set" "hsm clear-new"; do
		# shellcheck disable=SC2086
		"$SECUREKEY" $cmd --help
	done | grep -oE -- '--[a-z][a-z-]+' | sort -u
}

man_options() {
	sed 's/\\-/-/g' "$MANPAGE" | grep -oE -- '--[a-z][a-z-]+' | sort -u
}

atf_test_case help_options_in_man
help_options_in_man_head() {
	atf_set "descr" "every option shown by --help is documented in securekey(8)"
}
help_options_in_man_body() {
	help_options > help.txt
	man_options > man.txt
	atf_check -s exit:0 -o empty comm -23 help.txt man.txt
}

atf_test_case man_options_in_help
man_options_in_help_head() {
	atf_set "descr" "every option in securekey(8) exists in some --help"
}
man_options_in_help_body() {
	help_options > help.txt
	man_options > man.txt
	atf_check -s exit:0 -o empty comm -13 help.txt man.txt
}

atf_test_case man_lists_commands
man_lists_commands_head() {
	atf_set "descr" "every hsm command of --help has a section in securekey(8)"
}
man_lists_commands_body() {
	"$SECUREKEY" hsm --help | awk '/^  [a-z]/ { print $1 }' > cmds.txt
	atf_check -s exit:0 test -s cmds.txt
	while read -r cmd; do
		sed 's/\\-/-/g' "$MANPAGE" | grep -q "hsm $cmd" ||
			atf_fail "hsm $cmd is missing from securekey(8)"
	done < cmds.txt
}

atf_init_test_cases() {
	atf_add_test_case help_options_in_man
	atf_add_test_case man_options_in_help
	atf_add_test_case man_lists_commands
}
