#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "conf.h"
#include "paths.h"
#include "udev.h"

static const char files_usage[] =
	"Usage: securekey-udev files\n"
	"\n"
	"List the files an initramfs needs to unlock securekey volumes, one per line\n"
	"as SOURCE<TAB>TARGET: the configuration (TARGET is the default path, where\n"
	"the tools look at boot), the KMS CA, client certificate and identity key,\n"
	"and the soft HSM's state files, which hold master keys and so carry a third\n"
	"field, 'secret' (as does a configuration that holds a PKCS#11 PIN). Used by\n"
	"the initramfs-tools hook and the dracut module, so both install the same\n"
	"pieces.\n"
	"\n"
	"Options:\n" CLI_COMMON_HELP;

static const char network_usage[] =
	"Usage: securekey-udev needs-network\n"
	"\n"
	"Exit 0 when the configuration names a KMS (the initramfs must bring the\n"
	"network up to refresh secure keys from it), else 1.\n"
	"\n"
	"Options:\n" CLI_COMMON_HELP;

static void print_pair(const char *source, const char *target)
{
	if (source[0])
		printf("%s\t%s\n", source, target);
}

static int print_hsm_files(const struct sk_config *cfg)
{
	if (cfg->hsm_pkcs11)
		return 0; /* the token's module and its own files are the HSM vendor's to add */
	char *source = sk_path_hsm_dir_or(cli.hsm_dir, cfg->hsm_dir);
	char *target = cfg->hsm_dir[0] ? sk_path_join(cfg->hsm_dir, "")
				       : sk_path_join(SK_DEFAULT_STATE_DIR, "hsm/");
	struct dirent **names = NULL;
	int n = source && target ? scandir(source, &names, NULL, alphasort) : -ENOMEM;

	/* No soft HSM here: nothing to copy (a PKCS#11 backend, or none yet). */
	for (int i = 0; i < n; i++) {
		char *path = sk_path_join(source, names[i]->d_name);
		struct stat st;

		if (path && lstat(path, &st) == 0 && S_ISREG(st.st_mode))
			printf("%s\t%s%s\tsecret\n", path, target, names[i]->d_name);
		free(path);
		free(names[i]);
	}
	free(names);
	free(source);
	free(target);
	return n == -ENOMEM ? n : 0;
}

/* 0: go on; -1: the help was printed; else the exit code of a usage error. */
static int parse_no_arguments(int argc, char **argv, const char *usage)
{
	static const struct option options[] = {
		CLI_COMMON_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	int c, code = 0;

	while ((c = cli_getopt(argc, argv, options, usage, &code)) != -1)
		if (c == -2)
			return code ? code : -1;
	return cli_no_arguments_left(argc, argv) ? 0 : EXIT_USAGE;
}

/* The configuration once "COMMAND" parsed; NULL with the exit code in @code. */
static const struct sk_config *parsed_config(int argc, char **argv, const char *usage,
					      int *code)
{
	int r = parse_no_arguments(argc, argv, usage);
	const struct sk_config *cfg = r ? NULL : cli_config();

	*code = r < 0 ? 0 : r ? r : EXIT_REFUSED;
	return cfg;
}

int udev_files(int argc, char **argv)
{
	int code;
	const struct sk_config *cfg = parsed_config(argc, argv, files_usage, &code);

	if (!cfg)
		return code;
	if (cfg->exists && cfg->hsm_pin_in_config)
		printf("%s\t%s\tsecret\n", cfg->path, SK_DEFAULT_CONFIG);
	else if (cfg->exists)
		print_pair(cfg->path, SK_DEFAULT_CONFIG);
	print_pair(cfg->ca, cfg->ca);
	print_pair(cfg->cert, cfg->cert);
	print_pair(cfg->identity_key, cfg->identity_key);
	return cli_exit_code(print_hsm_files(cfg));
}

int udev_needs_network(int argc, char **argv)
{
	int code;
	const struct sk_config *cfg = parsed_config(argc, argv, network_usage, &code);

	if (!cfg)
		return code;
	return sk_config_has_kms(cfg) ? 0 : 1;
}
