#include "config.h"

#include "mkvp.h"

#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "log.h"

int sk_mkvp_digest(const char *label, const unsigned char *data, size_t len,
		   unsigned char mkvp[SK_MKVP_LEN])
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok;

	ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
	     EVP_DigestUpdate(ctx, label, strlen(label)) && EVP_DigestUpdate(ctx, data, len) &&
	     EVP_DigestFinal_ex(ctx, digest, NULL);
	EVP_MD_CTX_free(ctx);
	if (ok)
		memcpy(mkvp, digest, SK_MKVP_LEN);
	OPENSSL_cleanse(digest, sizeof(digest));
	if (!ok) {
		sk_err("cannot compute a master key verification pattern (SHA-256 failed)");
		return -EIO;
	}
	return 0;
}

int sk_mkvp_compute(const unsigned char mk[SK_MK_LEN], unsigned char mkvp[SK_MKVP_LEN])
{
	return sk_mkvp_digest(SK_MKVP_LABEL, mk, SK_MK_LEN, mkvp);
}

void sk_mkvp_to_hex(const unsigned char mkvp[SK_MKVP_LEN], char hex[SK_MKVP_HEX_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 0; i < SK_MKVP_LEN; i++) {
		hex[2 * i] = digits[mkvp[i] >> 4];
		hex[2 * i + 1] = digits[mkvp[i] & 0xf];
	}
	hex[SK_MKVP_HEX_LEN] = '\0';
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int sk_mkvp_from_hex(const char *hex, unsigned char mkvp[SK_MKVP_LEN])
{
	unsigned char tmp[SK_MKVP_LEN];

	if (!hex || strlen(hex) != SK_MKVP_HEX_LEN)
		return -EINVAL;
	for (int i = 0; i < SK_MKVP_LEN; i++) {
		int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		tmp[i] = (unsigned char)(hi << 4 | lo);
	}
	memcpy(mkvp, tmp, SK_MKVP_LEN);
	return 0;
}

bool sk_mkvp_equal(const unsigned char a[SK_MKVP_LEN], const unsigned char b[SK_MKVP_LEN])
{
	return memcmp(a, b, SK_MKVP_LEN) == 0;
}
