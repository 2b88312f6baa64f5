#include "config.h"

#include <stdio.h>

#include "cli.h"

static const char usage[] =
	"Usage: securekey hsm commit --apqns AA.DDDD[,...]\n"
	"\n"
	"Commit the NEW master key (2 or 3 key parts loaded, or generated) on every\n"
	"APQN of the set. Secure keys can then be re-enciphered to it (staged) while CURRENT\n"
	"stays active.\n"
	"\n"
	"Options:\n"
	"  --apqns LIST      the APQN set\n" CLI_COMMON_HELP;

static void report(struct sk_hsm *hsm, const struct sk_apqn_status *after)
{
	printf("NEW master key committed on APQNs %s (%s).\n"
	       "Next: re-encipher every secure key to the NEW master key (staged), then\n"
	       "'securekey hsm set --apqns %s'.\n",
	       cli_apqns_text(hsm), cli_register_mkvp(after, SK_REG_NEW), cli_apqns_text(hsm));
}

int cmd_hsm_commit(int argc, char **argv)
{
	return cli_run_set_change(argc, argv, usage, sk_hsm_commit, report, NULL);
}
