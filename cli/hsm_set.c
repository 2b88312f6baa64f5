#include "config.h"

#include <stdio.h>

#include "cli.h"
#include "interlock.h"

static const char usage[] =
	"Usage: securekey hsm set --apqns AA.DDDD[,...] [--force]\n"
	"\n"
	"Make the committed NEW master key CURRENT on every APQN of the set; the\n"
	"previous CURRENT key moves to OLD and NEW becomes empty. Secure keys under\n"
	"the OLD master key keep working until they are re-enciphered.\n"
	"Refused while a known volume (see 'securekey list') bound to these APQNs\n"
	"is not staged to the NEW master key: each one is named with its next step.\n"
	"So is one that cannot be found by its LUKS UUID (moved, or gone).\n"
	"\n"
	"Options:\n"
	"  --apqns LIST      the APQN set\n"
	"  --force           set even so (those volumes then rely on OLD, or on a KMS)\n" CLI_COMMON_HELP;

static void report(struct sk_hsm *hsm, const struct sk_apqn_status *after)
{
	printf("NEW master key set on APQNs %s: CURRENT is now %s, OLD is %s.\n"
	       "Next: complete staged secure keys and re-encipher those still under the OLD\n"
	       "master key.\n",
	       cli_apqns_text(hsm), cli_register_mkvp(after, SK_REG_CURRENT),
	       cli_register_mkvp(after, SK_REG_OLD));
}

/*
 * The HSM is read once before the known volumes: when it is locked or its
 * state is bad, that is the one error, not one wait and one line per volume.
 */
static int interlock(struct sk_hsm *hsm, bool force)
{
	struct sk_hsm_status status;
	int r = sk_hsm_status(hsm, &status);

	return r < 0 ? r : sk_set_interlock(sk_hsm_location(hsm), sk_hsm_apqns(hsm), force);
}

int cmd_hsm_set(int argc, char **argv)
{
	return cli_run_set_change(argc, argv, usage, sk_hsm_set, report, interlock);
}
