/* securekey-cryptsetup: secure keys of one LUKS2 device (see securekey-cryptsetup(8)). */
#include "config.h"

#include <stdio.h>

#include "cr.h"
#include "handler.h"

static const struct cli_command commands[] = {
	{ "enroll", cr_enroll, "add a securekey token and its keyslot", false },
	{ "reencipher", cr_reencipher, "re-encipher the secure key (staged/in-place/complete)",
	  false },
	{ "validate", cr_validate, "show the token, its MKVPs and the next step", false },
	{ "setkey", cr_setkey, "restore the secure key from a file or the passphrase", false },
	{ "export", cr_export, "write the secure key blob to a file", false },
	{ "refresh", cr_refresh, "fetch the volume key from the KMS and re-wrap it", false },
	{ "remove", cr_remove, "remove the token and its keyslot", false },
	{ "restore", cr_restore, "put a header backup back", false },
	{ "open", cr_open, "activate the device by its token", false },
	{ "crypttab", cr_crypttab, "print /etc/crypttab lines for the devices", false },
	{ NULL, NULL, NULL, false },
};

static void usage(void)
{
	printf("Usage: securekey-cryptsetup COMMAND ARGUMENTS [OPTIONS]\n\nCommands:\n");
	cli_list_commands(commands);
	printf("\nRun 'securekey-cryptsetup COMMAND --help' for the arguments and options of a\n"
	       "command.\n\nOptions:\n" CLI_COMMON_HELP
	       "  -v, --version     print the version (as in zkey; -V is --verbose)\n");
}

/*
 * Work without the plugin installed, as zkey-cryptsetup does. An operator
 * runs these commands: a PKCS#11 token's PIN may be asked on the terminal.
 */
static int register_handler(void)
{
	sk_handler_allow_pin_prompt(true);
	return sk_handler_register();
}

int main(int argc, char **argv)
{
	cli.program = "securekey-cryptsetup";
	return cli_main(argc, argv, commands, usage, register_handler);
}
