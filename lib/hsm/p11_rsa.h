/*
 * RSA-OAEP master keys on a PKCS#11 token, for tokens without AES-GCM or
 * AES-KWP (a TPM2 through tpm2-pkcs11): a register is an RSA-2048 key pair
 * generated in the token. The private key is sensitive, never extractable
 * and may only decrypt; the public key object carries the same CKA_ID (the
 * MKVP) and the label SK_P11_RSA_PUBLIC_LABEL, so moving a register between
 * labels relabels the private key alone. Secure keys are enciphered outside
 * the token with the public key read from it (OpenSSL), deciphered inside
 * with C_Decrypt(CKM_RSA_PKCS_OAEP) with SHA-256 and MGF1-SHA256, or SHA-1
 * and MGF1-SHA1 for a token that decrypts OAEP with no other hash (SoftHSM2
 * 2.6; C_GetMechanismInfo does not tell hashes): a test decryption when the
 * pair is generated finds which, and the public key's label records it
 * (SK_P11_RSA_PUBLIC_LABEL, or SK_P11_RSA_PUBLIC_LABEL_SHA1). Blobs name
 * the hash by their backend id (blob.h).
 *
 * RSA-2048, not 3072: the TPM PC Client profile requires 2048 only, and
 * tpm2-pkcs11 offers no more than the TPM does.
 */
#ifndef SECUREKEY_P11_RSA_H
#define SECUREKEY_P11_RSA_H

#include <stdbool.h>
#include <stddef.h>

#include "blob.h"
#include "mkvp.h"
#include "p11_token.h"
#include "secmem.h"

#define SK_P11_RSA_BITS 2048
#define SK_P11_RSA_PUBLIC_LABEL "securekey-mk-public"
#define SK_P11_RSA_PUBLIC_LABEL_SHA1 "securekey-mk-public-sha1"

/* True when the token can make RSA key pairs and decrypt RSA-OAEP with them. */
bool sk_p11_rsa_supported(struct sk_p11 *p11);

/*
 * Generate a key pair labelled @label (both halves), find the OAEP hash the
 * token decrypts with (SHA-256, else SHA-1), then give both the MKVP of the
 * public key as CKA_ID and the public half the label naming that hash.
 * Nothing is left on failure. *@priv is the register's object.
 */
int sk_p11_rsa_generate(struct sk_p11 *p11, const char *label, CK_OBJECT_HANDLE *priv,
			unsigned char mkvp[SK_MKVP_LEN]);

/* Destroy the private key @priv and the public key that has CKA_ID @mkvp. */
int sk_p11_rsa_destroy(struct sk_p11 *p11, CK_OBJECT_HANDLE priv,
		       const unsigned char mkvp[SK_MKVP_LEN]);

/*
 * The MKVP of an RSA public key: the first 8 bytes of
 * SHA-256("securekey-mkvp-rsa" | DER SubjectPublicKeyInfo).
 */
int sk_p11_rsa_spki_mkvp(const unsigned char *der, size_t len, unsigned char mkvp[SK_MKVP_LEN]);

/*
 * The blob id of the key pair @mkvp names: SK_BLOB_PKCS11_RSA (OAEP with
 * SHA-256) or SK_BLOB_PKCS11_RSA_SHA1, from its public key's label.
 */
int sk_p11_rsa_backend(struct sk_p11 *p11, const unsigned char mkvp[SK_MKVP_LEN],
		       enum sk_blob_backend *backend);
/* "SHA-256" or "SHA-1": the OAEP hash of an RSA blob id. */
const char *sk_p11_rsa_hash_name(enum sk_blob_backend backend);

/* Fill the RSA-OAEP payload of @blob (framed for @backend) under the key @mkvp names. */
int sk_p11_rsa_seal(struct sk_p11 *p11, enum sk_blob_backend backend,
		    const unsigned char mkvp[SK_MKVP_LEN], const struct sk_secret *key,
		    unsigned char *blob, size_t blob_len);

/* Decipher the payload of @blob with @priv in the token; -EKEYREJECTED when it does not verify. */
int sk_p11_rsa_unseal(struct sk_p11 *p11, enum sk_blob_backend backend, CK_OBJECT_HANDLE priv,
		      const unsigned char *blob, size_t blob_len, struct sk_secret *key);

#endif
