/* Batch re-encipher: options, device selection, the per-device work. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup.h"
#include "batch_report.h"
#include "conf.h"
#include "inventory.h"
#include "log.h"

#define MAX_STEPS 3

static int parse_jobs(const char *arg, unsigned *jobs)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(arg, &end, 10);
	if (errno || !*arg || *end || arg[0] == '-' || n < 1 || n > 256)
		return cli_usage_error("--jobs: '%s' is not a number from 1 to 256", arg);
	*jobs = (unsigned)n;
	return 0;
}

bool cli_batch_option(struct cli_batch *b, int c, const char *arg, int *code)
{
	switch (c) {
	case 'a':
	case OPT_APQNS:
		if (sk_apqn_list_parse(arg, &b->filter) < 0)
			*code = cli_usage_error("--apqns: '%s' is not a list of AA.DDDD", arg);
		b->filtered = true;
		return true;
	case OPT_BATCH_AUTH:
		*code = cli_auth_parse(arg);
		b->token_auth = true;
		return true;
	case OPT_KEY_FILE:
		b->key_file.path = arg;
		return true;
	case OPT_BATCH_KEY_FILE_MAP:
		b->keymap.path = arg;
		return true;
	case OPT_BATCH_JOBS:
		*code = parse_jobs(arg, &b->jobs);
		return true;
	case OPT_JSON:
		b->json = true;
		return true;
	default:
		return false;
	}
}

int cli_batch_parse(struct cli_batch *b, int argc, char **argv, const struct option *options,
		    const char *usage, const char *cmd, bool (*extra)(struct cli_batch *b, int c),
		    bool *all)
{
	int c, code = 0;

	while ((c = cli_getopt(argc, argv, options, usage, &code)) >= 0 && !code) {
		if (c == OPT_BATCH_ALL)
			*all = true;
		else if (!extra || !extra(b, c))
			cli_batch_option(b, c, optarg, &code);
	}
	if (c == -2 || code)
		return code ? code : -1;
	if (*all && optind < argc)
		return cli_usage_error("%s: give --all or paths, not both", cmd);
	return 0;
}

int cli_batch_check_options(const struct cli_batch *b)
{
	if (b->token_auth && b->key_file.path)
		return cli_auth_with_key_file();
	if (b->keymap.path && (b->token_auth || b->key_file.path))
		return cli_usage_error("give --key-file-map or %s, not both",
				       b->token_auth ? "--auth=token" : "--key-file");
	return 0;
}

int cli_batch_authorize(struct cli_batch *b)
{
	/* Each worker reads its device's key file; a dry run shows who has none. */
	if (b->keymap.path)
		return b->keymap.entries ? 0 : cli_keymap_load(&b->keymap);
	if (b->dry_run)
		return 0;
	if (b->token_auth)
		return cli_allow_token_auth();
	return cli_read_passphrase(&b->key_file, "the volumes", &b->passphrase);
}

static int add_path(struct cli_batch *b, const char *path)
{
	struct sk_batch_item *items = realloc(b->items, (b->count + 1) * sizeof(*items));

	if (!items)
		return -ENOMEM;
	b->items = items;
	b->items[b->count] = (struct sk_batch_item){ .path = strdup(path) };
	return b->items[b->count++].path ? 0 : -ENOMEM;
}

/* A known volume: where it was found, else failed with why not (see struct cli_batch). */
static int add_known_volume(struct cli_batch *b, const struct sk_known_volume *vol)
{
	struct sk_batch_item *item;
	int r;

	if (!vol->path && b->filtered && !sk_inventory_bound_to(vol, &b->filter))
		return 0;
	r = add_path(b, vol->path ? vol->path : vol->recorded);
	if (r < 0)
		return r;
	item = &b->items[b->count - 1];
	snprintf(item->uuid, sizeof(item->uuid), "%s", vol->uuid);
	if (!vol->path)
		snprintf(item->detail, sizeof(item->detail), "known volume not found: %s",
			 vol->missing);
	return 0;
}

static int add_known(struct cli_batch *b)
{
	struct sk_known_volume *vols = NULL;
	size_t count = 0;
	int r = sk_inventory_list(NULL, &vols, &count);

	for (size_t i = 0; !r && i < count; i++)
		r = add_known_volume(b, &vols[i]);
	sk_inventory_list_free(vols, count);
	return r;
}

static bool not_found(const struct sk_batch_item *item)
{
	return item->detail[0] != '\0';
}

struct resolved {
	char *real;
	size_t index;
};

static int by_real_then_index(const void *a, const void *b)
{
	const struct resolved *x = a, *y = b;
	int c = strcmp(x->real, y->real);

	return c ? c : (x->index > y->index) - (x->index < y->index);
}

/* Drop later entries that name a device already selected (sorted: thousands of paths). */
static int drop_duplicates(struct cli_batch *b)
{
	size_t n = b->count, kept = 0, scanned_kept = 0;
	struct resolved *res = calloc(n ? n : 1, sizeof(*res));
	bool *dup = calloc(n ? n : 1, sizeof(*dup));
	size_t m = 0; /* resolved: the items that name a device */
	int r = res && dup ? 0 : -ENOMEM;

	/* A known volume not found names no device: it is never a duplicate. */
	for (size_t i = 0; !r && i < n; i++) {
		if (not_found(&b->items[i]))
			continue;
		res[m].index = i;
		res[m].real = realpath(b->items[i].path, NULL);
		if (!res[m].real && !(res[m].real = strdup(b->items[i].path)))
			r = -ENOMEM;
		m++;
	}
	if (!r)
		qsort(res, m, sizeof(*res), by_real_then_index);
	for (size_t i = 1; !r && i < m; i++)
		dup[res[i].index] = !strcmp(res[i].real, res[i - 1].real);
	for (size_t i = 0; !r && i < n; i++) {
		if (dup[i]) {
			free((char *)b->items[i].path);
			continue;
		}
		scanned_kept += i >= b->first_scanned;
		b->items[kept++] = b->items[i];
	}
	if (!r) {
		b->count = kept;
		b->first_scanned = kept - scanned_kept;
	}
	for (size_t i = 0; res && i < m; i++)
		free(res[i].real);
	free(res);
	free(dup);
	return r;
}

static int add_paths(struct cli_batch *b, char **paths, size_t count)
{
	int r = 0;

	for (size_t i = 0; !r && i < count; i++)
		r = add_path(b, paths[i]);
	return r;
}

static int add_scanned(struct cli_batch *b)
{
	char **paths = NULL;
	size_t count = 0;
	int r = sk_inventory_scan(&paths, &count);

	if (!r)
		r = add_paths(b, paths, count);
	sk_inventory_free(paths, count);
	return r;
}

int cli_batch_select(struct cli_batch *b, bool all, char **paths, int npaths)
{
	int r = npaths ? add_paths(b, paths, (size_t)npaths) : add_known(b);

	b->first_scanned = b->count;
	if (!r && all)
		r = add_scanned(b);
	if (!r)
		r = drop_duplicates(b);
	return r;
}

int cli_batch_select_known(struct cli_batch *b)
{
	return cli_batch_select(b, false, NULL, 0);
}

static int gate(struct sk_device *dev, struct sk_hsm *hsm, void *ctx)
{
	const struct cli_batch *b = ctx;
	const struct sk_gate g = { .passphrase = b->passphrase };

	/* The token gate only when it was asked for and allowed, never by default. */
	if (!b->token_auth && !b->passphrase) {
		sk_err("internal error: no passphrase to check %s with", dev->path);
		return -EPERM;
	}
	return sk_gate_check(&g, dev, hsm);
}

/*
 * With a key file map, the passphrase of this device into b->passphrase
 * (the worker's copy of @b; work() wipes it): 1 when the map has none for
 * it (skipped, as not done), 0 when read or in a dry run, else the error.
 */
static int device_passphrase(struct cli_batch *b, struct sk_batch_item *item,
			     const struct sk_device *dev)
{
	const char *key_file = cli_keymap_lookup(&b->keymap, dev->path, dev->uuid);

	if (!key_file) {
		snprintf(item->detail, sizeof(item->detail),
			 "no passphrase: neither its path nor its LUKS UUID is in the key file "
			 "map %s; add a line '%s KEYFILE' and run again",
			 b->keymap.path, dev->uuid);
		item->outcome = SK_BATCH_SKIPPED;
		item->unfinished = true;
		return 1;
	}
	if (b->dry_run || b->passphrase)
		return 0;
	return cli_keymap_read(key_file, &b->passphrase);
}

/* Staging asked for (or the next step) while NEW is loaded but not committed. */
static bool waits_commit(const struct cli_batch *b, const struct sk_key_state *st)
{
	return sk_key_state_waits_commit(st) &&
	       (b->mode == SK_REENCIPHER_AUTO || b->mode == SK_REENCIPHER_STAGED);
}

/* The step to take, or SK_NEXT_NONE with why not in @why. */
static enum sk_next_step choose(const struct cli_batch *b, const struct sk_key_state *st,
				const char **why)
{
	static char other[64], commit[SK_BATCH_DETAIL_MAX];
	char advice[SK_BATCH_DETAIL_MAX - 64];

	*why = NULL;
	switch (st->next) {
	case SK_NEXT_NONE:
		if (waits_commit(b, st)) {
			sk_key_state_commit_advice(st, advice, sizeof(advice));
			snprintf(commit, sizeof(commit),
				 "a NEW master key is loaded but not committed: %s first", advice);
			*why = commit;
			return SK_NEXT_NONE;
		}
		*why = "under the CURRENT master key: nothing to re-encipher";
		return SK_NEXT_NONE;
	case SK_NEXT_WAIT_SET:
		*why = "staged to the NEW master key: waits for 'securekey hsm set'";
		return SK_NEXT_NONE;
	case SK_NEXT_UNREACHABLE:
		*why = st->kms ? "under no register of its APQNs: run 'securekey-cryptsetup refresh' "
				 "(KMS) or 'securekey-cryptsetup setkey'"
			       : "under no register of its APQNs, no KMS: run "
				 "'securekey-cryptsetup setkey'";
		return SK_NEXT_NONE;
	default:
		break;
	}
	if (b->mode != SK_REENCIPHER_AUTO && sk_reencipher_mode_step(b->mode) != st->next) {
		snprintf(other, sizeof(other), "not this step: its next step is '%s'",
			 sk_next_step_name(st->next));
		*why = other;
		return SK_NEXT_NONE;
	}
	return st->next;
}

static const char *step_done(enum sk_next_step step, bool dry_run)
{
	if (step == SK_NEXT_STAGED)
		return dry_run ? "would stage to the NEW master key" : "staged to the NEW master key";
	if (step == SK_NEXT_COMPLETE)
		return dry_run ? "would complete" : "completed: under the CURRENT master key";
	return dry_run ? "would re-encipher in place" : "re-enciphered in place to CURRENT";
}

static void append(char *detail, const char *text)
{
	size_t used = strlen(detail);

	snprintf(detail + used, SK_BATCH_DETAIL_MAX - used, "%s%s", used ? "; " : "", text);
}

/* Take the steps @b asks for on an opened device. */
static void take_steps(struct cli_batch *b, struct sk_batch_item *item, struct sk_device *dev,
		       struct sk_hsm *hsm)
{
	unsigned taken = 0;

	for (unsigned i = 0; i < MAX_STEPS; i++) {
		struct sk_key_state st;
		const char *why;
		enum sk_next_step step;

		if (sk_key_state_get(hsm, &dev->token, &st) < 0)
			return;
		step = choose(b, &st, &why);
		if (step == SK_NEXT_NONE) {
			item->outcome = taken				 ? SK_BATCH_OK
					: st.next == SK_NEXT_UNREACHABLE || waits_commit(b, &st)
						? SK_BATCH_FAILED
									 : SK_BATCH_SKIPPED;
			if (!taken)
				append(item->detail, why);
			return;
		}
		if (b->keymap.path && device_passphrase(b, item, dev))
			return;
		if (!b->dry_run && sk_reencipher_device(dev, hsm, step, gate, b) < 0)
			return;
		append(item->detail, step_done(step, b->dry_run));
		taken++;
		if (!b->settle || b->dry_run)
			break;
	}
	item->outcome = SK_BATCH_OK;
}

static void work(struct sk_batch_item *item, void *ctx)
{
	struct cli_batch *b = ctx;
	bool scanned = (size_t)(item - b->items) >= b->first_scanned;
	struct sk_device *dev = NULL;
	struct sk_hsm *hsm = NULL;

	if (not_found(item))
		return;
	if (sk_device_open(item->path, !b->dry_run, !scanned, &dev) < 0) {
		if (!item->uuid[0])
			(void)sk_device_peek_uuid(item->path, item->uuid);
		return;
	}
	if (!item->uuid[0])
		snprintf(item->uuid, sizeof(item->uuid), "%s", dev->uuid);
	/* A known volume was found there by its UUID a moment ago: another one is not it. */
	if (strcmp(item->uuid, dev->uuid))
		snprintf(item->detail, sizeof(item->detail),
			 "holds LUKS UUID %s now, not this known volume; run it again", dev->uuid);
	else if (dev->token_id < 0 || (b->filtered && !sk_apqn_list_overlap(&dev->token.apqns, &b->filter)))
		item->outcome = SK_BATCH_IGNORED;
	else if (cli_open_hsm_for(&dev->token.apqns, &hsm) == 0)
		(b->steps ? b->steps : take_steps)(b, item, dev, hsm);
	/* A worker takes the next device with the next key file. */
	if (b->keymap.path) {
		sk_secret_free(b->passphrase);
		b->passphrase = NULL;
	}
	sk_hsm_close(hsm);
	sk_device_close(dev);
}

/*
 * In the workers libcryptsetup's own messages would garble the progress
 * line; the errors securekey logs name the device and say what to do.
 */
static void crypt_log_quiet(int level, const char *msg, void *usrptr)
{
	(void)usrptr;
	if ((level == CRYPT_LOG_DEBUG || level == CRYPT_LOG_DEBUG_JSON) &&
	    sk_log_get_level() >= SK_LOG_DEBUG)
		fprintf(stderr, "# %s", msg);
}

/* Every device of the run backs its header up once: refuse before the first when short. */
static int check_backup_space(const struct cli_batch *b)
{
	char **paths = calloc(b->count ? b->count : 1, sizeof(*paths));
	size_t n = 0;
	int r;

	if (!paths)
		return -ENOMEM;
	for (size_t i = 0; i < b->count; i++)
		if (b->items[i].path)
			paths[n++] = (char *)b->items[i].path;
	r = sk_backup_check_space(paths, n);
	free(paths);
	return r;
}

int cli_batch_run(struct cli_batch *b)
{
	int r = b->dry_run ? 0 : check_backup_space(b);

	if (r < 0)
		return r;
	/*
	 * Each worker opens the HSM itself: one this process has open must not
	 * be inherited, nor what a PKCS#11 module leaves once closed (hsm.h).
	 */
	if (sk_hsm_open_count() || sk_hsm_module_loaded()) {
		sk_err("internal error: %s while the batch forks its workers",
		       sk_hsm_open_count() ? "an HSM is open"
					   : "a PKCS#11 module was loaded in this process");
		return -EBUSY;
	}
	crypt_set_log_callback(NULL, crypt_log_quiet, NULL);
	cli_batch_report_start(b);
	r = sk_batch_run(b->items, b->count, b->jobs, work, b, cli_batch_report_item, b);
	cli_batch_report_end(b);
	return r;
}

int cli_batch_result(const struct cli_batch *b)
{
	if (b->unfinished)
		sk_err("%zu device%s skipped: the key file map %s has no passphrase for %s, and %s "
		       "key%s still need%s the step",
		       b->unfinished, b->unfinished == 1 ? " was" : "s were", b->keymap.path,
		       b->unfinished == 1 ? "it" : "them", b->unfinished == 1 ? "its" : "their",
		       b->unfinished == 1 ? "" : "s", b->unfinished == 1 ? "s" : "");
	return b->failed || b->unfinished ? -EIO : 0;
}

void cli_batch_clear_devices(struct cli_batch *b)
{
	for (size_t i = 0; i < b->count; i++)
		free((char *)b->items[i].path);
	free(b->items);
	b->items = NULL;
	b->count = b->first_scanned = 0;
}

void cli_batch_free(struct cli_batch *b)
{
	cli_batch_clear_devices(b);
	cli_keymap_free(&b->keymap);
	sk_secret_free(b->passphrase);
	b->passphrase = NULL;
}
