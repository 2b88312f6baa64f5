#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cr.h"
#include "handler.h"
#include "keyslot.h"
#include "log.h"
#include "paths.h"
#include "secfile.h"

#define PASSPHRASE_MAX 512
#define KEYFILE_MAX (8 * 1024 * 1024)

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
	case OPT_KEY_FILE:
		cr.key_file = arg;
		return true;
	case OPT_KEYFILE_OFFSET:
	case OPT_KEYFILE_SIZE:
	case OPT_TRIES:
		if (!parse_number(arg, c == OPT_TRIES ? 100 : KEYFILE_MAX, &n) ||
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
	(void)usrptr;
	if (level == CRYPT_LOG_DEBUG || level == CRYPT_LOG_DEBUG_JSON)
		fprintf(stderr, "# %s", msg);
	else if (level != CRYPT_LOG_VERBOSE || sk_log_get_level() >= SK_LOG_VERBOSE)
		fputs(msg, stderr);
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

int cr_open_hsm(const struct sk_token *token, struct sk_hsm **hsm)
{
	return cli_open_hsm_for(&token->apqns, hsm);
}

static int read_key_file(struct sk_secret **pass)
{
	struct sk_secret *buf = sk_secret_new(KEYFILE_MAX);
	bool is_stdin = !strcmp(cr.key_file, "-");
	size_t want = cr.keyfile_size ? cr.keyfile_size : KEYFILE_MAX, got = 0;
	int fd = is_stdin ? STDIN_FILENO : open(cr.key_file, O_RDONLY | O_CLOEXEC);
	int r = buf && fd >= 0 ? 0 : -errno;

	if (fd < 0)
		sk_err("cannot open key file %s: %s", cr.key_file, strerror(errno));
	if (!r && cr.keyfile_offset && lseek(fd, (off_t)cr.keyfile_offset, SEEK_SET) < 0)
		r = -errno;
	while (!r && got < want) {
		ssize_t n = read(fd, buf->data + got, want - got);

		if (n < 0 && errno != EINTR)
			r = -errno;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (r && fd >= 0)
		sk_err("cannot read key file %s: %s", cr.key_file, strerror(-r));
	if (!r && !got) {
		sk_err("key file %s is empty", cr.key_file);
		r = -EINVAL;
	}
	if (!r)
		r = (*pass = sk_secret_dup(buf->data, got)) ? 0 : -ENOMEM;
	if (fd >= 0 && !is_stdin)
		close(fd);
	sk_secret_free(buf);
	return r;
}

/* One line from the terminal with echo off, into locked memory. */
static int prompt(const char *device, struct sk_secret **pass)
{
	struct sk_secret *buf = sk_secret_new(PASSPHRASE_MAX + 2);
	struct termios saved, quiet;
	FILE *tty = fopen("/dev/tty", "r+e");
	size_t len;
	int r = 0;

	if (!tty || !buf) {
		sk_err("no terminal to ask for the passphrase of %s; use --key-file", device);
		sk_secret_free(buf);
		if (tty)
			fclose(tty);
		return -ENOTTY;
	}
	fprintf(tty, "Enter passphrase for %s: ", device);
	fflush(tty);
	tcgetattr(fileno(tty), &saved);
	quiet = saved;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
	if (!fgets((char *)buf->data, PASSPHRASE_MAX + 2, tty))
		r = -EINVAL;
	tcsetattr(fileno(tty), TCSAFLUSH, &saved);
	fputc('\n', tty);
	fclose(tty);
	len = r ? 0 : strcspn((char *)buf->data, "\n");
	if (!r && !len)
		r = -EINVAL;
	if (!r)
		r = (*pass = sk_secret_dup(buf->data, len)) ? 0 : -ENOMEM;
	sk_secret_free(buf);
	return r;
}

static int try_passphrase(struct sk_device *dev, int token_keyslot,
			  const struct sk_secret *pass, struct sk_secret **vk)
{
	int slot = sk_keyslot_volume_key(dev->cd, dev->path, pass, vk);

	if (slot >= 0 && slot == token_keyslot) {
		sk_err("%s: that is the securekey token's own keyslot; give the passphrase of a "
		       "passphrase keyslot",
		       dev->path);
		sk_secret_free(*vk);
		*vk = NULL;
		return -EPERM;
	}
	return slot < 0 ? slot : 0;
}

int cr_passphrase_volume_key(struct sk_device *dev, int token_keyslot, struct sk_secret **vk)
{
	unsigned tries = cr.key_file ? 1 : cr.tries;
	int r = -EPERM;

	for (unsigned i = 0; i < tries && r == -EPERM; i++) {
		struct sk_secret *pass = NULL;

		r = cr.key_file ? read_key_file(&pass) : prompt(dev->path, &pass);
		if (!r)
			r = try_passphrase(dev, token_keyslot, pass, vk);
		sk_secret_free(pass);
	}
	return r;
}

int cr_unwrap_token(struct sk_device *dev, struct sk_hsm *hsm, struct sk_secret **vk)
{
	struct sk_key_state st;
	const struct sk_token_key *key;
	int r = sk_key_state_get(hsm, &dev->token, &st);

	if (r < 0)
		return r;
	/* The plugin's order; with no key in a register the HSM names the MKVP needed. */
	key = sk_key_state_pick(&dev->token, &st, NULL);
	if (!key)
		key = &dev->token.current;
	return sk_hsm_unwrap(hsm, key->blob, key->blob_len, vk, NULL);
}

int cr_gate(struct sk_device *dev, struct sk_hsm *hsm)
{
	struct sk_secret *from_token = NULL, *from_passphrase = NULL;
	int r = cr_unwrap_token(dev, hsm, &from_token);

	if (!r)
		r = cr_passphrase_volume_key(dev, dev->token.keyslot, &from_passphrase);
	if (!r && !sk_secret_equal(from_token, from_passphrase)) {
		sk_err("%s: the secure key does not hold the volume key that the passphrase opens; "
		       "nothing was changed",
		       dev->path);
		r = -EPERM;
	}
	sk_secret_free(from_token);
	sk_secret_free(from_passphrase);
	return r;
}

const char *cr_register_label(bool found, enum sk_mk_register reg)
{
	return found ? sk_register_name(reg) : "none";
}
