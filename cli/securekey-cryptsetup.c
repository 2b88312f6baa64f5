/* securekey-cryptsetup: secure keys of one LUKS2 device (see securekey-cryptsetup(8)). */
#include "config.h"

#include <stdio.h>

#include "cr.h"
#include "handler.h"
#include "secmem.h"

static const struct cli_command commands[] = {
	{ "enroll", cr_enroll, "add a securekey token and its keyslot", false },
	{ "reencipher", cr_reencipher, "re-encipher the secure key (staged/in-place/complete)",
	  false },
	{ "validate", cr_validate, "show the token, its MKVPs and the next step", false },
	{ "setkey", cr_setkey, "restore the secure key from a file or the passphrase", false },
	{ "export", cr_export, "write the secure key blob to a file", false },
	{ "remove", cr_remove, "remove the token and its keyslot", false },
	{ "open", cr_open, "activate the device by its token", false },
	{ NULL, NULL, NULL, false },
};

static void usage(void)
{
	printf("Usage: securekey-cryptsetup COMMAND DEVICE [OPTIONS]\n\nCommands:\n");
	cli_list_commands(commands);
	printf("\nRun 'securekey-cryptsetup COMMAND --help' for the options of a command.\n"
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
	cli.program = "securekey-cryptsetup";
	argv[0] = (char *)cli.program;
	while ((c = cli_getopt(argc, argv, options, "", &code)) != -1) {
		if (c == -2 && code == 0) {
			usage();
			return 0;
		}
		if (c == -2)
			return code;
		if (c == 'V') {
			printf("securekey-cryptsetup %s\n", PACKAGE_VERSION);
			return 0;
		}
	}
	if (optind >= argc) {
		usage();
		return EXIT_USAGE;
	}
	/* Work without the plugin installed, as zkey-cryptsetup does. */
	if (sk_handler_register() < 0)
		return EXIT_REFUSED;
	argc -= optind;
	argv += optind;
	optind = 0;
	return cli_dispatch(commands, "securekey-cryptsetup", argc, argv);
}
