/*
 * The batch re-encipher shared by 'securekey reencipher' and 'securekey
 * rotate': which devices, how a change is authorized, the per-device step
 * (sk_reencipher_device, as securekey-cryptsetup takes it), and what the
 * operator sees: a progress line on a terminal, JSON lines with --json, a
 * summary table at the end.
 */
#ifndef SECUREKEY_CLI_BATCH_RUN_H
#define SECUREKEY_CLI_BATCH_RUN_H

#include <stdbool.h>
#include <time.h>

#include "batch.h"
#include "batch_keymap.h"
#include "cli.h"
#include "gate.h"
#include "reencipher.h"

/* Options of the batch commands, beyond the common ones. */
enum {
	OPT_BATCH_ALL = 0x300,
	OPT_BATCH_AUTH,
	OPT_BATCH_JOBS,
	OPT_BATCH_STAGED,
	OPT_BATCH_IN_PLACE,
	OPT_BATCH_COMPLETE,
	OPT_BATCH_RESUME,
	OPT_BATCH_DRY_RUN,
	OPT_BATCH_KEY_FILE_MAP,
	OPT_BATCH_SECURE_KEY_FILE,
};

/* -a as zkey's --apqns. */
#define CLI_BATCH_OPTIONS                                                   \
	{ "apqns", required_argument, NULL, 'a' },                          \
	{ "auth", required_argument, NULL, OPT_BATCH_AUTH },                \
	{ "key-file", required_argument, NULL, OPT_KEY_FILE },              \
	{ "key-file-map", required_argument, NULL, OPT_BATCH_KEY_FILE_MAP }, \
	{ "jobs", required_argument, NULL, OPT_BATCH_JOBS },                \
	{ "json", no_argument, NULL, OPT_JSON }

#define CLI_BATCH_HELP                                                                   \
	"  --auth=token      no passphrase: the unwrapped key is checked against the\n"    \
	"                    LUKS2 digest (root only, when the configuration allows it)\n" \
	"  --key-file F      the passphrase of the volumes' passphrase keyslots, read\n"   \
	"                    from F ('-': stdin); without it, asked once on the terminal\n" \
	"  --key-file-map F  each device's own key file: lines 'DEVICE-OR-UUID KEYFILE'\n" \
	"                    in F (F and the key files 0600); devices not in F are\n"   \
	"                    skipped and make the exit status 1\n"                      \
	CLI_BATCH_RUN_HELP

/* --jobs and --json alone: commands that need no passphrase (kms refresh). */
#define CLI_BATCH_RUN_HELP                                                               \
	"  --jobs N          devices worked on in parallel (default: online CPUs)\n"      \
	"  --json            one JSON object per device, then a summary object\n"

struct cli_batch {
	/* What to do. */
	enum sk_reencipher_mode mode;
	bool settle; /* take steps until the device waits for 'hsm set' or is done */
	bool dry_run;
	const char *secure_key_file; /* reencipher --secure-key-file: this file, no devices */
	struct sk_apqn_list filter;
	bool filtered;
	/* How. */
	struct cli_key_file key_file;
	struct cli_keymap keymap; /* --key-file-map: a passphrase per device */
	bool token_auth;
	struct sk_secret *passphrase;
	unsigned jobs;
	bool json;
	const char *phase; /* shown before the progress, NULL for none */
	const char *pass;  /* its name in the JSON summary ("stage"), NULL for none */
	/* Called in the parent for each result (rotate's journal). */
	void (*on_result)(const struct sk_batch_item *item, void *ctx);
	void *on_result_ctx;
	/*
	 * In a worker, what to do to a device opened for writing, selected,
	 * with the HSM of its APQNs: the re-encipher steps unless set.
	 */
	void (*steps)(struct cli_batch *b, struct sk_batch_item *item, struct sk_device *dev,
		      struct sk_hsm *hsm);
	void *steps_ctx;
	/*
	 * The devices: items[first_scanned..] came from a libblkid scan. A
	 * known volume's item has its UUID set before the run, which the
	 * device opened must have; one not found also has its detail set
	 * (why not) and fails with it, unopened. Select again before each run.
	 */
	struct sk_batch_item *items;
	size_t count, first_scanned;
	/* Results. */
	size_t ok, skipped, failed, ignored;
	size_t unfinished; /* of the skipped: a step left to take (not in the key file map) */
	struct timespec started, drawn;
	bool progress;
};

/* Take a batch option; false when @c is not one (then *code is untouched). */
bool cli_batch_option(struct cli_batch *b, int c, const char *arg, int *code);

/*
 * A batch command's options: the batch ones, --all (not with paths) and
 * what @extra takes (NULL: nothing more). 0, -1 after --help, or the usage
 * exit code.
 */
int cli_batch_parse(struct cli_batch *b, int argc, char **argv, const struct option *options,
		    const char *usage, const char *cmd, bool (*extra)(struct cli_batch *b, int c),
		    bool *all);

/* Options that exclude each other: 0, or the usage exit code after saying why. */
int cli_batch_check_options(const struct cli_batch *b);

/*
 * Check that --auth=token is allowed, or read the passphrase (once, before
 * any worker), or load and check the key file map (in a dry run too).
 */
int cli_batch_authorize(struct cli_batch *b);

/*
 * The devices: @paths given, else the known volumes (found by their UUID;
 * those found nowhere fail), and with @all every LUKS block device
 * libblkid finds (duplicates dropped).
 */
int cli_batch_select(struct cli_batch *b, bool all, char **paths, int npaths);
/* The known volumes (rotate). */
int cli_batch_select_known(struct cli_batch *b);

/* Run the re-encipher over the selected devices; prints as results arrive. */
int cli_batch_run(struct cli_batch *b);

/* The summary table (text) or summary object (--json). */
void cli_batch_summary(const struct cli_batch *b);

/*
 * -EIO when a device failed or was skipped for want of a passphrase in the
 * key file map (said on stderr: its step is not done), else 0.
 */
int cli_batch_result(const struct cli_batch *b);

/* Forget the selected devices (a new pass selects again); the passphrase stays. */
void cli_batch_clear_devices(struct cli_batch *b);
void cli_batch_free(struct cli_batch *b);

#endif
