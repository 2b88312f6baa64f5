/*
 * Secure key blob, version 1 (all integers big-endian):
 *   magic "SKEY" | backend u4 . version u4 | key type u8 | key bits u16 |
 *   MKVP[8] | nonce[12] | ciphertext[bits/8] | tag[16]
 * AES-256-GCM under the master key, with everything before the ciphertext
 * as associated data, so any change to any byte fails to unwrap. The high
 * nibble of the version byte names the backend that holds the master key
 * (0 soft, 1 pkcs11, 2 pkcs11 with AES-KWP), so a blob taken to the other
 * backend is refused with a message instead of an MKVP no register holds.
 *
 * Backend 2 is for PKCS#11 modules without CKM_AES_GCM: after the header
 * comes AES-KWP (RFC 5649, CKM_AES_KEY_WRAP_KWP) of key | check, where
 * check is the first 8 bytes of SHA-256 of the header. KWP has no
 * associated data; the check binds the header instead. The payload is
 * then bits/8 + 16 bytes for every volume key, as with GCM, and up to 7
 * bytes more for an identity key whose length is not a multiple of 8.
 *
 * Backend 3 is for tokens with neither AES mode (a TPM2 through tpm2-pkcs11,
 * PIV cards): the master key is an RSA-2048 key pair made in the token, and
 * after the header comes RSA-OAEP (no label) of key | check under its
 * public key, enciphered outside the token; the check is the KWP one.
 * Backend 3 is OAEP with SHA-256 and MGF1-SHA256, backend 4 with SHA-1 and
 * MGF1-SHA1, for tokens that decrypt OAEP with SHA-1 only (SoftHSM2 2.6):
 * the hash is the key pair's, found when it was generated. The payload is
 * always SK_BLOB_RSA_LEN bytes, and the key may be at most
 * SK_BLOB_RSA_KEY_MAX bytes (the SHA-256 bound, for both). Older readers
 * refuse these blobs as an unsupported version; older blobs parse as they
 * did.
 */
#ifndef SECUREKEY_BLOB_H
#define SECUREKEY_BLOB_H

#include <stdbool.h>
#include <stddef.h>

#include "mkvp.h"
#include "secmem.h"

#define SK_BLOB_MAGIC "SKEY"
#define SK_BLOB_VERSION 1
#define SK_BLOB_NONCE_LEN 12
#define SK_BLOB_TAG_LEN 16
#define SK_BLOB_HEADER_LEN (4 + 1 + 1 + 2 + SK_MKVP_LEN + SK_BLOB_NONCE_LEN)
#define SK_BLOB_MAX_LEN (SK_BLOB_HEADER_LEN + 64 + SK_BLOB_TAG_LEN)
/* The longest volume-key blob of any backend: RSA-OAEP's (a secure key file). */
#define SK_BLOB_VOLUME_MAX_LEN (SK_BLOB_HEADER_LEN + SK_BLOB_RSA_LEN)

enum sk_key_type {
	SK_KEY_AES = 1,     /* plain AES key: 128, 192 or 256 bits */
	SK_KEY_AES_XTS = 2, /* two AES keys for XTS: 256 or 512 bits */
	/* A private key in DER, any whole number of bytes; three bits from the AES codes. */
	SK_KEY_IDENTITY = 12,
};

#define SK_IDENTITY_MIN_LEN 16
#define SK_IDENTITY_MAX_LEN 4096
#define SK_BLOB_KWP_CHECK_LEN 8
#define SK_BLOB_IDENTITY_MAX_LEN (SK_BLOB_HEADER_LEN + SK_IDENTITY_MAX_LEN + SK_BLOB_TAG_LEN + 7)

enum sk_blob_backend {
	SK_BLOB_SOFT = 0,
	SK_BLOB_PKCS11 = 1,
	SK_BLOB_PKCS11_KWP = 2,
	SK_BLOB_PKCS11_RSA = 3,
	SK_BLOB_PKCS11_RSA_SHA1 = 4,
};

/* RSA-OAEP, with either hash. */
static inline bool sk_blob_is_rsa(enum sk_blob_backend backend)
{
	return backend == SK_BLOB_PKCS11_RSA || backend == SK_BLOB_PKCS11_RSA_SHA1;
}

/* RSA-2048: the OAEP ciphertext, and what fits in it beside the check (2 * 32 + 2 for OAEP). */
#define SK_BLOB_RSA_LEN 256
#define SK_BLOB_RSA_KEY_MAX (SK_BLOB_RSA_LEN - 2 * 32 - 2 - SK_BLOB_KWP_CHECK_LEN)

struct sk_key_spec {
	enum sk_key_type type;
	unsigned bits;
};

struct sk_blob_header {
	unsigned version;
	enum sk_blob_backend backend;
	struct sk_key_spec key;
	unsigned char mkvp[SK_MKVP_LEN];
	unsigned char nonce[SK_BLOB_NONCE_LEN];
};

/*
 * "aes-xts-512", "aes-xts-256", "aes-256", "aes-192", "aes-128": the volume
 * key types. An identity key is never named by a token, so it has no name
 * to parse; its spec is { SK_KEY_IDENTITY, 8 * DER length }.
 */
int sk_key_spec_parse(const char *name, struct sk_key_spec *spec);
/* Name of a valid spec, e.g. "aes-xts-512"; @buf needs 16 bytes. */
const char *sk_key_spec_name(const struct sk_key_spec *spec, char buf[16]);
/* The length of an AES-GCM blob (soft, pkcs11). */
size_t sk_blob_len(const struct sk_key_spec *spec);
/* The length of a blob of @backend (for RSA, whatever the key's length). */
size_t sk_blob_len_for(enum sk_blob_backend backend, const struct sk_key_spec *spec);
/* The check a KWP blob wraps behind the key: SHA-256 of its header, cut to 8 bytes. */
int sk_blob_kwp_check(const unsigned char *blob, unsigned char check[SK_BLOB_KWP_CHECK_LEN]);

/* Encipher @key (spec->bits/8 bytes) under @mk; blob is malloc'd. */
int sk_blob_seal(const unsigned char mk[SK_MK_LEN], const struct sk_key_spec *spec,
		 const struct sk_secret *key, unsigned char **blob, size_t *blob_len);

/* "soft" or "pkcs11" (every pkcs11 id). */
const char *sk_blob_backend_name(enum sk_blob_backend backend);

/*
 * A new blob of sk_blob_len_for(@backend, @spec) bytes (malloc'd) with its header written
 * for @backend, @mkvp and a random nonce; the caller (a backend that
 * enciphers inside its HSM) fills ciphertext and tag behind the header.
 */
int sk_blob_frame(enum sk_blob_backend backend, const struct sk_key_spec *spec,
		  const unsigned char mkvp[SK_MKVP_LEN], unsigned char **blob);

/*
 * Check the framing of @blob and fill @hdr. Errors are logged and name the
 * MKVP the blob claims whenever the blob is long enough to carry one.
 */
int sk_blob_parse(const unsigned char *blob, size_t blob_len, struct sk_blob_header *hdr);

/*
 * Decipher @blob with @mk (whose MKVP the caller matched to the header).
 * -EKEYREJECTED when authentication fails: wrong key or altered blob.
 */
int sk_blob_open(const unsigned char mk[SK_MK_LEN], const unsigned char *blob, size_t blob_len,
		 struct sk_secret **key);

#endif
