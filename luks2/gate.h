/*
 * What proves that a change to a device's token is wanted and safe: the
 * token's secure key must unwrap to the device's volume key, shown either by
 * the passphrase of a passphrase keyslot (the operator's gate, as in
 * zkey-cryptsetup) or, for root in batch runs the configuration allows, by
 * libcryptsetup's own digest check of the unwrapped key.
 */
#ifndef SECUREKEY_LUKS2_GATE_H
#define SECUREKEY_LUKS2_GATE_H

#include "device.h"
#include "hsm.h"
#include "secmem.h"

/* Unwrap the token's key the way the plugin does (same open order). */
int sk_gate_unwrap(struct sk_device *dev, struct sk_hsm *hsm, struct sk_secret **vk);

/*
 * Read the volume key with @passphrase, which must open a keyslot other
 * than @token_keyslot (the token's own, or -1); -EPERM when it opens none.
 */
int sk_gate_passphrase_vk(struct sk_device *dev, int token_keyslot,
			  const struct sk_secret *passphrase, struct sk_secret **vk);

/* The passphrase gate: @vk, which a passphrase opened, equals the unwrapped key. */
int sk_gate_same_vk(struct sk_device *dev, struct sk_hsm *hsm, const struct sk_secret *vk);

/* The token gate: the unwrapped key passes crypt_volume_key_verify. */
int sk_gate_token(struct sk_device *dev, struct sk_hsm *hsm);
/* The same, keeping the key that passed in @vk (remove --auth=token needs it). */
int sk_gate_token_vk(struct sk_device *dev, struct sk_hsm *hsm, struct sk_secret **vk);

/* Either gate, for batch runs: one passphrase for every device, or none. */
struct sk_gate {
	const struct sk_secret *passphrase; /* NULL: the token gate */
};

int sk_gate_check(const struct sk_gate *gate, struct sk_device *dev, struct sk_hsm *hsm);

#endif
