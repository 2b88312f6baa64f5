#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "backup.h"
#include "conf.h"
#include "cr.h"
#include "escape.h"
#include "gate.h"
#include "inventory.h"
#include "keyslot.h"
#include "kms.h"
#include "log.h"
#include "paths.h"

static const char usage[] =
	"Usage: securekey-cryptsetup remove DEVICE [OPTIONS]\n"
	"\n"
	"Remove the securekey token of DEVICE and the keyslot it owns. Passphrase\n"
	"keyslots are kept. Asks for the passphrase of a passphrase keyslot, so a\n"
	"device is never left without a way in (with --auth=token, a keyslot other\n"
	"than the token's must remain). Says what stays: the KMS copy of the volume\n"
	"key, and the header backups that still hold the secure key (the one this\n"
	"remove takes among them).\n"
	"\n"
	"Options:\n"
	"  --kms-destroy     revoke and destroy the KMS copy of the volume key first;\n"
	"                    when the KMS cannot do so, nothing is removed\n"
	"  --purge-backups   then delete DEVICE's header backups (also after the\n"
	"                    token is gone)\n"
	"  --auth=token      no passphrase: the volume key unwrapped from the securekey\n"
	"                    token, checked against the LUKS2 digest; refused unless a\n"
	"                    keyslot other than the token's remains (root only, when\n"
	"                    the configuration allows it)\n" CR_PASSPHRASE_HELP CLI_COMMON_HELP;

struct remove_args {
	bool kms_destroy, purge;
	const char *auth;
};

static void handle(int c, const char *arg, void *ctx)
{
	struct remove_args *a = ctx;

	if (c == OPT_KMS_DESTROY)
		a->kms_destroy = true;
	else if (c == OPT_PURGE_BACKUPS)
		a->purge = true;
	else if (c == OPT_AUTH)
		a->auth = arg;
}

/*
 * A passphrase that opens a passphrase keyslot shows that a way in remains;
 * --auth=token shows nothing of the kind, so it looks for an active keyslot
 * other than the token's own.
 */
static int other_keyslot_remains(struct sk_device *dev)
{
	int max = crypt_keyslot_max(CRYPT_LUKS2);

	for (int slot = 0; slot < max; slot++) {
		crypt_keyslot_info st = crypt_keyslot_status(dev->cd, slot);

		if (slot != dev->token.keyslot &&
		    (st == CRYPT_SLOT_ACTIVE || st == CRYPT_SLOT_ACTIVE_LAST))
			return 0;
	}
	sk_err("%s: no keyslot but the securekey token's own (%d) would remain, so the device "
	       "would have no way in; add a passphrase keyslot first; nothing was changed",
	       dev->path, dev->token.keyslot);
	return -EPERM;
}

/* --auth=token: the token gate of the batch commands, keeping the key that passed it. */
static int token_volume_key(struct sk_device *dev, struct sk_secret **vk)
{
	struct sk_hsm *hsm = NULL;
	int r = other_keyslot_remains(dev);

	if (!r)
		r = cr_open_hsm(&dev->token, &hsm);
	if (!r)
		r = sk_gate_token_vk(dev, hsm, vk);
	sk_hsm_close(hsm);
	return r;
}

/*
 * Only a keyslot that opens with the passphrase derived from the volume key
 * is the token's: a token edited to name a passphrase keyslot must not make
 * remove destroy that keyslot.
 */
static bool owns_keyslot(struct sk_device *dev, int slot, const struct sk_secret *vk)
{
	int r = sk_keyslot_open_derived(dev->cd, slot, vk);

	if (r != slot)
		sk_warn("%s: keyslot %d does not open with the secure key, so it is not the token's "
			"own; it is kept",
			dev->path, slot);
	return r == slot;
}

/* The token's key id and primary server, escaped: header text, for the terminal. */
struct kms_text {
	char key_id[SK_ESCAPE_SIZE(SK_TOKEN_KMS_TEXT_MAX)];
	char server[SK_ESCAPE_SIZE(SK_TOKEN_KMS_TEXT_MAX)];
};

static void kms_text(const struct sk_token_kms *where, struct kms_text *t)
{
	sk_escape(t->key_id, sizeof(t->key_id), where->key_id, 0);
	sk_escape(t->server, sizeof(t->server), where->servers[0], 0);
}

/*
 * --kms-destroy goes before the token: a KMS that cannot be reached then
 * refuses the whole remove, and the token still names the key for a retry.
 */
static int destroy_kms_copy(struct sk_device *dev, const struct sk_secret *vk)
{
	const struct sk_config *cfg = cli_config();
	struct sk_kms *kms = NULL;
	struct kms_text t;
	int r = cfg ? sk_kms_open(cfg, cli.hsm_dir, &kms) : -EINVAL;

	if (!r)
		r = sk_kms_destroy(kms, dev->path, &dev->token.kms, vk);
	sk_kms_close(kms);
	kms_text(&dev->token.kms, &t);
	if (r == 0)
		printf("%s: key %s revoked and destroyed on KMS %s.\n", dev->path, t.key_id,
		       t.server);
	else if (r == 1)
		printf("%s: key %s is not on KMS %s (destroyed before).\n", dev->path, t.key_id,
		       t.server);
	return r < 0 ? r : 0;
}

/* Without --kms-destroy the KMS copy stays; the backups can bring the token back to destroy it. */
static void tell_kms_left(const struct sk_device *dev, bool purged)
{
	struct kms_text t;

	kms_text(&dev->token.kms, &t);
	if (purged)
		printf("%s: the KMS keeps a copy of the volume key (key %s on %s); destroy it "
		       "there.\n",
		       dev->path, t.key_id, t.server);
	else
		printf("%s: the KMS keeps a copy of the volume key (key %s on %s); destroy it there, "
		       "or run 'securekey-cryptsetup restore %s' and then 'securekey-cryptsetup "
		       "remove %s --kms-destroy'.\n",
		       dev->path, t.key_id, t.server, dev->path, dev->path);
}

static void tell_backups_left(const struct sk_device *dev)
{
	size_t with_token = 0, total = 0;

	if (sk_backup_count_token(dev->uuid, &with_token, &total) < 0 || !with_token)
		return;
	printf("%s: header backups that still hold the secure key: %zu in %s/backup/%s (the newest "
	       "taken by this remove); 'securekey-cryptsetup restore %s' puts the token back from "
	       "one, 'securekey-cryptsetup remove %s --purge-backups' deletes them.\n",
	       dev->path, with_token, sk_path_state_dir(), dev->uuid, dev->path, dev->path);
}

static int purge_backups(const struct sk_device *dev)
{
	int r = sk_backup_purge(dev->uuid);

	if (r >= 0)
		printf("%s: %d file%s of header backups deleted from %s/backup/%s.\n", dev->path, r,
		       r == 1 ? "" : "s", sk_path_state_dir(), dev->uuid);
	return r < 0 ? r : 0;
}

static int remove_token(struct sk_device *dev, const struct remove_args *a)
{
	struct sk_secret *vk = NULL;
	int slot = dev->token.keyslot;
	int r = a->auth ? token_volume_key(dev, &vk) : cr_passphrase_volume_key(dev, slot, &vk);
	bool owned = !r && crypt_keyslot_status(dev->cd, slot) != CRYPT_SLOT_INACTIVE &&
		     owns_keyslot(dev, slot, vk);

	if (!r && a->kms_destroy)
		r = destroy_kms_copy(dev, vk);
	sk_secret_free(vk);
	if (!r)
		r = sk_device_remove_token(dev);
	if (!r)
		(void)sk_inventory_remove(dev->uuid);
	if (!r && owned && (r = crypt_keyslot_destroy(dev->cd, slot)) < 0)
		sk_err("%s: the token is removed but its keyslot %d is not: %s; remove it with "
		       "'cryptsetup luksKillSlot %s %d'",
		       dev->path, slot, strerror(-r), dev->path, slot);
	if (!r && owned)
		r = sk_device_note_written(dev);
	if (!r && owned)
		printf("%s: securekey token and keyslot %d removed.\n", dev->path, slot);
	else if (!r)
		printf("%s: securekey token removed.\n", dev->path);
	if (!r && dev->token.has_kms && !a->kms_destroy)
		tell_kms_left(dev, a->purge);
	if (!r && a->purge)
		r = purge_backups(dev);
	else if (!r)
		tell_backups_left(dev);
	return r;
}

/* What the options need of the token: checked before the passphrase is asked. */
static int check_options(const struct sk_device *dev, const struct remove_args *a)
{
	if (a->kms_destroy && dev->token_id >= 0 && !dev->token.has_kms) {
		sk_err("%s: the token is not bound to a KMS, so --kms-destroy has nothing to "
		       "destroy; nothing was changed",
		       dev->path);
		return -EINVAL;
	}
	return 0;
}

int cr_remove(int argc, char **argv)
{
	static const struct option options[] = {
		CLI_COMMON_OPTIONS,
		CR_PASSPHRASE_OPTIONS,
		CR_AUTH_OPTION,
		{ "kms-destroy", no_argument, NULL, OPT_KMS_DESTROY },
		{ "purge-backups", no_argument, NULL, OPT_PURGE_BACKUPS },
		{ NULL, 0, NULL, 0 },
	};
	struct remove_args a = { 0 };
	struct sk_device *dev = NULL;
	char **args;
	int r = cr_parse(argc, argv, options, usage, 1, handle, &a, &args);

	if (r)
		return r < 0 ? 0 : r;
	r = cr_auth_usage(a.auth);
	if (r)
		return r;
	/* Gated before the device is opened: a refusal touches nothing. */
	r = a.auth ? cli_allow_token_auth() : 0;
	/* --purge-backups alone also serves a device whose token is gone already. */
	if (!r)
		r = sk_device_open(args[0], true, a.kms_destroy || !a.purge, &dev);
	if (!r)
		r = check_options(dev, &a);
	if (!r && dev->token_id >= 0)
		r = remove_token(dev, &a);
	else if (!r)
		r = purge_backups(dev);
	sk_device_close(dev);
	return cli_exit_code(r);
}
