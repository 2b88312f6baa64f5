/* securekey kms: the KMS connection and its identity key. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct cli_command kms_commands[] = {
	{ "configure", cmd_kms_configure, "set the KMS servers, CA, certificate and identity key",
	  false },
	{ "status", cmd_kms_status, "show the servers' reachability and the identity key", false },
	{ "reencipher", cmd_kms_reencipher, "re-encipher the identity key (master-key change)",
	  false },
	{ "debug", cmd_kms_debug, "run one KMIP operation (for tests)", true },
	{ NULL, NULL, NULL, false },
};

int cmd_kms(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		printf("Usage: securekey kms COMMAND [OPTIONS]\n\nCommands:\n");
		cli_list_commands(kms_commands);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	return cli_dispatch(kms_commands, "kms", argc - 1, argv + 1);
}
