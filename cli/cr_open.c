#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cr.h"
#include "log.h"

static const char usage[] =
	"Usage: securekey-cryptsetup open DEVICE NAME [--test-passphrase]\n"
	"       securekey-cryptsetup open DEVICE --test-passphrase\n"
	"\n"
	"Activate DEVICE as /dev/mapper/NAME by its securekey token: the secure key\n"
	"is unwrapped by the HSM, no passphrase is asked. With --test-passphrase\n"
	"only check that the token unlocks the device.\n"
	"\n"
	"Options:\n"
	"  --test-passphrase  check only, activate nothing\n" CLI_COMMON_HELP;

static void handle(int c, const char *arg, void *ctx)
{
	(void)arg;
	if (c == OPT_TEST_PASSPHRASE)
		*(bool *)ctx = true;
}

/*
 * libcryptsetup turns a refusal of the token handler (its reason is printed
 * above) or a keyslot that does not open into -ENOENT or -EPERM, whose
 * strerror ("No such file or directory") would mislead.
 */
static void report_failure(const char *device, int token_id, bool test_only, int r)
{
	if (r == -ENOENT || r == -EPERM)
		sk_err("%s: its securekey token %d does not unlock it%s", device, token_id,
		       test_only ? "" : "; nothing was activated");
	else
		sk_err("%s: cannot %s by its securekey token: %s", device,
		       test_only ? "unlock" : "activate", strerror(-r));
}

int cr_open(int argc, char **argv)
{
	static const struct option options[] = {
		CLI_COMMON_OPTIONS,
		{ "test-passphrase", no_argument, NULL, OPT_TEST_PASSPHRASE },
		{ NULL, 0, NULL, 0 },
	};
	struct sk_device *dev = NULL;
	bool test_only = false;
	const char *name;
	char **args;
	int r;

	/* NAME is optional with --test-passphrase. */
	r = cr_parse(argc, argv, options, usage, -1, handle, &test_only, &args);
	if (r)
		return r < 0 ? 0 : r;
	if (argc - optind != 2 && !(test_only && argc - optind == 1))
		return cli_usage_error("open: expected DEVICE%s", test_only ? "" : " and NAME");
	name = test_only ? NULL : args[1];
	r = sk_device_open(args[0], false, true, &dev);
	if (!r)
		r = crypt_activate_by_token(dev->cd, name, dev->token_id, NULL, 0);
	if (r < 0 && dev)
		report_failure(args[0], dev->token_id, test_only, r);
	else if (r >= 0)
		printf("%s: %s by token (keyslot %d).\n", args[0],
		       test_only ? "unlocks" : "activated", r);
	sk_device_close(dev);
	return cli_exit_code(r);
}
