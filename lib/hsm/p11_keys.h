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
 * The master key labelled @label (AES or RSA, p11_rsa.h): 0 and *@obj, -ENOENT (nothing logged)
 * when there is none, -EUCLEAN when there are several. @mkvp (optional)
 * gets its CKA_ID; -EUCLEAN when that is not an MKVP.
 */
int sk_p11_key_find(struct sk_p11 *p11, const char *label, CK_OBJECT_HANDLE *obj,
		    unsigned char mkvp[SK_MKVP_LEN]);

/* The same for a master key of either kind: *@rsa (optional) is true for an RSA private key. */
int sk_p11_mk_find(struct sk_p11 *p11, const char *label, CK_OBJECT_HANDLE *obj,
		   unsigned char mkvp[SK_MKVP_LEN], bool *rsa);

/* How many master keys (AES or RSA) are labelled @label: 0, 1, or 2 for "more than one". */
int sk_p11_key_count(struct sk_p11 *p11, const char *label);
/* Destroy every key labelled @label: secret, private and public. */
int sk_p11_keys_destroy(struct sk_p11 *p11, const char *label);

/* Generate an AES-256 master key inside the token, labelled @label. */
int sk_p11_key_generate(struct sk_p11 *p11, const char *label, CK_OBJECT_HANDLE *obj);

/*
 * The MKVP of a key, computed inside the token: the first 8 bytes of
 * SHA-256("securekey-mkvp-p11" | AES-ECB_key(16 zero bytes)). The key
 * itself never leaves the token.
 */
int sk_p11_key_mkvp(struct sk_p11 *p11, CK_OBJECT_HANDLE obj, unsigned char mkvp[SK_MKVP_LEN]);
/* The MKVP from the AES-ECB block @kcv (the digest part of sk_p11_key_mkvp). */
int sk_p11_kcv_mkvp(const unsigned char *kcv, size_t len, unsigned char mkvp[SK_MKVP_LEN]);

/* Set CKA_LABEL (and CKA_ID to @mkvp when given) in one C_SetAttributeValue. */
int sk_p11_key_relabel(struct sk_p11 *p11, CK_OBJECT_HANDLE obj, const char *label,
		       const unsigned char *mkvp);
int sk_p11_object_destroy(struct sk_p11 *p11, CK_OBJECT_HANDLE obj);

/*
 * One AES-GCM pass inside the token with a 16-byte tag: encrypting, @out
 * gets ciphertext | tag (@in_len + 16 bytes); decrypting, @in is
 * ciphertext | tag and @out gets @in_len - 16 bytes. -EKEYREJECTED when
 * the tag does not verify.
 */
int sk_p11_gcm(struct sk_p11 *p11, CK_OBJECT_HANDLE key, bool encrypt, const unsigned char *nonce,
	       size_t nonce_len, const unsigned char *aad, size_t aad_len, const unsigned char *in,
	       size_t in_len, unsigned char *out);

/* PKCS#11 3.0's AES key wrap with padding (RFC 5649); p11-kit's 2.40 header lacks it. */
#ifndef CKM_AES_KEY_WRAP_KWP
#define CKM_AES_KEY_WRAP_KWP 0x210bUL
#endif

/*
 * One AES-KWP pass inside the token (C_Encrypt/C_Decrypt) into @out of
 * @out_cap bytes, which must give exactly @out_len: encrypting, @in_len
 * rounded up to 8, plus 8; decrypting, the unpadded plaintext (@out_cap is
 * then @in_len - 8: a module may want room for the padding).
 * -EKEYREJECTED when the integrity check fails.
 */
int sk_p11_kwp(struct sk_p11 *p11, CK_OBJECT_HANDLE key, bool encrypt, const unsigned char *in,
	       size_t in_len, unsigned char *out, size_t out_cap, size_t out_len);

/* True when the token's mechanism @type has every flag in @flags. */
bool sk_p11_has_mechanism(struct sk_p11 *p11, CK_MECHANISM_TYPE type, CK_FLAGS flags);

/*
 * The data object @label: -ENOENT (nothing logged) when absent. On a token
 * that keeps no CKO_DATA it is a generic secret with no use allowed.
 */
int sk_p11_data_get(struct sk_p11 *p11, const char *label, char *value, size_t size);
/* Create or replace the data object @label (private, token). */
int sk_p11_data_put(struct sk_p11 *p11, const char *label, const char *value);

#endif
