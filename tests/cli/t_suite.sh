#! @ATF_SH@
# Checks of the test suite itself.

SRCDIR=@abs_top_srcdir@/tests

atf_test_case cleanups_declared
cleanups_declared_head()
{
	atf_set "descr" "every NAME_cleanup has 'atf_test_case NAME cleanup' (atf-sh runs no cleanup otherwise: servers and mounts would outlive their case)"
}
cleanups_declared_body()
{
	find "$SRCDIR" -name 't_*.sh' | sort | while read -r f; do
		for n in $(sed -n 's/^\([a-z0-9_]*\)_cleanup()$/\1/p' "$f"); do
			grep -q "^atf_test_case $n cleanup\$" "$f" ||
				echo "${f#"$SRCDIR"/}: $n"
		done
	done >undeclared.txt
	# atf-sh runs NAME_cleanup only when declared; the property alone is a lie
	grep -rln 'atf_set "*has.cleanup' "$SRCDIR" >>undeclared.txt
	test -s undeclared.txt &&
		atf_fail "cleanup defined but not declared: $(tr '\n' ' ' <undeclared.txt)"
	return 0
}

atf_init_test_cases()
{
	atf_add_test_case cleanups_declared
}
