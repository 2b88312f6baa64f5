/* securekey-cryptsetup: per-device commands, in the style of zkey-cryptsetup. */
#ifndef SECUREKEY_CLI_CR_H
#define SECUREKEY_CLI_CR_H

#include "cli.h"
#include "device.h"
#include "keystate.h"

enum {
	/* zkey-cryptsetup's short options: the letter is the value (cli_getopt) */
	OPT_KEYFILE_OFFSET = 'o',
	OPT_KEYFILE_SIZE = 'l',
	OPT_TRIES = 'T',
	OPT_BATCH = 'q',
	OPT_SECURE_KEY_FILE = 'm', /* zkey-cryptsetup setkey's --master-key-file */
	OPT_STAGED = 0x200,
	OPT_IN_PLACE,
	OPT_COMPLETE,
	OPT_TEST_PASSPHRASE,
	OPT_LIST,
	OPT_BACKUP,
	OPT_KMS_DESTROY,
	OPT_PURGE_BACKUPS,
	OPT_NAME,
	OPT_SYSTEMD,
	OPT_AUTH,
};

/*
 * Options of the commands gated by a passphrase (enroll, reencipher, setkey,
 * remove). --batch-mode is zkey-cryptsetup's; no command here asks for a
 * confirmation, so scripts written for zkey-cryptsetup keep working.
 */
#define CR_PASSPHRASE_OPTIONS                                               \
	{ "key-file", required_argument, NULL, 'd' },                       \
	{ "keyfile-offset", required_argument, NULL, OPT_KEYFILE_OFFSET },  \
	{ "keyfile-size", required_argument, NULL, OPT_KEYFILE_SIZE },      \
	{ "tries", required_argument, NULL, OPT_TRIES },                    \
	{ "batch-mode", no_argument, NULL, OPT_BATCH }

#define CR_PASSPHRASE_HELP                                                             \
	"  -d, --key-file F  read the passphrase from F ('-': stdin) instead of asking\n" \
	"  -o, --keyfile-offset N\n"                                                      \
	"                    skip N bytes of the key file\n"                              \
	"  -l, --keyfile-size N\n"                                                        \
	"                    read at most N bytes of the key file\n"                      \
	"  -T, --tries N     passphrase attempts at the prompt (default 3)\n"            \
	"  -q, --batch-mode  accepted for zkey-cryptsetup scripts (nothing asks)\n"

/* --auth=token of enroll and remove (each says where its volume key comes from). */
#define CR_AUTH_OPTION { "auth", required_argument, NULL, OPT_AUTH }

struct cr_options {
	const char *key_file;
	unsigned long long keyfile_offset;
	size_t keyfile_size;
	unsigned tries;
	bool batch;
	bool json;
};
extern struct cr_options cr;

/* Handle a common option; false when @c is not one. */
bool cr_common_option(int c, const char *arg, int *code);

/*
 * Parse "COMMAND DEVICE [ARG...] [options]": @nargs positional arguments
 * after the command are required (-1: the caller checks); @handle gets the command's own options.
 * Returns 0, or an exit code (help printed or usage error).
 */
int cr_parse(int argc, char **argv, const struct option *options, const char *usage,
	     int nargs, void (*handle)(int c, const char *arg, void *ctx), void *ctx,
	     char ***args);

/*
 * --auth=@auth (NULL: not given) as a usage error: not "token", or given
 * with --key-file. 0, or the usage exit code after saying why. The gate
 * itself (cli_allow_token_auth) comes before the device is opened.
 */
int cr_auth_usage(const char *auth);

int cr_open_hsm(const struct sk_token *token, struct sk_hsm **hsm);

/*
 * The operator's gate: the passphrase of a passphrase keyslot (not the
 * token's own) must yield the volume key; returned in @vk.
 */
int cr_passphrase_volume_key(struct sk_device *dev, int token_keyslot, struct sk_secret **vk);

/* Gate a change (an sk_gate_fn): passphrase VK == unwrapped VK (constant time). */
int cr_gate(struct sk_device *dev, struct sk_hsm *hsm, void *unused);

const char *cr_register_label(bool found, enum sk_mk_register reg);

int cr_enroll(int argc, char **argv);
int cr_reencipher(int argc, char **argv);
int cr_validate(int argc, char **argv);
int cr_setkey(int argc, char **argv);
int cr_export(int argc, char **argv);
int cr_restore(int argc, char **argv);
int cr_remove(int argc, char **argv);
int cr_crypttab(int argc, char **argv);
int cr_open(int argc, char **argv);
int cr_refresh(int argc, char **argv);

/*
 * Refresh one device from its KMS (what 'refresh DEVICE' does), sharing one
 * KMS session across calls until cr_refresh_end(). Returns 1 when the token
 * was rewritten, 0 when the secure key was already under the CURRENT master
 * key, or -errno.
 */
int cr_refresh_device(const char *path);
void cr_refresh_end(void);

#endif
