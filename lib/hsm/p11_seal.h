/*
 * Secure keys on a PKCS#11 token: the volume key enciphered under a master
 * key, in the blob layout of blob.h. AES-GCM inside the token where it has
 * it (blob backend 1), else AES-KWP (backend 2), else RSA-OAEP (backend 3,
 * p11_rsa.h: enciphered outside under the public key, deciphered inside).
 */
#ifndef SECUREKEY_P11_SEAL_H
#define SECUREKEY_P11_SEAL_H

#include <stddef.h>

#include "blob.h"
#include "p11_token.h"
#include "secmem.h"

/* "aes-gcm", "aes-kwp", "rsa-oaep" ([hsm] master_key_kind); -EINVAL otherwise. */
int sk_p11_kind_parse(const char *name, enum sk_p11_kind *kind);
/* The kind a location's query names ([hsm] master_key_kind, conf.c), else AUTO. */
int sk_p11_kind_of_location(const char *location, enum sk_p11_kind *kind);
/* The name of @kind, "none" for AUTO. */
const char *sk_p11_kind_name(enum sk_p11_kind kind);

/*
 * Fill p11->kind: @configured when the token has its mechanisms (else
 * -EOPNOTSUPP, logged, naming the setting), or by the token's mechanisms:
 * AES-GCM, else AES-KWP, else RSA-OAEP, else AUTO (no master key can be made).
 */
int sk_p11_kind_pick(struct sk_p11 *p11, enum sk_p11_kind configured);

/* The blob id for a secure key under an AES master key (@rsa false) or an RSA one. */
int sk_p11_seal_backend(struct sk_p11 *p11, bool rsa, enum sk_blob_backend *backend);
/* Log that the token has no cipher securekey uses; returns -EOPNOTSUPP. */
int sk_p11_seal_unavailable(const struct sk_p11 *p11);
/* What the token's new master keys encipher with, for hsm status. */
const char *sk_p11_seal_describe(const struct sk_p11 *p11);
/* "AES-GCM", "AES-KWP" or "RSA-OAEP": the cipher of a blob, for messages. */
const char *sk_p11_seal_name(enum sk_blob_backend backend);

/*
 * Fill the payload of @blob (framed by sk_blob_frame for @backend) from @key
 * under @mk (for RSA-OAEP, under the public key of the MKVP in the header).
 */
int sk_p11_seal(struct sk_p11 *p11, CK_OBJECT_HANDLE mk, enum sk_blob_backend backend,
		const struct sk_secret *key, unsigned char *blob, size_t blob_len);

/* Decipher @blob (parsed into @hdr) under @mk; -EKEYREJECTED when it does not verify. */
int sk_p11_unseal(struct sk_p11 *p11, CK_OBJECT_HANDLE mk, const struct sk_blob_header *hdr,
		  const unsigned char *blob, size_t blob_len, struct sk_secret **key);

#endif
