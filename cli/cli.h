/* Shared pieces of the securekey command-line tools. */
#ifndef SECUREKEY_CLI_H
#define SECUREKEY_CLI_H

#include <getopt.h>
#include <stdbool.h>

#include "hsm.h"
#include "secmem.h"

/* Exit statuses: 0 done, 1 failed or refused (nothing changed), 2 usage. */
#define EXIT_REFUSED 1
#define EXIT_USAGE 2

enum {
	OPT_HSM_DIR = 0x100,
	OPT_DEBUG,
	OPT_JSON,
	OPT_APQNS,
	OPT_REPAIR,
	OPT_PART_FILE,
	OPT_RANDOM,
	OPT_OUT,
	OPT_IN,
	OPT_REGISTER,
	OPT_FROM,
	OPT_TO,
	OPT_KEY_TYPE,
	OPT_KEY_FILE,
	OPT_CONFIG,
	OPT_SERVER,
	OPT_CA,
	OPT_CERT,
	OPT_KEY,
	OPT_TIMEOUT,
	OPT_PROTOCOL,
	OPT_KMS,
	OPT_FORCE,
	OPT_GENERATE_KEY,
	OPT_CSR,
	OPT_SUBJECT,
};

#define CLI_COMMON_OPTIONS                                         \
	{ "hsm-dir", required_argument, NULL, OPT_HSM_DIR },       \
	{ "config", required_argument, NULL, OPT_CONFIG },         \
	{ "verbose", no_argument, NULL, 'V' },                     \
	{ "debug", no_argument, NULL, 'D' },                       \
	{ "help", no_argument, NULL, 'h' }

#define CLI_COMMON_HELP                                                            \
	"  --hsm-dir DIR     soft HSM state directory (default: $SECUREKEY_HSM_DIR,\n" \
	"                    else the configuration's, else /var/lib/securekey/hsm)\n" \
	"  --config FILE     configuration file (default: $SECUREKEY_CONF, else\n"   \
	"                    /etc/securekey/securekey.conf)\n"                       \
	"  -V, --verbose     say more\n"                                              \
	"  -D, --debug       print debug messages (never key material)\n"            \
	"  -h, --help        show this help\n"

struct cli_command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
	bool hidden;
};

struct cli_state {
	const char *program;
	const char *hsm_dir;
};
extern struct cli_state cli;

/*
 * The main() of a tool named cli.program: harden the process, take the
 * global options (--help prints @usage, --version), run @prepare (may be
 * NULL), then the command from @commands.
 */
int cli_main(int argc, char **argv, const struct cli_command *commands, void (*usage)(void),
	     int (*prepare)(void));

/* Run the command named by argv[0] from @table; @what names the level. */
int cli_dispatch(const struct cli_command *table, const char *what, int argc, char **argv);
void cli_list_commands(const struct cli_command *table);
/* "PROGRAM GROUP COMMAND ...": help for the group, or its command from @table. */
int cli_run_group(const char *group, const struct cli_command *table, int argc, char **argv);

/*
 * getopt_long over a command's argv (argv[0] is the command). Handles the
 * common options and --help itself; returns the next option for the command,
 * -1 at the end, or -2 after printing a usage error or the help. An option
 * whose value is a letter also has that letter as its short option (-V for
 * --verbose, as zkey and zkey-cryptsetup have them).
 */
int cli_getopt(int argc, char **argv, const struct option *options, const char *usage,
	       int *exit_code);

int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int cli_exit_code(int r);
bool cli_no_arguments_left(int argc, char **argv);

/* Open the HSM at the chosen directory for @apqns_csv (NULL: every APQN it knows). */
int cli_open_hsm(const char *apqns_csv, struct sk_hsm **hsm);
/* The same for a parsed list (empty: every APQN). */
int cli_open_hsm_for(const struct sk_apqn_list *apqns, struct sk_hsm **hsm);
/*
 * Run @fn(@ctx, @out) in a child process and wait for it; @out (@size
 * bytes, may be 0) is what the child filled in, copied back. For the HSM
 * work of a command that forks batch workers afterwards: a PKCS#11 module
 * must not be initialised in a process whose children use it (PKCS#11
 * v2.40 6.7.7), and tpm2-pkcs11 leaves state behind even when finalised
 * (libtss2-tcti-tabrmd's GDBus worker thread, which a forked child lacks:
 * its D-Bus calls then time out). Returns what @fn returned, or -EIO when
 * the child died.
 */
int cli_isolated(int (*fn)(void *ctx, void *out), void *ctx, void *out, size_t size);
/* The APQN list of @hsm as "01.0001,02.0001". */
const char *cli_apqns_text(const struct sk_hsm *hsm);
const char *cli_apqns_text_of(const struct sk_apqn_list *apqns);
/* "MKVP 0123…" of a register as an operation left it, or "-" when it has none. */
const char *cli_register_mkvp(const struct sk_apqn_status *apqn, enum sk_mk_register reg);
/* "MKVP 0123…" named in a secure key blob's header. */
const char *cli_blob_mkvp(const unsigned char *blob, size_t blob_len);

/*
 * The shape of commit, set and clear-new: parse --apqns, open the set,
 * run @precheck (may be NULL; only then is --force accepted) and @change,
 * then @report what it did.
 */
int cli_run_set_change(int argc, char **argv, const char *usage,
		       int (*change)(struct sk_hsm *hsm, struct sk_apqn_status *after),
		       void (*report)(struct sk_hsm *hsm, const struct sk_apqn_status *after),
		       int (*precheck)(struct sk_hsm *hsm, bool force));

int cmd_hsm(int argc, char **argv);
int cmd_hsm_init(int argc, char **argv);
int cmd_hsm_status(int argc, char **argv);
int cmd_hsm_generate_part(int argc, char **argv);
int cmd_hsm_load_part(int argc, char **argv);
int cmd_hsm_generate_new(int argc, char **argv);
int cmd_hsm_commit(int argc, char **argv);
int cmd_hsm_set(int argc, char **argv);
int cmd_hsm_clear_new(int argc, char **argv);
int cmd_debug(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_reencipher(int argc, char **argv);
int cmd_rotate(int argc, char **argv);
int cmd_kms(int argc, char **argv);
int cmd_kms_configure(int argc, char **argv);
int cmd_kms_status(int argc, char **argv);
int cmd_kms_reencipher(int argc, char **argv);
int cmd_kms_refresh(int argc, char **argv);
int cmd_kms_debug(int argc, char **argv);

#define CLI_KEYFILE_MAX (8 * 1024 * 1024)

/* Where a passphrase comes from: a key file ('-': stdin), else the terminal. */
struct cli_key_file {
	const char *path;
	unsigned long long offset;
	size_t size; /* 0: to the end */
};

/* Read a passphrase for @what (a device, or "the volumes") into locked memory. */
int cli_read_passphrase(const struct cli_key_file *source, const char *what,
			struct sk_secret **pass);
/* The same from a key file that must be 0600 and owned by root or the caller. */
int cli_read_private_key_file(const char *path, struct sk_secret **pass);

/*
 * --auth=token, of the batch commands and of securekey-cryptsetup enroll
 * and remove: a change authorized without a passphrase. @arg must be
 * "token": 0, or the usage exit code after saying so.
 */
int cli_auth_parse(const char *arg);
/* --auth=token given with --key-file: the usage exit code after saying so. */
int cli_auth_with_key_file(void);
/*
 * The one gate of --auth=token: root only, and only where 'allow_token_auth
 * = yes' in [batch] says so. 0, or -EPERM (-EINVAL: no usable configuration)
 * after saying why.
 */
int cli_allow_token_auth(void);

struct sk_config;
/* The configuration, loaded once; NULL after reporting why it is unusable. */
const struct sk_config *cli_config(void);
/* The same, refused (with the message) when it configures no KMS. */
const struct sk_config *cli_kms_config(void);

#endif
