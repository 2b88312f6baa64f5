#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cr.h"
#include "log.h"

static const char usage[] =
	"Usage: securekey-cryptsetup remove DEVICE [OPTIONS]\n"
	"\n"
	"Remove the securekey token of DEVICE and the keyslot it owns. Passphrase\n"
	"keyslots are kept. Asks for the passphrase of a passphrase keyslot, so a\n"
	"device is never left without a way in.\n"
	"\n"
	"Options:\n" CR_COMMON_HELP;

static int remove_token(struct sk_device *dev)
{
	struct sk_secret *vk = NULL;
	int slot = dev->token.keyslot;
	int r = cr_passphrase_volume_key(dev, slot, &vk);

	sk_secret_free(vk);
	if (!r)
		r = sk_device_remove_token(dev);
	if (!r && crypt_keyslot_status(dev->cd, slot) != CRYPT_SLOT_INACTIVE &&
	    (r = crypt_keyslot_destroy(dev->cd, slot)) < 0)
		sk_err("%s: the token is removed but its keyslot %d is not: %s; remove it with "
		       "'cryptsetup luksKillSlot %s %d'",
		       dev->path, slot, strerror(-r), dev->path, slot);
	if (!r)
		printf("%s: securekey token and keyslot %d removed.\n", dev->path, slot);
	return r;
}

int cr_remove(int argc, char **argv)
{
	static const struct option options[] = {
		CR_COMMON_OPTIONS,
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
