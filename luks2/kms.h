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

/* Connect to server @url of this configuration's TLS settings. */
int sk_kms_connect(struct sk_kms *kms, const char *url, struct sk_kmip_conn **conn);

/*
 * Fetch the volume key @where names from the configured servers, primary
 * first, that @where names too; a server only the header names is refused
 * with a message naming @device. The configured [kms] timeout bounds the
 * whole fetch, name lookups included.
 */
int sk_kms_fetch(struct sk_kms *kms, const char *device, const struct sk_token_kms *where,
		 struct sk_secret **vk);

/*
 * sk_kms_open, sk_kms_fetch and sk_kms_close in a child process, whose
 * memory (the identity key, OpenSSL's unwiped copies of it, TLS buffers)
 * ends with it: only the volume key comes back, into locked memory.
 * Bounded by [kms] timeout plus a margin for the HSM; the child is killed
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

#endif
