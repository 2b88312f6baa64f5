#include "config.h"

#include <stdio.h>

#include "cr.h"
#include "log.h"
#include "secfile.h"

static const char usage[] =
	"Usage: securekey-cryptsetup export DEVICE --out FILE [--staged]\n"
	"\n"
	"Write the secure key blob of DEVICE's securekey token (or the staged one) to\n"
	"a new file with mode 0600, e.g. to restore it later with setkey. The blob is\n"
	"useless without the HSM master key that wraps it.\n"
	"\n"
	"Options:\n"
	"  --out FILE        the file to create\n"
	"  --staged          export the staged secure key\n" CLI_COMMON_HELP;

struct export_args {
	const char *out;
	bool staged;
};

static void handle(int c, const char *arg, void *ctx)
{
	struct export_args *a = ctx;

	if (c == OPT_OUT)
		a->out = arg;
	else if (c == OPT_STAGED)
		a->staged = true;
}

int cr_export(int argc, char **argv)
{
	static const struct option options[] = {
		CLI_COMMON_OPTIONS,
		{ "out", required_argument, NULL, OPT_OUT },
		{ "staged", no_argument, NULL, OPT_STAGED },
		{ NULL, 0, NULL, 0 },
	};
	struct export_args a = { 0 };
	struct sk_device *dev = NULL;
	const struct sk_token_key *key;
	char **args;
	int r = cr_parse(argc, argv, options, usage, 1, handle, &a, &args);

	if (r)
		return r < 0 ? 0 : r;
	if (!a.out)
		return cli_usage_error("export: --out FILE is required");
	r = sk_device_open(args[0], false, true, &dev);
	if (!r && a.staged && !dev->token.has_staged) {
		sk_err("%s has no staged secure key", dev->path);
		r = -1;
	}
	key = dev && a.staged ? &dev->token.staged : dev ? &dev->token.current : NULL;
	if (!r)
		r = sk_secfile_create(a.out, key->blob, key->blob_len);
	if (!r)
		printf("Secure key of %s written to %s (%s).\n", args[0], a.out,
		       cli_blob_mkvp(key->blob, key->blob_len));
	sk_device_close(dev);
	return cli_exit_code(r);
}
