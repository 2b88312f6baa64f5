#include "config.h"

#include <stdio.h>

#include "cli.h"

static const char usage[] =
	"Usage: securekey hsm generate-new --apqns AA.DDDD[,...]\n"
	"\n"
	"Fill the empty NEW register of every APQN of the set with a random master\n"
	"key made inside the HSM, instead of loading key parts. Nobody ever sees\n"
	"it; on the pkcs11 backend it never leaves the token. Like a NEW register\n"
	"full of key parts, it must be committed before use.\n"
	"\n"
	"Options:\n"
	"  --apqns LIST      the APQN set\n" CLI_COMMON_HELP;

static void report(struct sk_hsm *hsm, const struct sk_apqn_status *after)
{
	printf("NEW master key generated on APQNs %s (%s).\n"
	       "Next: 'securekey hsm commit --apqns %s'.\n",
	       cli_apqns_text(hsm), cli_register_mkvp(after, SK_REG_NEW), cli_apqns_text(hsm));
}

int cmd_hsm_generate_new(int argc, char **argv)
{
	return cli_run_set_change(argc, argv, usage, sk_hsm_generate_new, report, NULL);
}
