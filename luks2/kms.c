#include "config.h"

#include "kms.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hsm.h"
#include "identity.h"
#include "log.h"
#include "paths.h"

struct sk_kms {
	struct sk_config cfg;
	EVP_PKEY *identity;
	struct sk_kmip_tls tls;
};

static int unwrap_identity(struct sk_kms *kms, const char *hsm_dir)
{
	char *dir = sk_path_hsm_dir_or(hsm_dir, kms->cfg.hsm_location);
	struct sk_hsm *hsm = NULL;
	int r = dir ? sk_hsm_open(dir, &kms->cfg.apqns, &hsm) : -ENOMEM;

	if (r == 0)
		r = sk_identity_unwrap(hsm, kms->cfg.identity_key, &kms->cfg.apqns, &kms->identity);
	sk_hsm_close(hsm);
	free(dir);
	return r;
}

int sk_kms_open(const struct sk_config *cfg, const char *hsm_dir, struct sk_kms **out)
{
	struct sk_kms *kms;
	int r;

	if (!sk_config_has_kms(cfg)) {
		sk_err("no KMS is configured in %s: run 'securekey kms configure' first", cfg->path);
		return -ENOENT;
	}
	kms = calloc(1, sizeof(*kms));
	if (!kms)
		return -ENOMEM;
	kms->cfg = *cfg;
	r = unwrap_identity(kms, hsm_dir);
	if (r < 0) {
		sk_kms_close(kms);
		return r;
	}
	kms->tls = (struct sk_kmip_tls){ .ca_file = kms->cfg.ca, .cert_file = kms->cfg.cert,
					 .key = kms->identity,
					 .timeout_ms = kms->cfg.timeout * 1000 };
	*out = kms;
	return 0;
}

void sk_kms_close(struct sk_kms *kms)
{
	if (!kms)
		return;
	EVP_PKEY_free(kms->identity);
	free(kms);
}

int sk_kms_connect(struct sk_kms *kms, const char *url, struct sk_kmip_conn **conn)
{
	struct sk_kmip_endpoint ep;

	if (sk_kmip_parse_url(url, &ep) < 0) {
		sk_err("KMS server '%s' is not kmip://HOST[:PORT]", url);
		return -EINVAL;
	}
	return sk_kmip_connect(&ep, &kms->tls, kms->cfg.protocol, conn);
}

static int fetch_from(struct sk_kms *kms, const char *url, const char *key_id,
		      struct sk_secret **vk)
{
	struct sk_kmip_conn *conn;
	int r = sk_kms_connect(kms, url, &conn);

	if (r < 0)
		return r;
	r = sk_kmip_get_key(conn, key_id, vk);
	sk_kmip_close(conn);
	return r;
}

static bool same_server(const char *a, const char *b)
{
	struct sk_kmip_endpoint ea, eb;

	return sk_kmip_parse_url(a, &ea) == 0 && sk_kmip_parse_url(b, &eb) == 0 &&
	       !strcasecmp(ea.host, eb.host) && !strcmp(ea.port, eb.port);
}

static bool names_server(const struct sk_token_kms *where, const char *url)
{
	for (size_t i = 0; i < where->n_servers; i++)
		if (same_server(where->servers[i], url))
			return true;
	return false;
}

/*
 * The header is input whoever holds the disk can replace: a server it names
 * that securekey.conf does not is never contacted (it could hand out a
 * volume key of the attacker's choice, for a root file system of theirs).
 */
static size_t refuse_unconfigured(const struct sk_config *cfg, const char *device,
				  const struct sk_token_kms *where)
{
	size_t refused = 0;

	for (size_t i = 0; i < where->n_servers; i++) {
		bool configured = false;

		for (size_t j = 0; j < cfg->n_servers && !configured; j++)
			configured = same_server(where->servers[i], cfg->servers[j]);
		if (!configured) {
			sk_err("%s: KMS server %s named by the LUKS2 header is not configured in %s; "
			       "it is not contacted",
			       device, where->servers[i], cfg->path);
			refused++;
		}
	}
	return refused;
}

int sk_kms_fetch(struct sk_kms *kms, const char *device, const struct sk_token_kms *where,
		 struct sk_secret **vk)
{
	const struct sk_config *cfg = &kms->cfg;
	size_t tried = 0, refused = refuse_unconfigured(cfg, device, where);
	char more[64] = "";
	int r = -ENOENT;

	/* One bound for the whole fetch, over every server and name lookup. */
	kms->tls.deadline_ms = sk_kmip_clock_ms() + cfg->timeout * 1000LL;
	for (size_t i = 0; i < cfg->n_servers; i++) {
		if (!names_server(where, cfg->servers[i]))
			continue;
		if (sk_kmip_clock_ms() >= kms->tls.deadline_ms) {
			sk_err("%s: the KMS timeout of %d s ([kms] timeout) passed before %s was tried",
			       device, cfg->timeout, cfg->servers[i]);
			r = -ETIMEDOUT;
			break;
		}
		tried++;
		r = fetch_from(kms, cfg->servers[i], where->key_id, vk);
		if (r == 0) {
			sk_verbose("volume key %s fetched from %s%s", where->key_id, cfg->servers[i],
				   i ? " (a secondary server)" : "");
			break;
		}
	}
	kms->tls.deadline_ms = 0;
	if (r == 0)
		return 0;
	if (refused)
		snprintf(more, sizeof(more), "; refused %zu that only the header names", refused);
	sk_err("%s: no KMS server answered with volume key %s (tried %zu server%s%s)", device,
	       where->key_id, tried, tried == 1 ? "" : "s", more);
	return r == -ENOENT && refused ? -EPERM : r;
}

int sk_kms_register(struct sk_kms *kms, const struct sk_secret *vk, const char *name,
		    const char *device, struct sk_token_kms *where)
{
	struct sk_kmip_conn *conn;
	int r = sk_kms_connect(kms, kms->cfg.servers[0], &conn);

	if (r < 0)
		return r;
	memset(where, 0, sizeof(*where));
	r = sk_kmip_register_aes(conn, vk, name, SK_KMS_APP_NAMESPACE, device, where->key_id);
	if (r == 0)
		r = sk_kmip_activate(conn, where->key_id);
	sk_kmip_close(conn);
	if (r < 0)
		return r;
	where->n_servers = kms->cfg.n_servers;
	for (size_t i = 0; i < kms->cfg.n_servers; i++)
		strcpy(where->servers[i], kms->cfg.servers[i]);
	snprintf(where->name, sizeof(where->name), "%s", name);
	return 0;
}

void sk_kms_forget(struct sk_kms *kms, const struct sk_token_kms *where)
{
	struct sk_kmip_conn *conn;

	if (sk_kms_connect(kms, where->servers[0], &conn) < 0)
		return;
	if (sk_kmip_revoke(conn, where->key_id) == 0 && sk_kmip_destroy(conn, where->key_id) == 0)
		sk_info("removed key %s from KMS %s again", where->key_id, where->servers[0]);
	sk_kmip_close(conn);
}
