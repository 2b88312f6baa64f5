#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cr.h"
#include "inventory.h"
#include "keyslot.h"
#include "kms.h"
#include "log.h"
#include "reencipher.h"

static const char usage[] =
	"Usage: securekey-cryptsetup enroll DEVICE --apqns AA.DDDD[,...] [OPTIONS]\n"
	"\n"
	"Wrap the volume key of the LUKS2 DEVICE with the CURRENT master key of the\n"
	"APQNs, store it in a securekey token and add the token's own keyslot, so\n"
	"that the device unlocks by token. Asks for the passphrase of an existing\n"
	"keyslot, or with --auth=token takes the volume key from a LUKS2 token that\n"
	"already unlocks the device without a PIN. While a NEW master key is\n"
	"committed, the token is created already staged to it. Keyslots and data\n"
	"are not changed.\n"
	"\n"
	"With --kms, the volume key is also registered on the primary KMS server\n"
	"(an active AES key named after the LUKS UUID, the device in its Application\n"
	"Specific Information) and the token records where, so that 'refresh' and\n"
	"the token plugin can fetch it when no master key register holds it.\n"
	"\n"
	"Options:\n"
	"  --apqns LIST      the APQNs the secure key is bound to\n"
	"  --kms             register the volume key with the configured KMS\n"
	"  --auth=token      no passphrase: the volume key from a LUKS2 token that\n"
	"                    unlocks DEVICE without a PIN (systemd-tpm2, clevis,\n"
	"                    luks2-keyring); root only, when the configuration allows it\n"
	CR_PASSPHRASE_HELP CLI_COMMON_HELP;

struct enroll_args {
	const char *apqns;
	bool kms;
	const char *auth;
};

static void handle(int c, const char *arg, void *ctx)
{
	struct enroll_args *a = ctx;

	if (c == OPT_APQNS)
		a->apqns = arg;
	else if (c == OPT_KMS)
		a->kms = true;
	else if (c == OPT_AUTH)
		a->auth = arg;
}

/*
 * --auth=token: the volume key from a LUKS2 token that unlocks the device
 * without a PIN, as systemd-cryptenroll unlocks by token; whoever may use
 * that token may already read the key. Into locked memory.
 */
static int token_volume_key(struct sk_device *dev, struct sk_secret **vk)
{
	struct crypt_keyslot_context *kc = NULL;
	int size = crypt_get_volume_key_size(dev->cd);
	size_t len = size > 0 ? (size_t)size : 0;
	struct sk_secret *key = len ? sk_secret_new(len) : NULL;
	int r = key ? crypt_keyslot_context_init_by_token(dev->cd, CRYPT_ANY_TOKEN, NULL, NULL, 0,
							  NULL, &kc)
		    : -ENOMEM;

	if (!r)
		r = crypt_volume_key_get_by_keyslot_context(dev->cd, CRYPT_ANY_SLOT,
							    (char *)key->data, &len, kc);
	crypt_keyslot_context_free(kc);
	if (r >= 0 && key && len == key->len) {
		*vk = key;
		return 0;
	}
	sk_secret_free(key);
	if (r == -ENOMEM)
		return r;
	sk_err("%s: no LUKS2 token unlocks it without a PIN; give the passphrase of a keyslot "
	       "with --key-file; nothing was changed",
	       dev->path);
	return r < 0 ? r : -EIO;
}

/* Before any header write, so a KMS failure changes nothing on disk. */
static int register_kms(struct sk_device *dev, const struct sk_secret *vk, struct sk_kms **kms,
			struct sk_token *token)
{
	const struct sk_config *cfg = cli_config();
	struct sk_token_kms where;
	int r = cfg ? sk_kms_open(cfg, cli.hsm_dir, kms) : -EINVAL;

	if (!r)
		r = sk_kms_register(*kms, vk, crypt_get_uuid(dev->cd), dev->path, &where);
	if (!r)
		r = sk_token_set_kms(token, &where);
	if (!r)
		sk_info("volume key registered on KMS %s as key %s", where.servers[0], where.key_id);
	return r;
}

/* aes + xts-* → aes-xts-BITS, other aes modes → aes-BITS. */
static int key_spec_of(struct sk_device *dev, size_t vk_len, struct sk_key_spec *spec)
{
	const char *cipher = crypt_get_cipher(dev->cd), *mode = crypt_get_cipher_mode(dev->cd);
	char name[32];

	snprintf(name, sizeof(name), "aes-%s%zu", mode && !strncmp(mode, "xts", 3) ? "xts-" : "",
		 vk_len * 8);
	if (!cipher || strcmp(cipher, "aes") || sk_key_spec_parse(name, spec) < 0) {
		sk_err("%s uses cipher %s-%s with a %zu-bit key; securekey supports AES keys only",
		       dev->path, cipher ? cipher : "?", mode ? mode : "?", vk_len * 8);
		return -EINVAL;
	}
	return 0;
}

static int build_token(struct sk_device *dev, struct sk_hsm *hsm, const struct sk_secret *vk,
		       struct sk_token *token)
{
	struct sk_key_spec spec;
	unsigned char *blob = NULL;
	size_t len;
	bool staged;
	int r = key_spec_of(dev, vk->len, &spec);

	if (!r)
		r = sk_hsm_wrap(hsm, SK_REG_CURRENT, &spec, vk, &blob, &len);
	if (!r)
		r = sk_token_create(0, sk_hsm_apqns(hsm), blob, len, token);
	free(blob);
	if (!r)
		r = sk_reencipher_stage_vk(hsm, token, vk, &staged);
	if (!r && staged)
		sk_info("A NEW master key is committed: the token is created staged to it.");
	return r;
}

/* The keyslot number goes into the token's "keyslots" once it is known. */
static int set_keyslot(struct sk_token *token, int keyslot)
{
	json_object *slots = json_object_new_array();
	char text[12];

	snprintf(text, sizeof(text), "%d", keyslot);
	json_object_array_add(slots, json_object_new_string(text));
	json_object_object_add(token->json, "keyslots", slots);
	token->keyslot = keyslot;
	return 0;
}

/*
 * The token's keyslot: one the derived passphrase already opens (an enroll
 * cut short), or a new one, added after a header backup like every write.
 */
static int ensure_keyslot(struct sk_device *dev, const struct sk_secret *vk, bool *added)
{
	int r = sk_keyslot_open_derived(dev->cd, CRYPT_ANY_SLOT, vk);

	*added = false;
	if (r >= 0) {
		sk_verbose("%s: keyslot %d already opens with the derived passphrase; reusing it",
			   dev->path, r);
		return r;
	}
	r = sk_device_backup(dev);
	if (!r)
		r = sk_keyslot_add_derived(dev->cd, dev->path, vk);
	*added = r >= 0;
	return r;
}

/* A failed enroll takes back the keyslot it added: the header is as it was. */
static void drop_keyslot(struct sk_device *dev, int slot)
{
	int r = crypt_keyslot_destroy(dev->cd, slot);

	if (r >= 0)
		(void)sk_device_note_written(dev);
	if (r < 0)
		sk_err("%s: cannot remove the keyslot %d this enroll added: %s; remove it with "
		       "'cryptsetup luksKillSlot %s %d'",
		       dev->path, slot, strerror(-r), dev->path, slot);
}

static int enroll(struct sk_device *dev, const struct enroll_args *a)
{
	struct sk_secret *vk = NULL;
	struct sk_token token = { 0 };
	struct sk_hsm *hsm = NULL;
	struct sk_kms *kms = NULL;
	int r = cli_open_hsm(a->apqns, &hsm), slot = -1;
	bool added = false;

	/* the known-volume entry is written last: its directory is checked first */
	if (!r)
		r = sk_inventory_check();
	if (!r)
		r = a->auth ? token_volume_key(dev, &vk) : cr_passphrase_volume_key(dev, -1, &vk);
	if (!r)
		r = build_token(dev, hsm, vk, &token);
	if (!r && a->kms)
		r = register_kms(dev, vk, &kms, &token);
	if (!r)
		r = slot = ensure_keyslot(dev, vk, &added);
	if (r >= 0)
		r = set_keyslot(&token, slot);
	/* The keyslot write moved the seqid; it is ours, not a foreign change. */
	if (!r)
		r = sk_device_read_seqid(dev->path, &dev->seqid);
	if (!r)
		r = sk_device_write_token(dev, &token);
	if (r < 0 && added)
		drop_keyslot(dev, slot);
	/* The known-volume entry is a hint for batch commands; its loss is not fatal. */
	if (r >= 0 && sk_inventory_add(dev->uuid, dev->path, sk_hsm_apqns(hsm)) < 0)
		sk_warn("%s: not recorded among the known volumes", dev->path);
	if (r >= 0)
		printf("%s: enrolled: securekey token %d, keyslot %d, secure key under the CURRENT "
		       "master key of APQNs %s.\n",
		       dev->path, r, slot, cli_apqns_text(hsm));
	if (r < 0 && kms && token.has_kms)
		sk_kms_forget(kms, &token.kms);
	sk_kms_close(kms);
	sk_token_free(&token);
	sk_secret_free(vk);
	sk_hsm_close(hsm);
	return r < 0 ? r : 0;
}

/*
 * The token is written before the known-volume entry: an enroll killed in
 * between is finished by running it again, which records the entry. So is
 * a known volume that moved: run again at its new path, it records that
 * path. Any other second enroll is refused.
 */
static int enrolled_already(struct sk_device *dev, const struct enroll_args *a)
{
	struct sk_apqn_list wanted = { 0 }, bound = dev->token.apqns;
	bool known = sk_inventory_has(dev->uuid);
	char *was = known ? sk_inventory_recorded_elsewhere(dev->uuid, dev->path) : NULL;
	int r = sk_apqn_list_parse(a->apqns, &wanted);

	sk_apqn_list_sort(&wanted);
	sk_apqn_list_sort(&bound);
	if (!r && (!known || was) && sk_apqn_list_equal(&wanted, &bound)) {
		r = sk_inventory_add(dev->uuid, dev->path, &dev->token.apqns);
		if (!r)
			printf("%s: already enrolled (securekey token %d); now recorded among the "
			       "known volumes%s%s%s.\n",
			       dev->path, dev->token_id, was ? " at this path (was " : "",
			       was ? was : "", was ? ")" : "");
	} else if (!r) {
		sk_err("%s already has a securekey token (%d); re-encipher it, or remove it first",
		       dev->path, dev->token_id);
		r = -EEXIST;
	}
	free(was);
	return r;
}

int cr_enroll(int argc, char **argv)
{
	static const struct option options[] = {
		CLI_COMMON_OPTIONS,
		CR_PASSPHRASE_OPTIONS,
		CR_AUTH_OPTION,
		{ "apqns", required_argument, NULL, OPT_APQNS },
		{ "kms", no_argument, NULL, OPT_KMS },
		{ NULL, 0, NULL, 0 },
	};
	struct sk_device *dev = NULL;
	struct enroll_args a = { 0 };
	char **args;
	int r = cr_parse(argc, argv, options, usage, 1, handle, &a, &args);

	if (r)
		return r < 0 ? 0 : r;
	if (!a.apqns)
		return cli_usage_error("enroll: --apqns is required");
	r = cr_auth_usage(a.auth);
	if (r)
		return r;
	/* Gated before the device is opened: a refusal touches nothing. */
	r = a.auth ? cli_allow_token_auth() : 0;
	if (!r)
		r = sk_device_open(args[0], true, false, &dev);
	if (!r && dev->token_id >= 0)
		r = enrolled_already(dev, &a);
	else if (!r)
		r = enroll(dev, &a);
	sk_device_close(dev);
	return cli_exit_code(r);
}
