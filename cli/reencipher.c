/* securekey reencipher: the per-device re-encipher over many devices. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "batch_run.h"
#include "log.h"
#include "mode.h"
#include "reencipher_file.h"

static const char usage[] =
	"Usage: securekey reencipher [--all | PATH...] [--apqns AA.DDDD[,...]]\n"
	"                            [--staged | --complete | --in-place]\n"
	"                            [--to-new | --from-old]\n"
	"                            [--auth=token | --key-file FILE] [--jobs N] [--json]\n"
	"       securekey reencipher --secure-key-file FILE [--apqns AA.DDDD[,...]]\n"
	"                            [--staged | --complete | --in-place]\n"
	"\n"
	"Re-encipher the secure volume keys of many LUKS2 devices after a master-key\n"
	"change, each as 'securekey-cryptsetup reencipher' would: the known volumes\n"
	"(see 'securekey list') by default, the given devices and image files, or\n"
	"with --all also every LUKS block device libblkid finds. Without a step\n"
	"option each device takes its own next step. Devices are worked on in\n"
	"parallel; a device that fails is reported and the others go on. Ends with\n"
	"a summary table; the exit status is 1 when any device failed. As with zkey,\n"
	"--to-new is --staged and --from-old is --in-place; options that contradict\n"
	"each other are refused.\n"
	"\n"
	"With --secure-key-file, the secure key in FILE (see 'securekey-cryptsetup\n"
	"export') takes the step instead, with no passphrase: staged into FILE's .renc\n"
	"file beside it (NAME.skey: NAME.renc), which --complete moves over FILE;\n"
	"--in-place replaces FILE at once, under CURRENT if it was under OLD, else\n"
	"under NEW (usable after 'securekey hsm set'), as zkey does.\n"
	"\n"
	"Options:\n"
	"  --all             also every LUKS block device libblkid finds\n"
	"  -a, --apqns LIST  only devices bound to one of these APQNs\n"
	"  -s, --staged      only devices to stage to NEW; the others are skipped\n"
	"  -p, --complete    only devices to complete after 'hsm set'\n"
	"  -i, --in-place    only devices under OLD, re-enciphered to CURRENT\n"
	"  -n, --to-new      from CURRENT to NEW (staged)\n"
	"  -o, --from-old    from OLD to CURRENT (in place)\n"
	"  --secure-key-file FILE  re-encipher the secure key in FILE, not devices\n"
	CLI_BATCH_HELP CLI_COMMON_HELP;

static const struct cli_mode_keys keys = CLI_MODE_KEYS_ZKEY;
static struct cli_mode given = { .keys = &keys };

static bool step_option(struct cli_batch *b, int c)
{
	if (c == OPT_BATCH_SECURE_KEY_FILE) {
		b->secure_key_file = optarg;
		return true;
	}
	return cli_mode_option(&given, c);
}

static int parse(int argc, char **argv, struct cli_batch *b, bool *all)
{
	static const struct option options[] = {
		CLI_COMMON_OPTIONS,
		CLI_BATCH_OPTIONS,
		{ "all", no_argument, NULL, OPT_BATCH_ALL },
		CLI_MODE_OPTIONS('s', 'i', 'p', 'n', 'o'),
		{ "secure-key-file", required_argument, NULL, OPT_BATCH_SECURE_KEY_FILE },
		{ NULL, 0, NULL, 0 },
	};
	int r = cli_batch_parse(b, argc, argv, options, usage, "reencipher", step_option, all);

	if (!r)
		r = cli_mode_resolve("reencipher", &given, &b->mode);
	return r ? r : cli_batch_check_options(b);
}

int cmd_reencipher(int argc, char **argv)
{
	struct cli_batch b = { .jobs = (unsigned)sysconf(_SC_NPROCESSORS_ONLN) };
	bool all = false;
	int r = parse(argc, argv, &b, &all);

	if (r)
		return r < 0 ? 0 : r;
	if (b.secure_key_file) {
		r = cli_reencipher_file_usage(&b, all, argc - optind);
		return r ? r : cli_exit_code(cli_reencipher_file(&b));
	}
	r = cli_batch_authorize(&b);
	if (!r)
		r = cli_batch_select(&b, all, argv + optind, argc - optind);
	if (!r && !b.count)
		sk_info("no devices to re-encipher");
	if (!r && b.count)
		r = cli_batch_run(&b);
	if (!r && b.count)
		cli_batch_summary(&b);
	if (!r && b.count)
		r = cli_batch_result(&b);
	cli_batch_free(&b);
	return cli_exit_code(r);
}
