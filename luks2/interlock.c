#include "config.h"

#include "interlock.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "device.h"
#include "conf.h"
#include "hsm.h"
#include "identity.h"
#include "inventory.h"
#include "keystate.h"
#include "log.h"

/* What stands in the way of 'hsm set', and the re-encipher step that clears it. */
struct obstacle {
	const char *why;
	const char *step; /* NULL: no re-encipher clears it */
	const char *then;
};

/* The obstacle a key in state @st is (@r < 0: its state cannot be read); false: none. */
static bool classify(int r, const struct sk_key_state *st, struct obstacle *o)
{
	*o = (struct obstacle){ NULL, NULL, "" };
	if (r < 0)
		o->why = "its key state cannot be read";
	else if (st->next == SK_NEXT_STAGED)
		*o = (struct obstacle){ "not staged", "--staged", "" };
	else if (st->next == SK_NEXT_COMPLETE)
		*o = (struct obstacle){ "the previous re-encipher is not completed", "--complete",
					", then --staged" };
	else if (st->next == SK_NEXT_IN_PLACE)
		*o = (struct obstacle){ "still under the OLD master key", "--in-place",
					", then --staged" };
	return o->why != NULL;
}

/* Whether the volume at @path stands in the way. */
static bool volume_in_the_way(const char *hsm_dir, const struct sk_apqn_list *apqns,
			      const char *path, struct sk_device **dev, struct obstacle *o)
{
	struct sk_hsm *hsm = NULL;
	struct sk_key_state st;
	int r;

	if (sk_device_open(path, false, false, dev) < 0) {
		*o = (struct obstacle){
			"cannot be read: restore it, or delete its entry in the known volumes", NULL, ""
		};
		return true;
	}
	if ((*dev)->token_id < 0 || !sk_apqn_list_overlap(&(*dev)->token.apqns, apqns))
		return false;
	r = sk_hsm_open(hsm_dir, &(*dev)->token.apqns, &hsm);
	if (!r)
		r = sk_key_state_get(hsm, &(*dev)->token, &st);
	sk_hsm_close(hsm);
	return classify(r, &st, o);
}

/*
 * Whether the KMS identity key stands in the way: it cannot be fetched from
 * the KMS again, so a set that leaves it behind loses it (and the KMS) one
 * master-key change later.
 */
static bool identity_in_the_way(const char *hsm_dir, const struct sk_apqn_list *apqns,
				struct sk_config *cfg, struct obstacle *o)
{
	struct sk_token token = { 0 };
	struct sk_hsm *hsm = NULL;
	struct sk_key_state st;
	int r;

	if (sk_config_load(cfg) < 0 || !sk_config_has_kms(cfg) ||
	    !sk_apqn_list_overlap(&cfg->apqns, apqns))
		return false;
	r = sk_identity_read(cfg->identity_key, &cfg->apqns, &token);
	if (!r)
		r = sk_hsm_open(hsm_dir, &cfg->apqns, &hsm);
	if (!r)
		r = sk_key_state_get(hsm, &token, &st);
	sk_hsm_close(hsm);
	sk_token_free(&token);
	return classify(r, &st, o);
}

static void report(const char *subject, const char *command, const struct obstacle *o, bool force)
{
	enum sk_log_level level = force ? SK_LOG_WARN : SK_LOG_ERROR;

	if (o->step)
		sk_log(level, "%s: %s: run '%s %s'%s", subject, o->why, command, o->step, o->then);
	else
		sk_log(level, "%s: %s", subject, o->why);
}

/* The known volumes in the way, each reported; -errno when they cannot be listed. */
static int volumes_in_the_way(const char *hsm_dir, const struct sk_apqn_list *apqns, bool force,
			      size_t *blocked)
{
	char **paths = NULL;
	size_t count = 0;
	int r = sk_inventory_paths_for(apqns, &paths, &count);

	for (size_t i = 0; !r && i < count; i++) {
		struct sk_device *dev = NULL;
		char subject[PATH_MAX + 64], command[PATH_MAX + 64];
		struct obstacle o;

		if (volume_in_the_way(hsm_dir, apqns, paths[i], &dev, &o)) {
			(*blocked)++;
			snprintf(subject, sizeof(subject), "%s (UUID %s)", paths[i],
				 dev ? dev->uuid : "?");
			snprintf(command, sizeof(command), "securekey-cryptsetup reencipher %s",
				 paths[i]);
			report(subject, command, &o, force);
		}
		sk_device_close(dev);
	}
	sk_inventory_free(paths, count);
	return r;
}

/* "the KMS identity key and 2 known volumes bound to these APQNs are", for the summary. */
static void what_is_behind(bool identity, size_t volumes, char *out, size_t size)
{
	char counted[64] = "";

	if (volumes)
		snprintf(counted, sizeof(counted), "%zu known volume%s bound to these APQNs",
			 volumes, volumes == 1 ? "" : "s");
	snprintf(out, size, "%s%s%s %s", identity ? "the KMS identity key" : "",
		 identity && volumes ? " and " : "", counted,
		 identity + volumes == 1 ? "is" : "are");
}

int sk_set_interlock(const char *hsm_dir, const struct sk_apqn_list *apqns, bool force)
{
	struct sk_config cfg;
	struct obstacle o;
	size_t blocked = 0;
	bool identity = identity_in_the_way(hsm_dir, apqns, &cfg, &o);
	char subject[PATH_MAX + 32], behind[128];
	int r;

	if (identity) {
		snprintf(subject, sizeof(subject), "KMS identity key %s", cfg.identity_key);
		report(subject, "securekey kms reencipher", &o, force);
	}
	r = volumes_in_the_way(hsm_dir, apqns, force, &blocked);
	if (r < 0 || (!blocked && !identity))
		return r;
	what_is_behind(identity, blocked, behind, sizeof(behind));
	if (force) {
		sk_warn("--force: setting the NEW master key although %s not staged; after the "
			"next master-key change %s under no register",
			behind, identity + blocked == 1 ? "its key is" : "their keys are");
		return 0;
	}
	sk_err("hsm set refused: %s not staged to the NEW master key (see above); stage %s "
	       "first, or use --force",
	       behind, identity + blocked == 1 ? "it" : "them");
	return -EPERM;
}
