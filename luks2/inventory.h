/*
 * Known volumes: one small JSON file per enrolled LUKS UUID under
 * <state>/volumes/ ({"uuid", "path", "apqns"}), written by enroll and
 * removed by remove. It is how batch commands and the master-key rotation
 * find image files and devices enrolled on this host (a libblkid scan finds
 * block devices enrolled elsewhere).
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

/* Paths of the known volumes, sorted by UUID; free with sk_inventory_free. */
int sk_inventory_paths(char ***paths, size_t *count);
/*
 * The same, only those enrolled with one of @apqns (an entry without
 * readable APQNs counts as such): a volume bound elsewhere is not opened
 * at all.
 */
int sk_inventory_paths_for(const struct sk_apqn_list *apqns, char ***paths, size_t *count);
/* Block devices libblkid reports as crypto_LUKS. */
int sk_inventory_scan(char ***paths, size_t *count);
void sk_inventory_free(char **paths, size_t count);

#endif
