/* securekey hsm: TKE-like administration of the master-key registers. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct cli_command hsm_commands[] = {
	{ "init", cmd_hsm_init, "create APQNs with a CURRENT master key", false },
	{ "status", cmd_hsm_status, "show each register's state and MKVP", false },
	{ "generate-part", cmd_hsm_generate_part, "write a random key part to a file", false },
	{ "load-part", cmd_hsm_load_part, "load a key part into the NEW register", false },
	{ "generate-new", cmd_hsm_generate_new, "generate the NEW master key inside the HSM",
	  false },
	{ "commit", cmd_hsm_commit, "commit the NEW master key", false },
	{ "set", cmd_hsm_set, "make NEW current (CURRENT becomes OLD)", false },
	{ "clear-new", cmd_hsm_clear_new, "empty the NEW register", false },
	{ NULL, NULL, NULL, false },
};

int cmd_hsm(int argc, char **argv)
{
	return cli_run_group("hsm", hsm_commands, argc, argv);
}
