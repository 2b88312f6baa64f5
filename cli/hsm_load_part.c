#include "config.h"

#include <stdio.h>

#include "cli.h"
#include "secfile.h"

static const char usage[] =
	"Usage: securekey hsm load-part --apqns AA.DDDD[,...] --part-file FILE|-\n"
	"\n"
	"XOR one key part into the NEW register of every APQN of the set. After 2\n"
	"parts the register is full-uncommitted; a third part may follow before\n"
	"commit. The part is read from a 0600 file or from stdin ('-'), never from\n"
	"the command line.\n"
	"\n"
	"Options:\n"
	"  --apqns LIST      the APQN set\n"
	"  --part-file F     the 32-byte key part file, or '-' for stdin\n" CLI_COMMON_HELP;

static void report(struct sk_hsm *hsm, const struct sk_apqn_status *after)
{
	const struct sk_register_status *new = &after->reg[SK_REG_NEW];

	printf("Key part loaded into the NEW register of APQNs %s: %s, %u of at most %d parts.\n",
	       cli_apqns_text(hsm), sk_mk_state_name(new->state), new->parts, SK_MK_MAX_PARTS);
	if (new->state == SK_MK_FULL_UNCOMMITTED)
		printf("Next: 'securekey hsm commit --apqns %s' (or load a third part).\n",
		       cli_apqns_text(hsm));
}

int cmd_hsm_load_part(int argc, char **argv)
{
	static const struct option options[] = {
		CLI_COMMON_OPTIONS,
		{ "apqns", required_argument, NULL, OPT_APQNS },
		{ "part-file", required_argument, NULL, OPT_PART_FILE },
		{ NULL, 0, NULL, 0 },
	};
	const char *apqns = NULL, *part_file = NULL;
	struct sk_secret *part = NULL;
	struct sk_apqn_status after;
	struct sk_hsm *hsm = NULL;
	int c, code = 0, r;

	while ((c = cli_getopt(argc, argv, options, usage, &code)) >= 0) {
		if (c == OPT_APQNS)
			apqns = optarg;
		else
			part_file = optarg;
	}
	if (c == -2)
		return code;
	if (!cli_no_arguments_left(argc, argv))
		return EXIT_USAGE;
	if (!apqns || !part_file)
		return cli_usage_error("load-part: --apqns and --part-file are required");
	r = sk_secfile_read(part_file, SK_MK_PART_LEN, "key part file", &part);
	if (!r)
		r = cli_open_hsm(apqns, &hsm);
	if (!r)
		r = sk_hsm_load_part(hsm, part, &after);
	if (!r)
		report(hsm, &after);
	sk_secret_free(part);
	sk_hsm_close(hsm);
	return cli_exit_code(r);
}
