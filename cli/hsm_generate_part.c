#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <openssl/rand.h>

#include "cli.h"
#include "conf.h"
#include "hsm.h"
#include "log.h"
#include "paths.h"
#include "secfile.h"

static const char usage[] =
	"Usage: securekey hsm generate-part --out FILE\n"
	"\n"
	"Write a new random master-key part (32 bytes) to FILE, created with mode\n"
	"0600; an existing FILE is never overwritten. Keep each part with its own\n"
	"custodian; a master key is the XOR of 2 or 3 parts. Refused when\n"
	"securekey.conf sets master_key_kind = rsa-oaep: those master keys are\n"
	"key pairs generated in the token, never made from parts.\n"
	"\n"
	"Options:\n"
	"  --out FILE        where to write the key part\n" CLI_COMMON_HELP;

/* A part is no use to an RSA-OAEP token: say so before anyone hands it to a custodian. */
static int refuse_for_rsa(void)
{
	const struct sk_config *cfg = cli_config();
	char *location;
	int r;

	if (!cfg)
		return -EINVAL;
	location = sk_path_hsm_dir_or(cli.hsm_dir, cfg->hsm_location);
	if (!location)
		return -ENOMEM;
	r = sk_hsm_check_key_parts(location);
	free(location);
	return r;
}

int cmd_hsm_generate_part(int argc, char **argv)
{
	static const struct option options[] = {
		CLI_COMMON_OPTIONS,
		{ "out", required_argument, NULL, OPT_OUT },
		{ NULL, 0, NULL, 0 },
	};
	struct sk_secret *part;
	const char *out = NULL;
	int c, code = 0, r;

	while ((c = cli_getopt(argc, argv, options, usage, &code)) >= 0)
		out = optarg;
	if (c == -2)
		return code;
	if (!cli_no_arguments_left(argc, argv))
		return EXIT_USAGE;
	if (!out)
		return cli_usage_error("generate-part: --out FILE is required");
	if (refuse_for_rsa() < 0)
		return EXIT_REFUSED;
	part = sk_secret_new(SK_MK_PART_LEN);
	if (!part)
		return EXIT_REFUSED;
	r = RAND_bytes(part->data, SK_MK_PART_LEN) == 1 ? 0 : -1;
	if (r < 0)
		sk_err("cannot get random bytes for a key part");
	else
		r = sk_secfile_create(out, part->data, part->len);
	sk_secret_free(part);
	if (!r)
		printf("Key part written to %s (%d bytes, mode 0600).\n", out, SK_MK_PART_LEN);
	return cli_exit_code(r);
}
