#include "config.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "conf.h"
#include "identity.h"
#include "kms.h"
#include "log.h"
#include "paths.h"
#include "secfile.h"

static const char usage[] =
	"Usage: securekey kms configure --apqns AA.DDDD[,...] --server kmip://HOST[:PORT]\n"
	"       [--server kmip://HOST[:PORT]...] --ca FILE --cert FILE --key FILE\n"
	"       [--timeout SECONDS] [--protocol auto|1.2|1.3|1.4|2.0]\n"
	"\n"
	"Configure the key management server(s). The first --server is the primary\n"
	"(keys are registered there), the others are read when it does not answer.\n"
	"The CA and client certificate are copied next to the configuration; the\n"
	"client's private key (--key, a 0600 PEM file) is stored as a secure key\n"
	"under the CURRENT master key of the APQNs (the identity key), after which\n"
	"the key file is no longer needed. Nothing is written unless one server\n"
	"accepts a mutually authenticated connection with these settings.\n"
	"\n"
	"Options:\n"
	"  --apqns LIST      APQNs that encipher the identity key\n"
	"  --server URL      a KMIP server, primary first (repeat for secondaries)\n"
	"  --ca FILE         the CA certificate the servers' certificates must chain to\n"
	"  --cert FILE       the client certificate (PEM, may hold its chain)\n"
	"  --key FILE        the client private key (PEM, unencrypted, mode 0600)\n"
	"  --timeout S       connect/read/write timeout per server (default 10)\n"
	"  --protocol V      KMIP version, or auto: negotiated now with Discover\n"
	"                    Versions and recorded (default auto)\n" CLI_COMMON_HELP;

struct configure_args {
	const char *apqns, *ca, *cert, *key;
	struct sk_config cfg;
	int error;
};

/* The options that are [kms] keys go through the configuration's own checks. */
static int set_kms_option(struct configure_args *a, const char *key, const char *arg)
{
	const char *why;

	if (sk_config_set_kms(&a->cfg, key, arg, &why) < 0)
		return cli_usage_error("--%s '%s': %s", key, arg, why);
	return 0;
}

static int take_option(int c, const char *arg, struct configure_args *a)
{
	switch (c) {
	case OPT_APQNS:
		a->apqns = arg;
		return set_kms_option(a, "apqns", arg);
	case OPT_SERVER:
		return set_kms_option(a, "server", arg);
	case OPT_CA:
		a->ca = arg;
		return 0;
	case OPT_CERT:
		a->cert = arg;
		return 0;
	case OPT_KEY:
		a->key = arg;
		return 0;
	case OPT_TIMEOUT:
		return set_kms_option(a, "timeout", arg);
	default:
		return set_kms_option(a, "protocol", arg);
	}
}

/* One server must accept us before anything is written. */
static int check_servers(struct sk_config *cfg, EVP_PKEY *pkey, const char *ca,
			 const char *cert)
{
	struct sk_kmip_tls tls = { .ca_file = ca, .cert_file = cert, .key = pkey,
				   .timeout_ms = cfg->timeout * 1000 };
	struct sk_kmip_endpoint ep;
	struct sk_kmip_conn *conn;

	for (size_t i = 0; i < cfg->n_servers; i++) {
		sk_kmip_parse_url(cfg->servers[i], &ep);
		if (sk_kmip_connect(&ep, &tls, cfg->protocol, &conn) == 0) {
			struct sk_kmip_version v = sk_kmip_conn_version(conn);

			printf("KMS %s accepted the client certificate (KMIP %d.%d).\n",
			       cfg->servers[i], v.major, v.minor);
			/* Recorded, so that later connections skip Discover Versions. */
			cfg->protocol = v;
			sk_kmip_close(conn);
			return 0;
		}
	}
	sk_err("no KMS server accepted a connection with these settings: nothing was written");
	return -ECONNREFUSED;
}

static int copy_public(const char *from, const char *dir, const char *name, char *to,
		       size_t size)
{
	unsigned char *data;
	size_t len;
	int r = sk_file_read(from, 1 << 20, &data, &len);

	if (r < 0)
		return r;
	if ((size_t)snprintf(to, size, "%s/%s", dir, name) >= size)
		r = -ENAMETOOLONG;
	if (!r)
		r = sk_file_replace_mode(to, data, len, 0644);
	free(data);
	return r;
}

static int write_all(struct configure_args *a, EVP_PKEY *pkey)
{
	char confdir[PATH_MAX], dir[PATH_MAX + 8];
	struct sk_hsm *hsm = NULL;
	int r;

	snprintf(confdir, sizeof(confdir), "%s", a->cfg.path);
	snprintf(dir, sizeof(dir), "%s/kms", dirname(confdir));
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		sk_err("cannot create %s: %s", dir, strerror(errno));
		return -errno;
	}
	r = sk_path_check_dir(dir, "KMS directory", "go-w");
	if (!r)
		r = copy_public(a->ca, dir, "ca.pem", a->cfg.ca, sizeof(a->cfg.ca));
	if (!r)
		r = copy_public(a->cert, dir, "client.pem", a->cfg.cert, sizeof(a->cfg.cert));
	if (!r && (size_t)snprintf(a->cfg.identity_key, sizeof(a->cfg.identity_key),
				   "%s/identity.skey", dir) >= sizeof(a->cfg.identity_key))
		r = -ENAMETOOLONG;
	if (!r)
		r = cli_open_hsm_for(&a->cfg.apqns, &hsm);
	if (!r)
		r = sk_identity_store(hsm, pkey, a->cfg.identity_key);
	if (!r)
		r = sk_config_save(&a->cfg);
	if (!r)
		printf("KMS configured in %s; identity key stored as a secure key in %s under the "
		       "CURRENT master key of APQNs %s.\nThe key file %s is no longer needed: "
		       "remove it (shred -u %s).\n",
		       a->cfg.path, a->cfg.identity_key, cli_apqns_text(hsm), a->key, a->key);
	sk_hsm_close(hsm);
	return r;
}

int cmd_kms_configure(int argc, char **argv)
{
	static const struct option options[] = {
		CLI_COMMON_OPTIONS,
		{ "apqns", required_argument, NULL, OPT_APQNS },
		{ "server", required_argument, NULL, OPT_SERVER },
		{ "ca", required_argument, NULL, OPT_CA },
		{ "cert", required_argument, NULL, OPT_CERT },
		{ "key", required_argument, NULL, OPT_KEY },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "protocol", required_argument, NULL, OPT_PROTOCOL },
		{ NULL, 0, NULL, 0 },
	};
	const struct sk_config *current = cli_config();
	struct configure_args a = { 0 };
	EVP_PKEY *pkey;
	int c, code = 0, r;

	if (!current || sk_config_check_rewritable(current) < 0)
		return EXIT_REFUSED;
	a.cfg = *current;
	a.cfg.n_servers = 0;
	a.cfg.timeout = SK_KMS_DEFAULT_TIMEOUT;
	a.cfg.protocol = (struct sk_kmip_version){ 0, 0 };
	while ((c = cli_getopt(argc, argv, options, usage, &code)) >= 0)
		if ((code = take_option(c, optarg, &a)) != 0)
			return code;
	if (c == -2)
		return code;
	if (!cli_no_arguments_left(argc, argv))
		return EXIT_USAGE;
	if (!a.apqns || !a.cfg.n_servers || !a.ca || !a.cert || !a.key)
		return cli_usage_error("kms configure: --apqns, --server, --ca, --cert and --key "
				       "are required");
	pkey = sk_identity_read_pem(a.key);
	if (!pkey)
		return EXIT_REFUSED;
	r = check_servers(&a.cfg, pkey, a.ca, a.cert);
	if (!r)
		r = write_all(&a, pkey);
	EVP_PKEY_free(pkey);
	return cli_exit_code(r);
}
