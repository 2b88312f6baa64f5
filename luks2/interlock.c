#include "config.h"

#include "interlock.h"

#include <errno.h>
#include <stdlib.h>

#include "device.h"
#include "hsm.h"
#include "inventory.h"
#include "keystate.h"
#include "log.h"

/* What stands in the way of 'hsm set', and the re-encipher step that clears it. */
struct obstacle {
	const char *why;
	const char *step; /* NULL: no re-encipher clears it */
	const char *then;
};

/* Whether the volume at @path stands in the way; false when it does not. */
static bool in_the_way(const char *hsm_dir, const struct sk_apqn_list *apqns, const char *path,
		       struct sk_device **dev, struct obstacle *o)
{
	struct sk_hsm *hsm = NULL;
	struct sk_key_state st;
	int r;

	*o = (struct obstacle){ NULL, NULL, "" };
	if (sk_device_open(path, false, false, dev) < 0)
		o->why = "cannot be read: restore it, or delete its entry in the known volumes";
	else if ((*dev)->token_id < 0 || !sk_apqn_list_overlap(&(*dev)->token.apqns, apqns))
		return false;
	if (o->why)
		return true;
	r = sk_hsm_open(hsm_dir, &(*dev)->token.apqns, &hsm);
	if (!r)
		r = sk_key_state_get(hsm, &(*dev)->token, &st);
	sk_hsm_close(hsm);
	if (r < 0)
		o->why = "its key state cannot be read";
	else if (st.next == SK_NEXT_STAGED)
		*o = (struct obstacle){ "not staged", "--staged", "" };
	else if (st.next == SK_NEXT_COMPLETE)
		*o = (struct obstacle){ "the previous re-encipher is not completed", "--complete",
					", then --staged" };
	else if (st.next == SK_NEXT_IN_PLACE)
		*o = (struct obstacle){ "still under the OLD master key", "--in-place",
					", then --staged" };
	return o->why != NULL;
}

static void report(const char *path, const struct sk_device *dev, const struct obstacle *o,
		   bool force)
{
	enum sk_log_level level = force ? SK_LOG_WARN : SK_LOG_ERROR;
	const char *uuid = dev ? dev->uuid : "?";

	if (o->step)
		sk_log(level, "%s (UUID %s): %s: run 'securekey-cryptsetup reencipher %s %s'%s",
		       path, uuid, o->why, path, o->step, o->then);
	else
		sk_log(level, "%s (UUID %s): %s", path, uuid, o->why);
}

int sk_set_interlock(const char *hsm_dir, const struct sk_apqn_list *apqns, bool force)
{
	char **paths = NULL;
	size_t count = 0, blocked = 0;
	int r = sk_inventory_paths(&paths, &count);

	for (size_t i = 0; !r && i < count; i++) {
		struct sk_device *dev = NULL;
		struct obstacle o;

		if (in_the_way(hsm_dir, apqns, paths[i], &dev, &o)) {
			blocked++;
			report(paths[i], dev, &o, force);
		}
		sk_device_close(dev);
	}
	sk_inventory_free(paths, count);
	if (r < 0 || !blocked)
		return r;
	if (force) {
		sk_warn("--force: setting the NEW master key although %zu known volume%s %s not "
			"staged; after the next master-key change their keys are under no register",
			blocked, blocked == 1 ? "" : "s", blocked == 1 ? "is" : "are");
		return 0;
	}
	sk_err("hsm set refused: %zu known volume%s bound to these APQNs %s not staged to the NEW "
	       "master key (see above); stage them first, or use --force",
	       blocked, blocked == 1 ? "" : "s", blocked == 1 ? "is" : "are");
	return -EPERM;
}
