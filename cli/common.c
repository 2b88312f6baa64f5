#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "backup.h"
#include "cli.h"
#include "conf.h"
#include "log.h"
#include "ossl_wipe.h"
#include "paths.h"
#include "secmem.h"

struct cli_state cli = { .program = "securekey" };

void cli_list_commands(const struct cli_command *table)
{
	for (; table->name; table++)
		if (!table->hidden)
			printf("  %-15s %s\n", table->name, table->summary);
}

int cli_dispatch(const struct cli_command *table, const char *what, int argc, char **argv)
{
	if (argc < 1)
		return cli_usage_error("%s: a command is missing", what);
	for (const struct cli_command *c = table; c->name; c++)
		if (!strcmp(c->name, argv[0]))
			return c->run(argc, argv);
	/* cli_usage_error names the program already; a group names itself. */
	if (!strcmp(what, cli.program))
		return cli_usage_error("unknown command '%s'", argv[0]);
	return cli_usage_error("%s: unknown command '%s'", what, argv[0]);
}

int cli_run_group(const char *group, const struct cli_command *table, int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		printf("Usage: %s %s COMMAND [OPTIONS]\n\nCommands:\n", cli.program, group);
		cli_list_commands(table);
		printf("\nRun '%s %s COMMAND --help' for the options of a command.\n",
		       cli.program, group);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	return cli_dispatch(table, group, argc - 1, argv + 1);
}

int cli_main(int argc, char **argv, const struct cli_command *commands, void (*usage)(void),
	     int (*prepare)(void))
{
	static const struct option options[] = {
		CLI_COMMON_OPTIONS,
		{ "version", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	int c, code = 0;

	/* first: OpenSSL takes its allocator at its first allocation */
	if (sk_ossl_wipe_on_free() < 0)
		sk_dbg("OpenSSL allocated before main: its freed blocks are not wiped");
	sk_secmem_harden_process();
	argv[0] = (char *)cli.program; /* messages name the tool, not its path */
	while ((c = cli_getopt(argc, argv, options, "", &code)) != -1) {
		if (c == -2 && code == 0)
			usage();
		if (c == -2)
			return code;
		if (c == 'v') {
			printf("%s %s\n", cli.program, PACKAGE_VERSION);
			return 0;
		}
	}
	if (optind >= argc) {
		usage();
		return EXIT_USAGE;
	}
	if (prepare && prepare() < 0)
		return EXIT_REFUSED;
	argc -= optind;
	argv += optind;
	optind = 0;
	return cli_dispatch(commands, cli.program, argc, argv);
}

int cli_usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", cli.program);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see '%s --help')\n", cli.program);
	return EXIT_USAGE;
}

int cli_exit_code(int r)
{
	return r < 0 ? EXIT_REFUSED : 0;
}

/* The short options of @options: each letter value, with ':' when it takes an argument. */
static void short_options(const struct option *options, bool top, char *out, size_t size)
{
	size_t n = 0;

	/* The top level stops at the command word; commands accept options anywhere. */
	if (top)
		out[n++] = '+';
	for (; options->name && n + 3 < size; options++) {
		if (options->val > 0 && options->val < 128 && isalpha(options->val)) {
			out[n++] = (char)options->val;
			if (options->has_arg == required_argument)
				out[n++] = ':';
		}
	}
	out[n] = '\0';
}

int cli_getopt(int argc, char **argv, const struct option *options, const char *usage,
	       int *exit_code)
{
	char shortopts[64];
	int c;

	short_options(options, !strcmp(argv[0], cli.program), shortopts, sizeof(shortopts));
	for (;;) {
		c = getopt_long(argc, argv, shortopts, options, NULL);
		switch (c) {
		case OPT_HSM_DIR:
			cli.hsm_dir = optarg;
			continue;
		case OPT_CONFIG:
			sk_config_set_path(optarg);
			continue;
		case 'V':
			if (sk_log_get_level() < SK_LOG_VERBOSE)
				sk_log_set_level(SK_LOG_VERBOSE);
			continue;
		case 'D':
			sk_log_set_level(SK_LOG_DEBUG);
			continue;
		case 'h':
			fputs(usage, stdout);
			*exit_code = 0;
			return -2;
		case '?':
			/* getopt has already said which option is wrong. */
			*exit_code = strcmp(argv[0], cli.program)
					     ? cli_usage_error("invalid option for '%s'", argv[0])
					     : cli_usage_error("invalid option");
			return -2;
		default:
			return c;
		}
	}
}

bool cli_no_arguments_left(int argc, char **argv)
{
	if (optind >= argc)
		return true;
	cli_usage_error("%s: unexpected argument '%s'", argv[0], argv[optind]);
	return false;
}

const struct sk_config *cli_config(void)
{
	static struct sk_config cfg;
	static int loaded; /* 0 not yet, 1 ok, -1 failed */

	if (!loaded) {
		loaded = sk_config_load(&cfg) < 0 ? -1 : 1;
		if (loaded > 0)
			sk_backup_set_keep(cfg.backup_keep);
	}
	return loaded > 0 ? &cfg : NULL;
}

int cli_auth_parse(const char *arg)
{
	if (strcmp(arg, "token"))
		return cli_usage_error("--auth: '%s' is not known; the only value is 'token'", arg);
	return 0;
}

int cli_auth_with_key_file(void)
{
	return cli_usage_error("give --auth=token or --key-file, not both");
}

int cli_allow_token_auth(void)
{
	const struct sk_config *cfg;

	if (geteuid() != 0) {
		sk_err("--auth=token is for root only; give the passphrase with --key-file");
		return -EPERM;
	}
	cfg = cli_config();
	if (!cfg)
		return -EINVAL;
	if (!cfg->allow_token_auth) {
		sk_err("--auth=token is not enabled: set 'allow_token_auth = yes' in [batch] of %s, "
		       "or give the passphrase with --key-file",
		       cfg->path);
		return -EPERM;
	}
	return 0;
}

const struct sk_config *cli_kms_config(void)
{
	const struct sk_config *cfg = cli_config();

	if (cfg && !sk_config_has_kms(cfg)) {
		sk_err("no KMS is configured in %s: run 'securekey kms configure' first", cfg->path);
		return NULL;
	}
	return cfg;
}

int cli_open_hsm_for(const struct sk_apqn_list *apqns, struct sk_hsm **hsm)
{
	const struct sk_config *cfg = cli_config();
	char *dir;
	int r;

	if (!cfg)
		return -EINVAL;
	dir = sk_path_hsm_dir_or(cli.hsm_dir, cfg->hsm_location);
	if (!dir)
		return -ENOMEM;
	r = sk_hsm_open(dir, apqns, hsm);
	free(dir);
	return r;
}

int cli_open_hsm(const char *apqns_csv, struct sk_hsm **hsm)
{
	struct sk_apqn_list apqns = { 0 };
	int r = apqns_csv ? sk_apqn_list_parse(apqns_csv, &apqns) : 0;

	return r ? r : cli_open_hsm_for(&apqns, hsm);
}

const char *cli_apqns_text_of(const struct sk_apqn_list *apqns)
{
	static char text[SK_APQN_MAX * (SK_APQN_TEXT_LEN + 1) + 1];

	sk_apqn_list_format(apqns, text, sizeof(text));
	return text;
}

const char *cli_apqns_text(const struct sk_hsm *hsm)
{
	return cli_apqns_text_of(sk_hsm_apqns(hsm));
}

static const char *mkvp_label(const unsigned char mkvp[SK_MKVP_LEN], char text[SK_MKVP_HEX_LEN + 6])
{
	char hex[SK_MKVP_HEX_LEN + 1];

	sk_mkvp_to_hex(mkvp, hex);
	snprintf(text, SK_MKVP_HEX_LEN + 6, "MKVP %s", hex);
	return text;
}

const char *cli_register_mkvp(const struct sk_apqn_status *apqn, enum sk_mk_register reg)
{
	static char text[SK_REG_COUNT][SK_MKVP_HEX_LEN + 6];

	if ((unsigned)reg >= SK_REG_COUNT || !apqn->reg[reg].has_mkvp)
		return "-";
	return mkvp_label(apqn->reg[reg].mkvp, text[reg]);
}

const char *cli_blob_mkvp(const unsigned char *blob, size_t blob_len)
{
	static char text[SK_MKVP_HEX_LEN + 6];
	struct sk_blob_header hdr;

	if (sk_blob_parse(blob, blob_len, &hdr) < 0)
		return "-";
	return mkvp_label(hdr.mkvp, text);
}

int cli_run_set_change(int argc, char **argv, const char *usage,
		       int (*change)(struct sk_hsm *hsm, struct sk_apqn_status *after),
		       void (*report)(struct sk_hsm *hsm, const struct sk_apqn_status *after),
		       int (*precheck)(struct sk_hsm *hsm, bool force))
{
	static const struct option options[] = {
		CLI_COMMON_OPTIONS,
		{ "apqns", required_argument, NULL, OPT_APQNS },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ NULL, 0, NULL, 0 },
	};
	struct sk_apqn_status after;
	struct sk_hsm *hsm = NULL;
	const char *apqns = NULL;
	bool force = false;
	int c, code = 0, r;

	while ((c = cli_getopt(argc, argv, options, usage, &code)) >= 0) {
		if (c == OPT_FORCE && !precheck)
			return cli_usage_error("invalid option for '%s'", argv[0]);
		if (c == OPT_FORCE)
			force = true;
		else
			apqns = optarg;
	}
	if (c == -2)
		return code;
	if (!cli_no_arguments_left(argc, argv))
		return EXIT_USAGE;
	if (!apqns)
		return cli_usage_error("%s: --apqns is required", argv[0]);
	r = cli_open_hsm(apqns, &hsm);
	if (!r && precheck)
		r = precheck(hsm, force);
	if (!r)
		r = change(hsm, &after);
	if (!r)
		report(hsm, &after);
	sk_hsm_close(hsm);
	return cli_exit_code(r);
}

/* What the child of cli_isolated hands back. */
struct isolated {
	int r;
	bool done;
	_Alignas(max_align_t) unsigned char out[]; /* any struct the caller passes */
};

int cli_isolated(int (*fn)(void *ctx, void *out), void *ctx, void *out, size_t size)
{
	size_t len = sizeof(struct isolated) + size;
	struct isolated *sh = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
				   -1, 0);
	int status = 0, r;
	pid_t pid;

	if (sh == MAP_FAILED)
		return -errno;
	/* The child would inherit what a PKCS#11 module leaves, as a batch worker would (hsm.h). */
	if (sk_hsm_open_count() || sk_hsm_module_loaded()) {
		munmap(sh, len);
		sk_err("internal error: a PKCS#11 module was loaded in the process that starts one "
		       "to use the HSM");
		return -EBUSY;
	}
	/* @out may hold secrets (the keys of 'kms refresh'): locked, wiped below */
	if (mlock(sh, len) < 0) {
		r = -errno;
		munmap(sh, len);
		sk_err("cannot lock memory for a secret (%s); raise the memlock limit (ulimit -l)",
		       strerror(-r));
		return r;
	}
	(void)madvise(sh, len, MADV_DONTDUMP);
	sh->done = false;
	if (size)
		memcpy(sh->out, out, size);
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		r = -errno;
		munmap(sh, len);
		sk_err("cannot start a process: %s", strerror(-r));
		return r;
	}
	if (pid == 0) {
		/* the secrets this process holds must not end up in an unlocked copy */
		r = sk_secmem_after_fork();
		sh->r = r < 0 ? r : fn(ctx, sh->out);
		sh->done = true;
		fflush(NULL);
		_exit(0);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	r = sh->done ? sh->r : -EIO;
	if (!sh->done)
		sk_err("the process that used the HSM died (%s)",
		       WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) : "exit status");
	else if (size)
		memcpy(out, sh->out, size);
	OPENSSL_cleanse(sh, len);
	munlock(sh, len);
	munmap(sh, len);
	return r;
}
