/* securekey: HSM administration, KMS, batch and rotation (see securekey(8)). */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct cli_command commands[] = {
	{ "hsm", cmd_hsm, "administer the HSM master-key registers", false },
	{ "list", cmd_list, "list the LUKS2 devices with a securekey token and their state", false },
	{ "reencipher", cmd_reencipher, "re-encipher the secure keys of many devices", false },
	{ "rotate", cmd_rotate, "change the master key of an APQN set for every volume", false },
	{ "kms", cmd_kms, "configure the KMS and re-encipher its identity key", false },
	{ "debug", cmd_debug, "wrap/unwrap/rewrap test keys (for tests and the demo)", true },
	{ NULL, NULL, NULL, false },
};

static void usage(void)
{
	printf("Usage: securekey [--hsm-dir DIR] [--config FILE] [-v] [--debug]\n"
	       "                 COMMAND [ARGS...]\n"
	       "\n"
	       "Commands:\n");
	cli_list_commands(commands);
	printf("\n"
	       "Run 'securekey COMMAND --help' for the options of a command.\n"
	       "Options:\n" CLI_COMMON_HELP
	       "  -v, --version     print the version (as in zkey; -V is --verbose)\n");
}

int main(int argc, char **argv)
{
	return cli_main(argc, argv, commands, usage, NULL);
}
