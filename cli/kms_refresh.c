/*
 * securekey kms refresh: 'securekey-cryptsetup refresh' over many volumes.
 * A child of the parent reads each header (no lock) and fetches the keys
 * of the volumes that need one in batched Gets over one connection per
 * server; then the batch workers of 'securekey reencipher' check each key
 * against its header and store it, under the device lock. The HSM (the
 * registers, the identity key) is used only in that child and in the
 * workers: a PKCS#11 module loaded in the parent would be inherited by the
 * workers (tpm2-pkcs11: hsm.h, sk_hsm_module_loaded).
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch_run.h"
#include "conf.h"
#include "kms.h"
#include "log.h"
#include "secmem.h"

static const char usage[] =
	"Usage: securekey kms refresh [--all | PATH...] [--apqns AA.DDDD[,...]]\n"
	"                             [--jobs N] [--json]\n"
	"\n"
	"Fetch the volume keys of many KMS-bound LUKS2 volumes from the KMS and store\n"
	"each under the CURRENT master key, as 'securekey-cryptsetup refresh' does for\n"
	"one: the known volumes (see 'securekey list') by default, the given devices\n"
	"and image files, or with --all also every LUKS block device libblkid finds.\n"
	"Only volumes whose secure key is under no CURRENT master key are fetched, all\n"
	"over one TLS connection per server, in batched requests where the server\n"
	"takes them. Each key is checked against its LUKS2 header before it is\n"
	"stored; the volume key proves the right, no passphrase is asked. A device\n"
	"that fails is reported and the others go on. Ends with a summary table; the\n"
	"exit status is 1 when any device failed.\n"
	"\n"
	"Options:\n"
	"  --all             also every LUKS block device libblkid finds\n"
	"  --apqns LIST      only devices bound to one of these APQNs\n" CLI_BATCH_RUN_HELP
		CLI_COMMON_HELP;

/* The longest volume key taken from the KMS (as kms_child.c). */
#define VK_MAX 512

/* What the child of plan_and_fetch hands back for item i, in locked memory. */
struct outcome {
	bool planned; /* it needed its key: r, why and the key say how the fetch went */
	int r;
	char why[sizeof(((struct sk_kms_fetch *)0)->why)];
	uint32_t len;
	unsigned char vk[VK_MAX];
};

/* What was fetched for each item (by index), inherited by the workers. */
struct refresh {
	struct cli_batch batch;
	struct sk_kms_fetch **fetched; /* NULL: nothing fetched for it */
	struct sk_kms_fetch *f;
	struct sk_token_kms *where;
	size_t n;
};

static int parse(int argc, char **argv, struct cli_batch *b, bool *all)
{
	static const struct option options[] = {
		CLI_COMMON_OPTIONS,
		{ "all", no_argument, NULL, OPT_BATCH_ALL },
		{ "apqns", required_argument, NULL, OPT_APQNS },
		{ "jobs", required_argument, NULL, OPT_BATCH_JOBS },
		{ "json", no_argument, NULL, OPT_JSON },
		{ NULL, 0, NULL, 0 },
	};
	return cli_batch_parse(b, argc, argv, options, usage, "kms refresh", NULL, all);
}

/* As the workers select (batch_run.c), and bound to a KMS. */
static bool selected(const struct cli_batch *b, const struct sk_batch_item *item,
		     const struct sk_device *dev)
{
	return (!item->uuid[0] || !strcmp(item->uuid, dev->uuid)) && dev->token_id >= 0 &&
	       dev->token.has_kms &&
	       (!b->filtered || sk_apqn_list_overlap(&dev->token.apqns, &b->filter));
}

/* The secure key is under no CURRENT master key: its volume key is to be fetched. */
static bool needs_key(struct sk_device *dev, struct sk_hsm **hsm)
{
	struct sk_key_state st;

	if (*hsm && !sk_apqn_list_equal(sk_hsm_apqns(*hsm), &dev->token.apqns)) {
		sk_hsm_close(*hsm);
		*hsm = NULL;
	}
	if (!*hsm && cli_open_hsm_for(&dev->token.apqns, hsm) < 0)
		return false;
	return sk_key_state_get(*hsm, &dev->token, &st) == 0 && !sk_key_state_under_current(&st);
}

static void discard(enum sk_log_level level, const char *msg, void *ctx)
{
	(void)level;
	(void)msg;
	(void)ctx;
}

/*
 * Which volumes need their key, read without the lock: the workers look
 * again under it, and fetch on their own what this missed.
 */
static int plan(struct refresh *rf)
{
	struct cli_batch *b = &rf->batch;
	struct sk_hsm *hsm = NULL;

	rf->where = calloc(b->count ? b->count : 1, sizeof(*rf->where));
	rf->f = calloc(b->count ? b->count : 1, sizeof(*rf->f));
	rf->fetched = calloc(b->count ? b->count : 1, sizeof(*rf->fetched));
	if (!rf->where || !rf->f || !rf->fetched)
		return -ENOMEM;
	sk_log_set_sink(discard, NULL); /* the workers say what is wrong, once */
	for (size_t i = 0; i < b->count; i++) {
		struct sk_device *dev = NULL;

		if (sk_device_open(b->items[i].path, false, false, &dev) == 0 &&
		    selected(b, &b->items[i], dev) && needs_key(dev, &hsm)) {
			rf->where[rf->n] = dev->token.kms;
			rf->f[rf->n] = (struct sk_kms_fetch){ .device = b->items[i].path,
							      .where = &rf->where[rf->n] };
			rf->fetched[i] = &rf->f[rf->n++];
		}
		sk_device_close(dev);
	}
	sk_log_set_sink(NULL, NULL);
	sk_hsm_close(hsm);
	return 0;
}

/* All the keys in one KMS session; its errors (servers, identity key) are printed once. */
static void fetch_all(struct refresh *rf)
{
	const struct sk_config *cfg = cli_config();
	struct sk_kms *kms = NULL;
	int r = cfg ? sk_kms_open(cfg, cli.hsm_dir, &kms) : -EINVAL;

	if (r == 0)
		sk_kms_fetch_many(kms, rf->f, rf->n);
	for (size_t i = 0; r < 0 && i < rf->n; i++) {
		rf->f[i].r = r;
		snprintf(rf->f[i].why, sizeof(rf->f[i].why),
			 "no KMS session (see the error above): nothing was fetched");
	}
	sk_kms_close(kms);
}

/* In a child process (cli_isolated): plan and fetch_all, their outcome into @out. */
static int plan_and_fetch(void *ctx, void *out)
{
	struct refresh *rf = ctx;
	struct outcome *o = out;
	int r = plan(rf);

	if (!r && rf->n)
		fetch_all(rf);
	for (size_t i = 0; !r && i < rf->batch.count; i++) {
		const struct sk_kms_fetch *f = rf->fetched[i];

		if (!f)
			continue;
		o[i].planned = true;
		o[i].r = f->r;
		memcpy(o[i].why, f->why, sizeof(o[i].why));
		if (f->r == 0 && f->vk->len > VK_MAX) {
			o[i].r = -EBADMSG;
			snprintf(o[i].why, sizeof(o[i].why), "the KMS sent a key of %zu bytes",
				 f->vk->len);
		} else if (f->r == 0) {
			o[i].len = (uint32_t)f->vk->len;
			memcpy(o[i].vk, f->vk->data, f->vk->len);
		}
	}
	return r;
}

/*
 * Here the volumes that need their key, with what the child fetched for
 * them; the keys go from its locked result area into secrets of their own.
 */
static int plan_isolated(struct refresh *rf)
{
	struct cli_batch *b = &rf->batch;
	size_t count = b->count ? b->count : 1;
	struct sk_secret *area = sk_secret_new(count * sizeof(struct outcome));
	struct outcome *o = area ? (struct outcome *)area->data : NULL;
	int r = !area ? -ENOMEM : b->count ? cli_isolated(plan_and_fetch, rf, o, area->len) : 0;

	rf->f = calloc(count, sizeof(*rf->f));
	rf->fetched = calloc(count, sizeof(*rf->fetched));
	if (!r && (!rf->f || !rf->fetched))
		r = -ENOMEM;
	for (size_t i = 0; !r && i < b->count; i++) {
		struct sk_kms_fetch *f = &rf->f[rf->n];

		if (!o[i].planned)
			continue;
		*f = (struct sk_kms_fetch){ .device = b->items[i].path, .r = o[i].r };
		memcpy(f->why, o[i].why, sizeof(f->why));
		f->why[sizeof(f->why) - 1] = '\0';
		if (f->r == 0 && !(f->vk = sk_secret_dup(o[i].vk, o[i].len)))
			r = -ENOMEM;
		rf->fetched[i] = f;
		rf->n++;
	}
	sk_secret_free(area);
	return r;
}

/* A volume the plan missed (changed since): fetched on its own. */
static int fetch_one(struct sk_device *dev, struct sk_secret **vk)
{
	const struct sk_config *cfg = cli_config();
	struct sk_kms *kms = NULL;
	int r = cfg ? sk_kms_open(cfg, cli.hsm_dir, &kms) : -EINVAL;

	if (r == 0)
		r = sk_kms_fetch(kms, dev->path, &dev->token.kms, vk);
	sk_kms_close(kms);
	return r;
}

static void store(struct refresh *rf, struct sk_batch_item *item, struct sk_device *dev,
		  struct sk_hsm *hsm)
{
	struct sk_kms_fetch *f = rf->fetched[item - rf->batch.items];
	struct sk_secret *own = NULL;
	int r = f ? f->r : fetch_one(dev, &own);

	if (f && r < 0)
		sk_err("%s: %s", dev->path, f->why);
	if (r == 0)
		r = sk_reencipher_refresh(dev, hsm, f ? f->vk : own);
	sk_secret_free(own);
	if (r < 0)
		return;
	item->outcome = SK_BATCH_OK;
	snprintf(item->detail, sizeof(item->detail),
		 "fetched from the KMS: under the CURRENT master key%s",
		 dev->token.has_staged ? ", staged to NEW" : "");
}

/* A worker's step on one device (batch_run.c opened it and its HSM). */
static void step(struct cli_batch *b, struct sk_batch_item *item, struct sk_device *dev,
		 struct sk_hsm *hsm)
{
	struct sk_key_state st;

	if (!dev->token.has_kms) {
		item->outcome = SK_BATCH_SKIPPED;
		snprintf(item->detail, sizeof(item->detail),
			 "not bound to a KMS: 'securekey-cryptsetup setkey' restores its key");
		return;
	}
	if (sk_key_state_get(hsm, &dev->token, &st) < 0)
		return;
	if (sk_key_state_under_current(&st)) {
		item->outcome = SK_BATCH_SKIPPED;
		snprintf(item->detail, sizeof(item->detail),
			 "under the CURRENT master key: nothing to refresh");
		return;
	}
	store(b->steps_ctx, item, dev, hsm);
}

static void free_keys(struct refresh *rf)
{
	for (size_t i = 0; i < rf->n; i++)
		sk_secret_free(rf->f[i].vk);
	free(rf->f);
	free(rf->where);
	free(rf->fetched);
}

int cmd_kms_refresh(int argc, char **argv)
{
	struct refresh rf = { .batch = { .jobs = (unsigned)sysconf(_SC_NPROCESSORS_ONLN) } };
	struct cli_batch *b = &rf.batch;
	bool all = false;
	int r = parse(argc, argv, b, &all);

	if (r)
		return r < 0 ? 0 : r;
	r = cli_batch_select(b, all, argv + optind, argc - optind);
	/* The HSM only in child processes, as in the workers (cli_isolated). */
	if (!r)
		r = plan_isolated(&rf);
	b->steps = step;
	b->steps_ctx = &rf;
	if (!r && !b->count)
		sk_info("no devices to refresh");
	if (!r && b->count)
		r = cli_batch_run(b);
	if (!r && b->count)
		cli_batch_summary(b);
	if (!r && b->failed)
		r = -EIO;
	free_keys(&rf);
	cli_batch_free(b);
	return cli_exit_code(r);
}
