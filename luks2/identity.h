/*
 * The KMS identity key: the private key of the client certificate, kept as a
 * secure key (soft-HSM-wrapped, like a volume key) in <path>, with
 * <path>.staged between a staged re-encipher and its completion. It follows
 * the volume keys' register rules (keystate.h) and is unwrapped only into
 * memory, for the TLS handshake.
 */
#ifndef SECUREKEY_IDENTITY_H
#define SECUREKEY_IDENTITY_H

#include <openssl/evp.h>

#include "hsm.h"
#include "keystate.h"
#include "reencipher.h"
#include "token.h"

/* The unencrypted PEM private key in @pem_path, which must be 0600. */
EVP_PKEY *sk_identity_read_pem(const char *pem_path);
/* Wrap @pkey under CURRENT into @path (replacing it and any staged key). */
int sk_identity_store(struct sk_hsm *hsm, EVP_PKEY *pkey, const char *path);

/* The identity's secure keys as a token in memory (for keystate/reencipher). */
int sk_identity_read(const char *path, const struct sk_apqn_list *apqns, struct sk_token *token);

/* The private key, from whichever secure key a register still holds. */
int sk_identity_unwrap(struct sk_hsm *hsm, const char *path, const struct sk_apqn_list *apqns,
		       EVP_PKEY **key);

/* One step of the master-key change for the identity key, under a lock. */
int sk_identity_reencipher(struct sk_hsm *hsm, const char *path,
			   const struct sk_apqn_list *apqns, enum sk_reencipher_mode mode,
			   enum sk_next_step *done);

#endif
