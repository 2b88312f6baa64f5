#include "config.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <limits.h>
#include <unistd.h>

#include "cli.h"
#include "conf.h"
#include "identity.h"
#include "kms.h"
#include "log.h"
#include "paths.h"
#include "secfile.h"

static const char usage[] =
	"Usage: securekey kms configure --apqns AA.DDDD[,...] --server kmip://HOST[:PORT]\n"
	"       [--server kmip://HOST[:PORT]...] --ca FILE --cert FILE [--key FILE]\n"
	"       [--timeout SECONDS] [--protocol auto|1.2|1.3|1.4|2.0]\n"
	"       securekey kms configure --apqns AA.DDDD[,...] --generate-key --csr FILE\n"
	"       [--subject /CN=NAME[/O=ORG...]]\n"
	"\n"
	"Configure the key management server(s). The first --server is the primary\n"
	"(keys are registered there), the others are read when it does not answer.\n"
	"The CA and client certificate are copied next to the configuration; the\n"
	"client's private key (--key, a 0600 PEM file) is stored as a secure key\n"
	"under the CURRENT master key of the APQNs (the identity key), after which\n"
	"the key file is no longer needed. Nothing is written unless one server\n"
	"accepts a mutually authenticated connection with these settings.\n"
	"\n"
	"Without a key file: --generate-key makes the client key here (EC P-256),\n"
	"stores it at once as the identity key, never in clear, and writes a\n"
	"certificate signing request for the KMS administrator; the configure\n"
	"without --key then installs the signed certificate once its public key\n"
	"matches the identity key. It also renews the certificate of the identity\n"
	"key in use, and is the recovery when the identity key is lost.\n"
	"\n"
	"Options:\n"
	"  --apqns LIST      APQNs that encipher the identity key\n"
	"  --server URL      a KMIP server, primary first (repeat for secondaries)\n"
	"  --ca FILE         the CA certificate the servers' certificates must chain to\n"
	"  --cert FILE       the client certificate (PEM, may hold its chain)\n"
	"  --key FILE        the client private key (PEM, unencrypted, mode 0600);\n"
	"                    without it, the generated (else the stored) identity key\n"
	"  --timeout S       connect/read/write timeout per server (default 10)\n"
	"  --protocol V      KMIP version, or auto: negotiated now with Discover\n"
	"                    Versions and recorded (default auto)\n"
	"  --generate-key    generate the client key as the identity key (pending\n"
	"                    until its certificate is installed)\n"
	"  --csr FILE        where --generate-key writes the signing request (PEM)\n"
	"  --subject DN      the request's subject (default /CN=<hostname>)\n" CLI_COMMON_HELP;

struct configure_args {
	const char *apqns, *ca, *cert, *key, *csr, *subject;
	bool generate, server_options; /* --server, --timeout or --protocol given */
	struct sk_config cfg;
};

/* The options that are [kms] keys go through the configuration's own checks. */
static int set_kms_option(struct configure_args *a, const char *key, const char *arg)
{
	const char *why;

	if (strcmp(key, "apqns"))
		a->server_options = true;
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
	case OPT_GENERATE_KEY:
		a->generate = true;
		return 0;
	case OPT_CSR:
		a->csr = arg;
		return 0;
	case OPT_SUBJECT:
		a->subject = arg;
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

/* kms/ next to the configuration, made when @create; its key files' paths. */
struct kms_dir {
	char dir[PATH_MAX + 8], identity[PATH_MAX + 32], pending[PATH_MAX + 32];
};

static int kms_dir(const struct sk_config *cfg, bool create, struct kms_dir *d)
{
	char confdir[PATH_MAX];

	snprintf(confdir, sizeof(confdir), "%s", cfg->path);
	snprintf(d->dir, sizeof(d->dir), "%s/kms", dirname(confdir));
	snprintf(d->identity, sizeof(d->identity), "%s/identity.skey", d->dir);
	/* A generated key waits here for its certificate: the one in use stays usable. */
	snprintf(d->pending, sizeof(d->pending), "%s/identity.skey.new", d->dir);
	if (create && mkdir(d->dir, 0755) < 0 && errno != EEXIST) {
		sk_err("cannot create %s: %s", d->dir, strerror(errno));
		return -errno;
	}
	return create ? sk_path_check_dir(d->dir, "KMS directory", "go-w") : 0;
}

static int write_all(struct configure_args *a, EVP_PKEY *pkey)
{
	struct sk_hsm *hsm = NULL;
	struct kms_dir d;
	int r = kms_dir(&a->cfg, true, &d);

	if (!r)
		r = copy_public(a->ca, d.dir, "ca.pem", a->cfg.ca, sizeof(a->cfg.ca));
	if (!r)
		r = copy_public(a->cert, d.dir, "client.pem", a->cfg.cert, sizeof(a->cfg.cert));
	if (!r && (size_t)snprintf(a->cfg.identity_key, sizeof(a->cfg.identity_key), "%s",
				   d.identity) >= sizeof(a->cfg.identity_key))
		r = -ENAMETOOLONG;
	if (!r)
		r = cli_open_hsm_for(&a->cfg.apqns, &hsm);
	if (!r)
		r = sk_identity_store(hsm, pkey, a->cfg.identity_key);
	if (!r)
		r = sk_config_save(&a->cfg);
	if (!r)
		printf("KMS configured in %s; identity key stored as a secure key in %s under the "
		       "CURRENT master key of APQNs %s.\n",
		       a->cfg.path, a->cfg.identity_key, cli_apqns_text(hsm));
	if (!r && a->key)
		printf("The key file %s is no longer needed: remove it (shred -u %s).\n", a->key,
		       a->key);
	sk_hsm_close(hsm);
	return r;
}

/* Without --key: the generated key waiting for this certificate, else the one in use. */
static EVP_PKEY *stored_identity(struct configure_args *a, bool *pending)
{
	struct sk_hsm *hsm = NULL;
	EVP_PKEY *pkey = NULL;
	struct kms_dir d;
	const char *path;

	kms_dir(&a->cfg, false, &d);
	*pending = access(d.pending, F_OK) == 0;
	path = *pending ? d.pending : d.identity;
	if (!*pending && access(path, F_OK) < 0) {
		sk_err("no identity key in %s: give the client key with --key FILE, or generate "
		       "one with 'securekey kms configure --apqns %s --generate-key --csr FILE'",
		       d.dir, a->apqns);
		return NULL;
	}
	if (cli_open_hsm_for(&a->cfg.apqns, &hsm) == 0 &&
	    sk_identity_unwrap(hsm, path, &a->cfg.apqns, &pkey) == 0 &&
	    sk_identity_check_cert(pkey, a->cert) < 0) {
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
	sk_hsm_close(hsm);
	return pkey;
}

/* The generated key is the identity key now: its pending copy goes. */
static int drop_pending(const struct configure_args *a)
{
	struct kms_dir d;
	char staged[PATH_MAX + 48];

	kms_dir(&a->cfg, false, &d);
	snprintf(staged, sizeof(staged), "%s.staged", d.pending);
	if ((unlink(d.pending) < 0 && errno != ENOENT) || (unlink(staged) < 0 && errno != ENOENT))
		return -errno;
	return sk_fsync_dir_of(d.pending);
}

static int install(struct configure_args *a)
{
	bool pending = false;
	EVP_PKEY *pkey = a->key ? sk_identity_read_pem(a->key) : stored_identity(a, &pending);
	int r;

	if (!pkey)
		return EXIT_REFUSED;
	r = check_servers(&a->cfg, pkey, a->ca, a->cert);
	if (!r)
		r = write_all(a, pkey);
	if (!r && pending)
		r = drop_pending(a);
	EVP_PKEY_free(pkey);
	return cli_exit_code(r);
}

/* --subject, else /CN=<hostname>; NULL (with a message) when it is not a name. */
static X509_NAME *subject_of(const struct configure_args *a)
{
	char host[HOST_NAME_MAX + 1] = "", text[HOST_NAME_MAX + 8];

	if (a->subject)
		return sk_identity_subject(a->subject);
	if (gethostname(host, sizeof(host) - 1) < 0 || !host[0]) {
		sk_err("cannot read the host name: give --subject /CN=NAME");
		return NULL;
	}
	snprintf(text, sizeof(text), "/CN=%s", host);
	return sk_identity_subject(text);
}

static void print_generated(const struct configure_args *a, const X509_NAME *subject,
			    const char *pending)
{
	char name[256];

	X509_NAME_oneline(subject, name, sizeof(name));
	printf("Client key generated (EC P-256) and stored as a secure key in %s under the "
	       "CURRENT master key of APQNs %s; it was never written in clear.\n"
	       "Certificate signing request for %s written to %s.\n"
	       "Next: have the KMS administrator sign it for client authentication, then run\n"
	       "  securekey kms configure --apqns %s --server kmip://HOST[:PORT] --ca CA.pem "
	       "--cert SIGNED.pem\n",
	       pending, a->apqns, name, a->csr, a->apqns);
}

static int generate(struct configure_args *a)
{
	X509_NAME *subject = subject_of(a);
	struct sk_hsm *hsm = NULL;
	EVP_PKEY *pkey = NULL;
	struct kms_dir d;
	int r;

	if (!subject)
		return EXIT_USAGE;
	if (access(a->csr, F_OK) == 0) {
		sk_err("%s exists: remove it or name another file with --csr; nothing was written",
		       a->csr);
		X509_NAME_free(subject);
		return EXIT_REFUSED;
	}
	r = kms_dir(&a->cfg, true, &d);
	if (!r)
		r = cli_open_hsm_for(&a->cfg.apqns, &hsm);
	if (!r)
		r = sk_identity_generate(hsm, d.pending, &pkey);
	if (!r)
		r = sk_identity_write_csr(pkey, subject, a->csr);
	if (r < 0 && pkey) /* no key without its request */
		unlink(d.pending);
	if (!r)
		print_generated(a, subject, d.pending);
	EVP_PKEY_free(pkey);
	X509_NAME_free(subject);
	sk_hsm_close(hsm);
	return cli_exit_code(r);
}

/* The two forms take different options: a mix is a usage error. */
static int check_form(const struct configure_args *a)
{
	if (a->generate) {
		if (!a->apqns || !a->csr)
			return cli_usage_error("kms configure --generate-key: --apqns and --csr are "
					       "required");
		if (a->server_options || a->ca || a->cert || a->key)
			return cli_usage_error("kms configure --generate-key takes --apqns, --csr "
					       "and --subject only; --server, --ca and --cert "
					       "come with the signed certificate");
		return 0;
	}
	if (a->csr || a->subject)
		return cli_usage_error("kms configure: --csr and --subject go with --generate-key");
	if (!a->apqns || !a->cfg.n_servers || !a->ca || !a->cert)
		return cli_usage_error("kms configure: --apqns, --server, --ca and --cert "
				       "are required");
	return 0;
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
		{ "generate-key", no_argument, NULL, OPT_GENERATE_KEY },
		{ "csr", required_argument, NULL, OPT_CSR },
		{ "subject", required_argument, NULL, OPT_SUBJECT },
		{ NULL, 0, NULL, 0 },
	};
	const struct sk_config *current = cli_config();
	struct configure_args a = { 0 };
	int c, code = 0;

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
	code = check_form(&a);
	if (code)
		return code;
	return a.generate ? generate(&a) : install(&a);
}
