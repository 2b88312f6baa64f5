/*
 * KMIP client: one mutually authenticated TLS connection to one server, the
 * protocol version agreed on it, and the operations securekey needs. Server
 * lists and fail-over live a level up, in kms.h.
 */
#ifndef SECUREKEY_KMIP_H
#define SECUREKEY_KMIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "secmem.h"

#define SK_KMIP_UID_MAX 128
#define SK_KMIP_TEXT_MAX 256
#define SK_KMIP_DEFAULT_PORT "5696"
/* Items of one batched request: a Get response item takes about 14 TTLV items. */
#define SK_KMIP_BATCH_MAX 32

struct sk_kmip_version {
	int major, minor;
};

/* "kmip://HOST[:PORT]" with HOST a name, an IPv4 address or [IPv6]. */
struct sk_kmip_endpoint {
	char host[256];
	char port[6];
};

int sk_kmip_parse_url(const char *url, struct sk_kmip_endpoint *ep);

struct sk_kmip_tls {
	const char *ca_file;   /* the only trust anchor: no system store */
	const char *cert_file; /* client certificate, may hold its chain */
	EVP_PKEY *key;         /* client private key (the identity key) */
	int timeout_ms;        /* the whole connection: resolve, connect, handshake, requests
				  (sk_kmip_set_deadline: the next requests) */
	long long deadline_ms; /* when set, no connection lasts past it (sk_kmip_clock_ms) */
};

/* CLOCK_MONOTONIC in milliseconds, the clock of deadline_ms. */
long long sk_kmip_clock_ms(void);

/* Requested protocol: {0,0} negotiates with DiscoverVersions. */
struct sk_kmip_conn;

int sk_kmip_connect(const struct sk_kmip_endpoint *ep, const struct sk_kmip_tls *tls,
		    struct sk_kmip_version want, struct sk_kmip_conn **conn);
void sk_kmip_close(struct sk_kmip_conn *conn);
/*
 * A TCP connection to @ep within @timeout_ms, closed at once: whether the
 * server is up, for when no TLS client identity is at hand to ask more.
 */
int sk_kmip_probe(const struct sk_kmip_endpoint *ep, int timeout_ms);
struct sk_kmip_version sk_kmip_conn_version(const struct sk_kmip_conn *conn);
/* "HOST:PORT", for messages. */
const char *sk_kmip_conn_name(const struct sk_kmip_conn *conn);
/*
 * A connection kept for further requests gets a new bound for them from
 * @tls (timeout_ms from now, never past deadline_ms), as sk_kmip_connect
 * gave it for the first ones.
 */
void sk_kmip_set_deadline(struct sk_kmip_conn *conn, const struct sk_kmip_tls *tls);
/* Nothing arrived since the last response and no TLS error: fit for another request. */
bool sk_kmip_conn_idle(const struct sk_kmip_conn *conn);
/* A transport failure (TLS error, timeout) ended it: drop it. */
bool sk_kmip_conn_broken(const struct sk_kmip_conn *conn);

struct sk_kmip_attrs {
	char name[SK_KMIP_TEXT_MAX];
	uint32_t algorithm;
	int32_t length;
	uint32_t state;
	char app_namespace[SK_KMIP_TEXT_MAX];
	char app_data[SK_KMIP_TEXT_MAX];
};

/* A symmetric AES key under @name, with Application Specific Information. */
int sk_kmip_register_aes(struct sk_kmip_conn *conn, const struct sk_secret *key,
			 const char *name, const char *app_namespace, const char *app_data,
			 char uid[SK_KMIP_UID_MAX]);
int sk_kmip_create_aes(struct sk_kmip_conn *conn, unsigned bits, const char *name,
		       char uid[SK_KMIP_UID_MAX]);
/* The raw key material of symmetric key @uid, in locked memory. */
int sk_kmip_get_key(struct sk_kmip_conn *conn, const char *uid, struct sk_secret **key);
/*
 * Get @n keys (2 to SK_KMIP_BATCH_MAX) in one request of @n batch items:
 * @results[i] is 0 with @keys[i] set, or the errno of that item (refusals
 * logged). Returns 0 when the server answered item by item, -EOPNOTSUPP
 * when it does not take batches (ask one by one), or the error of the
 * exchange (then no key is set).
 */
int sk_kmip_get_keys(struct sk_kmip_conn *conn, const char *const *uids, size_t n,
		     struct sk_secret **keys, int *results);
int sk_kmip_locate(struct sk_kmip_conn *conn, const char *name, char (*uids)[SK_KMIP_UID_MAX],
		   size_t max, size_t *count);
int sk_kmip_get_attributes(struct sk_kmip_conn *conn, const char *uid,
			   struct sk_kmip_attrs *attrs);
int sk_kmip_activate(struct sk_kmip_conn *conn, const char *uid);
int sk_kmip_revoke(struct sk_kmip_conn *conn, const char *uid);
int sk_kmip_destroy(struct sk_kmip_conn *conn, const char *uid);

#endif
