#! @ATF_SH@
# doc/design.md must name only what the tree has: every file or folder in
# code font (`lib/hsm/blob.c`, a test program `cli/t_kms:CASE` relative to
# tests/) and every identifier in code font with an underscore (a function
# `sk_device_write_token()`, a static `check_seqid`, a macro `SK_TOKEN_TYPE`,
# a configuration key `allow_token_auth`). Paths and names are read from the
# document, so the check follows it when files move.

SRCDIR=@abs_top_srcdir@
DOC=$SRCDIR/doc/design.md

# The top-level folders a path in the document may start with (and those
# under tests/, which kyua's test names start with).
ROOTS='lib|luks2|kms|fleet|cli|plugin|udev|ansible|tests|bench|man|doc|debian|completion|unit|fuzz|vm|hostile|reliability|secrets|p11shim'

# spans: the text of every `code span` of the document, one per line.
spans()
{
	grep -o '`[^`]*`' "$DOC" | tr -d '`' | sort -u
}

# path_exists PATH: PATH (a shell pattern) is in the source tree, as it is
# or as a test program's source (.sh, .c), a template (.in), or under tests/.
path_exists()
{
	for _p in "$1" "$1.sh" "$1.c" "$1.in" "tests/$1" "tests/$1.sh" "tests/$1.c"; do
		# shellcheck disable=SC2086 # the pattern is meant to expand
		for _f in "$SRCDIR"/$_p; do
			[ -e "$_f" ] && return 0
		done
	done
	return 1
}

atf_test_case paths_exist
paths_exist_head()
{
	atf_set "descr" "every file, folder and test program doc/design.md names in code font exists in the tree"
}
paths_exist_body()
{
	[ -f "$DOC" ] || atf_fail "no $DOC"
	spans | sed 's/:[A-Za-z0-9_]*$//' | grep -E "^($ROOTS)/[][A-Za-z0-9_./*@%-]*$" >paths.txt
	[ -s paths.txt ] || atf_fail "doc/design.md names no path: the check reads nothing"
	: >missing.txt
	while read -r p; do
		path_exists "$p" || echo "$p" >>missing.txt
	done <paths.txt
	[ -s missing.txt ] &&
		atf_fail "doc/design.md names $(wc -l <missing.txt) paths the tree lacks: $(tr '\n' ' ' <missing.txt)"
	return 0
}

atf_test_case names_exist
names_exist_head()
{
	atf_set "descr" "every identifier with an underscore that doc/design.md names in code font (functions, macros, fields, configuration keys) is in the sources, tests or man pages"
}
names_exist_body()
{
	[ -f "$DOC" ] || atf_fail "no $DOC"
	spans | grep -E '^[A-Za-z][A-Za-z0-9]*(_[A-Za-z0-9]+)+(\(\))?$' | sed 's/()$//' | sort -u >names.txt
	[ -s names.txt ] || atf_fail "doc/design.md names no identifier: the check reads nothing"
	dirs=
	for d in lib luks2 kms fleet cli plugin udev tests ansible man; do
		[ -d "$SRCDIR/$d" ] && dirs="$dirs $SRCDIR/$d"
	done
	: >missing.txt
	while read -r n; do
		# shellcheck disable=SC2086 # one word per folder
		grep -rqw -- "$n" $dirs || echo "$n" >>missing.txt
	done <names.txt
	[ -s missing.txt ] &&
		atf_fail "doc/design.md names $(wc -l <missing.txt) identifiers the tree lacks: $(tr '\n' ' ' <missing.txt)"
	return 0
}

atf_init_test_cases()
{
	atf_add_test_case paths_exist
	atf_add_test_case names_exist
}
