#include "config.h"

#include "kms.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "hsm.h"
#include "identity.h"
#include "log.h"
#include "paths.h"

struct sk_kms {
	struct sk_config cfg;
	EVP_PKEY *identity;
	struct sk_kmip_tls tls;
	/*
	 * Reads keep their connection, by configured server, for the next
	 * fetch of the session: one TLS handshake for all the devices of a
	 * command instead of one each.
	 */
	struct sk_kmip_conn *conns[SK_KMS_MAX_SERVERS];
	bool no_batch[SK_KMS_MAX_SERVERS]; /* the server refused a batched request */
	unsigned connections;		   /* opened by this session, for --debug */
};

int sk_kms_unwrap_identity(const struct sk_config *cfg, const char *hsm_dir, struct sk_secret **der)
{
	char *dir;
	struct sk_hsm *hsm = NULL;
	int r;

	*der = NULL;
	if (!sk_config_has_kms(cfg)) {
		sk_err("no KMS is configured in %s: run 'securekey kms configure' first", cfg->path);
		return -ENOENT;
	}
	dir = sk_path_hsm_dir_or(hsm_dir, cfg->hsm_location);
	r = dir ? sk_hsm_open(dir, &cfg->apqns, &hsm) : -ENOMEM;
	if (r == 0)
		r = sk_identity_unwrap_der(hsm, cfg->identity_key, &cfg->apqns, der);
	sk_hsm_close(hsm);
	free(dir);
	return r;
}

int sk_kms_open_der(const struct sk_config *cfg, const struct sk_secret *der, struct sk_kms **out)
{
	struct sk_kms *kms = calloc(1, sizeof(*kms));
	int r;

	if (!kms)
		return -ENOMEM;
	kms->cfg = *cfg;
	r = sk_identity_parse(der, kms->cfg.identity_key, &kms->identity);
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

int sk_kms_open(const struct sk_config *cfg, const char *hsm_dir, struct sk_kms **out)
{
	struct sk_secret *der = NULL;
	int r = sk_kms_unwrap_identity(cfg, hsm_dir, &der);

	if (r == 0)
		r = sk_kms_open_der(cfg, der, out);
	sk_secret_free(der);
	return r;
}

void sk_kms_close(struct sk_kms *kms)
{
	if (!kms)
		return;
	for (size_t i = 0; i < SK_KMS_MAX_SERVERS; i++)
		sk_kmip_close(kms->conns[i]);
	if (kms->connections)
		sk_dbg("KMS session: %u TLS connection%s opened", kms->connections,
		       kms->connections == 1 ? "" : "s");
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

static bool configured(const struct sk_config *cfg, const char *url)
{
	for (size_t j = 0; j < cfg->n_servers; j++)
		if (same_server(url, cfg->servers[j]))
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
		if (!configured(cfg, where->servers[i])) {
			sk_err("%s: KMS server %s named by the LUKS2 header is not configured in %s; "
			       "it is not contacted",
			       device, where->servers[i], cfg->path);
			refused++;
		}
	}
	return refused;
}

static void drop_conn(struct sk_kms *kms, size_t server)
{
	sk_kmip_close(kms->conns[server]);
	kms->conns[server] = NULL;
}

/* Configured server @server's kept connection, or a new one; *reused says which. */
static int server_conn(struct sk_kms *kms, size_t server, bool *reused)
{
	struct sk_kmip_conn **conn = &kms->conns[server];
	int r;

	if (*conn && !sk_kmip_conn_idle(*conn)) {
		sk_verbose("KMS %s closed the connection kept open; connecting again",
			   sk_kmip_conn_name(*conn));
		drop_conn(kms, server);
	}
	*reused = *conn != NULL;
	if (*reused) {
		sk_kmip_set_deadline(*conn, &kms->tls);
		return 0;
	}
	r = sk_kms_connect(kms, kms->cfg.servers[server], conn);
	if (r < 0)
		return r;
	kms->connections++;
	sk_dbg("KMS %s: TLS connection opened", sk_kmip_conn_name(*conn));
	return 0;
}

/* One exchange with a server, on its connection. */
struct exchange {
	int (*run)(struct sk_kmip_conn *conn, struct exchange *x);
	const char *const *uids;
	size_t n;
	struct sk_secret **keys;
	int *results;
	bool connect_failed;
};

/*
 * Run @x on @server's connection. A kept connection can have been closed
 * by the server while idle, unseen, or fail in the middle: a read is
 * idempotent, so it is asked again once on a new connection.
 */
static int on_server(struct sk_kms *kms, size_t server, struct exchange *x)
{
	for (int attempt = 0;; attempt++) {
		bool reused;
		int r = server_conn(kms, server, &reused);

		x->connect_failed = r < 0;
		if (r < 0)
			return r;
		r = x->run(kms->conns[server], x);
		if (r < 0 && sk_kmip_conn_broken(kms->conns[server])) {
			drop_conn(kms, server);
			if (reused && !attempt && r != -ETIMEDOUT)
				continue;
		}
		return r;
	}
}

static int run_get(struct sk_kmip_conn *conn, struct exchange *x)
{
	return x->results[0] = sk_kmip_get_key(conn, x->uids[0], &x->keys[0]);
}

static int run_get_batch(struct sk_kmip_conn *conn, struct exchange *x)
{
	return sk_kmip_get_keys(conn, x->uids, x->n, x->keys, x->results);
}

/* Get @n keys from @server: in one batched request where it takes them. */
static int get_keys(struct sk_kms *kms, size_t server, const char *const *uids, size_t n,
		    struct sk_secret **keys, int *results)
{
	struct exchange x = { run_get_batch, uids, n, keys, results, false };
	int r = -EOPNOTSUPP;

	if (n > 1 && !kms->no_batch[server])
		r = on_server(kms, server, &x);
	if (r == -EOPNOTSUPP && n > 1 && !kms->no_batch[server]) {
		sk_verbose("KMS %s takes no batched requests; asking for one key at a time",
			   kms->cfg.servers[server]);
		kms->no_batch[server] = true;
	}
	for (size_t i = 0; r == -EOPNOTSUPP && i < n; i++) {
		int one;

		x = (struct exchange){ run_get, uids + i, 1, keys + i, results + i, false };
		one = on_server(kms, server, &x);
		for (size_t j = i; x.connect_failed && j < n; j++)
			results[j] = one;
		if (x.connect_failed)
			break;
	}
	if (r != -EOPNOTSUPP)
		for (size_t i = 0; r < 0 && i < n; i++)
			results[i] = r;
	return x.connect_failed ? -ENOTCONN : 0;
}

static const char *cause(int r)
{
	switch (r) {
	case -ENOENT:
		return "no such key";
	case -EACCES:
		return "permission denied";
	case -EPROTO:
		return "refused";
	case -EBADMSG:
		return "malformed response";
	case -EKEYREJECTED:
		return "server certificate refused";
	case -ETIMEDOUT:
		return "timed out";
	default:
		return strerror(-r);
	}
}

/* What sk_kms_fetch_many learns of an item while it runs. */
struct attempt {
	size_t tried, refused;
	int last_r;
	const char *last_server;
};

static void record(struct sk_kms_fetch *f, struct attempt *a, const char *server, bool secondary,
		   int r, struct sk_secret *vk)
{
	a->tried++;
	if (r < 0) {
		f->r = a->last_r = r;
		a->last_server = server;
		return;
	}
	f->r = 0;
	f->vk = vk;
	sk_verbose("volume key %s fetched from %s%s", f->where->key_id, server,
		   secondary ? " (a secondary server)" : "");
}

/* The items of @f (at most SK_KMIP_BATCH_MAX) that @server may answer and still lack a key. */
static size_t to_ask(const struct sk_kms_fetch *f, size_t count, const char *server,
		     size_t *idx, const char **uids)
{
	size_t n = 0;

	for (size_t i = 0; i < count; i++)
		if (f[i].r != 0 && names_server(f[i].where, server)) {
			idx[n] = i;
			uids[n++] = f[i].where->key_id;
		}
	return n;
}

static void timed_out(const struct sk_config *cfg, struct sk_kms_fetch *f, const size_t *idx,
		      size_t n, const char *server)
{
	for (size_t j = 0; j < n; j++) {
		sk_err("%s: the KMS timeout of %d s ([kms] timeout) passed before %s was tried",
		       f[idx[j]].device, cfg->timeout, server);
		f[idx[j]].r = -ETIMEDOUT;
	}
}

/*
 * Up to SK_KMIP_BATCH_MAX items: each configured server in turn (primary
 * first) is asked for the keys it may answer, all in one request. One
 * [kms] timeout bounds the whole chunk, over every server and name lookup.
 */
static void fetch_chunk(struct sk_kms *kms, struct sk_kms_fetch *f, struct attempt *a,
			size_t count, bool *down)
{
	const struct sk_config *cfg = &kms->cfg;

	kms->tls.deadline_ms = sk_kmip_clock_ms() + cfg->timeout * 1000LL;
	for (size_t s = 0; s < cfg->n_servers; s++) {
		struct sk_secret *keys[SK_KMIP_BATCH_MAX];
		const char *uids[SK_KMIP_BATCH_MAX];
		size_t idx[SK_KMIP_BATCH_MAX], n = to_ask(f, count, cfg->servers[s], idx, uids);
		int results[SK_KMIP_BATCH_MAX];

		if (!n)
			continue;
		if (sk_kmip_clock_ms() >= kms->tls.deadline_ms) {
			timed_out(cfg, f, idx, n, cfg->servers[s]);
			break;
		}
		/* Not reached for an earlier chunk: its error was logged then. */
		for (size_t j = 0; j < n; j++)
			results[j] = -EHOSTUNREACH;
		if (!down[s] && get_keys(kms, s, uids, n, keys, results) == -ENOTCONN)
			down[s] = true;
		for (size_t j = 0; j < n; j++)
			record(&f[idx[j]], &a[idx[j]], cfg->servers[s], s > 0, results[j],
			       results[j] ? NULL : keys[j]);
	}
	kms->tls.deadline_ms = 0;
}

static void summarize(struct sk_kms_fetch *f, const struct attempt *a)
{
	char more[64] = "", last[SK_KMS_URL_MAX + 64] = "";

	if (a->refused)
		snprintf(more, sizeof(more), "; refused %zu that only the header names", a->refused);
	if (a->last_server)
		snprintf(last, sizeof(last), "; %s: %s", a->last_server, cause(a->last_r));
	snprintf(f->why, sizeof(f->why),
		 "no KMS server answered with volume key %s (tried %zu server%s%s)%s",
		 f->where->key_id, a->tried, a->tried == 1 ? "" : "s", more, last);
	if (f->r == -ENOENT && a->refused)
		f->r = -EPERM;
}

void sk_kms_fetch_many(struct sk_kms *kms, struct sk_kms_fetch *f, size_t n)
{
	struct attempt *a = calloc(n ? n : 1, sizeof(*a));
	bool down[SK_KMS_MAX_SERVERS] = { false };

	for (size_t i = 0; i < n; i++) {
		f[i].vk = NULL;
		f[i].r = a ? -ENOENT : -ENOMEM;
		f[i].why[0] = '\0';
		if (a)
			a[i].refused = refuse_unconfigured(&kms->cfg, f[i].device, f[i].where);
	}
	for (size_t i = 0; a && i < n; i += SK_KMIP_BATCH_MAX)
		fetch_chunk(kms, f + i, a + i, n - i < SK_KMIP_BATCH_MAX ? n - i : SK_KMIP_BATCH_MAX,
			    down);
	for (size_t i = 0; a && i < n; i++)
		if (f[i].r < 0)
			summarize(&f[i], &a[i]);
	free(a);
}

int sk_kms_fetch(struct sk_kms *kms, const char *device, const struct sk_token_kms *where,
		 struct sk_secret **vk)
{
	struct sk_kms_fetch f = { .device = device, .where = where };

	sk_kms_fetch_many(kms, &f, 1);
	if (f.r < 0 && f.why[0])
		sk_err("%s: %s", device, f.why);
	*vk = f.vk;
	return f.r;
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

/* KMIP State Active: a key in it must be revoked before it can be destroyed. */
#define KMIP_STATE_ACTIVE 2

/* Revoke @uid (Cessation of Operation) when it is active, then destroy it. */
static int revoke_destroy(struct sk_kmip_conn *conn, const char *uid, bool active)
{
	int r = active ? sk_kmip_revoke(conn, uid) : 0;

	return r ? r : sk_kmip_destroy(conn, uid);
}

void sk_kms_forget(struct sk_kms *kms, const struct sk_token_kms *where)
{
	struct sk_kmip_conn *conn;

	if (sk_kms_connect(kms, where->servers[0], &conn) < 0)
		return;
	if (revoke_destroy(conn, where->key_id, true) == 0)
		sk_info("removed key %s from KMS %s again", where->key_id, where->servers[0]);
	sk_kmip_close(conn);
}

/*
 * The key @uid on @conn must be @vk: a key id edited into the header must
 * not make securekey destroy another volume's key. Sets *active, and
 * *not_ours (said) when it is another key.
 */
static int check_own_key(struct sk_kmip_conn *conn, const char *device, const char *uid,
			 const struct sk_secret *vk, bool *active, bool *not_ours)
{
	struct sk_kmip_attrs attrs;
	struct sk_secret *key = NULL;
	int r = sk_kmip_get_attributes(conn, uid, &attrs);

	if (!r)
		r = sk_kmip_get_key(conn, uid, &key);
	if (!r && (key->len != vk->len || CRYPTO_memcmp(key->data, vk->data, vk->len))) {
		sk_err("%s: key %s on KMS %s is not the volume key of this device; it is not "
		       "destroyed and the device was not changed",
		       device, uid, sk_kmip_conn_name(conn));
		*not_ours = true;
		r = -EINVAL;
	}
	*active = !r && attrs.state == KMIP_STATE_ACTIVE;
	sk_secret_free(key);
	return r;
}

int sk_kms_destroy(struct sk_kms *kms, const char *device, const struct sk_token_kms *where,
		   const struct sk_secret *vk)
{
	const char *url = where->servers[0];
	struct sk_kmip_conn *conn = NULL;
	bool active = false, not_ours = false;
	int r;

	/* Registration went to the primary, the first server the token names. */
	if (!configured(&kms->cfg, url)) {
		sk_err("%s: KMS server %s named by the LUKS2 header is not configured in %s; it is "
		       "not contacted and nothing was changed",
		       device, url, kms->cfg.path);
		return -EPERM;
	}
	r = sk_kms_connect(kms, url, &conn);
	if (!r) {
		r = check_own_key(conn, device, where->key_id, vk, &active, &not_ours);
		/* Not there: destroyed by an earlier remove whose token removal then failed. */
		if (r == -ENOENT)
			r = 1;
		else if (!r)
			r = revoke_destroy(conn, where->key_id, active);
	}
	if (r < 0 && !not_ours)
		sk_err("%s: cannot destroy key %s on KMS %s: %s; the device was not changed", device,
		       where->key_id, url, cause(r));
	sk_kmip_close(conn);
	return r;
}
