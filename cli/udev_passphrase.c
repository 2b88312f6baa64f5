#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
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
	"Exits 0 when the reader closed standard output unread (cryptsetup opened\n"
	"the volume by the token itself). Refuses to write to a terminal.\n"
	"\n"
	"Options:\n"
	"  --timeout S       give up after S seconds (default 30)\n"
	"  --pin-stdin       read the token PIN from standard input (one line)\n" CLI_COMMON_HELP;

static int read_pin(bool pin_stdin, struct sk_secret **pin)
{
	*pin = NULL;
	return pin_stdin ? sk_secfile_read_line("-", SK_HSM_PIN_MAX, "token PIN", pin) : 0;
}

/*
 * Debian's cryptroot pipes this into 'cryptsetup open --key-file=-', and
 * cryptsetup tries the token itself first (the plugin is in the initramfs):
 * when that opens the volume it exits without reading, and the pipe is
 * closed. That is not a failure of the token. SIGPIPE used to end the
 * helper (exit 141), and the keyscript then asked for the passphrase of a
 * volume that was already open, holding the boot at the prompt.
 */
static int write_passphrase(const char *device, const char *pass, size_t len)
{
	int r;

	signal(SIGPIPE, SIG_IGN);
	r = sk_write_full(STDOUT_FILENO, pass, len);
	if (r == -EPIPE) {
		sk_dbg("%s: the reader closed standard output unread (cryptsetup opened the "
		       "device by the token itself)",
		       device);
		return 0;
	}
	if (r < 0)
		sk_err("%s: cannot write the passphrase to standard output: %s", device,
		       strerror(-r));
	return r;
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
	if (!r)
		r = write_passphrase(device, pass, len);
	sk_handler_buffer_free(pass, len);
	sk_device_close(dev);
	return cli_exit_code(r);
}
