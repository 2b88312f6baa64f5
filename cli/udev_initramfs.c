#include "config.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <ftw.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "conf.h"
#include "paths.h"
#include "secfile.h"
#include "udev.h"

static const char files_usage[] =
	"Usage: securekey-udev files\n"
	"\n"
	"List the files an initramfs needs to unlock securekey volumes, one per line\n"
	"as SOURCE<TAB>TARGET: the configuration (TARGET is the default path, where\n"
	"the tools look at boot), the KMS CA, client certificate and identity key,\n"
	"and the soft HSM's state files, which hold master keys and so carry a third\n"
	"field, 'secret' (as do a configuration that holds a PKCS#11 PIN and the\n"
	"pin_file). With backend = pkcs11: the token's module and libp11-kit (third\n"
	"field 'library': their libraries come too), SoftHSM2's configuration and\n"
	"token directory when the module is SoftHSM2's, the TPM device TCTI when it\n"
	"is tpm2-pkcs11 (its store goes in an initramfs_file), and every\n"
	"initramfs_file of [hsm]. Used by the initramfs-tools hook and the dracut\n"
	"module, so both install the same pieces.\n"
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

static int print_tree_file(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_F)
		printf("%s\t%s\n", path, path);
	return 0;
}

/* A file, or every file under a directory, where it is. */
static void print_tree(const char *path)
{
	if (nftw(path, print_tree_file, 16, FTW_PHYS) < 0)
		sk_warn("%s is not added to the initramfs: %s", path, strerror(errno));
}

/*
 * A library that is opened by name at run time, so that copying a binary
 * with its libraries (ldd) does not bring it: where the loader finds it,
 * under its soname, in the real directory (/lib is a link to usr/lib on a
 * merged-/usr host, and a libtss2 TCTI copied by way of /lib was not found
 * at boot).
 */
static void print_dlopened(const char *soname, const char *package)
{
	void *lib = dlopen(soname, RTLD_LAZY | RTLD_LOCAL);
	struct link_map *map = NULL;
	char *dir = NULL, *path = NULL;

	if (lib && dlinfo(lib, RTLD_DI_LINKMAP, &map) == 0 && map && map->l_name[0] == '/') {
		char *slash = strrchr(map->l_name, '/');
		char *parent = strndup(map->l_name, (size_t)(slash - map->l_name));

		dir = parent ? realpath(parent, NULL) : NULL;
		path = dir ? sk_path_join(dir, slash + 1) : NULL;
		free(parent);
	}
	if (path)
		printf("%s\t%s\tlibrary\n", path, path);
	else
		sk_warn("%s not found: the PKCS#11 HSM cannot be reached at boot (apt-get install %s)",
			soname, package);
	free(path);
	free(dir);
	if (lib)
		dlclose(lib);
}

/* SoftHSM2's configuration (where it looks at boot) and its token directory. */
static void print_softhsm(void)
{
	const char *conf = getenv("SOFTHSM2_CONF");
	char line[512], dir[PATH_MAX];
	FILE *f;

	conf = conf && *conf ? conf : "/etc/softhsm/softhsm2.conf";
	f = fopen(conf, "re");
	if (!f) {
		sk_warn("SoftHSM2's configuration %s is not added: %s", conf, strerror(errno));
		return;
	}
	printf("%s\t/etc/softhsm/softhsm2.conf\n", conf);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, " directories.tokendir = %4095s", dir) == 1)
			print_tree(dir);
	fclose(f);
}

static int print_pkcs11_files(const struct sk_config *cfg)
{
	const char *base = strrchr(cfg->hsm_module, '/');

	/* the pkcs11 backend opens libp11-kit at run time */
	print_dlopened("libp11-kit.so.0", "libp11-kit0");
	if (!cfg->hsm_module[0])
		sk_warn("[hsm] names no module: the modules p11-kit is configured with are not "
			"added to the initramfs; set module = PATH");
	else
		printf("%s\t%s\tlibrary\n", cfg->hsm_module, cfg->hsm_module);
	if (base && !strcmp(base, "/libsofthsm2.so"))
		print_softhsm();
	/* tpm2-pkcs11 reaches the TPM through the TCTI libtss2-tctildr picks at
	 * run time; at boot (no tpm2-abrmd) that is the device, /dev/tpmrm0 */
	if (base && !strncmp(base, "/libtpm2_pkcs11.so", strlen("/libtpm2_pkcs11.so")))
		print_dlopened("libtss2-tcti-device.so.0", "libtss2-tcti-device0");
	if (cfg->hsm_pin_file[0])
		printf("%s\t%s\tsecret\n", cfg->hsm_pin_file, cfg->hsm_pin_file);
	for (size_t i = 0; i < cfg->n_initramfs_files; i++)
		print_tree(cfg->initramfs_files[i]);
	return 0;
}

static int print_hsm_files(const struct sk_config *cfg)
{
	if (cfg->hsm_pkcs11)
		return print_pkcs11_files(cfg);
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
	/* the module runs as root at boot: nothing is listed when others may have changed it */
	if (cfg->hsm_module[0] && sk_trusted_file_check(-1, cfg->hsm_module, "PKCS#11 module") < 0)
		return EXIT_REFUSED;
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
