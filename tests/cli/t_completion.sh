#! @ATF_SH@
# placeholder, to be written

atf_init_test_cases()
{
	:
}
