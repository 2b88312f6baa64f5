/*
 * A KMS session: the configuration, the identity key unwrapped into memory,
 * and fail-over across servers. Reads try the servers in order (primary
 * first); writes go to the primary only, so a copy is never registered where
 * the others cannot find it.
 */
#ifndef SECUREKEY_KMS_H
#define SECUREKEY_KMS_H

#include <stdbool.h>

#include "conf.h"
#include "kmip.h"
#include "token.h"

#define SK_KMS_APP_NAMESPACE "securekey-device"

struct sk_kms;

/* Refuses when the configuration has no [kms]; @hsm_dir NULL: the default. */
int sk_kms_open(const struct sk_config *cfg, const char *hsm_dir, struct sk_kms **kms);
void sk_kms_close(struct sk_kms *kms);

/* sk_kms_open in two steps: the HSM's (the identity key's DER, locked) ... */
int sk_kms_unwrap_identity(const struct sk_config *cfg, const char *hsm_dir, struct sk_secret **der);
/* ... and OpenSSL's (the session, from that DER; no HSM used). */
int sk_kms_open_der(const struct sk_config *cfg, const struct sk_secret *der, struct sk_kms **kms);

/* Connect to server @url of this configuration's TLS settings. */
int sk_kms_connect(struct sk_kms *kms, const char *url, struct sk_kmip_conn **conn);

/*
 * Fetch the volume key @where names from the configured servers, primary
 * first, that @where names too; a server only the header names is refused
 * with a message naming @device. The configured [kms] timeout bounds the
 * whole fetch, name lookups included. The connection stays open for the
 * session's next fetch (reconnected once if the server dropped it).
 */
int sk_kms_fetch(struct sk_kms *kms, const char *device, const struct sk_token_kms *where,
		 struct sk_secret **vk);

/* One volume key to fetch; sk_kms_fetch_many fills vk, r and why. */
struct sk_kms_fetch {
	const char *device;		  /* names it in messages */
	const struct sk_token_kms *where; /* from its LUKS2 header */
	struct sk_secret *vk;		  /* the key, or NULL */
	int r;				  /* 0, or why not as a negative errno */
	char why[SK_TOKEN_KMS_TEXT_MAX + SK_KMS_URL_MAX + 160]; /* a failure, without the device */
};

/*
 * sk_kms_fetch for @n volume keys over the session's connections, the Gets
 * for one server batched in requests of up to SK_KMIP_BATCH_MAX items where
 * the server takes them (else one by one). One [kms] timeout bounds each
 * such group of devices over all its servers; a server that could not be
 * reached is not asked again for later groups. The caller checks each key
 * against its header before use.
 */
void sk_kms_fetch_many(struct sk_kms *kms, struct sk_kms_fetch *f, size_t n);

/*
 * sk_kms_fetch in a child process, whose memory (OpenSSL's unwiped copies
 * of the identity key, TLS buffers) ends with it: only the volume key comes
 * back, into locked memory. The identity key is unwrapped by the HSM here,
 * in the caller's process, before the fork (sk_kms_unwrap_identity; the
 * child only parses its DER): a PKCS#11 module is not used in the child.
 * The fetch is bounded by [kms] timeout plus a margin; the child is killed
 * after that. For processes that cannot make OpenSSL wipe what it frees
 * (the token plugin in cryptsetup).
 */
int sk_kms_fetch_isolated(const struct sk_config *cfg, const char *hsm_dir, const char *device,
			  const struct sk_token_kms *where, struct sk_secret **vk);

/*
 * Register @vk on the primary as an active AES key named @name (the LUKS
 * UUID) with @device in its Application Specific Information; @where gets
 * the servers, key id and name for the token.
 */
int sk_kms_register(struct sk_kms *kms, const struct sk_secret *vk, const char *name,
		    const char *device, struct sk_token_kms *where);

/* Remove a key registered by a change that then failed (best effort). */
void sk_kms_forget(struct sk_kms *kms, const struct sk_token_kms *where);

/*
 * Revoke (when active) and destroy the copy of @vk that @where names, on
 * the primary server the token names, which must be a configured one; the
 * key there must be @vk. Returns 0 when destroyed, 1 when the server has no
 * such key (destroyed already), or -errno with the reason logged, naming
 * @device.
 */
int sk_kms_destroy(struct sk_kms *kms, const char *device, const struct sk_token_kms *where,
		   const struct sk_secret *vk);

#endif
