/*
 * The rotation rule of 'hsm set' (seeds 000 and 002): NEW may become
 * CURRENT only when every known volume bound to those APQNs is staged to
 * it. A volume whose key is still only under CURRENT (or staged to the
 * previous NEW key, or under OLD) would fall one register behind, or out of
 * the registers. Volumes already under no register are left to 'refresh'.
 */
#ifndef SECUREKEY_INTERLOCK_H
#define SECUREKEY_INTERLOCK_H

#include <stdbool.h>

#include "apqn.h"

/*
 * Check the known volumes bound to any of @apqns (soft HSM in @hsm_dir).
 * Each volume in the way is named with its next step. Returns -EPERM when
 * one is, unless @force, which only warns.
 */
int sk_set_interlock(const char *hsm_dir, const struct sk_apqn_list *apqns, bool force);

#endif
