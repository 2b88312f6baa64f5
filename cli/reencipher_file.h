/* securekey reencipher --secure-key-file FILE (see reencipher_file.c). */
#ifndef SECUREKEY_CLI_REENCIPHER_FILE_H
#define SECUREKEY_CLI_REENCIPHER_FILE_H

#include "batch_run.h"

/* The batch options that make no sense for a file: 0, or the usage exit code. */
int cli_reencipher_file_usage(const struct cli_batch *b, bool all, int npaths);

/* Take b->mode's step on b->secure_key_file with the HSM of b->filter (all APQNs if empty). */
int cli_reencipher_file(const struct cli_batch *b);

#endif
