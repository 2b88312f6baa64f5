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
	{ "refresh", cmd_kms_refresh, "store many volumes' keys from the KMS under CURRENT",
	  false },
	{ "debug", cmd_kms_debug, "run one KMIP operation (for tests)", true },
	{ NULL, NULL, NULL, false },
};

int cmd_kms(int argc, char **argv)
{
	return cli_run_group("kms", kms_commands, argc, argv);
}
