#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "cr.h"
#include "log.h"
#include "secfile.h"

static const char usage[] =
	"Usage: securekey-cryptsetup setkey DEVICE [--secure-key-file FILE] [OPTIONS]\n"
	"\n"
	"Restore the secure key of DEVICE's securekey token: from FILE (a blob written\n"
	"by export, checked to hold the device's volume key), or, without FILE, wrap\n"
	"the volume key that the passphrase opens anew with the CURRENT master key.\n"
	"Use it when the secure key is under no register any more. A staged key is\n"
	"dropped. Asks for the passphrase of a passphrase keyslot.\n"
	"\n"
	"Options:\n"
	"  -m, --secure-key-file F\n"
	"                    the secure key blob to restore (zkey-cryptsetup's -m)\n"
	CR_PASSPHRASE_HELP CLI_COMMON_HELP;

static void handle(int c, const char *arg, void *ctx)
{
	if (c == OPT_SECURE_KEY_FILE)
		*(const char **)ctx = arg;
}

/*
 * The new blob: the file's (must unwrap to @vk; *reg says under which
 * register) or @vk wrapped under CURRENT.
 */
static int new_blob(struct sk_device *dev, struct sk_hsm *hsm, const char *file,
		    const struct sk_secret *vk, unsigned char **blob, size_t *len,
		    enum sk_mk_register *reg)
{
	struct sk_secret *from_file = NULL;
	int r;

	*reg = SK_REG_CURRENT;
	if (!file)
		return sk_hsm_wrap(hsm, SK_REG_CURRENT, &dev->token.key, vk, blob, len);
	r = sk_file_read(file, SK_BLOB_VOLUME_MAX_LEN, blob, len);
	if (!r)
		r = sk_hsm_unwrap(hsm, *blob, *len, &from_file, reg);
	if (!r && !sk_secret_equal(from_file, vk)) {
		sk_err("%s does not hold the volume key of %s; nothing was changed", file,
		       dev->path);
		r = -EPERM;
	}
	sk_secret_free(from_file);
	return r;
}

/*
 * Put @blob into the token. One under a committed NEW (a file staged by
 * 'securekey reencipher --secure-key-file') becomes the staged key, beside
 * @vk wrapped under CURRENT: the device must unlock until 'hsm set'.
 */
static int set_keys(struct sk_device *dev, struct sk_hsm *hsm, const struct sk_secret *vk,
		    const unsigned char *blob, size_t len, enum sk_mk_register reg)
{
	unsigned char *current = NULL;
	size_t current_len;
	int r;

	if (reg != SK_REG_NEW) {
		r = sk_token_set_current(&dev->token, blob, len);
		if (!r)
			sk_token_drop_staged(&dev->token);
		return r;
	}
	r = sk_hsm_wrap(hsm, SK_REG_CURRENT, &dev->token.key, vk, &current, &current_len);
	if (!r)
		r = sk_token_set_current(&dev->token, current, current_len);
	if (!r)
		r = sk_token_set_staged(&dev->token, blob, len);
	free(current);
	return r;
}

static int setkey(struct sk_device *dev, const char *file)
{
	enum sk_mk_register reg = SK_REG_CURRENT;
	struct sk_secret *vk = NULL;
	struct sk_hsm *hsm = NULL;
	unsigned char *blob = NULL;
	size_t len;
	int r = cr_open_hsm(&dev->token, &hsm);

	if (!r)
		r = cr_passphrase_volume_key(dev, dev->token.keyslot, &vk);
	if (!r)
		r = new_blob(dev, hsm, file, vk, &blob, &len, &reg);
	if (!r)
		r = set_keys(dev, hsm, vk, blob, len, reg);
	if (!r)
		r = sk_device_write_token(dev, &dev->token);
	if (r >= 0 && reg == SK_REG_NEW) {
		/* cli_blob_mkvp's buffer is static: one MKVP a call */
		printf("The secure key of %s was set (%s), ", dev->path,
		       cli_blob_mkvp(dev->token.current.blob, dev->token.current.blob_len));
		printf("staged to the NEW master key (%s).\n", cli_blob_mkvp(blob, len));
	} else if (r >= 0)
		printf("The secure key of %s was set (%s).\n", dev->path, cli_blob_mkvp(blob, len));
	free(blob);
	sk_secret_free(vk);
	sk_hsm_close(hsm);
	return r < 0 ? r : 0;
}

int cr_setkey(int argc, char **argv)
{
	static const struct option options[] = {
		CLI_COMMON_OPTIONS,
		CR_PASSPHRASE_OPTIONS,
		{ "secure-key-file", required_argument, NULL, OPT_SECURE_KEY_FILE },
		{ NULL, 0, NULL, 0 },
	};
	struct sk_device *dev = NULL;
	const char *file = NULL;
	char **args;
	int r = cr_parse(argc, argv, options, usage, 1, handle, &file, &args);

	if (r)
		return r < 0 ? 0 : r;
	r = sk_device_open(args[0], true, true, &dev);
	if (!r)
		r = setkey(dev, file);
	sk_device_close(dev);
	return cli_exit_code(r);
}
