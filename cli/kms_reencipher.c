#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "conf.h"
#include "identity.h"
#include "log.h"
#include "mode.h"

static const char usage[] =
	"Usage: securekey kms reencipher [--staged | --complete | --in-place]\n"
	"                                [--to-new | --from-old]\n"
	"\n"
	"Re-encipher the KMS identity key for a master-key change, by the same rules\n"
	"as volume keys: --staged enciphers it with the committed NEW master key\n"
	"beside the current one, --complete makes the staged key the only one once\n"
	"NEW was set, --in-place re-enciphers a key under the OLD master key with\n"
	"the CURRENT one. Without an option, the next step is taken. KMS\n"
	"connections keep working at every step. As with zkey, --to-new is --staged\n"
	"and --from-old is --in-place; options that contradict each other are\n"
	"refused.\n"
	"\n"
	"Options:\n"
	"  -s, --staged      stage to the NEW master key\n"
	"  -p, --complete    complete a staged re-encipher\n"
	"  -i, --in-place    from OLD to CURRENT\n"
	"  -n, --to-new      from CURRENT to NEW (staged)\n"
	"  -o, --from-old    from OLD to CURRENT (in place)\n" CLI_COMMON_HELP;

static const char *done_text(enum sk_next_step done)
{
	switch (done) {
	case SK_NEXT_STAGED:
		return "staged: enciphered with the NEW master key as well";
	case SK_NEXT_COMPLETE:
		return "completed: the staged key is now the identity key";
	case SK_NEXT_IN_PLACE:
		return "re-enciphered in place with the CURRENT master key";
	default:
		return "nothing to do";
	}
}

int cmd_kms_reencipher(int argc, char **argv)
{
	static const struct cli_mode_keys keys = CLI_MODE_KEYS_ZKEY;
	static const struct option options[] = {
		CLI_COMMON_OPTIONS,
		CLI_MODE_OPTIONS('s', 'i', 'p', 'n', 'o'),
		{ NULL, 0, NULL, 0 },
	};
	struct cli_mode given = { .keys = &keys };
	enum sk_reencipher_mode mode = SK_REENCIPHER_AUTO;
	const struct sk_config *cfg;
	enum sk_next_step done;
	struct sk_hsm *hsm = NULL;
	int c, code = 0, r;

	while ((c = cli_getopt(argc, argv, options, usage, &code)) >= 0)
		cli_mode_option(&given, c);
	if (c == -2)
		return code;
	if (!cli_no_arguments_left(argc, argv))
		return EXIT_USAGE;
	if (cli_mode_resolve("kms reencipher", &given, &mode))
		return EXIT_USAGE;
	cfg = cli_kms_config();
	if (!cfg)
		return EXIT_REFUSED;
	r = cli_open_hsm_for(&cfg->apqns, &hsm);
	if (!r)
		r = sk_identity_reencipher(hsm, cfg->identity_key, &cfg->apqns, mode, &done);
	if (!r)
		printf("identity key %s: %s.\n", cfg->identity_key, done_text(done));
	sk_hsm_close(hsm);
	return cli_exit_code(r);
}
