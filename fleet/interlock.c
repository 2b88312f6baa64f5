#include "config.h"

#include "interlock.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Whether the known volume @vol, found at vol->path, stands in the way. */
static bool volume_in_the_way(const char *hsm_dir, const struct sk_apqn_list *apqns,
			      const struct sk_known_volume *vol, struct obstacle *o)
{
	struct sk_device *dev = NULL;
	struct sk_hsm *hsm = NULL;
	struct sk_key_state st;
	int r;

	*o = (struct obstacle){ NULL, NULL, "" };
	if (sk_device_open(vol->path, false, false, &dev) < 0) {
		o->why = "cannot be read: restore it, or delete its entry in the known volumes";
		return true;
	}
	/* Found by its UUID a moment ago: another volume there now is not it. */
	if (strcmp(dev->uuid, vol->uuid))
		o->why = "another LUKS volume took its place while hsm set looked; run it again";
	else if (dev->token_id >= 0 && sk_apqn_list_overlap(&dev->token.apqns, apqns)) {
		r = sk_hsm_open(hsm_dir, &dev->token.apqns, &hsm);
		if (!r)
			r = sk_key_state_get(hsm, &dev->token, &st);
		sk_hsm_close(hsm);
		(void)classify(r, &st, o);
	}
	sk_device_close(dev);
	return o->why != NULL;
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

/* Known volumes in the way: found but not staged (or unreadable), and not found. */
struct behind {
	size_t blocked, missing;
};

/* The known volumes in the way, each reported; -errno when they cannot be listed. */
static int volumes_in_the_way(const char *hsm_dir, const struct sk_apqn_list *apqns, bool force,
			      struct behind *behind)
{
	enum sk_log_level level = force ? SK_LOG_WARN : SK_LOG_ERROR;
	struct sk_known_volume *vols = NULL;
	size_t count = 0;
	int r = sk_inventory_list(apqns, &vols, &count);

	for (size_t i = 0; !r && i < count; i++) {
		char subject[PATH_MAX + 64], command[PATH_MAX + 64];
		struct obstacle o;

		if (!vols[i].path) {
			behind->missing++;
			sk_log(level, "%s (UUID %s): not found: %s", vols[i].recorded, vols[i].uuid,
			       vols[i].missing);
		} else if (volume_in_the_way(hsm_dir, apqns, &vols[i], &o)) {
			behind->blocked++;
			snprintf(subject, sizeof(subject), "%s (UUID %s)", vols[i].path, vols[i].uuid);
			snprintf(command, sizeof(command), "securekey-cryptsetup reencipher %s",
				 vols[i].path);
			report(subject, command, &o, force);
		}
	}
	sk_inventory_list_free(vols, count);
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

/* The volumes that cannot be found: warned about with --force, else why set is refused. */
static void report_missing(size_t missing, bool force)
{
	const char *s = missing == 1 ? "" : "s";

	if (force)
		sk_warn("--force: setting the NEW master key although %zu known volume%s bound to "
			"these APQNs cannot be found; whether %s staged was not checked",
			missing, s, missing == 1 ? "it is" : "they are");
	else
		sk_err("hsm set refused: %zu known volume%s bound to these APQNs cannot be found "
		       "(see above); record where %s now with 'securekey-cryptsetup enroll', "
		       "delete the entry of one that is gone, or use --force",
		       missing, s, missing == 1 ? "it is" : "they are");
}

int sk_set_interlock(const char *hsm_dir, const struct sk_apqn_list *apqns, bool force)
{
	struct sk_config cfg;
	struct obstacle o;
	struct behind vols = { 0 };
	bool identity = identity_in_the_way(hsm_dir, apqns, &cfg, &o);
	char subject[PATH_MAX + 32], behind[128];
	size_t blocked;
	int r;

	if (identity) {
		snprintf(subject, sizeof(subject), "KMS identity key %s", cfg.identity_key);
		report(subject, "securekey kms reencipher", &o, force);
	}
	r = volumes_in_the_way(hsm_dir, apqns, force, &vols);
	blocked = identity + vols.blocked;
	if (r < 0 || (!blocked && !vols.missing))
		return r;
	what_is_behind(identity, vols.blocked, behind, sizeof(behind));
	if (blocked && force)
		sk_warn("--force: setting the NEW master key although %s not staged; after the "
			"next master-key change %s under no register",
			behind, blocked == 1 ? "its key is" : "their keys are");
	else if (blocked)
		sk_err("hsm set refused: %s not staged to the NEW master key (see above); stage %s "
		       "first, or use --force",
		       behind, blocked == 1 ? "it" : "them");
	if (vols.missing)
		report_missing(vols.missing, force);
	return force ? 0 : -EPERM;
}
