/* Master key verification pattern: identifies an MK without revealing it. */
#ifndef SECUREKEY_MKVP_H
#define SECUREKEY_MKVP_H

#include <stdbool.h>
#include <stddef.h>

#define SK_MK_LEN 32
#define SK_MKVP_LEN 8
#define SK_MKVP_HEX_LEN (2 * SK_MKVP_LEN)
/* Domain separation so an MKVP is never a plain hash of the key. */
#define SK_MKVP_LABEL "securekey-mkvp-v1"

/* First 8 bytes of SHA-256(label || mk). */
int sk_mkvp_compute(const unsigned char mk[SK_MK_LEN], unsigned char mkvp[SK_MKVP_LEN]);
/* First 8 bytes of SHA-256(@label || @data): the same, over other data. */
int sk_mkvp_digest(const char *label, const unsigned char *data, size_t len,
		   unsigned char mkvp[SK_MKVP_LEN]);
void sk_mkvp_to_hex(const unsigned char mkvp[SK_MKVP_LEN], char hex[SK_MKVP_HEX_LEN + 1]);
/* Exactly 16 hex digits, either case; -EINVAL otherwise. */
int sk_mkvp_from_hex(const char *hex, unsigned char mkvp[SK_MKVP_LEN]);
bool sk_mkvp_equal(const unsigned char a[SK_MKVP_LEN], const unsigned char b[SK_MKVP_LEN]);

#endif
