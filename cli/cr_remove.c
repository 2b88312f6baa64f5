#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cr.h"
#include "inventory.h"
#include "keyslot.h"
#include "log.h"

static const char usage[] =
	"Usage: securekey-cryptsetup remove DEVICE [OPTIONS]\n"
	"\n"
	"Remove the securekey token of DEVICE and the keyslot it owns. Passphrase\n"
	"keyslots are kept. Asks for the passphrase of a passphrase keyslot, so a\n"
	"device is never left without a way in.\n"
	"\n"
	"Options:\n" CR_PASSPHRASE_HELP CLI_COMMON_HELP;

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

static int remove_token(struct sk_device *dev)
{
	struct sk_secret *vk = NULL;
	int slot = dev->token.keyslot;
	int r = cr_passphrase_volume_key(dev, slot, &vk);
	bool owned = !r && crypt_keyslot_status(dev->cd, slot) != CRYPT_SLOT_INACTIVE &&
		     owns_keyslot(dev, slot, vk);

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
	return r;
}

int cr_remove(int argc, char **argv)
{
	static const struct option options[] = {
		CLI_COMMON_OPTIONS,
		CR_PASSPHRASE_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	struct sk_device *dev = NULL;
	char **args;
	int r = cr_parse(argc, argv, options, usage, 1, NULL, NULL, &args);

	if (r)
		return r < 0 ? 0 : r;
	r = sk_device_open(args[0], true, true, &dev);
	if (!r)
		r = remove_token(dev);
	sk_device_close(dev);
	return cli_exit_code(r);
}
