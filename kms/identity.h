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
#include <openssl/x509.h>

#include "hsm.h"
#include "keystate.h"
#include "reencipher.h"
#include "token.h"

/* The unencrypted PEM private key in @pem_path, which must be 0600. */
EVP_PKEY *sk_identity_read_pem(const char *pem_path);
/* Wrap @pkey under CURRENT into @path (replacing it and any staged key). */
int sk_identity_store(struct sk_hsm *hsm, EVP_PKEY *pkey, const char *path);

/*
 * A new client key (EC P-256), generated in OpenSSL's memory and wrapped at
 * once under CURRENT into @path: it is never written in clear.
 */
int sk_identity_generate(struct sk_hsm *hsm, const char *path, EVP_PKEY **pkey);
/* The subject "/CN=host/O=org" (OpenSSL's one-line form); NULL with a message. */
X509_NAME *sk_identity_subject(const char *text);
/* A certificate signing request (PEM, mode 0644) for @pkey into @csr_path. */
int sk_identity_write_csr(EVP_PKEY *pkey, const X509_NAME *subject, const char *csr_path);
/* The (first) certificate of @cert_path is for @pkey: -EKEYREJECTED otherwise. */
int sk_identity_check_cert(EVP_PKEY *pkey, const char *cert_path);

/* The identity's secure keys as a token in memory (for keystate/reencipher). */
int sk_identity_read(const char *path, const struct sk_apqn_list *apqns, struct sk_token *token);

/*
 * The private key's DER, into locked memory, from whichever secure key a
 * register still holds: the HSM's part of sk_identity_unwrap.
 */
int sk_identity_unwrap_der(struct sk_hsm *hsm, const char *path, const struct sk_apqn_list *apqns,
			   struct sk_secret **der);
/* The private key of @der (from sk_identity_unwrap_der of @path, for messages). */
int sk_identity_parse(const struct sk_secret *der, const char *path, EVP_PKEY **key);

/* The private key, from whichever secure key a register still holds. */
int sk_identity_unwrap(struct sk_hsm *hsm, const char *path, const struct sk_apqn_list *apqns,
		       EVP_PKEY **key);

/* One step of the master-key change for the identity key, under a lock. */
int sk_identity_reencipher(struct sk_hsm *hsm, const char *path,
			   const struct sk_apqn_list *apqns, enum sk_reencipher_mode mode,
			   enum sk_next_step *done);

#endif
