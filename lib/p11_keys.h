/*
 * The objects securekey keeps on a PKCS#11 token: AES-256 master keys that
 * never leave it (CKA_SENSITIVE, not CKA_EXTRACTABLE), found by label, with
 * their MKVP as CKA_ID; and one data object with the token's APQN names.
 * Every cipher operation runs inside the token.
 */
#ifndef SECUREKEY_P11_KEYS_H
#define SECUREKEY_P11_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#include "mkvp.h"
#include "p11_token.h"

/*
 * The secret key labelled @label: 0 and *@obj, -ENOENT (nothing logged)
 * when there is none, -EUCLEAN when there are several. @mkvp (optional)
 * gets its CKA_ID; -EUCLEAN when that is not an MKVP.
 */
int sk_p11_key_find(struct sk_p11 *p11, const char *label, CK_OBJECT_HANDLE *obj,
		    unsigned char mkvp[SK_MKVP_LEN]);

/* Generate an AES-256 master key inside the token, labelled @label. */
int sk_p11_key_generate(struct sk_p11 *p11, const char *label, CK_OBJECT_HANDLE *obj);

/*
 * The MKVP of a key, computed inside the token: the first 8 bytes of
 * SHA-256("securekey-mkvp-p11" | AES-ECB_key(16 zero bytes)). The key
 * itself never leaves the token.
 */
int sk_p11_key_mkvp(struct sk_p11 *p11, CK_OBJECT_HANDLE obj, unsigned char mkvp[SK_MKVP_LEN]);

/* Set CKA_LABEL (and CKA_ID to @mkvp when given) in one C_SetAttributeValue. */
int sk_p11_key_relabel(struct sk_p11 *p11, CK_OBJECT_HANDLE obj, const char *label,
		       const unsigned char *mkvp);
int sk_p11_object_destroy(struct sk_p11 *p11, CK_OBJECT_HANDLE obj);

/* CKA_SENSITIVE and CKA_EXTRACTABLE of a key. */
int sk_p11_key_protection(struct sk_p11 *p11, CK_OBJECT_HANDLE obj, bool *sensitive,
			  bool *extractable);

/*
 * One AES-GCM pass inside the token with a 16-byte tag: encrypting, @out
 * gets ciphertext | tag (@in_len + 16 bytes); decrypting, @in is
 * ciphertext | tag and @out gets @in_len - 16 bytes. -EKEYREJECTED when
 * the tag does not verify.
 */
int sk_p11_gcm(struct sk_p11 *p11, CK_OBJECT_HANDLE key, bool encrypt, const unsigned char *nonce,
	       size_t nonce_len, const unsigned char *aad, size_t aad_len, const unsigned char *in,
	       size_t in_len, unsigned char *out);

/* True when the token's mechanism @type has every flag in @flags. */
bool sk_p11_has_mechanism(struct sk_p11 *p11, CK_MECHANISM_TYPE type, CK_FLAGS flags);

/* The data object @label: -ENOENT (nothing logged) when absent. */
int sk_p11_data_get(struct sk_p11 *p11, const char *label, char *value, size_t size);
/* Create or replace the data object @label (private, token). */
int sk_p11_data_put(struct sk_p11 *p11, const char *label, const char *value);

#endif
