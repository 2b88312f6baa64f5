#include "config.h"

#include "base64.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

char *sk_base64_encode(const unsigned char *data, size_t len)
{
	size_t text_len = 4 * ((len + 2) / 3);
	char *text = malloc(text_len + 1);

	if (!text)
		return NULL;
	EVP_EncodeBlock((unsigned char *)text, data, (int)len);
	return text;
}

static int is_alphabet(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

/*
 * EVP_DecodeBlock skips surrounding whitespace and counts padding as data,
 * so the canonical form is checked here first.
 */
static int padding_of(const char *text, size_t len)
{
	size_t pad = 0;

	if (len == 0 || len % 4)
		return -1;
	while (pad < 2 && text[len - 1 - pad] == '=')
		pad++;
	for (size_t i = 0; i < len - pad; i++)
		if (!is_alphabet(text[i]))
			return -1;
	return (int)pad;
}

/* "Zh==" decodes like "Zg==": only the re-encoded form is accepted. */
static bool is_canonical(const char *text, size_t len, const unsigned char *data, size_t n)
{
	char *again = sk_base64_encode(data, n);
	bool same = again && strlen(again) == len && !memcmp(again, text, len);

	free(again);
	return same;
}

int sk_base64_decode(const char *text, unsigned char **out, size_t *out_len)
{
	size_t len = text ? strlen(text) : 0;
	int pad = padding_of(text, len);
	unsigned char *buf;
	int n;

	if (pad < 0)
		return -EINVAL;
	buf = malloc(len / 4 * 3);
	if (!buf)
		return -ENOMEM;
	n = EVP_DecodeBlock(buf, (const unsigned char *)text, (int)len);
	if (n < pad || !is_canonical(text, len, buf, (size_t)(n - pad))) {
		free(buf);
		return -EINVAL;
	}
	*out = buf;
	*out_len = (size_t)(n - pad);
	return 0;
}
