#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "device.h"
#include "handler.h"
#include "secfile.h"
#include "udev.h"

static const char usage[] =
	"Usage: securekey-udev passphrase DEVICE [--timeout S]\n"
	"\n"
	"Write the passphrase of the keyslot that DEVICE's securekey token owns to\n"
	"standard output, for a crypttab keyscript (/usr/lib/securekey/keyscript).\n"
	"The secure key is unwrapped as the token plugin does it (CURRENT, staged,\n"
	"OLD master key, then the KMS) and checked against the header. Writes\n"
	"nothing and exits 1 when that fails or takes longer than S seconds.\n"
	"Refuses to write to a terminal.\n"
	"\n"
	"Options:\n"
	"  --timeout S       give up after S seconds (default 30)\n" CLI_COMMON_HELP;

int udev_passphrase(int argc, char **argv)
{
	struct sk_device *dev = NULL;
	const char *device;
	char *pass = NULL;
	size_t len = 0;
	unsigned timeout;
	int r = udev_parse_device(argc, argv, usage, &timeout, &device);

	if (r)
		return r < 0 ? 0 : r;
	if (isatty(STDOUT_FILENO)) {
		sk_err("passphrase: standard output is a terminal; pipe it into cryptsetup");
		return EXIT_REFUSED;
	}
	udev_deadline_start(timeout, device, "unlock by the securekey token");
	sk_handler_set_hsm_dir(cli.hsm_dir);
	r = sk_device_open(device, false, true, &dev);
	if (!r)
		r = sk_handler_open(dev->cd, dev->token_id, &pass, &len, NULL);
	udev_deadline_stop();
	if (!r && sk_write_full(STDOUT_FILENO, pass, len) < 0) {
		sk_err("%s: cannot write the passphrase to standard output", device);
		r = -EIO;
	}
	sk_handler_buffer_free(pass, len);
	sk_device_close(dev);
	return cli_exit_code(r);
}
