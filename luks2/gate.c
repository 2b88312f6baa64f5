#include "config.h"

#include "gate.h"

#include <errno.h>

#include "keyslot.h"
#include "keystate.h"
#include "log.h"

int sk_gate_unwrap(struct sk_device *dev, struct sk_hsm *hsm, struct sk_secret **vk)
{
	struct sk_key_state st;
	const struct sk_token_key *key;
	int r = sk_key_state_get(hsm, &dev->token, &st);

	if (r < 0)
		return r;
	/* The plugin's order; with no key in a register the HSM names the MKVP needed. */
	key = sk_key_state_pick(&dev->token, &st, NULL);
	if (!key)
		key = &dev->token.current;
	return sk_hsm_unwrap(hsm, key->blob, key->blob_len, vk, NULL);
}

int sk_gate_passphrase_vk(struct sk_device *dev, int token_keyslot,
			  const struct sk_secret *passphrase, struct sk_secret **vk)
{
	int slot = sk_keyslot_volume_key(dev->cd, dev->path, passphrase, vk);

	if (slot >= 0 && slot == token_keyslot) {
		sk_err("%s: that is the securekey token's own keyslot; give the passphrase of a "
		       "passphrase keyslot",
		       dev->path);
		sk_secret_free(*vk);
		*vk = NULL;
		return -EPERM;
	}
	return slot < 0 ? slot : 0;
}

int sk_gate_same_vk(struct sk_device *dev, struct sk_hsm *hsm, const struct sk_secret *vk)
{
	struct sk_secret *from_token = NULL;
	int r = sk_gate_unwrap(dev, hsm, &from_token);

	if (!r && !sk_secret_equal(from_token, vk)) {
		sk_err("%s: the secure key does not hold the volume key that the passphrase opens; "
		       "nothing was changed",
		       dev->path);
		r = -EPERM;
	}
	sk_secret_free(from_token);
	return r;
}

int sk_gate_token_vk(struct sk_device *dev, struct sk_hsm *hsm, struct sk_secret **vk)
{
	struct sk_secret *key = NULL;
	int r = sk_gate_unwrap(dev, hsm, &key);

	if (!r && crypt_volume_key_verify(dev->cd, (const char *)key->data, key->len) < 0) {
		sk_err("%s: the secure key does not unwrap to the volume key of the device; nothing "
		       "was changed",
		       dev->path);
		r = -EPERM;
	}
	if (r)
		sk_secret_free(key);
	else
		*vk = key;
	return r;
}

int sk_gate_token(struct sk_device *dev, struct sk_hsm *hsm)
{
	struct sk_secret *vk = NULL;
	int r = sk_gate_token_vk(dev, hsm, &vk);

	sk_secret_free(vk);
	return r;
}

int sk_gate_check(const struct sk_gate *gate, struct sk_device *dev, struct sk_hsm *hsm)
{
	struct sk_secret *vk = NULL;
	int r;

	if (!gate->passphrase)
		return sk_gate_token(dev, hsm);
	r = sk_gate_passphrase_vk(dev, dev->token.keyslot, gate->passphrase, &vk);
	if (!r)
		r = sk_gate_same_vk(dev, hsm, vk);
	sk_secret_free(vk);
	return r;
}
