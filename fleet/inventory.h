/*
 * Known volumes: one small JSON file per enrolled LUKS UUID under
 * <state>/volumes/ ({"uuid", "path", "apqns"}), written by enroll and
 * removed by remove. It is how batch commands, the master-key rotation and
 * the 'hsm set' interlock find image files and devices enrolled on this
 * host (a libblkid scan finds block devices enrolled elsewhere). The UUID
 * names a volume; the recorded path is only where to look first.
 */
#ifndef SECUREKEY_INVENTORY_H
#define SECUREKEY_INVENTORY_H

#include <stdbool.h>
#include <stddef.h>

#include "apqn.h"

int sk_inventory_add(const char *uuid, const char *path, const struct sk_apqn_list *apqns);
int sk_inventory_remove(const char *uuid);
/*
 * Check the directory of the entries where it exists (it is created when
 * the first entry is added): a writer calls it before it changes a header
 * whose entry comes last.
 */
int sk_inventory_check(void);
bool sk_inventory_has(const char *uuid);

/*
 * A known volume and where it is now: the recorded path when the LUKS
 * header there has the recorded UUID, else the block device libblkid finds
 * with that UUID (a moved or renumbered device). Image files are found only
 * at their recorded path: libblkid knows block devices alone.
 */
struct sk_known_volume {
	char uuid[40];
	char *recorded;		   /* the path enroll recorded */
	struct sk_apqn_list apqns; /* recorded; empty when unreadable */
	char *path;		   /* where it is now; NULL when not found */
	char *missing;		   /* when not found: what is at the recorded path, and the fixes */
};

/*
 * The known volumes, sorted by UUID, each looked for; with @apqns only
 * those recorded with one of them (a volume bound elsewhere is not looked
 * for at all). Free with sk_inventory_list_free.
 */
int sk_inventory_list(const struct sk_apqn_list *apqns, struct sk_known_volume **vols,
		      size_t *count);
void sk_inventory_list_free(struct sk_known_volume *vols, size_t count);
/* Whether @vol was recorded with one of @apqns; true when its APQNs are unreadable. */
bool sk_inventory_bound_to(const struct sk_known_volume *vol, const struct sk_apqn_list *apqns);
/* The path recorded for @uuid when it is not @path (symlinks resolved); NULL otherwise. */
char *sk_inventory_recorded_elsewhere(const char *uuid, const char *path);

/* Block devices libblkid reports as crypto_LUKS; free with sk_inventory_free. */
int sk_inventory_scan(char ***paths, size_t *count);
void sk_inventory_free(char **paths, size_t count);

#endif
