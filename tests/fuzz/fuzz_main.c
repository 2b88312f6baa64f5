/*
 * The libFuzzer entry of every target in this directory: built by
 * "make -C tests fuzz" once per body with -DSK_FUZZ_BODY=sk_fuzz_NAME (see
 * tests/Makefile.am); run with "make -C tests fuzz-run [FUZZ_TIME=seconds]".
 * Each body is shared with its corpus replay in tests/unit (t_ttlv, t_corpus)
 * and returns NULL, or the invariant the input broke.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"

#ifndef SK_FUZZ_BODY
#error "build with -DSK_FUZZ_BODY=sk_fuzz_NAME"
#endif

const char *SK_FUZZ_BODY(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void quiet(enum sk_log_level level, const char *msg, void *ctx)
{
	(void)level;
	(void)msg;
	(void)ctx;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* the parsers log every refusal; the guard still runs on each message */
	sk_log_set_sink(quiet, NULL);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *bad = SK_FUZZ_BODY(data, size);

	if (bad) {
		fprintf(stderr, "invariant broken: %s\n", bad);
		abort();
	}
	return 0;
}
