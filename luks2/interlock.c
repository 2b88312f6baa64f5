#include "config.h"

#include "interlock.h"

#include <errno.h>
#include <stdlib.h>

#include "device.h"
#include "hsm.h"
#include "inventory.h"
#include "keystate.h"
#include "log.h"

/* Why the volume at @path stands in the way, or NULL when it does not. */
static const char *in_the_way(const char *hsm_dir, const struct sk_apqn_list *apqns,
			      const char *path, struct sk_device **dev)
{
	struct sk_hsm *hsm = NULL;
	struct sk_key_state st;
	int r;

	if (sk_device_open(path, false, false, dev) < 0)
		return "cannot be read: restore it, or delete its entry in the known volumes";
	if ((*dev)->token_id < 0 || !sk_apqn_list_overlap(&(*dev)->token.apqns, apqns))
		return NULL;
	r = sk_hsm_open(hsm_dir, &(*dev)->token.apqns, &hsm);
	if (!r)
		r = sk_key_state_get(hsm, &(*dev)->token, &st);
	sk_hsm_close(hsm);
	if (r < 0)
		return "its key state cannot be read";
	if (st.next == SK_NEXT_STAGED)
		return "not staged: run 'securekey-cryptsetup reencipher DEVICE --staged'";
	if (st.next == SK_NEXT_COMPLETE)
		return "the previous re-encipher is not completed: run 'securekey-cryptsetup "
		       "reencipher DEVICE --complete', then --staged";
	if (st.next == SK_NEXT_IN_PLACE)
		return "still under the OLD master key: run 'securekey-cryptsetup reencipher DEVICE "
		       "--in-place', then --staged";
	return NULL;
}

int sk_set_interlock(const char *hsm_dir, const struct sk_apqn_list *apqns, bool force)
{
	char **paths = NULL;
	size_t count = 0, blocked = 0;
	int r = sk_inventory_paths(&paths, &count);

	for (size_t i = 0; !r && i < count; i++) {
		struct sk_device *dev = NULL;
		const char *why = in_the_way(hsm_dir, apqns, paths[i], &dev);

		if (why) {
			blocked++;
			sk_log(force ? SK_LOG_WARN : SK_LOG_ERROR, "%s (UUID %s): %s", paths[i],
			       dev ? dev->uuid : "?", why);
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
