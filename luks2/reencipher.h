/* The re-encipher state machine: changes only the token's secure keys. */
#ifndef SECUREKEY_LUKS2_REENCIPHER_H
#define SECUREKEY_LUKS2_REENCIPHER_H

#include "device.h"
#include "keystate.h"

enum sk_reencipher_mode {
	SK_REENCIPHER_AUTO,
	SK_REENCIPHER_STAGED,
	SK_REENCIPHER_IN_PLACE,
	SK_REENCIPHER_COMPLETE,
};

/* The step an explicit @mode asks for; SK_NEXT_NONE for AUTO. */
enum sk_next_step sk_reencipher_mode_step(enum sk_reencipher_mode mode);

/*
 * Pick the action for @mode given @state: the next step when AUTO, else the
 * requested one if the state allows it. Logs why not and returns -EPERM
 * (-ENOKEY when no register holds the key); 0 with *action = SK_NEXT_NONE
 * when there is nothing to do.
 */
int sk_reencipher_choose(const char *device, const struct sk_key_state *state,
			 enum sk_reencipher_mode mode, enum sk_next_step *action);

/*
 * While a NEW master key is committed on the token's APQNs, also wrap @vk
 * under it as the staged key (enroll and refresh, which have the volume
 * key, start a token already staged). *staged says whether it did.
 */
int sk_reencipher_stage_vk(struct sk_hsm *hsm, struct sk_token *token,
			   const struct sk_secret *vk, bool *staged);

/*
 * Store @vk, fetched from the KMS, as the secure key of @dev (opened for
 * writing): checked against the LUKS2 header first (the header names the
 * KMS object, and whoever holds the disk can change it), then wrapped under
 * CURRENT (and staged to a committed NEW) and the token written.
 * -EKEYREJECTED when it is not this device's volume key: nothing changed.
 */
int sk_reencipher_refresh(struct sk_device *dev, struct sk_hsm *hsm, const struct sk_secret *vk);

/* Apply @action to @token in memory (the caller writes it). */
int sk_reencipher_apply(struct sk_hsm *hsm, struct sk_token *token, enum sk_next_step action);

/* Proves a change is wanted (see gate.h); 0 to go on, else why not. */
typedef int (*sk_gate_fn)(struct sk_device *dev, struct sk_hsm *hsm, void *ctx);

/*
 * Take @action on the token of @dev, opened for writing: @gate first, then
 * the re-wrap in memory, then one token write (seqid check, backup). The
 * per-device step of securekey-cryptsetup, securekey reencipher and rotate.
 */
int sk_reencipher_device(struct sk_device *dev, struct sk_hsm *hsm, enum sk_next_step action,
			 sk_gate_fn gate, void *gate_ctx);

#endif
