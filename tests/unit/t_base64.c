/* sk_base64_encode / sk_base64_decode: strict, padded RFC 4648 base64. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <atf-c.h>

#include "base64.h"

#include "helpers.h"

SK_TEST_LSAN_SUPPRESSIONS

/* Decoding @text must fail with -EINVAL and leave the outputs alone. */
static void require_rejected(const char *text, const char *why)
{
	unsigned char *out = (unsigned char *)"untouched";
	size_t out_len = 12345;
	int r = sk_base64_decode(text, &out, &out_len);

	ATF_REQUIRE_EQ_MSG(r, -EINVAL, "decoding %s (%s) returned %d, expected -EINVAL", why,
			   text ? "given text" : "NULL", r);
	ATF_REQUIRE_MSG(!strcmp((const char *)out, "untouched"), "%s: output pointer changed", why);
	ATF_REQUIRE_EQ_MSG(out_len, (size_t)12345, "%s: output length changed", why);
}

static void require_decodes_to(const char *text, const void *want, size_t want_len)
{
	unsigned char *out = NULL;
	size_t out_len = 0;
	int r = sk_base64_decode(text, &out, &out_len);

	ATF_REQUIRE_EQ_MSG(r, 0, "decoding '%s' returned %d", text, r);
	ATF_REQUIRE_EQ_MSG(out_len, want_len, "decoding '%s' gave %zu bytes, expected %zu", text,
			   out_len, want_len);
	ATF_REQUIRE_MSG(memcmp(out, want, want_len) == 0, "decoding '%s' gave other bytes", text);
	free(out);
}

static const struct {
	const char *clear;
	const char *encoded;
} rfc4648[] = {
	{ "", "" },
	{ "f", "Zg==" },
	{ "fo", "Zm8=" },
	{ "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" },
	{ "fooba", "Zm9vYmE=" },
	{ "foobar", "Zm9vYmFy" },
};

#define N_RFC4648 (sizeof(rfc4648) / sizeof(rfc4648[0]))

/* Encoding nothing gives ""; by design "" is no base64 (a secure key is never empty). */
ATF_TC_WITHOUT_HEAD(empty_input);
ATF_TC_BODY(empty_input, tc)
{
	char *text = sk_base64_encode((const unsigned char *)"", 0);

	ATF_REQUIRE(text != NULL);
	ATF_REQUIRE_STREQ(text, "");
	free(text);
	require_rejected("", "empty text");
	require_rejected(NULL, "NULL text");
}

ATF_TC_WITHOUT_HEAD(round_trip_lengths_0_to_70);
ATF_TC_BODY(round_trip_lengths_0_to_70, tc)
{
	unsigned char data[70];

	for (size_t len = 0; len <= sizeof(data); len++) {
		unsigned char *out = NULL;
		size_t out_len = 0;
		char *text;

		/* Cover every byte value over the run, including 0x00 and 0xff. */
		for (size_t i = 0; i < len; i++)
			data[i] = (unsigned char)(i * 37 + len * 11 + (i == 0 ? 0xff : 0));
		text = sk_base64_encode(data, len);
		ATF_REQUIRE_MSG(text != NULL, "encode of %zu bytes failed", len);
		ATF_REQUIRE_EQ_MSG(strlen(text), 4 * ((len + 2) / 3),
				   "encode of %zu bytes has length %zu", len, strlen(text));
		if (len == 0) {
			/* "" is what encode gives and what decode refuses. */
			ATF_REQUIRE_EQ(sk_base64_decode(text, &out, &out_len), -EINVAL);
			free(text);
			continue;
		}
		ATF_REQUIRE_EQ_MSG(sk_base64_decode(text, &out, &out_len), 0,
				   "decode of the encoding of %zu bytes failed", len);
		ATF_REQUIRE_EQ_MSG(out_len, len, "round trip of %zu bytes gave %zu", len, out_len);
		ATF_REQUIRE_MSG(memcmp(out, data, len) == 0, "round trip of %zu bytes differs",
				len);
		free(out);
		free(text);
	}
}

ATF_TC_WITHOUT_HEAD(rfc4648_vectors);
ATF_TC_BODY(rfc4648_vectors, tc)
{
	static const unsigned char ff[] = { 0xff, 0xff, 0xff };
	static const unsigned char zero[] = { 0, 0, 0, 0 };
	static const unsigned char mixed[] = { 0xfb, 0xff, 0xbf };

	for (size_t i = 0; i < N_RFC4648; i++) {
		char *text = sk_base64_encode((const unsigned char *)rfc4648[i].clear,
					      strlen(rfc4648[i].clear));

		ATF_REQUIRE(text != NULL);
		ATF_REQUIRE_STREQ_MSG(text, rfc4648[i].encoded, "encoding '%s'", rfc4648[i].clear);
		free(text);
		/* Entry 0, the empty string, is refused by design (empty_input). */
		if (i > 0)
			require_decodes_to(rfc4648[i].encoded, rfc4648[i].clear,
					   strlen(rfc4648[i].clear));
	}
	/* Binary bytes and the two non-alphanumeric characters. */
	require_decodes_to("////", ff, sizeof(ff));
	require_decodes_to("AAAAAA==", zero, sizeof(zero));
	require_decodes_to("+/+/", mixed, sizeof(mixed));
}

ATF_TC_WITHOUT_HEAD(decode_rejects_bad_characters);
ATF_TC_BODY(decode_rejects_bad_characters, tc)
{
	require_rejected("Zm9v!A==", "'!'");
	require_rejected("Zm-v", "base64url '-'");
	require_rejected("Zm_v", "base64url '_'");
	require_rejected("Zm9\x80", "byte 0x80");
	require_rejected("Zm9.", "'.'");
	require_rejected("Zm9vYmF*", "'*'");
}

ATF_TC_WITHOUT_HEAD(decode_rejects_length_not_multiple_of_4);
ATF_TC_BODY(decode_rejects_length_not_multiple_of_4, tc)
{
	require_rejected("Z", "1 char");
	require_rejected("Zm", "2 chars");
	require_rejected("Zm9", "3 chars");
	require_rejected("Zm9vY", "5 chars");
	require_rejected("Zm9vYg", "unpadded 'foob'");
	require_rejected("Zm9vYg=", "one '=' short");
	require_rejected("Zm9vYmF", "unpadded 'fooba'");
}

ATF_TC_WITHOUT_HEAD(decode_rejects_whitespace);
ATF_TC_BODY(decode_rejects_whitespace, tc)
{
	require_rejected("Zm9v\n", "trailing newline");
	require_rejected("Zm9vYmFy\n", "trailing newline");
	require_rejected(" Zm9v", "leading space");
	require_rejected("Zm8 ", "space in place of padding");
	require_rejected("Zm9v\nYmFy", "embedded newline");
	require_rejected("Zm9v\r\nYmFy", "embedded CRLF");
	require_rejected("Zm\t9", "tab");
	require_rejected("Zm9vYmF \n", "space and newline");
}

ATF_TC_WITHOUT_HEAD(decode_rejects_padding_in_the_middle);
ATF_TC_BODY(decode_rejects_padding_in_the_middle, tc)
{
	require_rejected("Zg==Zm9v", "padded group followed by more");
	require_rejected("Z=9v", "'=' at position 1");
	require_rejected("Zm=v", "'=' at position 2");
	require_rejected("=m9v", "'=' at position 0");
	require_rejected("Zm9vY=Fy", "'=' inside the second group");
	require_rejected("Zm=8", "'=' before the last char");
}

ATF_TC_WITHOUT_HEAD(decode_rejects_three_padding_chars);
ATF_TC_BODY(decode_rejects_three_padding_chars, tc)
{
	require_rejected("Z===", "3 '='");
	require_rejected("====", "4 '='");
	require_rejected("Zm9vZ===", "3 '=' in the last group");
}

/*
 * RFC 4648 3.5: in canonical base64 the pad bits are zero. "Zh==" and
 * "Zm9=" carry non-zero pad bits; the header promises -EINVAL for anything
 * but canonical base64.
 */
ATF_TC_WITHOUT_HEAD(decode_rejects_nonzero_pad_bits);
ATF_TC_BODY(decode_rejects_nonzero_pad_bits, tc)
{
	unsigned char *out = NULL;
	size_t out_len = 0;

	ATF_CHECK_EQ_MSG(sk_base64_decode("Zh==", &out, &out_len), -EINVAL,
			 "'Zh==' (pad bits 0001) decoded");
	free(out);
	out = NULL;
	ATF_CHECK_EQ_MSG(sk_base64_decode("Zm9=", &out, &out_len), -EINVAL,
			 "'Zm9=' (pad bits 01) decoded");
	free(out);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, empty_input);
	ATF_TP_ADD_TC(tp, round_trip_lengths_0_to_70);
	ATF_TP_ADD_TC(tp, rfc4648_vectors);
	ATF_TP_ADD_TC(tp, decode_rejects_bad_characters);
	ATF_TP_ADD_TC(tp, decode_rejects_length_not_multiple_of_4);
	ATF_TP_ADD_TC(tp, decode_rejects_whitespace);
	ATF_TP_ADD_TC(tp, decode_rejects_padding_in_the_middle);
	ATF_TP_ADD_TC(tp, decode_rejects_three_padding_chars);
	ATF_TP_ADD_TC(tp, decode_rejects_nonzero_pad_bits);
	return atf_no_error();
}
