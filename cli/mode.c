/* The step options of the re-encipher commands (see mode.h). */
#include "config.h"

#include "mode.h"

#include "cli.h"

enum { STAGED, IN_PLACE, COMPLETE, TO_NEW, FROM_OLD };

static const char *const names[] = { "staged", "in-place", "complete", "to-new", "from-old" };

bool cli_mode_option(struct cli_mode *m, int c)
{
	const int keys[] = { m->keys->staged, m->keys->in_place, m->keys->complete,
			     m->keys->to_new, m->keys->from_old };

	for (int i = STAGED; i <= FROM_OLD; i++) {
		if (c == keys[i]) {
			m->given[i] = true;
			return true;
		}
	}
	return false;
}

/*
 * Pairs that cannot go together, with why where it is not obvious. zkey
 * re-enciphers to NEW in place on request; here a key re-enciphered to NEW
 * is always kept beside the current one until 'hsm set', and a key under
 * OLD is re-enciphered in place only: staging it would gain nothing.
 */
static const struct {
	int a, b;
	const char *why;
} conflicts[] = {
	{ STAGED, IN_PLACE, NULL },
	{ STAGED, COMPLETE, NULL },
	{ IN_PLACE, COMPLETE, NULL },
	{ TO_NEW, FROM_OLD, NULL },
	{ TO_NEW, COMPLETE, "--complete takes the staged key, it re-enciphers nothing" },
	{ FROM_OLD, COMPLETE, "--complete takes the staged key, it re-enciphers nothing" },
	{ TO_NEW, IN_PLACE, "a key re-enciphered to NEW is kept beside the current one (staged)" },
	{ FROM_OLD, STAGED, "a key under OLD is re-enciphered in place" },
};

int cli_mode_resolve(const char *cmd, const struct cli_mode *m, enum sk_reencipher_mode *mode)
{
	const bool *g = m->given;

	for (size_t i = 0; i < sizeof(conflicts) / sizeof(conflicts[0]); i++) {
		if (!g[conflicts[i].a] || !g[conflicts[i].b])
			continue;
		return cli_usage_error("%s: --%s and --%s cannot be given together%s%s", cmd,
				       names[conflicts[i].a], names[conflicts[i].b],
				       conflicts[i].why ? ": " : "",
				       conflicts[i].why ? conflicts[i].why : "");
	}
	*mode = g[STAGED] || g[TO_NEW]	      ? SK_REENCIPHER_STAGED
		: g[IN_PLACE] || g[FROM_OLD] ? SK_REENCIPHER_IN_PLACE
		: g[COMPLETE]		      ? SK_REENCIPHER_COMPLETE
					      : SK_REENCIPHER_AUTO;
	return 0;
}
