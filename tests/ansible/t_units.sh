#! @ATF_SH@
# placeholder: being written
atf_test_case placeholder
placeholder_body() { atf_fail "not written yet"; }
atf_init_test_cases() { atf_add_test_case placeholder; }
