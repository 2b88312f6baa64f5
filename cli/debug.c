/*
 * securekey debug: wrap, unwrap and re-encipher test secure keys in files.
 * Hidden: it exists for the demo and the tests, and never prints a key.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "cli.h"
#include "log.h"
#include "secfile.h"

static const char usage[] =
	"Usage: securekey debug wrap   --apqns LIST --out FILE [--register current|new]\n"
	"                              [--key-type aes-xts-512] [--key-file FILE]\n"
	"       securekey debug unwrap --apqns LIST --in FILE\n"
	"       securekey debug rewrap --apqns LIST --in FILE [--from REG] [--to REG]\n"
	"                              [--out FILE]\n"
	"       securekey debug compare --apqns LIST FILE1 FILE2\n"
	"\n"
	"Test helpers for secure-key files. wrap enciphers a random volume key (or\n"
	"the one in --key-file, 0600) under a master-key register; unwrap tells which\n"
	"register deciphers a file; rewrap re-enciphers it (default: from the register\n"
	"that holds it to CURRENT, in place); compare tells whether two files hold the\n"
	"same volume key. Key material is never printed.\n"
	"\n"
	"Options:\n"
	"  --apqns LIST      the APQN set\n"
	"  --in FILE, --out FILE\n"
	"  --register REG    wrap under CURRENT (default) or a committed NEW\n"
	"  --from REG, --to REG  registers for rewrap\n"
	"  --key-type T      aes-xts-512 (default), aes-xts-256, aes-256, aes-192, aes-128\n"
	"  --key-file F      volume key to wrap instead of a random one\n" CLI_COMMON_HELP;

struct debug_args {
	const char *apqns, *in, *out, *key_file;
	const char *reg, *from, *to;
	struct sk_key_spec spec;
};

static int parse(int argc, char **argv, struct debug_args *args, int *code)
{
	static const struct option options[] = {
		CLI_COMMON_OPTIONS,
		{ "apqns", required_argument, NULL, OPT_APQNS },
		{ "in", required_argument, NULL, OPT_IN },
		{ "out", required_argument, NULL, OPT_OUT },
		{ "register", required_argument, NULL, OPT_REGISTER },
		{ "from", required_argument, NULL, OPT_FROM },
		{ "to", required_argument, NULL, OPT_TO },
		{ "key-type", required_argument, NULL, OPT_KEY_TYPE },
		{ "key-file", required_argument, NULL, OPT_KEY_FILE },
		{ NULL, 0, NULL, 0 },
	};
	const char **slot[] = {
		[OPT_APQNS - OPT_HSM_DIR] = &args->apqns, [OPT_IN - OPT_HSM_DIR] = &args->in,
		[OPT_OUT - OPT_HSM_DIR] = &args->out,	  [OPT_REGISTER - OPT_HSM_DIR] = &args->reg,
		[OPT_FROM - OPT_HSM_DIR] = &args->from,	  [OPT_TO - OPT_HSM_DIR] = &args->to,
		[OPT_KEY_FILE - OPT_HSM_DIR] = &args->key_file,
	};
	int c;

	sk_key_spec_parse("aes-xts-512", &args->spec);
	while ((c = cli_getopt(argc, argv, options, usage, code)) >= 0) {
		if (c == OPT_KEY_TYPE && sk_key_spec_parse(optarg, &args->spec) < 0)
			return *code = cli_usage_error("debug: unknown key type '%s'", optarg), -1;
		if (c != OPT_KEY_TYPE)
			*slot[c - OPT_HSM_DIR] = optarg;
	}
	if (c == -2)
		return -1;
	if (!args->apqns)
		return *code = cli_usage_error("debug %s: --apqns is required", argv[0]), -1;
	return 0;
}

static int parse_register(const char *text, enum sk_mk_register fallback, enum sk_mk_register *reg)
{
	*reg = fallback;
	if (text && sk_register_parse(text, reg) < 0) {
		sk_err("'%s' is not a register: use old, current or new", text);
		return -1;
	}
	return 0;
}

static int read_blob(const char *path, unsigned char **blob, size_t *len)
{
	return sk_file_read(path, SK_BLOB_VOLUME_MAX_LEN, blob, len);
}

static int get_volume_key(const struct debug_args *args, struct sk_secret **key)
{
	size_t len = args->spec.bits / 8;

	if (args->key_file)
		return sk_secfile_read(args->key_file, len, "volume key file", key);
	*key = sk_secret_new(len);
	if (!*key)
		return -1;
	return RAND_bytes((*key)->data, (int)len) == 1 ? 0 : -1;
}

static int debug_wrap(struct sk_hsm *hsm, const struct debug_args *args)
{
	struct sk_secret *key = NULL;
	unsigned char *blob = NULL;
	enum sk_mk_register reg;
	size_t len;
	char name[16];
	int r;

	r = parse_register(args->reg, SK_REG_CURRENT, &reg);
	if (!r)
		r = get_volume_key(args, &key);
	if (!r)
		r = sk_hsm_wrap(hsm, reg, &args->spec, key, &blob, &len);
	if (!r)
		r = sk_secfile_create(args->out, blob, len);
	if (!r)
		printf("Secure key %s: %s, enciphered with the %s master key (%s).\n", args->out,
		       sk_key_spec_name(&args->spec, name), sk_register_name(reg),
		       cli_blob_mkvp(blob, len));
	sk_secret_free(key);
	free(blob);
	return r;
}

static int debug_unwrap(struct sk_hsm *hsm, const struct debug_args *args)
{
	struct sk_secret *key = NULL;
	struct sk_blob_header hdr;
	enum sk_mk_register reg;
	unsigned char *blob = NULL;
	size_t len;
	char name[16];
	int r;

	r = read_blob(args->in, &blob, &len);
	if (!r)
		r = sk_blob_parse(blob, len, &hdr);
	if (!r)
		r = sk_hsm_unwrap(hsm, blob, len, &key, &reg);
	if (!r)
		printf("Secure key %s: %s, unwrapped with the %s master key (%s) of APQNs %s.\n",
		       args->in, sk_key_spec_name(&hdr.key, name), sk_register_name(reg),
		       cli_blob_mkvp(blob, len), cli_apqns_text(hsm));
	sk_secret_free(key);
	free(blob);
	return r;
}

static int which_register(struct sk_hsm *hsm, const unsigned char *blob, size_t len,
			  enum sk_mk_register *reg)
{
	struct sk_secret *key = NULL;
	int r = sk_hsm_unwrap(hsm, blob, len, &key, reg);

	sk_secret_free(key);
	return r;
}

static int debug_rewrap(struct sk_hsm *hsm, const struct debug_args *args)
{
	enum sk_mk_register from, to;
	unsigned char *blob = NULL, *out = NULL;
	size_t len, out_len;
	const char *dest = args->out ? args->out : args->in;
	int r;

	r = read_blob(args->in, &blob, &len);
	if (!r)
		r = parse_register(args->to, SK_REG_CURRENT, &to);
	if (!r && args->from)
		r = parse_register(args->from, SK_REG_CURRENT, &from);
	else if (!r)
		r = which_register(hsm, blob, len, &from);
	if (!r)
		r = sk_hsm_rewrap(hsm, blob, len, from, to, &out, &out_len);
	if (!r)
		r = args->out ? sk_secfile_create(dest, out, out_len)
			      : sk_file_replace(dest, out, out_len);
	if (!r)
		printf("Secure key %s re-enciphered from the %s to the %s master key (%s).\n",
		       dest, sk_register_name(from), sk_register_name(to), cli_blob_mkvp(out, out_len));
	free(blob);
	free(out);
	return r;
}

static int unwrap_file(struct sk_hsm *hsm, const char *path, struct sk_secret **key)
{
	unsigned char *blob = NULL;
	size_t len;
	int r = sk_file_read(path, SK_BLOB_VOLUME_MAX_LEN, &blob, &len);

	if (!r)
		r = sk_hsm_unwrap(hsm, blob, len, key, NULL);
	free(blob);
	return r;
}

static int debug_compare(struct sk_hsm *hsm, char **argv)
{
	struct sk_secret *a = NULL, *b = NULL;
	bool same;
	int r;

	r = unwrap_file(hsm, argv[optind], &a);
	if (!r)
		r = unwrap_file(hsm, argv[optind + 1], &b);
	same = !r && sk_secret_equal(a, b);
	if (!r)
		printf("%s and %s hold %s volume key%s.\n", argv[optind], argv[optind + 1],
		       same ? "the same" : "different", same ? "" : "s");
	sk_secret_free(a);
	sk_secret_free(b);
	return r ? r : (same ? 0 : -1);
}

/* Usage errors exit 2 before the HSM is opened. */
static int check_arguments(const char *verb, const struct debug_args *args, int argc, char **argv)
{
	bool compare = !strcmp(verb, "compare");

	if (strcmp(verb, "wrap") && strcmp(verb, "unwrap") && strcmp(verb, "rewrap") && !compare)
		return cli_usage_error("debug: unknown command '%s'", verb);
	if (compare && argc - optind != 2)
		return cli_usage_error("debug compare: give two secure-key files");
	if (!compare && !cli_no_arguments_left(argc, argv))
		return EXIT_USAGE;
	if (!strcmp(verb, "wrap") && !args->out)
		return cli_usage_error("debug wrap: --out FILE is required");
	if (strcmp(verb, "wrap") && !compare && !args->in)
		return cli_usage_error("debug %s: --in FILE is required", verb);
	return 0;
}

int cmd_debug(int argc, char **argv)
{
	struct debug_args args = { 0 };
	struct sk_hsm *hsm = NULL;
	const char *verb = argc > 1 ? argv[1] : "";
	int code = 0, r;

	if (argc < 2 || !strcmp(verb, "--help") || !strcmp(verb, "-h")) {
		fputs(usage, stdout);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	if (parse(argc - 1, argv + 1, &args, &code) < 0)
		return code;
	code = check_arguments(verb, &args, argc - 1, argv + 1);
	if (code)
		return code;
	r = cli_open_hsm(args.apqns, &hsm);
	if (!r && !strcmp(verb, "wrap"))
		r = debug_wrap(hsm, &args);
	else if (!r && !strcmp(verb, "unwrap"))
		r = debug_unwrap(hsm, &args);
	else if (!r && !strcmp(verb, "rewrap"))
		r = debug_rewrap(hsm, &args);
	else if (!r)
		r = debug_compare(hsm, argv + 1);
	sk_hsm_close(hsm);
	return cli_exit_code(r);
}
