/*
 * Where a token's secure keys stand against the HSM's registers, and the
 * next step of a master-key change (the table in doc/design.md).
 */
#ifndef SECUREKEY_LUKS2_KEYSTATE_H
#define SECUREKEY_LUKS2_KEYSTATE_H

#include <stdbool.h>

#include "hsm.h"
#include "token.h"

enum sk_next_step {
	SK_NEXT_NONE,        /* under CURRENT, nothing to do */
	SK_NEXT_STAGED,      /* under CURRENT, NEW committed: stage to NEW */
	SK_NEXT_WAIT_SET,    /* staged to NEW: the officer sets NEW next */
	SK_NEXT_COMPLETE,    /* staged key is under CURRENT now: complete */
	SK_NEXT_IN_PLACE,    /* under OLD (or only the staged key is): in place to CURRENT */
	SK_NEXT_UNREACHABLE, /* under no register: refresh from KMS or setkey */
};

struct sk_key_state {
	struct sk_hsm_status status;
	bool current_found; /* the "secure_key" MKVP is in an agreeing register */
	enum sk_mk_register current_reg;
	bool staged_found;
	enum sk_mk_register staged_reg;
	bool new_committed;
	bool kms; /* the token names a KMS copy of the volume key */
	/* NEW holds key parts on some APQN but is not committed: 'hsm commit' is missing. */
	bool new_uncommitted;
	/* ... and on some APQN not all of them yet: 'hsm load-part' comes first. */
	bool new_partial;
	enum sk_next_step next;
};

int sk_key_state_get(struct sk_hsm *hsm, const struct sk_token *token, struct sk_key_state *state);
const char *sk_next_step_name(enum sk_next_step next);
/*
 * The next step of a volume as the operator runs it: a key under no register
 * whose token names no KMS can only be restored with setkey (no refresh);
 * "hsm commit" while a NEW master key is loaded but not committed ("hsm
 * load-part" while key parts are still missing).
 */
const char *sk_key_state_next_name(const struct sk_key_state *state);
/*
 * While NEW is loaded but not committed, what the officer still has to run,
 * as advice ("run 'securekey hsm commit --apqns LIST'"), into @text.
 */
void sk_key_state_commit_advice(const struct sk_key_state *state, char *text, size_t size);
/*
 * A master-key change is under way but its NEW master key is not committed:
 * the key is under CURRENT and staging it waits for 'securekey hsm commit'.
 */
bool sk_key_state_waits_commit(const struct sk_key_state *state);

/* The APQNs of @state's HSM status as "01.0001,02.0001", for messages. */
void sk_key_state_apqns_text(const struct sk_key_state *state, char *text, size_t size);

/* The secure key is under the CURRENT master key: nothing to refresh. */
bool sk_key_state_under_current(const struct sk_key_state *state);

/* How the log names a key (@staged or not) under register @reg. */
const char *sk_key_path(bool staged, enum sk_mk_register reg);

/*
 * The open order of doc/design.md and securekey-token(7): the key under
 * CURRENT; else the staged key once NEW was set; else whichever key a
 * register still holds. NULL when none does; @path (optional) says which
 * key was picked, for the log.
 */
const struct sk_token_key *sk_key_state_pick(const struct sk_token *token,
					     const struct sk_key_state *state, const char **path);

#endif
