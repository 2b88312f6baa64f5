/* securekey-udev: boot-time helper for udev, initramfs and crypttab (see securekey-udev(8)). */
#include "config.h"

#include <stdio.h>

#include "handler.h"
#include "udev.h"

static const struct cli_command commands[] = {
	{ "check", udev_check, "print udev properties of a device's securekey token", false },
	{ "refresh", udev_refresh, "refresh the secure key from the KMS, bounded, one log line",
	  false },
	{ "passphrase", udev_passphrase, "write the token keyslot's passphrase (keyscript)",
	  false },
	{ "files", udev_files, "list the files an initramfs needs", false },
	{ "needs-network", udev_needs_network, "exit 0 when a KMS is configured", false },
	{ NULL, NULL, NULL, false },
};

static void usage(void)
{
	printf("Usage: securekey-udev COMMAND [DEVICE] [OPTIONS]\n\nCommands:\n");
	cli_list_commands(commands);
	printf("\nRun 'securekey-udev COMMAND --help' for the options of a command.\n"
	       "Options:\n" CLI_COMMON_HELP
	       "  -v, --version     print the version (as in zkey; -V is --verbose)\n");
}

int main(int argc, char **argv)
{
	cli.program = "securekey-udev";
	return cli_main(argc, argv, commands, usage, sk_handler_register);
}
