#include "config.h"

#include <stdio.h>

#include "cli.h"

static const char usage[] =
	"Usage: securekey hsm clear-new --apqns AA.DDDD[,...]\n"
	"\n"
	"Empty the NEW register of every APQN of the set, whatever it holds, to\n"
	"start a master-key change over. Secure keys staged to the NEW master key\n"
	"can no longer be completed afterwards.\n"
	"\n"
	"Options:\n"
	"  --apqns LIST      the APQN set\n" CLI_COMMON_HELP;

static void report(struct sk_hsm *hsm, const struct sk_apqn_status *after)
{
	(void)after;
	printf("NEW register of APQNs %s is empty.\n", cli_apqns_text(hsm));
}

int cmd_hsm_clear_new(int argc, char **argv)
{
	return cli_run_set_change(argc, argv, usage, sk_hsm_clear_new, report, NULL);
}
