/*
 * The step options of the re-encipher commands, with zkey's meaning:
 * --staged, --in-place, --complete name the step; --to-new (CURRENT to NEW,
 * staged by default) and --from-old (OLD to CURRENT, in place by default)
 * name the direction. Options that contradict each other are a usage error.
 */
#ifndef SECUREKEY_CLI_MODE_H
#define SECUREKEY_CLI_MODE_H

#include <stdbool.h>

#include "reencipher.h"

/* The short option letters of each: zkey-cryptsetup's and zkey's differ. */
struct cli_mode_keys {
	int staged, in_place, complete, to_new, from_old;
};

/* -s -i -c -N -O (securekey-cryptsetup), -s -i -p -n -o (securekey). */
#define CLI_MODE_KEYS_ZKEY_CRYPTSETUP { 's', 'i', 'c', 'N', 'O' }
#define CLI_MODE_KEYS_ZKEY { 's', 'i', 'p', 'n', 'o' }

#define CLI_MODE_OPTIONS(s, i, c, n, o)                  \
	{ "staged", no_argument, NULL, s },              \
	{ "in-place", no_argument, NULL, i },            \
	{ "complete", no_argument, NULL, c },            \
	{ "to-new", no_argument, NULL, n },              \
	{ "from-old", no_argument, NULL, o }

struct cli_mode {
	const struct cli_mode_keys *keys;
	bool given[5]; /* staged, in-place, complete, to-new, from-old */
};

/* Take option @c when it is one of the step options; false otherwise. */
bool cli_mode_option(struct cli_mode *m, int c);

/*
 * The mode the options ask for (AUTO when none). Two that contradict each
 * other are a usage error naming both: 0, or the usage exit code.
 */
int cli_mode_resolve(const char *cmd, const struct cli_mode *m, enum sk_reencipher_mode *mode);

#endif
