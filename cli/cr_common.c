#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cr.h"
#include "escape.h"
#include "gate.h"
#include "handler.h"
#include "log.h"
#include "paths.h"


struct cr_options cr = { .tries = 3 };

static bool parse_number(const char *arg, unsigned long long max, unsigned long long *out)
{
	char *end;

	errno = 0;
	*out = strtoull(arg, &end, 10);
	return !errno && *arg && !*end && arg[0] != '-' && *out <= max;
}

bool cr_common_option(int c, const char *arg, int *code)
{
	unsigned long long n;

	switch (c) {
	case 'd': /* zkey-cryptsetup's -d */
	case OPT_KEY_FILE:
		cr.key_file = arg;
		return true;
	case OPT_KEYFILE_OFFSET:
	case OPT_KEYFILE_SIZE:
	case OPT_TRIES:
		if (!parse_number(arg, c == OPT_TRIES ? 100 : CLI_KEYFILE_MAX, &n) ||
		    (c == OPT_TRIES && n == 0)) {
			*code = cli_usage_error("'%s' is not a valid number here", arg);
			return true;
		}
		if (c == OPT_KEYFILE_OFFSET)
			cr.keyfile_offset = n;
		else if (c == OPT_KEYFILE_SIZE)
			cr.keyfile_size = (size_t)n;
		else
			cr.tries = (unsigned)n;
		return true;
	case OPT_BATCH:
		cr.batch = true;
		return true;
	case OPT_JSON:
		cr.json = true;
		return true;
	default:
		return false;
	}
}

/*
 * libcryptsetup's messages, and the token handler's that it relays when a
 * device is unlocked in this process, all go to stderr: by default the
 * library prints its normal messages on stdout, where they would mix with a
 * command's output (validate --json). Debug messages show with --debug.
 */
static void crypt_log_stderr(int level, const char *msg, void *usrptr)
{
	/* They may quote the header (its JSON with --debug): escaped, lines kept. */
	char *text = malloc(SK_ESCAPE_SIZE(strlen(msg)));

	(void)usrptr;
	if (!text)
		return;
	sk_escape(text, SK_ESCAPE_SIZE(strlen(msg)), msg, SK_ESCAPE_KEEP_NEWLINE);
	if (level == CRYPT_LOG_DEBUG || level == CRYPT_LOG_DEBUG_JSON)
		fprintf(stderr, "# %s", text);
	else if (level != CRYPT_LOG_VERBOSE || sk_log_get_level() >= SK_LOG_VERBOSE)
		fputs(text, stderr);
	free(text);
}

/* What the options asked for, handed to libcryptsetup and the token handler. */
static void apply_options(void)
{
	crypt_set_log_callback(NULL, crypt_log_stderr, NULL);
	if (sk_log_get_level() >= SK_LOG_DEBUG)
		crypt_set_debug_level(CRYPT_DEBUG_ALL);
	sk_handler_set_hsm_dir(cli.hsm_dir);
}

int cr_parse(int argc, char **argv, const struct option *options, const char *usage,
	     int nargs, void (*handle)(int c, const char *arg, void *ctx), void *ctx,
	     char ***args)
{
	int c, code = 0;

	while ((c = cli_getopt(argc, argv, options, usage, &code)) >= 0) {
		if (!cr_common_option(c, optarg, &code) && handle)
			handle(c, optarg, ctx);
		if (code)
			return code;
	}
	if (c == -2)
		return code ? code : -1;
	if (nargs >= 0 && argc - optind != nargs)
		return cli_usage_error("%s: expected %s", argv[0],
				       nargs == 1 ? "DEVICE" : "DEVICE and NAME");
	apply_options();
	*args = argv + optind;
	return 0;
}

int cr_auth_usage(const char *auth)
{
	int code = auth ? cli_auth_parse(auth) : 0;

	if (!code && auth && cr.key_file)
		code = cli_auth_with_key_file();
	return code;
}

int cr_open_hsm(const struct sk_token *token, struct sk_hsm **hsm)
{
	return cli_open_hsm_for(&token->apqns, hsm);
}

int cr_passphrase_volume_key(struct sk_device *dev, int token_keyslot, struct sk_secret **vk)
{
	const struct cli_key_file source = { cr.key_file, cr.keyfile_offset, cr.keyfile_size };
	unsigned tries = cr.key_file ? 1 : cr.tries;
	int r = -EPERM;

	for (unsigned i = 0; i < tries && r == -EPERM; i++) {
		struct sk_secret *pass = NULL;

		r = cli_read_passphrase(&source, dev->path, &pass);
		if (!r)
			r = sk_gate_passphrase_vk(dev, token_keyslot, pass, vk);
		sk_secret_free(pass);
	}
	return r;
}

int cr_gate(struct sk_device *dev, struct sk_hsm *hsm, void *unused)
{
	struct sk_secret *vk = NULL;
	int r = cr_passphrase_volume_key(dev, dev->token.keyslot, &vk);

	(void)unused;
	if (!r)
		r = sk_gate_same_vk(dev, hsm, vk);
	sk_secret_free(vk);
	return r;
}

const char *cr_register_label(bool found, enum sk_mk_register reg)
{
	return found ? sk_register_name(reg) : "none";
}
