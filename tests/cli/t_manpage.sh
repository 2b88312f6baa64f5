#! @ATF_SH@
# Each man page and its binary's --help must describe the same options; the
# page of the token, securekey-token(7), must render cleanly, document every
# key the code writes into the token, and name only commands and options
# that exist.

BUILDDIR=@abs_top_builddir@/cli
MANDIR=@abs_top_srcdir@/man
SRCDIR=@abs_top_srcdir@

# token_page makes a real enrolled image file (root, like t_cryptsetup).
SK_BUILDDIR=@abs_top_builddir@
. @abs_top_srcdir@/tests/cli/common.sh
. @abs_top_srcdir@/tests/cli/devices.sh

# split_command PROG WORD1 WORD2: group and cmd of a command line's first
# words ("securekey hsm set": hsm and set; "securekey rotate": none and rotate).
split_command()
{
	case "$1 $2" in
	"securekey hsm" | "securekey kms") group=$2 cmd=$3 ;;
	*) group="" cmd=$2 ;;
	esac
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

# deroff PAGE: the page with \- as -, so that options and JSON read as typed.
deroff() {
	sed 's/\\-/-/g' "$MANDIR/$1"
}

# example_lines PAGE PROGRAM: the command lines of PROGRAM ("# PROGRAM ...")
# in the .EX/.EE examples of PAGE, without the prompt.
example_lines() {
	deroff "$1" | awk -v prog="$2" '/^\.EX/ { on = 1; next } /^\.EE/ { on = 0 }
		on && $1 == "#" && $2 == prog { sub(/^# /, ""); print }'
}

# token_keys_of_image JSON: every key of the securekey tokens of a LUKS2
# metadata dump, one per line: the key itself, then its dotted path
# (staged.mkvp), so that both can be looked up in the page.
token_keys_of_image() {
	"$PYTHON" -c '
import json, sys
def walk(obj, prefix):
    for key, value in obj.items():
        print(key, prefix + key)
        if isinstance(value, dict):
            walk(value, prefix + key + ".")
for token in json.load(open(sys.argv[1]))["tokens"].values():
    if token.get("type") == "securekey":
        walk(token, "")
' "$1" | sort -u
}

# token_keys_of_source: the keys the code writes into a token: every key of
# luks2/token.c (the token model) and every key that any other file adds to
# a token's JSON object directly.
token_keys_of_source() {
	{
		grep -h 'json_object_object_add(' "$SRCDIR/luks2/token.c"
		grep -h 'json_object_object_add(token->json,' "$SRCDIR"/luks2/*.c "$SRCDIR"/kms/*.c "$SRCDIR"/fleet/*.c "$SRCDIR"/cli/*.c
	} | sed -n 's/.*json_object_object_add([^,]*, *"\([a-z_]*\)".*/\1/p' | sort -u
}

atf_test_case token_page
token_page_head() {
	common_head groff
	atf_set "descr" "securekey-token(7) renders without warnings, documents every key the code" \
		"writes into the token (from a real enrolled image and from the source), names only" \
		"commands and options that exist in its examples, and the pages point to each other"
}
token_page_body() {
	page=securekey-token.7
	test -f "$MANDIR/$page" || atf_fail "$page is missing"

	# Renders with every warning on (tbl included) and says nothing.
	atf_check -s exit:0 -o empty -e empty groff -man -ww -z -t "$MANDIR/$page"

	# A real token, staged, as cryptsetup dumps it.
	setup
	mkimg img
	enroll img
	new_mk n1
	atf_check -s exit:0 -o match:"kept as staged" -e empty \
		"$CR" reencipher img --staged --key-file pass
	atf_check -s exit:0 -o save:dump.json -e empty cryptsetup luksDump --dump-json-metadata img
	token_keys_of_image dump.json >image-keys.txt
	token_keys_of_source >source-keys.txt
	# The grep of the source must see what the code really writes.
	cut -d' ' -f1 image-keys.txt | sort -u >image-names.txt
	atf_check -s exit:0 test -s image-names.txt
	comm -23 image-names.txt source-keys.txt >unseen.txt
	if test -s unseen.txt; then
		atf_fail "token keys written but not found in the source grep: $(cat unseen.txt)"
	fi
	# The source has the keys an image without a KMS lacks (kms.servers ...).
	grep -qx servers source-keys.txt || atf_fail "the source grep finds no 'servers' key"

	deroff "$page" >page.txt
	# Every key: in the example JSON as "key": and as a field of its own
	# (".B key", nested ones ".B parent.key").
	while read -r key; do
		grep -qF "\"$key\":" page.txt || atf_fail "token key '$key' is not in the example JSON of $page"
		grep -qE "^\.B ([a-z_]+\.)?$key\$" page.txt || atf_fail "token key '$key' has no field entry in $page"
	done <source-keys.txt
	while read -r key path; do
		grep -qx "\.B $path" page.txt || atf_fail "token field '$path' has no entry in $page"
	done <image-keys.txt

	# Every command of the examples exists, with the options it is given.
	n=0
	for bin in securekey securekey-cryptsetup; do
		example_lines "$page" "$bin" >lines.txt
		while read -r prog word1 word2 rest; do
			split_command "$prog" "$word1" "$word2"
			commands_of "$prog" "$group" | grep -qx -- "$cmd" ||
				atf_fail "'$prog ${group:+$group }$cmd' of $page's examples is no command"
			"$BUILDDIR/$prog" $group "$cmd" --help >cmd-help.txt ||
				atf_fail "'$prog ${group:+$group }$cmd --help' failed"
			for opt in $(echo "$word2 $rest" | grep -oE -- '--[a-z][a-z-]+'); do
				grep -qE -- "(^|[^a-z-])$opt([^a-z-]|\$)" cmd-help.txt ||
					atf_fail "'$prog ${group:+$group }$cmd' has no option $opt ($page)"
			done
			n=$((n + 1))
		done <lines.txt
	done
	test "$n" -ge 10 || atf_fail "only $n securekey command lines found in the examples of $page"
	# So does every command the text names in bold ("securekey hsm set").
	sed 's/\\f[BIRP]//g; s/"//g' page.txt | grep -E '^\.(B|BR|BI|IR|RB) ' |
		grep -oE 'securekey(-cryptsetup)? [a-z][a-z-]*( [a-z][a-z-]*)?' | sort -u >mentions.txt
	atf_check -s exit:0 test -s mentions.txt
	while read -r prog word1 word2; do
		split_command "$prog" "$word1" "$word2"
		commands_of "$prog" "$group" | grep -qx -- "$cmd" ||
			atf_fail "'$prog ${group:+$group }$cmd' named in $page is no command"
	done <mentions.txt
	# The real cryptsetup's options in the examples exist too.
	example_lines "$page" cryptsetup >lines.txt
	atf_check -s exit:0 test -s lines.txt
	cryptsetup --help >cs-help.txt
	for opt in $(grep -oE -- '--[a-z][a-z-]+' lines.txt | sort -u); do
		grep -qE -- "(^|[^a-z-])$opt([^a-z-]|\$)" cs-help.txt ||
			atf_fail "cryptsetup has no option $opt ($page)"
	done

	# SEE ALSO, both ways.
	for ref in 'securekey (8)' 'securekey-cryptsetup (8)' 'securekey.conf (5)' 'cryptsetup (8)'; do
		grep -qF ".BR $ref" page.txt || atf_fail "$page does not point to ${ref% *}${ref#* }"
	done
	for other in securekey.8 securekey-cryptsetup.8 securekey-udev.8 securekey.conf.5; do
		deroff "$other" | grep -qF '.BR securekey-token (7)' ||
			atf_fail "$other does not point to securekey-token(7)"
	done
}

atf_test_case pages_render
pages_render_head() {
	atf_set "require.progs" "groff"
	atf_set "descr" "every man page is installed (dist_man_MANS) and renders without a warning"
}
pages_render_body() {
	sed -n 's/^dist_man_MANS *= *//p' "$MANDIR/Makefile.am" | tr ' ' '\n' | sed '/^$/d' |
		sort >listed.txt
	(cd "$MANDIR" && ls -- *.[1-8]) | sort >pages.txt
	atf_check -s exit:0 -o empty comm -3 listed.txt pages.txt
	while read -r page; do
		atf_check -s exit:0 -o empty -e empty groff -man -ww -z -t "$MANDIR/$page"
	done <pages.txt
}

atf_test_case token_options
token_options_head() {
	atf_set "require.progs" "cryptsetup"
	atf_set "descr" "every option securekey-token(7) names exists in the --help of a binary:" \
		"securekey, securekey-cryptsetup, securekey-udev (any command) or cryptsetup"
}
token_options_body() {
	{
		help_options securekey "" hsm kms
		help_options securekey-cryptsetup ""
		help_options securekey-udev ""
		cryptsetup --help | grep -oE -- '--[a-z][a-z-]+'
	} | sort -u >help.txt
	deroff securekey-token.7 | grep -oE -- '--[a-z][a-z-]+' | sort -u >man.txt
	atf_check -s exit:0 test -s man.txt
	atf_check -s exit:0 -o empty comm -23 man.txt help.txt
}

atf_init_test_cases() {
	atf_add_test_case securekey_options
	atf_add_test_case securekey_commands
	atf_add_test_case cryptsetup_options
	atf_add_test_case cryptsetup_commands
	atf_add_test_case udev_options
	atf_add_test_case udev_commands
	atf_add_test_case pages_render
	atf_add_test_case token_page
	atf_add_test_case token_options
}
