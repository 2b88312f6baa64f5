/* securekey: HSM administration, KMS, batch and rotation (see securekey(8)). */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "log.h"
#include "secmem.h"

static const struct cli_command commands[] = {
	{ "hsm", cmd_hsm, "administer the HSM master-key registers", false },
	{ "debug", cmd_debug, "wrap/unwrap/rewrap test keys (for tests and the demo)", true },
	{ NULL, NULL, NULL, false },
};

static void usage(void)
{
	printf("Usage: securekey [--hsm-dir DIR] [-v] [--debug] COMMAND [ARGS...]\n"
	       "\n"
	       "Commands:\n");
	cli_list_commands(commands);
	printf("\n"
	       "Run 'securekey COMMAND --help' for the options of a command.\n"
	       "Options:\n" CLI_COMMON_HELP "  -V, --version     print the version\n");
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		CLI_COMMON_OPTIONS,
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c, code = 0;

	sk_secmem_harden_process();
	argv[0] = (char *)cli.program; /* messages name the tool, not its path */
	while ((c = cli_getopt(argc, argv, options, "", &code)) != -1) {
		if (c == -2 && code == 0) {
			usage();
			return 0;
		}
		if (c == -2)
			return code;
		if (c == 'V') {
			printf("securekey %s\n", PACKAGE_VERSION);
			return 0;
		}
	}
	if (optind >= argc) {
		usage();
		return EXIT_USAGE;
	}
	argc -= optind;
	argv += optind;
	optind = 0;
	return cli_dispatch(commands, "securekey", argc, argv);
}
