#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "device.h"
#include "hsm.h"
#include "handler.h"
#include "secfile.h"
#include "udev.h"

static const char usage[] =
	"Usage: securekey-udev passphrase DEVICE [--timeout S] [--pin-stdin]\n"
	"\n"
	"Write the passphrase of the keyslot that DEVICE's securekey token owns to\n"
	"standard output, for a crypttab keyscript (/usr/lib/securekey/keyscript).\n"
	"The secure key is unwrapped as the token plugin does it (CURRENT, staged,\n"
	"OLD master key, then the KMS) and checked against the header. Writes\n"
	"nothing and exits 1 when that fails or takes longer than S seconds, 3 when\n"
	"the PKCS#11 HSM's token needs a PIN and the configuration names none (the\n"
	"keyscript then asks for it and runs this again with --pin-stdin).\n"
	"Refuses to write to a terminal.\n"
	"\n"
	"Options:\n"
	"  --timeout S       give up after S seconds (default 30)\n"
	"  --pin-stdin       read the token PIN from standard input (one line)\n" CLI_COMMON_HELP;

static int read_pin(bool pin_stdin, struct sk_secret **pin)
{
	*pin = NULL;
	return pin_stdin ? sk_secfile_read_line("-", SK_HSM_PIN_MAX, "token PIN", pin) : 0;
}

int udev_passphrase(int argc, char **argv)
{
	struct sk_secret *pin = NULL;
	struct sk_device *dev = NULL;
	const char *device;
	char *pass = NULL;
	size_t len = 0;
	unsigned timeout;
	bool pin_stdin = false;
	int r = udev_parse_device(argc, argv, usage, &timeout, &device, &pin_stdin);

	if (r)
		return r < 0 ? 0 : r;
	if (isatty(STDOUT_FILENO)) {
		sk_err("passphrase: standard output is a terminal; pipe it into cryptsetup");
		return EXIT_REFUSED;
	}
	udev_deadline_start(timeout, device, "unlock by the securekey token");
	sk_handler_set_hsm_dir(cli.hsm_dir);
	r = read_pin(pin_stdin, &pin);
	if (!r)
		r = sk_device_open(device, false, true, &dev);
	if (!r)
		r = sk_handler_open_pin(dev->cd, dev->token_id, pin ? (const char *)pin->data : NULL,
					pin ? pin->len : 0, &pass, &len, NULL);
	sk_secret_free(pin);
	udev_deadline_stop();
	if (r == -ENOANO) {
		sk_err("%s: the PKCS#11 token needs its PIN; give it with --pin-stdin", device);
		sk_device_close(dev);
		return EXIT_NEEDS_PIN;
	}
	if (!r && sk_write_full(STDOUT_FILENO, pass, len) < 0) {
		sk_err("%s: cannot write the passphrase to standard output", device);
		r = -EIO;
	}
	sk_handler_buffer_free(pass, len);
	sk_device_close(dev);
	return cli_exit_code(r);
}
