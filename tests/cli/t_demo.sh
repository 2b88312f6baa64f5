#! @ATF_SH@
# The README's demo must keep working: run it against this build.

atf_test_case demo_runs
demo_runs_head() {
	atf_set "descr" "./demo completes a master-key change and keeps the volume key"
}
demo_runs_body() {
	atf_check -s exit:0 \
		-o match:"unwrapped with the CURRENT master key" \
		-o match:"unwrapped with the OLD master key" \
		-o match:"hold the same volume key" \
		-o match:"re-enciphered with the NEW master key" \
		-o match:"re-enciphering of the secure volume key of disk.img is completed" \
		-o match:"unlocked by token, no passphrase asked" \
		-o match:"plugin: staged secure key \(NEW master key was set\)" \
		-o match:"the passphrase keyslot still opens it" \
		-o match:"Demo finished" \
		-e empty \
		@abs_top_srcdir@/demo @abs_top_builddir@
}

atf_test_case demo_cleans_up
demo_cleans_up_head() {
	atf_set "descr" "the demo leaves no temp directory behind"
}
demo_cleans_up_body() {
	# atf_check keeps its own files in TMPDIR, so only the demo gets this one.
	mkdir demo-tmp
	TMPDIR=$PWD/demo-tmp @abs_top_srcdir@/demo @abs_top_builddir@ > out 2> err ||
		atf_fail "demo failed: $(cat err)"
	atf_check -s exit:0 -o empty find demo-tmp -mindepth 1
}

atf_init_test_cases() {
	atf_add_test_case demo_runs
	atf_add_test_case demo_cleans_up
}
