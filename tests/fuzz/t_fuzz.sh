#! @ATF_SH@
# The libFuzzer targets (tests/fuzz/fuzz_NAME, built by 'make check' when
# configure found clang with its libFuzzer runtime) run a few seconds each
# from their seed corpus, so a target that stops building or starts to crash
# fails the suite instead of rotting unseen. Longer runs: 'make -C tests
# fuzz-run FUZZ_TIME=seconds' and bench/fuzz.

SK_BUILDDIR=@abs_top_builddir@
SK_SRCDIR=@abs_top_srcdir@
. "$SK_SRCDIR/tests/cli/common.sh"

FUZZ_SECONDS=10

# fuzz_target NAME: run fuzz_NAME from its corpus; on a crash, show the
# end of libFuzzer's report and the input that crashed it (base64).
fuzz_target()
{
	_prog=$SK_BUILDDIR/tests/fuzz/fuzz_$1
	if sanitized; then
		atf_skip "the fuzz targets run in the default build (they are built with ASan+UBSan in any build)"
	elif [ ! -x "$_prog" ]; then
		# CI must not pass without them: ./build.sh check installs clang.
		_why="configure found no clang that links -fsanitize=fuzzer (apt-get install clang libclang-rt-dev, then configure again)"
		[ "${CI:-}" = true ] && atf_fail "$_why"
		atf_skip "$_why"
	fi
	mkdir found
	if ! "$_prog" -max_total_time=$FUZZ_SECONDS -print_final_stats=1 \
		-artifact_prefix="$PWD/" found "$SK_SRCDIR/tests/fuzz/corpus/$1" >fuzz.log 2>&1; then
		tail -n 40 fuzz.log
		for f in crash-* leak-* timeout-* oom-*; do
			[ -e "$f" ] && echo "$f (base64): $(base64 -w0 "$f")"
		done
		atf_fail "fuzz_$1 failed within $FUZZ_SECONDS s: $(grep -m 1 -E 'ERROR|SUMMARY|Check failed|==[0-9]+==' fuzz.log)"
	fi
	grep -E '^stat::number_of_executed_units' fuzz.log
}

atf_test_case ttlv
ttlv_head()
{
	atf_set "descr" "fuzz_ttlv runs $FUZZ_SECONDS s from its corpus without a crash"
	atf_set "timeout" "300"
}
ttlv_body()
{
	fuzz_target ttlv
}

atf_test_case token
token_head()
{
	atf_set "descr" "fuzz_token runs $FUZZ_SECONDS s from its corpus without a crash"
	atf_set "timeout" "300"
}
token_body()
{
	fuzz_target token
}

atf_test_case blob
blob_head()
{
	atf_set "descr" "fuzz_blob runs $FUZZ_SECONDS s from its corpus without a crash"
	atf_set "timeout" "300"
}
blob_body()
{
	fuzz_target blob
}

atf_test_case config
config_head()
{
	atf_set "descr" "fuzz_config runs $FUZZ_SECONDS s from its corpus without a crash"
	atf_set "timeout" "300"
}
config_body()
{
	fuzz_target config
}

atf_init_test_cases()
{
	atf_add_test_case ttlv
	atf_add_test_case token
	atf_add_test_case blob
	atf_add_test_case config
}
