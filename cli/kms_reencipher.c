#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "conf.h"
#include "identity.h"
#include "log.h"

static const char usage[] =
	"Usage: securekey kms reencipher [--staged | --complete | --in-place]\n"
	"\n"
	"Re-encipher the KMS identity key for a master-key change, by the same rules\n"
	"as volume keys: --staged enciphers it with the committed NEW master key\n"
	"beside the current one, --complete makes the staged key the only one once\n"
	"NEW was set, --in-place re-enciphers a key under the OLD master key with\n"
	"the CURRENT one. Without an option, the next step is taken. KMS\n"
	"connections keep working at every step.\n"
	"\n"
	"Options:\n"
	"  --staged          stage to the NEW master key\n"
	"  --complete        complete a staged re-encipher\n"
	"  --in-place        from OLD to CURRENT\n" CLI_COMMON_HELP;

enum { OPT_STAGED_ = 0x300, OPT_COMPLETE_, OPT_IN_PLACE_ };

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
	static const struct option options[] = {
		CLI_COMMON_OPTIONS,
		{ "staged", no_argument, NULL, OPT_STAGED_ },
		{ "complete", no_argument, NULL, OPT_COMPLETE_ },
		{ "in-place", no_argument, NULL, OPT_IN_PLACE_ },
		{ NULL, 0, NULL, 0 },
	};
	enum sk_reencipher_mode mode = SK_REENCIPHER_AUTO;
	const struct sk_config *cfg;
	enum sk_next_step done;
	struct sk_hsm *hsm = NULL;
	int c, code = 0, r, modes = 0;

	while ((c = cli_getopt(argc, argv, options, usage, &code)) >= 0) {
		modes++;
		mode = c == OPT_STAGED_	    ? SK_REENCIPHER_STAGED
		       : c == OPT_COMPLETE_ ? SK_REENCIPHER_COMPLETE
					    : SK_REENCIPHER_IN_PLACE;
	}
	if (c == -2)
		return code;
	if (!cli_no_arguments_left(argc, argv))
		return EXIT_USAGE;
	if (modes > 1)
		return cli_usage_error("kms reencipher: choose one of --staged, --complete, --in-place");
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
