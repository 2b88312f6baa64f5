#include "config.h"

#include "escape.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool in(unsigned char c, unsigned char lo, unsigned char hi)
{
	return c >= lo && c <= hi;
}

/* The length of the valid UTF-8 sequence at @s (RFC 3629), 0 when it is none. */
static size_t utf8_len(const unsigned char *s)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;

	if (s[0] < 0x80)
		return 1;
	if (in(s[0], 0xc2, 0xdf))
		n = 2;
	else if (in(s[0], 0xe0, 0xef))
		n = 3;
	else if (in(s[0], 0xf0, 0xf4))
		n = 4;
	else
		return 0;
	/* No overlong forms, no surrogates, nothing beyond U+10FFFF. */
	if (s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f;
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;
	if (!in(s[1], lo, hi))
		return 0;
	for (size_t i = 2; i < n; i++)
		if (!in(s[i], 0x80, 0xbf))
			return 0;
	return n;
}

static bool is_c1(const unsigned char *s, size_t len)
{
	return len == 2 && s[0] == 0xc2 && s[1] < 0xa0;
}

/* The escaped form of the character (or invalid byte) at @s into @out; its input length. */
static size_t escape_one(const unsigned char *s, unsigned flags, char out[9], size_t *out_len)
{
	size_t len = utf8_len(s);

	if (len == 0 || is_c1(s, len) || s[0] == 0x7f ||
	    (s[0] < 0x20 && !(s[0] == '\n' && (flags & SK_ESCAPE_KEEP_NEWLINE)))) {
		const char *named = s[0] == '\n' ? "\\n" : s[0] == '\r' ? "\\r"
					: s[0] == '\t' ? "\\t" : NULL;

		if (len == 0)
			len = 1;
		if (named) {
			memcpy(out, named, 3);
			*out_len = 2;
			return 1;
		}
		*out_len = 0;
		for (size_t i = 0; i < len; i++)
			*out_len += (size_t)sprintf(out + *out_len, "\\x%02x", s[i]);
		return len;
	}
	memcpy(out, s, len);
	*out_len = len;
	return len;
}

size_t sk_escape(char *dst, size_t size, const char *src, unsigned flags)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t used = 0;

	while (*s) {
		char piece[9];
		size_t n, in_len = escape_one(s, flags, piece, &n);

		if (used + n >= size)
			break;
		memcpy(dst + used, piece, n);
		used += n;
		s += in_len;
	}
	dst[used] = '\0';
	return used;
}

char *sk_escape_json(const char *json)
{
	const unsigned char *s = (const unsigned char *)json;
	size_t len = strlen(json);
	char *out = malloc(3 * len + 1), *o = out;

	/* DEL (1 byte) and a C1 control (2 bytes) become 6: at most 3 times. */
	if (!out)
		return NULL;
	while (*s) {
		size_t n = utf8_len(s);

		if (s[0] == 0x7f || is_c1(s, n)) {
			o += sprintf(o, "\\u%04x", n == 2 ? s[1] : s[0]);
			s += n;
		} else {
			*o++ = (char)*s++;
		}
	}
	*o = '\0';
	return out;
}
