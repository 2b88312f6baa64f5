/*
 * libFuzzer target for the configuration parser (lib/conf.c, libinih). Built by
 * "make -C tests fuzz" when configure found clang with libFuzzer; run with
 * "make -C tests fuzz-run [FUZZ_TIME=seconds]". The body is shared with the
 * corpus replay in tests/unit/t_corpus.c.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "fuzz_config_body.h"
#include "log.h"

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
	/* the parser logs every refusal; the guard still runs on each message */
	sk_log_set_sink(quiet, NULL);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *bad = sk_fuzz_config(data, size);

	if (bad) {
		fprintf(stderr, "invariant broken: %s\n", bad);
		abort();
	}
	return 0;
}
