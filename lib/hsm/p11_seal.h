/*
 * Secure keys on a PKCS#11 token: the volume key enciphered inside the token
 * under a master key, in the blob layout of blob.h. AES-GCM where the token
 * has it (blob backend 1), else AES-KWP (backend 2).
 */
#ifndef SECUREKEY_P11_SEAL_H
#define SECUREKEY_P11_SEAL_H

#include <stddef.h>

#include "blob.h"
#include "p11_token.h"
#include "secmem.h"

/* The blob id of the cipher this token offers; -EOPNOTSUPP when it has neither. */
int sk_p11_seal_backend(struct sk_p11 *p11, enum sk_blob_backend *backend);
/* Log that the token has neither cipher; returns -EOPNOTSUPP. */
int sk_p11_seal_unavailable(const struct sk_p11 *p11);
/* What the token's new secure keys are enciphered with, for hsm status. */
const char *sk_p11_seal_describe(struct sk_p11 *p11);
/* "AES-GCM" or "AES-KWP": the cipher of a blob, for messages. */
const char *sk_p11_seal_name(enum sk_blob_backend backend);

/* Fill the payload of @blob (framed by sk_blob_frame for @backend) from @key under @mk. */
int sk_p11_seal(struct sk_p11 *p11, CK_OBJECT_HANDLE mk, enum sk_blob_backend backend,
		const struct sk_secret *key, unsigned char *blob, size_t blob_len);

/* Decipher @blob (parsed into @hdr) under @mk; -EKEYREJECTED when it does not verify. */
int sk_p11_unseal(struct sk_p11 *p11, CK_OBJECT_HANDLE mk, const struct sk_blob_header *hdr,
		  const unsigned char *blob, size_t blob_len, struct sk_secret **key);

#endif
