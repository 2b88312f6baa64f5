#include "config.h"

#include <stdio.h>

#include "cr.h"
#include "mode.h"
#include "reencipher.h"

static const char usage[] =
	"Usage: securekey-cryptsetup reencipher DEVICE\n"
	"                [--staged | --in-place | --complete] [--to-new | --from-old]\n"
	"\n"
	"Re-encipher the secure volume key in the securekey token of DEVICE after a\n"
	"master-key change. Without an option the next step is chosen:\n"
	"  under OLD                      --in-place: re-encipher to CURRENT\n"
	"  under CURRENT, NEW committed   --staged: re-encipher to NEW, kept beside it\n"
	"  staged, NEW set to CURRENT     --complete: the staged key replaces the old\n"
	"Only the token changes; the volume key, keyslots and data do not. Asks for\n"
	"the passphrase of a passphrase keyslot, which must open the same volume key.\n"
	"--to-new and --from-old are zkey-cryptsetup's: --to-new is --staged and\n"
	"--from-old is --in-place; options that contradict each other are refused.\n"
	"\n"
	"Options:\n"
	"  -s, --staged      re-encipher to NEW, kept beside the current key\n"
	"  -i, --in-place    re-encipher a key under OLD to CURRENT\n"
	"  -c, --complete    the staged key replaces the old one (after 'hsm set')\n"
	"  -N, --to-new      from CURRENT to NEW (staged)\n"
	"  -O, --from-old    from OLD to CURRENT (in place)\n"
	CR_PASSPHRASE_HELP CLI_COMMON_HELP;

static void handle(int c, const char *arg, void *ctx)
{
	(void)arg;
	cli_mode_option(ctx, c);
}

static void report(const char *device, enum sk_next_step action, const struct sk_token *token)
{
	char cur[SK_MKVP_HEX_LEN + 1], staged[SK_MKVP_HEX_LEN + 1];

	sk_mkvp_to_hex(token->current.mkvp, cur);
	sk_mkvp_to_hex(token->staged.mkvp, staged);
	if (action == SK_NEXT_STAGED)
		printf("The secure volume key of %s is enciphered with the CURRENT master key and was\n"
		       "re-enciphered with the NEW master key (MKVP %s), kept as staged.\n"
		       "After the NEW master key has been set to become the CURRENT master key, run\n"
		       "'securekey-cryptsetup reencipher %s --complete'.\n",
		       device, staged, device);
	else if (action == SK_NEXT_COMPLETE)
		printf("The re-enciphering of the secure volume key of %s is completed: it is "
		       "enciphered with the CURRENT master key (MKVP %s).\n",
		       device, cur);
	else
		printf("The secure volume key of %s was re-enciphered in place from the OLD to the "
		       "CURRENT master key (MKVP %s).\n",
		       device, cur);
}

static int reencipher(struct sk_device *dev, enum sk_reencipher_mode mode)
{
	struct sk_hsm *hsm = NULL;
	struct sk_key_state st;
	enum sk_next_step action = SK_NEXT_NONE;
	int r = cr_open_hsm(&dev->token, &hsm);

	if (!r)
		r = sk_key_state_get(hsm, &dev->token, &st);
	if (!r)
		r = sk_reencipher_choose(dev->path, &st, mode, &action);
	if (!r && action == SK_NEXT_NONE)
		printf("The secure volume key of %s is enciphered with the CURRENT master key; "
		       "nothing to re-encipher.\n",
		       dev->path);
	if (!r && action != SK_NEXT_NONE)
		r = sk_reencipher_device(dev, hsm, action, cr_gate, NULL);
	if (r >= 0 && action != SK_NEXT_NONE)
		report(dev->path, action, &dev->token);
	sk_hsm_close(hsm);
	return r < 0 ? r : 0;
}

int cr_reencipher(int argc, char **argv)
{
	static const struct cli_mode_keys keys = CLI_MODE_KEYS_ZKEY_CRYPTSETUP;
	static const struct option options[] = {
		CLI_COMMON_OPTIONS,
		CR_PASSPHRASE_OPTIONS,
		CLI_MODE_OPTIONS('s', 'i', 'c', 'N', 'O'),
		{ NULL, 0, NULL, 0 },
	};
	struct cli_mode given = { .keys = &keys };
	enum sk_reencipher_mode mode = SK_REENCIPHER_AUTO;
	struct sk_device *dev = NULL;
	char **args;
	int r = cr_parse(argc, argv, options, usage, 1, handle, &given, &args);

	if (!r)
		r = cli_mode_resolve(argv[0], &given, &mode);
	if (r)
		return r < 0 ? 0 : r;
	r = sk_device_open(args[0], true, true, &dev);
	if (!r)
		r = reencipher(dev, mode);
	sk_device_close(dev);
	return cli_exit_code(r);
}
