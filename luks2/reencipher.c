#include "config.h"

#include "reencipher.h"

#include <errno.h>
#include <stdlib.h>

#include "log.h"

enum sk_next_step sk_reencipher_mode_step(enum sk_reencipher_mode mode)
{
	static const enum sk_next_step steps[] = {
		[SK_REENCIPHER_AUTO] = SK_NEXT_NONE,
		[SK_REENCIPHER_STAGED] = SK_NEXT_STAGED,
		[SK_REENCIPHER_IN_PLACE] = SK_NEXT_IN_PLACE,
		[SK_REENCIPHER_COMPLETE] = SK_NEXT_COMPLETE,
	};

	return steps[mode];
}

static int explain_no_action(const char *device, const struct sk_key_state *state)
{
	switch (state->next) {
	case SK_NEXT_UNREACHABLE:
		if (state->kms)
			sk_err("the secure volume key of %s is enciphered with a master key that is "
			       "in no register of its APQNs; re-import it with 'securekey-cryptsetup "
			       "refresh %s' (KMS) or restore it with 'securekey-cryptsetup setkey %s'",
			       device, device, device);
		else /* no KMS copy: only the passphrase or an exported key can restore it */
			sk_err("the secure volume key of %s is enciphered with a master key that is "
			       "in no register of its APQNs and the volume is not bound to a KMS; "
			       "restore it with 'securekey-cryptsetup setkey %s' (add "
			       "--secure-key-file FILE for an exported key)",
			       device, device);
		return -ENOKEY;
	case SK_NEXT_WAIT_SET:
		sk_err("the secure volume key of %s is already staged to the NEW master key; set it "
		       "with 'securekey hsm set', then run 'securekey-cryptsetup reencipher %s "
		       "--complete'",
		       device, device);
		return -EPERM;
	default:
		return 0;
	}
}

/*
 * Staging waits for 'hsm commit': "nothing to re-encipher" would end the
 * operator's procedure one step early, and the key would miss the change.
 */
static int explain_uncommitted(const char *device, const struct sk_key_state *state)
{
	char apqns[SK_APQN_MAX * (SK_APQN_TEXT_LEN + 1) + 1], advice[512];

	sk_key_state_apqns_text(state, apqns, sizeof(apqns));
	sk_key_state_commit_advice(state, advice, sizeof(advice));
	sk_err("%s: a NEW master key is loaded on APQNs %s but not committed; %s first, then "
	       "re-encipher to stage the key",
	       device, apqns, advice);
	return -EPERM;
}

int sk_reencipher_choose(const char *device, const struct sk_key_state *state,
			 enum sk_reencipher_mode mode, enum sk_next_step *action)
{
	int r;

	*action = SK_NEXT_NONE;
	if (sk_key_state_waits_commit(state) &&
	    (mode == SK_REENCIPHER_AUTO || mode == SK_REENCIPHER_STAGED))
		return explain_uncommitted(device, state);
	if (state->next == SK_NEXT_UNREACHABLE || (mode == SK_REENCIPHER_AUTO &&
						    state->next == SK_NEXT_WAIT_SET))
		return explain_no_action(device, state);
	if (mode == SK_REENCIPHER_AUTO || sk_reencipher_mode_step(mode) == state->next) {
		*action = state->next == SK_NEXT_WAIT_SET ? SK_NEXT_NONE : state->next;
		return 0;
	}
	r = explain_no_action(device, state);
	if (r)
		return r;
	sk_err("cannot re-encipher %s %s: its next step is '%s'", device,
	       mode == SK_REENCIPHER_STAGED	? "--staged"
	       : mode == SK_REENCIPHER_IN_PLACE ? "--in-place"
						: "--complete",
	       sk_next_step_name(state->next));
	return -EPERM;
}

/* In place works from the current key, or from a staged key left under OLD. */
static const struct sk_token_key *in_place_source(struct sk_hsm *hsm, const struct sk_token *token)
{
	unsigned char old[SK_MKVP_LEN];

	if (token->has_staged && sk_hsm_mkvp(hsm, SK_REG_OLD, old) == 0 &&
	    sk_mkvp_equal(old, token->staged.mkvp) && !sk_mkvp_equal(old, token->current.mkvp))
		return &token->staged;
	return &token->current;
}

static int rewrap_current(struct sk_hsm *hsm, struct sk_token *token, enum sk_mk_register from,
			  enum sk_mk_register to, bool into_staged)
{
	const struct sk_token_key *source = into_staged ? &token->current
							: in_place_source(hsm, token);
	unsigned char *blob = NULL;
	size_t len;
	int r = sk_hsm_rewrap(hsm, source->blob, source->blob_len, from, to, &blob, &len);

	if (!r && into_staged)
		r = sk_token_set_staged(token, blob, len);
	else if (!r) {
		r = sk_token_set_current(token, blob, len);
		sk_token_drop_staged(token);
	}
	free(blob);
	return r;
}

/* The staged key must unwrap under CURRENT before it replaces the old one. */
static int complete(struct sk_hsm *hsm, struct sk_token *token)
{
	struct sk_secret *vk = NULL;
	enum sk_mk_register reg;
	int r = sk_hsm_unwrap(hsm, token->staged.blob, token->staged.blob_len, &vk, &reg);

	sk_secret_free(vk);
	if (!r && reg != SK_REG_CURRENT) {
		sk_err("the staged secure key is not enciphered with the CURRENT master key");
		r = -EPERM;
	}
	if (!r)
		r = sk_token_set_current(token, token->staged.blob, token->staged.blob_len);
	if (!r)
		sk_token_drop_staged(token);
	return r;
}

int sk_reencipher_stage_vk(struct sk_hsm *hsm, struct sk_token *token,
			   const struct sk_secret *vk, bool *staged)
{
	struct sk_hsm_status st;
	unsigned char *blob = NULL;
	size_t len;
	int r;

	*staged = false;
	if (sk_hsm_status(hsm, &st) < 0 || !sk_hsm_status_agree(&st, SK_REG_NEW))
		return 0;
	r = sk_hsm_wrap(hsm, SK_REG_NEW, &token->key, vk, &blob, &len);
	if (!r)
		r = sk_token_set_staged(token, blob, len);
	free(blob);
	*staged = r == 0;
	return r;
}

int sk_reencipher_apply(struct sk_hsm *hsm, struct sk_token *token, enum sk_next_step action)
{
	switch (action) {
	case SK_NEXT_STAGED:
		return rewrap_current(hsm, token, SK_REG_CURRENT, SK_REG_NEW, true);
	case SK_NEXT_IN_PLACE:
		return rewrap_current(hsm, token, SK_REG_OLD, SK_REG_CURRENT, false);
	case SK_NEXT_COMPLETE:
		return complete(hsm, token);
	default:
		return 0;
	}
}

int sk_reencipher_device(struct sk_device *dev, struct sk_hsm *hsm, enum sk_next_step action,
			 sk_gate_fn gate, void *gate_ctx)
{
	int r = gate(dev, hsm, gate_ctx);

	if (!r)
		r = sk_reencipher_apply(hsm, &dev->token, action);
	if (!r)
		r = sk_device_write_token(dev, &dev->token);
	return r < 0 ? r : 0;
}

/* The secure key under CURRENT, staged to a committed NEW, in memory. */
static int wrap_fetched(struct sk_hsm *hsm, struct sk_token *token, const struct sk_secret *vk)
{
	unsigned char *blob = NULL;
	size_t len;
	bool staged;
	int r = sk_hsm_wrap(hsm, SK_REG_CURRENT, &token->key, vk, &blob, &len);

	if (!r)
		r = sk_token_set_current(token, blob, len);
	free(blob);
	if (!r)
		sk_token_drop_staged(token);
	return r ? r : sk_reencipher_stage_vk(hsm, token, vk, &staged);
}

int sk_reencipher_refresh(struct sk_device *dev, struct sk_hsm *hsm, const struct sk_secret *vk)
{
	int r;

	if (vk->len != dev->token.key.bits / 8 ||
	    crypt_volume_key_verify(dev->cd, (const char *)vk->data, vk->len) < 0) {
		sk_err("%s: the key KMS object %s holds is not this device's volume key; "
		       "nothing was changed",
		       dev->path, dev->token.kms.key_id);
		return -EKEYREJECTED;
	}
	r = wrap_fetched(hsm, &dev->token, vk);
	return r ? r : sk_device_write_token(dev, &dev->token);
}
