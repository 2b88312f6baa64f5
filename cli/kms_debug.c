/*
 * securekey kms debug: the KMIP operations the product does not use on its
 * own (Create, Locate, Get Attributes, Revoke, Destroy), against the primary
 * server, so tests can exercise every operation on a real KMS. Hidden.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "conf.h"
#include "kms.h"
#include "log.h"

static const char usage[] =
	"Usage: securekey kms debug create NAME | locate NAME | attrs UID | get UID |\n"
	"                           activate UID | revoke UID | destroy UID\n"
	"\n"
	"Run one KMIP operation on the primary KMS server (for tests). 'get'\n"
	"prints the key's length, never the key.\n"
	"\n"
	"Options:\n" CLI_COMMON_HELP;

static int run_op(struct sk_kmip_conn *conn, const char *op, const char *arg)
{
	char uids[16][SK_KMIP_UID_MAX], uid[SK_KMIP_UID_MAX];
	struct sk_kmip_attrs attrs;
	struct sk_secret *key = NULL;
	size_t n;
	int r = -EINVAL;

	if (!strcmp(op, "create") && !(r = sk_kmip_create_aes(conn, 256, arg, uid)))
		printf("%s\n", uid);
	else if (!strcmp(op, "locate") && !(r = sk_kmip_locate(conn, arg, uids, 16, &n)))
		for (size_t i = 0; i < n; i++)
			printf("%s\n", uids[i]);
	else if (!strcmp(op, "attrs") && !(r = sk_kmip_get_attributes(conn, arg, &attrs)))
		printf("name=%s algorithm=%u length=%d state=%u app=%s=%s\n", attrs.name,
		       attrs.algorithm, attrs.length, attrs.state, attrs.app_namespace,
		       attrs.app_data);
	else if (!strcmp(op, "get") && !(r = sk_kmip_get_key(conn, arg, &key)))
		printf("key of %zu bytes\n", key->len);
	else if (!strcmp(op, "activate"))
		r = sk_kmip_activate(conn, arg);
	else if (!strcmp(op, "revoke"))
		r = sk_kmip_revoke(conn, arg);
	else if (!strcmp(op, "destroy"))
		r = sk_kmip_destroy(conn, arg);
	sk_secret_free(key);
	return r;
}

static bool known_op(const char *op)
{
	static const char *const ops[] = { "create", "locate", "attrs", "get",
					   "activate", "revoke", "destroy" };

	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (!strcmp(op, ops[i]))
			return true;
	return false;
}

int cmd_kms_debug(int argc, char **argv)
{
	static const struct option options[] = {
		CLI_COMMON_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	const struct sk_config *cfg;
	struct sk_kmip_conn *conn = NULL;
	struct sk_kms *kms = NULL;
	int c, code = 0, r;

	while ((c = cli_getopt(argc, argv, options, usage, &code)) >= 0)
		;
	if (c == -2)
		return code;
	if (argc - optind != 2 || !known_op(argv[optind]))
		return cli_usage_error("kms debug: expected an operation and its argument");
	cfg = cli_config();
	if (!cfg)
		return EXIT_REFUSED;
	r = sk_kms_open(cfg, cli.hsm_dir, &kms);
	if (!r)
		r = sk_kms_connect(kms, cfg->servers[0], &conn);
	if (!r)
		r = run_op(conn, argv[optind], argv[optind + 1]);
	sk_kmip_close(conn);
	sk_kms_close(kms);
	return cli_exit_code(r);
}
