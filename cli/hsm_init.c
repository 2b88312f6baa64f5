#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "secfile.h"

static const char usage[] =
	"Usage: securekey hsm init --apqns AA.DDDD[,...] [--random | --part-file F ...]\n"
	"\n"
	"Create the APQNs in the soft HSM with a CURRENT master key: random (the\n"
	"default) or the XOR of 2 or 3 key parts. All APQNs given get the same key.\n"
	"\n"
	"Options:\n"
	"  --apqns LIST      APQNs to create, e.g. 01.0001,02.0001\n"
	"  --random          generate the master key at random (default)\n"
	"  --part-file F     a 32-byte key part file (0600); give it 2 or 3 times,\n"
	"                    '-' reads one part from stdin\n" CLI_COMMON_HELP;

struct init_args {
	const char *apqns;
	const char *part_files[SK_MK_MAX_PARTS + 1];
	size_t nparts;
	bool random;
};

static size_t stdin_parts(const struct init_args *args)
{
	size_t n = 0;

	for (size_t i = 0; i < args->nparts; i++)
		n += !strcmp(args->part_files[i], "-");
	return n;
}

static int parse(int argc, char **argv, struct init_args *args, int *code)
{
	static const struct option options[] = {
		CLI_COMMON_OPTIONS,
		{ "apqns", required_argument, NULL, OPT_APQNS },
		{ "random", no_argument, NULL, OPT_RANDOM },
		{ "part-file", required_argument, NULL, OPT_PART_FILE },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = cli_getopt(argc, argv, options, usage, code)) >= 0) {
		if (c == OPT_APQNS)
			args->apqns = optarg;
		else if (c == OPT_RANDOM)
			args->random = true;
		else if (args->nparts > SK_MK_MAX_PARTS)
			return *code = cli_usage_error("init: at most %d --part-file", SK_MK_MAX_PARTS), -1;
		else
			args->part_files[args->nparts++] = optarg;
	}
	if (c == -2)
		return -1;
	if (!cli_no_arguments_left(argc, argv))
		return *code = EXIT_USAGE, -1;
	if (!args->apqns)
		return *code = cli_usage_error("init: --apqns is required"), -1;
	if (args->random && args->nparts)
		return *code = cli_usage_error("init: --random and --part-file exclude each other"), -1;
	if (args->nparts == 1 || args->nparts > SK_MK_MAX_PARTS)
		return *code = cli_usage_error("init: a master key needs 2 or 3 --part-file"), -1;
	if (stdin_parts(args) > 1)
		return *code = cli_usage_error("init: only one key part can come from stdin"), -1;
	return 0;
}

static int read_parts(const struct init_args *args, struct sk_secret **parts)
{
	for (size_t i = 0; i < args->nparts; i++) {
		if (sk_secfile_read(args->part_files[i], SK_MK_PART_LEN, "key part file", &parts[i]) < 0)
			return -1;
	}
	return 0;
}

int cmd_hsm_init(int argc, char **argv)
{
	struct init_args args = { 0 };
	struct sk_secret *parts[SK_MK_MAX_PARTS + 1] = { 0 };
	struct sk_apqn_status after;
	struct sk_hsm *hsm = NULL;
	int code = 0, r;

	if (parse(argc, argv, &args, &code) < 0)
		return code;
	r = read_parts(&args, parts);
	if (!r)
		r = cli_open_hsm(args.apqns, &hsm);
	if (!r)
		r = sk_hsm_init(hsm, parts, args.nparts, &after);
	if (!r)
		printf("Initialized APQNs %s in %s: CURRENT master key %s (%s).\n",
		       cli_apqns_text(hsm), sk_hsm_location(hsm), cli_register_mkvp(&after, SK_REG_CURRENT),
		       args.nparts ? "from key parts" : "random");
	for (size_t i = 0; i < args.nparts; i++)
		sk_secret_free(parts[i]);
	sk_hsm_close(hsm);
	return cli_exit_code(r);
}
