/*
 * One soft-HSM state file per APQN: <dir>/AA.DDDD.mk, 0600, binary, with a
 * SHA-256 checksum. Loaded into locked memory; the master keys never leave it.
 */
#ifndef SECUREKEY_HSM_SOFT_STATE_H
#define SECUREKEY_HSM_SOFT_STATE_H

#include <stdbool.h>

#include "hsm.h"

struct sk_soft_register {
	enum sk_mk_state state;
	unsigned parts;
	unsigned char mkvp[SK_MKVP_LEN];
};

struct sk_soft_apqn {
	struct sk_apqn apqn;
	struct sk_soft_register reg[SK_REG_COUNT];
	/* SK_REG_COUNT master keys of SK_MK_LEN bytes; NEW accumulates parts. */
	struct sk_secret *keys;
};

unsigned char *sk_soft_key(struct sk_soft_apqn *apqn, enum sk_mk_register reg);

/* A fresh state (all registers empty) for @apqn. */
int sk_soft_state_new(const struct sk_apqn *apqn, struct sk_soft_apqn *state);
/* Load and verify; -ENOENT (logged) when the APQN has no state file. */
int sk_soft_state_load(const char *dir, const struct sk_apqn *apqn, struct sk_soft_apqn *state);
/*
 * Write all @n states as one commit (see COMMIT_MARKER in the .c file): after
 * a crash or a failure, either every APQN has its new state or none has.
 * Under the exclusive lock, after sk_soft_state_settle.
 */
int sk_soft_state_save(const char *dir, struct sk_soft_apqn *states, size_t n);
/*
 * Finish a commit that was cut short, or drop the files of one that never
 * reached its commit point. Under the exclusive lock, before loading.
 */
int sk_soft_state_settle(const char *dir);
void sk_soft_state_free(struct sk_soft_apqn *state);
bool sk_soft_state_exists(const char *dir, const struct sk_apqn *apqn);

/* APQNs with a state file in @dir, sorted. */
int sk_soft_state_list(const char *dir, struct sk_apqn_list *list);

/*
 * The directory must exist (or be created 0700 when @create), be owned by
 * the caller and not be writable by group or others.
 */
int sk_soft_dir_check(const char *dir, bool create);

#endif
