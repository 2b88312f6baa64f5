/*
 * KMIP TTLV codec and message layer: the KMIP 1.2 spec's encoding examples,
 * encoder round trips, every way the strict decoder refuses a message, the
 * response checks, endpoint URLs, the fuzz corpus and (when present) real
 * KMIP messages encoded by PyKMIP.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atf-c.h>

#include "fuzz_ttlv_body.h"
#include "kmip.h"
#include "kmip_msg.h"
#include "kmip_tags.h"
#include "kmip_ttlv.h"
#include "log.h"
#include "secmem.h"

#include "helpers.h"

SK_TEST_LSAN_SUPPRESSIONS

#ifndef SK_TEST_SRCDIR
#error "SK_TEST_SRCDIR must name the source tree (see tests/Makefile.am)"
#endif
#define CORPUS_DIR SK_TEST_SRCDIR "/tests/fuzz/corpus/ttlv"
#define VECTOR_DIR SK_TEST_SRCDIR "/tests/kms/vectors"

/* Tags no KMIP version defines, so any type is fine on them. */
#define TAG_X(n) (0x540000u + (n))
/* "Compromise Date": the tag of the spec's examples; not in our table. */
#define TAG_SPEC 0x420020u

#define MAX_ITEMS 64

/* Hex digits to bytes; blanks and '|' are skipped so spec layouts read as written. */
static size_t hex(const char *s, unsigned char *out, size_t cap)
{
	size_t n = 0;
	int hi = -1;

	for (; *s; s++) {
		int v;

		if (*s == ' ' || *s == '|' || *s == '\n')
			continue;
		if (*s >= '0' && *s <= '9')
			v = *s - '0';
		else if (*s >= 'a' && *s <= 'f')
			v = *s - 'a' + 10;
		else if (*s >= 'A' && *s <= 'F')
			v = *s - 'A' + 10;
		else
			atf_tc_fail("bad hex digit '%c' in test data", *s);
		if (hi < 0) {
			hi = v;
			continue;
		}
		ATF_REQUIRE(n < cap);
		out[n++] = (unsigned char)(hi << 4 | v);
		hi = -1;
	}
	ATF_REQUIRE_MSG(hi < 0, "odd number of hex digits in test data");
	return n;
}

/*
 * Decode @len bytes from an exact-size heap copy (so ASan sees any read past
 * the message) with room for @cap items.
 */
static int decode_copy(const unsigned char *buf, size_t len, size_t cap, const char **why)
{
	struct sk_ttlv_item items[MAX_ITEMS];
	struct sk_ttlv_doc doc = { .items = items, .cap = cap };
	unsigned char *copy = malloc(len ? len : 1);
	int r;

	ATF_REQUIRE(copy != NULL && cap <= MAX_ITEMS);
	if (len)
		memcpy(copy, buf, len);
	r = sk_ttlv_decode(copy, len, &doc, why);
	free(copy);
	return r;
}

static void expect_bad_at(const char *file, int line, const unsigned char *buf, size_t len,
			  size_t cap, const char *needle, const char *what)
{
	const char *why = NULL;
	int r = decode_copy(buf, len, cap, &why);

	if (r != -EBADMSG)
		atf_tc_fail_nonfatal("%s:%d: %s: decoder returned %d, expected -EBADMSG", file, line,
				     what, r);
	else if (!why || !strstr(why, needle))
		atf_tc_fail_nonfatal("%s:%d: %s: reason '%s', expected '%s'", file, line, what,
				     why ? why : "(none)", needle);
}

static void expect_hex_at(const char *file, int line, const char *hexstr, int want,
			  const char *needle)
{
	unsigned char buf[512];
	size_t len = hex(hexstr, buf, sizeof(buf));
	const char *why = NULL;
	int r;

	if (want == -EBADMSG) {
		expect_bad_at(file, line, buf, len, MAX_ITEMS, needle, hexstr);
		return;
	}
	r = decode_copy(buf, len, MAX_ITEMS, &why);
	if (r != want)
		atf_tc_fail_nonfatal("%s:%d: %s: decoder returned %d (%s), expected %d", file, line,
				     hexstr, r, why ? why : "-", want);
}

#define EXPECT_BAD(buf, len, needle) \
	expect_bad_at(__FILE__, __LINE__, (buf), (len), MAX_ITEMS, (needle), #buf)
#define EXPECT_BAD_HEX(h, needle) expect_hex_at(__FILE__, __LINE__, (h), -EBADMSG, (needle))
#define EXPECT_GOOD_HEX(h) expect_hex_at(__FILE__, __LINE__, (h), 0, NULL)

/* Decode @len bytes at @buf (kept by the caller) into @items; must succeed. */
static void decode_ok(const unsigned char *buf, size_t len, struct sk_ttlv_doc *doc,
		      struct sk_ttlv_item *items, size_t cap)
{
	const char *why = NULL;
	int r;

	*doc = (struct sk_ttlv_doc){ .items = items, .cap = cap };
	r = sk_ttlv_decode(buf, len, doc, &why);
	ATF_REQUIRE_MSG(r == 0, "decode failed: %d (%s)", r, why ? why : "-");
}

static uint64_t be64_of(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* Item @i must exist with @tag and @type; returns @i. */
static int expect_item(const struct sk_ttlv_doc *doc, int i, uint32_t tag, uint8_t type)
{
	ATF_REQUIRE_MSG(i >= 0 && (size_t)i < doc->count, "item %d missing (tag %06x)", i,
			(unsigned)tag);
	ATF_REQUIRE_MSG(doc->items[i].tag == tag, "item %d: tag %06x, expected %06x", i,
			(unsigned)doc->items[i].tag, (unsigned)tag);
	ATF_REQUIRE_MSG(doc->items[i].type == type, "item %d: type %u, expected %u", i,
			doc->items[i].type, type);
	return i;
}

/* The encoder's output must be exactly @hexstr. */
static void require_encoding(const struct sk_ttlv_enc *enc, const char *hexstr)
{
	unsigned char want[256];
	size_t len = hex(hexstr, want, sizeof(want));

	ATF_REQUIRE_EQ(sk_ttlv_enc_finish(enc), 0);
	ATF_REQUIRE_EQ_MSG(enc->len, len, "encoded %zu bytes, expected %zu for %s", enc->len, len,
			   hexstr);
	ATF_REQUIRE_MSG(memcmp(enc->buf->data, want, len) == 0, "encoding differs from %s",
			hexstr);
}

/* KMIP 1.2 §9.1.2 examples, all with tag 0x420020. */
#define SPEC_INT "42 00 20 | 02 | 00 00 00 04 | 00 00 00 08 00 00 00 00"
#define SPEC_LONG "42 00 20 | 03 | 00 00 00 08 | 01 B6 9B 4B A5 74 92 00"
#define SPEC_BIGINT                                  \
	"42 00 20 | 04 | 00 00 00 10 | 00 00 00 00 03 FD 35 EB 6B C2 DF 46 18 08 00 00"
#define SPEC_ENUM "42 00 20 | 05 | 00 00 00 04 | 00 00 00 FF 00 00 00 00"
#define SPEC_BOOL "42 00 20 | 06 | 00 00 00 08 | 00 00 00 00 00 00 00 01"
#define SPEC_TEXT                                                                        \
	"42 00 20 | 07 | 00 00 00 0B | 48 65 6C 6C 6F 20 57 6F 72 6C 64 00 00 00 00 00"
#define SPEC_BYTES "42 00 20 | 08 | 00 00 00 03 | 01 02 03 00 00 00 00 00"
#define SPEC_DATETIME "42 00 20 | 09 | 00 00 00 08 | 00 00 00 00 47 DA 67 F8"
#define SPEC_INTERVAL "42 00 20 | 0A | 00 00 00 04 | 00 0D 2F 00 00 00 00 00"
#define SPEC_STRUCT                                                                      \
	"42 00 20 | 01 | 00 00 00 20 | 42 00 04 | 05 | 00 00 00 04 | 00 00 00 FE 00 00 00 00 " \
	"| 42 00 05 | 02 | 00 00 00 04 | 00 00 00 FF 00 00 00 00"

ATF_TC_WITHOUT_HEAD(spec_examples_encode);
ATF_TC_BODY(spec_examples_encode, tc)
{
	static const unsigned char three[] = { 1, 2, 3 };
	struct sk_ttlv_enc enc;

#define ONE(put, want)                                         \
	do {                                                   \
		ATF_REQUIRE_EQ(sk_ttlv_enc_init(&enc, 64), 0); \
		put;                                           \
		require_encoding(&enc, want);                  \
		sk_ttlv_enc_free(&enc);                        \
	} while (0)
	ONE(sk_ttlv_put_int(&enc, TAG_SPEC, 8), SPEC_INT);
	ONE(sk_ttlv_put_long(&enc, TAG_SPEC, 123456789000000000LL), SPEC_LONG);
	ONE(sk_ttlv_put_enum(&enc, TAG_SPEC, 255), SPEC_ENUM);
	ONE(sk_ttlv_put_bool(&enc, TAG_SPEC, true), SPEC_BOOL);
	ONE(sk_ttlv_put_text(&enc, TAG_SPEC, "Hello World"), SPEC_TEXT);
	ONE(sk_ttlv_put_bytes(&enc, TAG_SPEC, three, sizeof(three)), SPEC_BYTES);
	/* Friday, March 14, 2008, 11:56:40 GMT */
	ONE(sk_ttlv_put_datetime(&enc, TAG_SPEC, 1205495800), SPEC_DATETIME);
	ONE((sk_ttlv_begin(&enc, TAG_SPEC), sk_ttlv_put_enum(&enc, 0x420004, 254),
	     sk_ttlv_put_int(&enc, 0x420005, 255), sk_ttlv_end(&enc)),
	    SPEC_STRUCT);
	ONE(sk_ttlv_put_bool(&enc, TAG_SPEC, false),
	    "42 00 20 | 06 | 00 00 00 08 | 00 00 00 00 00 00 00 00");
	ONE(sk_ttlv_put_text(&enc, TAG_SPEC, ""), "42 00 20 | 07 | 00 00 00 00");
	ONE(sk_ttlv_put_bytes(&enc, TAG_SPEC, NULL, 0), "42 00 20 | 08 | 00 00 00 00");
	ONE(sk_ttlv_put_int(&enc, TAG_SPEC, -1),
	    "42 00 20 | 02 | 00 00 00 04 | FF FF FF FF 00 00 00 00");
#undef ONE
}

ATF_TC_WITHOUT_HEAD(spec_examples_decode);
ATF_TC_BODY(spec_examples_decode, tc)
{
	struct sk_ttlv_item items[MAX_ITEMS];
	struct sk_ttlv_doc doc;
	unsigned char buf[64];
	const unsigned char *bytes;
	char text[32];
	size_t len, blen;
	int32_t i32;
	uint32_t u32;
	int64_t i64;
	bool b;

	len = hex(SPEC_INT, buf, sizeof(buf));
	decode_ok(buf, len, &doc, items, MAX_ITEMS);
	expect_item(&doc, 0, TAG_SPEC, SK_TTLV_INT);
	ATF_REQUIRE_EQ(sk_ttlv_get_int(&doc, 0, &i32), 0);
	ATF_REQUIRE_EQ(i32, 8);

	len = hex(SPEC_LONG, buf, sizeof(buf));
	decode_ok(buf, len, &doc, items, MAX_ITEMS);
	ATF_REQUIRE_EQ(sk_ttlv_get_long(&doc, 0, &i64), 0);
	ATF_REQUIRE(i64 == 123456789000000000LL);

	len = hex(SPEC_BIGINT, buf, sizeof(buf));
	decode_ok(buf, len, &doc, items, MAX_ITEMS);
	expect_item(&doc, 0, TAG_SPEC, SK_TTLV_BIGINT);
	ATF_REQUIRE_EQ(doc.items[0].len, 16);

	len = hex(SPEC_ENUM, buf, sizeof(buf));
	decode_ok(buf, len, &doc, items, MAX_ITEMS);
	ATF_REQUIRE_EQ(sk_ttlv_get_enum(&doc, 0, &u32), 0);
	ATF_REQUIRE_EQ(u32, 255);

	len = hex(SPEC_BOOL, buf, sizeof(buf));
	decode_ok(buf, len, &doc, items, MAX_ITEMS);
	ATF_REQUIRE_EQ(sk_ttlv_get_bool(&doc, 0, &b), 0);
	ATF_REQUIRE(b);

	len = hex(SPEC_TEXT, buf, sizeof(buf));
	decode_ok(buf, len, &doc, items, MAX_ITEMS);
	ATF_REQUIRE_EQ(sk_ttlv_get_text(&doc, 0, text, sizeof(text)), 0);
	ATF_REQUIRE_STREQ(text, "Hello World");

	len = hex(SPEC_BYTES, buf, sizeof(buf));
	decode_ok(buf, len, &doc, items, MAX_ITEMS);
	ATF_REQUIRE_EQ(sk_ttlv_get_bytes(&doc, 0, &bytes, &blen), 0);
	ATF_REQUIRE_EQ(blen, 3);
	ATF_REQUIRE(bytes[0] == 1 && bytes[1] == 2 && bytes[2] == 3);
	ATF_REQUIRE(bytes == buf + SK_TTLV_HEADER_LEN); /* points into the message */

	len = hex(SPEC_DATETIME, buf, sizeof(buf));
	decode_ok(buf, len, &doc, items, MAX_ITEMS);
	expect_item(&doc, 0, TAG_SPEC, SK_TTLV_DATETIME);
	ATF_REQUIRE(be64_of(doc.items[0].value) == 1205495800);

	len = hex(SPEC_INTERVAL, buf, sizeof(buf));
	decode_ok(buf, len, &doc, items, MAX_ITEMS);
	expect_item(&doc, 0, TAG_SPEC, SK_TTLV_INTERVAL);
	ATF_REQUIRE_EQ(doc.items[0].len, 4);
	ATF_REQUIRE(doc.items[0].value[1] == 0x0d && doc.items[0].value[2] == 0x2f);

	/*
	 * The spec's structure example puts an Enumeration under 0x420004, which
	 * KMIP defines as Application Specific Information (a Structure): the
	 * strict decoder refuses it. The same layout under tags of no meaning
	 * decodes.
	 */
	EXPECT_BAD_HEX(SPEC_STRUCT, "known tag carries the wrong type");
	len = hex("42 00 20 | 01 | 00 00 00 20 | 54 00 04 | 05 | 00 00 00 04 | 00 00 00 FE 00 00 "
		  "00 00 | 54 00 05 | 02 | 00 00 00 04 | 00 00 00 FF 00 00 00 00",
		  buf, sizeof(buf));
	decode_ok(buf, len, &doc, items, MAX_ITEMS);
	ATF_REQUIRE_EQ(doc.count, 3);
	ATF_REQUIRE_EQ(sk_ttlv_get_enum(&doc, expect_item(&doc, sk_ttlv_find(&doc, 0, TAG_X(4), -1),
							   TAG_X(4), SK_TTLV_ENUM),
					&u32),
		       0);
	ATF_REQUIRE_EQ(u32, 254);
	ATF_REQUIRE_EQ(sk_ttlv_get_int(&doc, sk_ttlv_find(&doc, 0, TAG_X(5), -1), &i32), 0);
	ATF_REQUIRE_EQ(i32, 255);
	ATF_REQUIRE_EQ(doc.items[1].depth, 1);
	ATF_REQUIRE_EQ(doc.items[0].first_child, 1);
	ATF_REQUIRE_EQ(doc.items[1].next, 2);
	ATF_REQUIRE_EQ(doc.items[2].next, -1);
}

ATF_TC_WITHOUT_HEAD(encoder_round_trip);
ATF_TC_BODY(encoder_round_trip, tc)
{
	static const char *const texts[] = { "", "12345678", "Hello World",
					     "gr\xc3\xbc\xc3\x9f" "e \xe2\x82\xac \xf0\x9f\x98\x80" };
	unsigned char raw[10];
	struct sk_ttlv_item items[MAX_ITEMS];
	struct sk_ttlv_doc doc;
	struct sk_ttlv_enc enc;
	const unsigned char *bytes;
	char text[64];
	size_t blen;
	int32_t i32;
	uint32_t u32;
	int64_t i64;
	bool b;
	int c, h;

	for (size_t i = 0; i < sizeof(raw); i++)
		raw[i] = (unsigned char)(0xa0 + i);
	ATF_REQUIRE_EQ(sk_ttlv_enc_init(&enc, 2048), 0);
	sk_ttlv_begin(&enc, KMIP_TAG_REQUEST_MESSAGE);
	sk_ttlv_begin(&enc, KMIP_TAG_REQUEST_HEADER);
	sk_kmip_put_version(&enc, (struct sk_kmip_version){ 1, 4 });
	sk_ttlv_put_int(&enc, KMIP_TAG_BATCH_COUNT, 1);
	sk_ttlv_end(&enc);
	sk_ttlv_put_int(&enc, TAG_X(1), INT32_MIN);
	sk_ttlv_put_int(&enc, TAG_X(1), INT32_MAX);
	sk_ttlv_put_int(&enc, TAG_X(1), -2);
	sk_ttlv_put_enum(&enc, KMIP_TAG_OPERATION, KMIP_OP_GET);
	sk_ttlv_put_enum(&enc, TAG_X(2), UINT32_MAX);
	sk_ttlv_put_long(&enc, TAG_X(3), INT64_MIN);
	sk_ttlv_put_long(&enc, TAG_X(3), INT64_MAX);
	sk_ttlv_put_long(&enc, TAG_X(3), -3);
	sk_ttlv_put_bool(&enc, TAG_X(4), true);
	sk_ttlv_put_bool(&enc, TAG_X(4), false);
	sk_ttlv_put_datetime(&enc, KMIP_TAG_TIME_STAMP, 1205495800);
	sk_ttlv_put_datetime(&enc, TAG_X(5), -1);
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		sk_ttlv_put_text(&enc, KMIP_TAG_UNIQUE_IDENTIFIER, texts[i]);
	sk_ttlv_begin(&enc, TAG_X(6));
	for (size_t i = 0; i <= sizeof(raw); i++)
		sk_ttlv_put_bytes(&enc, KMIP_TAG_KEY_MATERIAL, raw, i);
	sk_ttlv_begin(&enc, TAG_X(7)); /* empty structure */
	sk_ttlv_end(&enc);
	sk_ttlv_end(&enc);
	sk_ttlv_end(&enc);
	ATF_REQUIRE_EQ(sk_ttlv_enc_finish(&enc), 0);
	ATF_REQUIRE_EQ(enc.len % 8, 0);
	ATF_REQUIRE_EQ(sk_ttlv_message_len(enc.buf->data), (long)enc.len);

	decode_ok(enc.buf->data, enc.len, &doc, items, MAX_ITEMS);
	expect_item(&doc, 0, KMIP_TAG_REQUEST_MESSAGE, SK_TTLV_STRUCT);
	ATF_REQUIRE_EQ(doc.items[0].len, enc.len - SK_TTLV_HEADER_LEN);

	h = expect_item(&doc, doc.items[0].first_child, KMIP_TAG_REQUEST_HEADER, SK_TTLV_STRUCT);
	{
		struct sk_kmip_version v;
		int pv = sk_ttlv_find(&doc, h, KMIP_TAG_PROTOCOL_VERSION, -1);

		ATF_REQUIRE_EQ(sk_kmip_read_version(&doc, pv, &v), 0);
		ATF_REQUIRE(v.major == 1 && v.minor == 4);
		ATF_REQUIRE_EQ(doc.items[pv].depth, 2);
		ATF_REQUIRE_EQ(sk_ttlv_get_int(&doc, sk_ttlv_find(&doc, h, KMIP_TAG_BATCH_COUNT, -1),
					       &i32),
			       0);
		ATF_REQUIRE_EQ(i32, 1);
	}
	c = doc.items[h].next;
	ATF_REQUIRE_EQ(sk_ttlv_get_int(&doc, expect_item(&doc, c, TAG_X(1), SK_TTLV_INT), &i32), 0);
	ATF_REQUIRE_EQ(i32, INT32_MIN);
	c = doc.items[c].next;
	ATF_REQUIRE_EQ(sk_ttlv_get_int(&doc, expect_item(&doc, c, TAG_X(1), SK_TTLV_INT), &i32), 0);
	ATF_REQUIRE_EQ(i32, INT32_MAX);
	c = doc.items[c].next;
	ATF_REQUIRE_EQ(sk_ttlv_get_int(&doc, expect_item(&doc, c, TAG_X(1), SK_TTLV_INT), &i32), 0);
	ATF_REQUIRE_EQ(i32, -2);
	c = doc.items[c].next;
	ATF_REQUIRE_EQ(
		sk_ttlv_get_enum(&doc, expect_item(&doc, c, KMIP_TAG_OPERATION, SK_TTLV_ENUM), &u32),
		0);
	ATF_REQUIRE_EQ(u32, KMIP_OP_GET);
	c = doc.items[c].next;
	ATF_REQUIRE_EQ(sk_ttlv_get_enum(&doc, expect_item(&doc, c, TAG_X(2), SK_TTLV_ENUM), &u32),
		       0);
	ATF_REQUIRE_EQ(u32, UINT32_MAX);
	c = doc.items[c].next;
	ATF_REQUIRE_EQ(sk_ttlv_get_long(&doc, expect_item(&doc, c, TAG_X(3), SK_TTLV_LONG), &i64),
		       0);
	ATF_REQUIRE(i64 == INT64_MIN);
	c = doc.items[c].next;
	ATF_REQUIRE_EQ(sk_ttlv_get_long(&doc, expect_item(&doc, c, TAG_X(3), SK_TTLV_LONG), &i64),
		       0);
	ATF_REQUIRE(i64 == INT64_MAX);
	c = doc.items[c].next;
	ATF_REQUIRE_EQ(sk_ttlv_get_long(&doc, expect_item(&doc, c, TAG_X(3), SK_TTLV_LONG), &i64),
		       0);
	ATF_REQUIRE(i64 == -3);
	c = doc.items[c].next;
	ATF_REQUIRE_EQ(sk_ttlv_get_bool(&doc, expect_item(&doc, c, TAG_X(4), SK_TTLV_BOOL), &b), 0);
	ATF_REQUIRE(b);
	c = doc.items[c].next;
	ATF_REQUIRE_EQ(sk_ttlv_get_bool(&doc, expect_item(&doc, c, TAG_X(4), SK_TTLV_BOOL), &b), 0);
	ATF_REQUIRE(!b);
	/* no accessor for Date-Time: read the big-endian seconds */
	c = doc.items[c].next;
	expect_item(&doc, c, KMIP_TAG_TIME_STAMP, SK_TTLV_DATETIME);
	ATF_REQUIRE(be64_of(doc.items[c].value) == 1205495800);
	c = doc.items[c].next;
	expect_item(&doc, c, TAG_X(5), SK_TTLV_DATETIME);
	ATF_REQUIRE(be64_of(doc.items[c].value) == UINT64_MAX);
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		c = doc.items[c].next;
		expect_item(&doc, c, KMIP_TAG_UNIQUE_IDENTIFIER, SK_TTLV_TEXT);
		ATF_REQUIRE_EQ(sk_ttlv_get_text(&doc, c, text, sizeof(text)), 0);
		ATF_REQUIRE_STREQ(text, texts[i]);
		ATF_REQUIRE_EQ(doc.items[c].len, strlen(texts[i]));
	}
	c = doc.items[c].next;
	expect_item(&doc, c, TAG_X(6), SK_TTLV_STRUCT);
	ATF_REQUIRE_EQ(doc.items[c].next, -1);
	{
		int k = doc.items[c].first_child;

		for (size_t i = 0; i <= sizeof(raw); i++, k = doc.items[k].next) {
			expect_item(&doc, k, KMIP_TAG_KEY_MATERIAL, SK_TTLV_BYTES);
			ATF_REQUIRE_EQ(doc.items[k].depth, 2);
			ATF_REQUIRE_EQ(sk_ttlv_get_bytes(&doc, k, &bytes, &blen), 0);
			ATF_REQUIRE_EQ(blen, i);
			ATF_REQUIRE(i == 0 || memcmp(bytes, raw, i) == 0);
		}
		expect_item(&doc, k, TAG_X(7), SK_TTLV_STRUCT);
		ATF_REQUIRE_EQ(doc.items[k].len, 0);
		ATF_REQUIRE_EQ(doc.items[k].first_child, -1);
		ATF_REQUIRE_EQ(doc.items[k].next, -1);
	}
	sk_ttlv_enc_free(&enc);
	ATF_REQUIRE(enc.buf == NULL);
}

ATF_TC_WITHOUT_HEAD(accessors_check_type_and_index);
ATF_TC_BODY(accessors_check_type_and_index, tc)
{
	struct sk_ttlv_item items[MAX_ITEMS];
	struct sk_ttlv_doc doc;
	unsigned char buf[128];
	const unsigned char *bytes;
	char text[16];
	size_t len, blen;
	int32_t i32;
	uint32_t u32;
	int64_t i64;
	bool b;
	int t;

	len = hex("54 00 01 01 00 00 00 28 | 42 00 94 07 00 00 00 0B | 48 65 6C 6C 6F 20 57 6F 72 "
		  "6C 64 00 00 00 00 00 | 54 00 02 02 00 00 00 04 00 00 00 07 00 00 00 00",
		  buf, sizeof(buf));
	decode_ok(buf, len, &doc, items, MAX_ITEMS);
	ATF_REQUIRE_EQ(doc.count, 3);
	t = sk_ttlv_find(&doc, 0, KMIP_TAG_UNIQUE_IDENTIFIER, -1);
	ATF_REQUIRE_EQ(t, 1);
	/* every accessor but the text one refuses a text */
	ATF_REQUIRE_EQ(sk_ttlv_get_int(&doc, t, &i32), -EBADMSG);
	ATF_REQUIRE_EQ(sk_ttlv_get_enum(&doc, t, &u32), -EBADMSG);
	ATF_REQUIRE_EQ(sk_ttlv_get_long(&doc, t, &i64), -EBADMSG);
	ATF_REQUIRE_EQ(sk_ttlv_get_bool(&doc, t, &b), -EBADMSG);
	ATF_REQUIRE_EQ(sk_ttlv_get_bytes(&doc, t, &bytes, &blen), -EBADMSG);
	ATF_REQUIRE_EQ(sk_ttlv_get_text(&doc, 2, text, sizeof(text)), -EBADMSG);
	ATF_REQUIRE_EQ(sk_ttlv_get_text(&doc, 0, text, sizeof(text)), -EBADMSG);
	/* the text needs room for its NUL */
	ATF_REQUIRE_EQ(sk_ttlv_get_text(&doc, t, text, 11), -EBADMSG);
	ATF_REQUIRE_EQ(sk_ttlv_get_text(&doc, t, text, 12), 0);
	ATF_REQUIRE_STREQ(text, "Hello World");
	/* indexes outside the document, including "not found" */
	ATF_REQUIRE_EQ(sk_ttlv_get_int(&doc, -1, &i32), -EBADMSG);
	ATF_REQUIRE_EQ(sk_ttlv_get_int(&doc, 3, &i32), -EBADMSG);
	ATF_REQUIRE_EQ(sk_ttlv_get_text(&doc, -1, text, sizeof(text)), -EBADMSG);
	ATF_REQUIRE_EQ(sk_ttlv_get_bytes(&doc, 1000, &bytes, &blen), -EBADMSG);
	ATF_REQUIRE_EQ(sk_ttlv_get_int(&doc, 2, &i32), 0);
	ATF_REQUIRE_EQ(i32, 7);
	/* find: absent tags, leaves as parents, bad parents */
	ATF_REQUIRE_EQ(sk_ttlv_find(&doc, 0, KMIP_TAG_OPERATION, -1), -1);
	ATF_REQUIRE_EQ(sk_ttlv_find(&doc, 1, KMIP_TAG_OPERATION, -1), -1);
	ATF_REQUIRE_EQ(sk_ttlv_find(&doc, -1, TAG_X(2), -1), -1);
	ATF_REQUIRE_EQ(sk_ttlv_find(&doc, 3, TAG_X(2), -1), -1);
	/* the tag table and the type names */
	ATF_REQUIRE(sk_ttlv_tag_lookup(KMIP_TAG_UNIQUE_IDENTIFIER) != NULL);
	ATF_REQUIRE_EQ(sk_ttlv_tag_lookup(KMIP_TAG_UNIQUE_IDENTIFIER)->type, SK_TTLV_TEXT);
	ATF_REQUIRE_STREQ(sk_ttlv_tag_lookup(KMIP_TAG_UNIQUE_IDENTIFIER)->name, "Unique Identifier");
	ATF_REQUIRE(sk_ttlv_tag_lookup(TAG_X(1)) == NULL);
	ATF_REQUIRE_STREQ(sk_ttlv_type_name(SK_TTLV_TEXT), "Text String");
	ATF_REQUIRE_STREQ(sk_ttlv_type_name(SK_TTLV_DATETIME_EXT), "Date-Time Extended");
	ATF_REQUIRE_STREQ(sk_ttlv_type_name(0), "unknown type");
	ATF_REQUIRE_STREQ(sk_ttlv_type_name(0x0c), "unknown type");
	ATF_REQUIRE_STREQ(sk_ttlv_type_name(0xff), "unknown type");
}

ATF_TC_WITHOUT_HEAD(find_walks_siblings);
ATF_TC_BODY(find_walks_siblings, tc)
{
	struct sk_ttlv_item items[MAX_ITEMS];
	struct sk_ttlv_doc doc;
	struct sk_ttlv_enc enc;
	int found[5], n = 0, i = -1;
	char text[8];

	ATF_REQUIRE_EQ(sk_ttlv_enc_init(&enc, 512), 0);
	sk_ttlv_begin(&enc, KMIP_TAG_RESPONSE_PAYLOAD);
	sk_ttlv_put_text(&enc, KMIP_TAG_UNIQUE_IDENTIFIER, "a");
	sk_ttlv_put_int(&enc, TAG_X(1), 1);
	sk_ttlv_put_text(&enc, KMIP_TAG_UNIQUE_IDENTIFIER, "b");
	sk_ttlv_begin(&enc, TAG_X(2));
	sk_ttlv_put_text(&enc, KMIP_TAG_UNIQUE_IDENTIFIER, "nested, not a sibling");
	sk_ttlv_end(&enc);
	sk_ttlv_put_text(&enc, KMIP_TAG_UNIQUE_IDENTIFIER, "c");
	sk_ttlv_end(&enc);
	ATF_REQUIRE_EQ(sk_ttlv_enc_finish(&enc), 0);
	decode_ok(enc.buf->data, enc.len, &doc, items, MAX_ITEMS);
	while ((i = sk_ttlv_find(&doc, 0, KMIP_TAG_UNIQUE_IDENTIFIER, i)) >= 0 && n < 5)
		found[n++] = i;
	ATF_REQUIRE_EQ(n, 3);
	ATF_REQUIRE_EQ(sk_ttlv_get_text(&doc, found[0], text, sizeof(text)), 0);
	ATF_REQUIRE_STREQ(text, "a");
	ATF_REQUIRE_EQ(sk_ttlv_get_text(&doc, found[1], text, sizeof(text)), 0);
	ATF_REQUIRE_STREQ(text, "b");
	ATF_REQUIRE_EQ(sk_ttlv_get_text(&doc, found[2], text, sizeof(text)), 0);
	ATF_REQUIRE_STREQ(text, "c");
	sk_ttlv_enc_free(&enc);
}

ATF_TC_WITHOUT_HEAD(decode_truncated);
ATF_TC_BODY(decode_truncated, tc)
{
	const char *why = NULL;

	/* nothing, or less than one header */
	ATF_REQUIRE_EQ(sk_ttlv_decode((const unsigned char *)"", 0,
				      &(struct sk_ttlv_doc){ .items = NULL, .cap = 0 }, &why),
		       -EBADMSG);
	ATF_REQUIRE(why && strstr(why, "message length out of range"));
	EXPECT_BAD_HEX("42 00 20 02 00 00 00", "message length out of range");
	/* a header cut inside a structure (length 4, then 4 zero bytes) */
	EXPECT_BAD_HEX("42 00 20 01 00 00 00 04 | 00 00 00 00 00 00 00 00", "truncated item header");
	/* a complete item then half a header */
	EXPECT_BAD_HEX("42 00 20 01 00 00 00 00 | 42 00 20 02", "truncated item header");
	/* values cut short */
	EXPECT_BAD_HEX("42 00 20 02 00 00 00 04 | 00 00 00 08", "runs past its container");
	EXPECT_BAD_HEX("42 00 20 02 00 00 00 04", "runs past its container");
	EXPECT_BAD_HEX("42 00 20 07 00 00 00 0B | 48 65 6C 6C 6F 20 57 6F",
		       "runs past its container");
	/* the padding is part of the item: 3 bytes of value need 8 */
	EXPECT_BAD_HEX("42 00 20 08 00 00 00 03 | 01 02 03 00", "runs past its container");
	EXPECT_BAD_HEX("42 00 20 01 00 00 00 20 | 42 00 20 02 00 00 00 04 00 00 00 08 00 00 00 00",
		       "runs past its container");
	/* huge lengths, which must not wrap any offset */
	EXPECT_BAD_HEX("42 00 20 08 FF FF FF F0 | 00 00 00 00 00 00 00 00",
		       "runs past its container");
	EXPECT_BAD_HEX("42 00 20 08 FF FF FF FF | 00 00 00 00 00 00 00 00",
		       "runs past its container");
	EXPECT_BAD_HEX("42 00 20 01 00 00 00 10 | 42 00 20 08 FF FF FF F9 00 00 00 00 00 00 00 00",
		       "runs past its container");
}

/* @n structures each holding the next, innermost empty, built by hand. */
static size_t nested_structs(unsigned char *buf, size_t cap, unsigned n)
{
	ATF_REQUIRE(n * SK_TTLV_HEADER_LEN <= cap);
	for (unsigned i = 0; i < n; i++) {
		unsigned char *h = buf + i * SK_TTLV_HEADER_LEN;
		uint32_t len = (n - 1 - i) * SK_TTLV_HEADER_LEN;

		h[0] = 0x54;
		h[1] = 0x00;
		h[2] = (unsigned char)(i + 1);
		h[3] = SK_TTLV_STRUCT;
		h[4] = (unsigned char)(len >> 24);
		h[5] = (unsigned char)(len >> 16);
		h[6] = (unsigned char)(len >> 8);
		h[7] = (unsigned char)len;
	}
	return n * SK_TTLV_HEADER_LEN;
}

ATF_TC_WITHOUT_HEAD(decode_nesting_limit);
ATF_TC_BODY(decode_nesting_limit, tc)
{
	struct sk_ttlv_item items[MAX_ITEMS];
	struct sk_ttlv_doc doc;
	struct sk_ttlv_enc enc;
	unsigned char buf[(SK_TTLV_MAX_DEPTH + 2) * SK_TTLV_HEADER_LEN];
	int32_t i32;
	size_t len;

	/* one structure more than the limit */
	len = nested_structs(buf, sizeof(buf), SK_TTLV_MAX_DEPTH + 1);
	EXPECT_BAD(buf, len, "nested too deep");
	len = nested_structs(buf, sizeof(buf), SK_TTLV_MAX_DEPTH + 2);
	EXPECT_BAD(buf, len, "nested too deep");
	/* the limit itself */
	len = nested_structs(buf, sizeof(buf), SK_TTLV_MAX_DEPTH);
	decode_ok(buf, len, &doc, items, MAX_ITEMS);
	ATF_REQUIRE_EQ(doc.count, SK_TTLV_MAX_DEPTH);
	ATF_REQUIRE_EQ(doc.items[SK_TTLV_MAX_DEPTH - 1].depth, SK_TTLV_MAX_DEPTH - 1);

	/* what the encoder builds at its limit, a leaf in the deepest structure, decodes */
	ATF_REQUIRE_EQ(sk_ttlv_enc_init(&enc, 512), 0);
	for (unsigned i = 0; i < SK_TTLV_MAX_DEPTH; i++)
		sk_ttlv_begin(&enc, TAG_X(i + 1));
	sk_ttlv_put_int(&enc, TAG_X(100), 42);
	for (unsigned i = 0; i < SK_TTLV_MAX_DEPTH; i++)
		sk_ttlv_end(&enc);
	ATF_REQUIRE_EQ(sk_ttlv_enc_finish(&enc), 0);
	decode_ok(enc.buf->data, enc.len, &doc, items, MAX_ITEMS);
	ATF_REQUIRE_EQ(doc.count, SK_TTLV_MAX_DEPTH + 1);
	ATF_REQUIRE_EQ(sk_ttlv_get_int(&doc, SK_TTLV_MAX_DEPTH, &i32), 0);
	ATF_REQUIRE_EQ(i32, 42);
	ATF_REQUIRE_EQ(doc.items[SK_TTLV_MAX_DEPTH].depth, SK_TTLV_MAX_DEPTH);
	sk_ttlv_enc_free(&enc);
}

ATF_TC_WITHOUT_HEAD(decode_wrong_fixed_lengths);
ATF_TC_BODY(decode_wrong_fixed_lengths, tc)
{
	static const char *const bad[] = {
		/* Integer of 8, 0 and 2 bytes */
		"42 00 20 02 00 00 00 08 | 00 00 00 00 00 00 00 08",
		"42 00 20 02 00 00 00 00",
		"42 00 20 02 00 00 00 02 | 00 08 00 00 00 00 00 00",
		/* Enumeration of 8 */
		"42 00 20 05 00 00 00 08 | 00 00 00 00 00 00 00 FF",
		/* Boolean of 4 and 16 */
		"42 00 20 06 00 00 00 04 | 00 00 00 01 00 00 00 00",
		"42 00 20 06 00 00 00 10 | 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 01",
		/* Long Integer of 4 */
		"42 00 20 03 00 00 00 04 | 00 00 00 01 00 00 00 00",
		/* Date-Time of 4 and 0 */
		"42 00 20 09 00 00 00 04 | 47 DA 67 F8 00 00 00 00",
		"42 00 20 09 00 00 00 00",
		/* Interval of 8, Date-Time Extended of 4 */
		"42 00 20 0A 00 00 00 08 | 00 00 00 00 00 0D 2F 00",
		"42 00 20 0B 00 00 00 04 | 00 00 00 01 00 00 00 00",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		EXPECT_BAD_HEX(bad[i], "length does not match the item type");
	/* Big Integers come in multiples of 8 bytes, at least one */
	EXPECT_BAD_HEX("42 00 20 04 00 00 00 0C | 00 00 00 00 00 00 00 00 00 00 00 01 00 00 00 00",
		       "big integer length");
	EXPECT_BAD_HEX("42 00 20 04 00 00 00 00", "big integer length");
	EXPECT_GOOD_HEX("42 00 20 04 00 00 00 08 | FF FF FF FF FF FF FF FF");
	EXPECT_GOOD_HEX("42 00 20 0B 00 00 00 08 | 00 00 00 00 00 00 00 01");
}

ATF_TC_WITHOUT_HEAD(decode_bad_values);
ATF_TC_BODY(decode_bad_values, tc)
{
	/* Booleans are 0 or 1 in all 8 bytes */
	EXPECT_BAD_HEX("42 00 20 06 00 00 00 08 | 00 00 00 00 00 00 00 02", "boolean");
	EXPECT_BAD_HEX("42 00 20 06 00 00 00 08 | 01 00 00 00 00 00 00 01", "boolean");
	EXPECT_GOOD_HEX("42 00 20 06 00 00 00 08 | 00 00 00 00 00 00 00 00");
	/* padding must be zero, whatever the type */
	EXPECT_BAD_HEX("42 00 20 02 00 00 00 04 | 00 00 00 08 00 00 00 01", "non-zero padding");
	EXPECT_BAD_HEX("42 00 20 05 00 00 00 04 | 00 00 00 08 80 00 00 00", "non-zero padding");
	EXPECT_BAD_HEX("42 00 20 07 00 00 00 01 | 41 00 00 00 00 00 01 00", "non-zero padding");
	EXPECT_BAD_HEX("42 00 20 08 00 00 00 03 | 01 02 03 FF 00 00 00 00", "non-zero padding");
	EXPECT_BAD_HEX("42 00 20 0A 00 00 00 04 | 00 0D 2F 00 00 00 00 01", "non-zero padding");
	EXPECT_BAD_HEX("42 00 20 01 00 00 00 04 | 00 00 00 00 01 00 00 00", "non-zero padding");
	/* inside a structure too */
	EXPECT_BAD_HEX("42 00 20 01 00 00 00 10 | 42 00 20 02 00 00 00 04 00 00 00 08 00 00 01 00",
		       "non-zero padding");
	/* unknown types */
	EXPECT_BAD_HEX("42 00 20 0C 00 00 00 04 | 00 00 00 08 00 00 00 00", "unknown item type");
	EXPECT_BAD_HEX("42 00 20 00 00 00 00 04 | 00 00 00 08 00 00 00 00", "unknown item type");
	EXPECT_BAD_HEX("42 00 20 FF 00 00 00 00", "unknown item type");
	EXPECT_BAD_HEX("42 00 20 01 00 00 00 10 | 54 00 01 0D 00 00 00 04 00 00 00 08 00 00 00 00",
		       "unknown item type");
	/* tags outside 42xxxx and the 54xxxx extensions */
	EXPECT_BAD_HEX("43 00 20 02 00 00 00 04 | 00 00 00 08 00 00 00 00", "tag outside");
	EXPECT_BAD_HEX("00 00 00 02 00 00 00 04 | 00 00 00 08 00 00 00 00", "tag outside");
	EXPECT_GOOD_HEX("54 FF FF 02 00 00 00 04 | 00 00 00 08 00 00 00 00");
}

ATF_TC_WITHOUT_HEAD(decode_known_tag_wrong_type);
ATF_TC_BODY(decode_known_tag_wrong_type, tc)
{
	/* Unique Identifier as an Integer */
	EXPECT_BAD_HEX("42 00 94 02 00 00 00 04 | 00 00 00 01 00 00 00 00",
		       "known tag carries the wrong type");
	/* Batch Count as an Enumeration, Response Message as a Text String */
	EXPECT_BAD_HEX("42 00 0D 05 00 00 00 04 | 00 00 00 01 00 00 00 00",
		       "known tag carries the wrong type");
	EXPECT_BAD_HEX("42 00 7B 07 00 00 00 01 | 41 00 00 00 00 00 00 00",
		       "known tag carries the wrong type");
	/* Result Status as a Long Integer, inside a Batch Item */
	EXPECT_BAD_HEX("42 00 0F 01 00 00 00 10 | 42 00 7F 03 00 00 00 08 00 00 00 00 00 00 00 00",
		       "known tag carries the wrong type");
	/* Time Stamp as a Date-Time Extended */
	EXPECT_BAD_HEX("42 00 92 0B 00 00 00 08 | 00 00 00 00 00 00 00 00",
		       "known tag carries the wrong type");
	/* tags KMIP types loosely take any type, unknown tags too */
	EXPECT_GOOD_HEX("42 00 43 08 00 00 00 01 | AA 00 00 00 00 00 00 00");
	EXPECT_GOOD_HEX("42 00 43 01 00 00 00 00");
	EXPECT_GOOD_HEX("42 00 0B 07 00 00 00 01 | 41 00 00 00 00 00 00 00");
	EXPECT_GOOD_HEX("42 00 20 07 00 00 00 01 | 41 00 00 00 00 00 00 00");
}

ATF_TC_WITHOUT_HEAD(decode_text_checks);
ATF_TC_BODY(decode_text_checks, tc)
{
	static const char *const bad[] = {
		/* NUL inside, at the end, alone */
		"42 00 20 07 00 00 00 03 | 41 00 42 00 00 00 00 00",
		"42 00 20 07 00 00 00 02 | 41 00 00 00 00 00 00 00",
		"42 00 20 07 00 00 00 01 | 00 00 00 00 00 00 00 00",
		/* bytes that never occur in UTF-8 */
		"42 00 20 07 00 00 00 01 | FF 00 00 00 00 00 00 00",
		"42 00 20 07 00 00 00 02 | 41 FE 00 00 00 00 00 00",
		/* a continuation byte without a lead */
		"42 00 20 07 00 00 00 01 | 80 00 00 00 00 00 00 00",
		/* lead bytes cut off by the end of the string */
		"42 00 20 07 00 00 00 01 | C3 00 00 00 00 00 00 00",
		"42 00 20 07 00 00 00 02 | E2 82 00 00 00 00 00 00",
		"42 00 20 07 00 00 00 03 | F0 9F 98 00 00 00 00 00",
		/* a lead followed by a non-continuation */
		"42 00 20 07 00 00 00 02 | C3 41 00 00 00 00 00 00",
		/* overlong two-byte forms and leads past U+10FFFF */
		"42 00 20 07 00 00 00 02 | C0 AF 00 00 00 00 00 00",
		"42 00 20 07 00 00 00 02 | C1 81 00 00 00 00 00 00",
		"42 00 20 07 00 00 00 04 | F5 80 80 80 00 00 00 00",
		/* in a Unique Identifier inside a payload */
		"42 00 7C 01 00 00 00 10 | 42 00 94 07 00 00 00 03 61 FF 62 00 00 00 00 00",
	};
	struct sk_ttlv_item items[MAX_ITEMS];
	struct sk_ttlv_doc doc;
	unsigned char buf[64];
	char text[16];
	size_t len;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		EXPECT_BAD_HEX(bad[i], "not UTF-8 or holds a NUL");
	/* é € 😀 */
	len = hex("42 00 20 07 00 00 00 09 | C3 A9 E2 82 AC F0 9F 98 | 80 00 00 00 00 00 00 00", buf,
		  sizeof(buf));
	decode_ok(buf, len, &doc, items, MAX_ITEMS);
	ATF_REQUIRE_EQ(sk_ttlv_get_text(&doc, 0, text, sizeof(text)), 0);
	ATF_REQUIRE_STREQ(text, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
}

ATF_TC_WITHOUT_HEAD(decode_one_top_level_item);
ATF_TC_BODY(decode_one_top_level_item, tc)
{
	/* two complete items */
	EXPECT_BAD_HEX("42 00 20 02 00 00 00 04 00 00 00 08 00 00 00 00 "
		       "| 42 00 20 02 00 00 00 04 00 00 00 08 00 00 00 00",
		       "more than one top-level item");
	EXPECT_BAD_HEX("42 00 7B 01 00 00 00 00 | 42 00 7B 01 00 00 00 00",
		       "more than one top-level item");
	/* trailing garbage after a complete message */
	EXPECT_BAD_HEX("42 00 7B 01 00 00 00 00 | 00 00 00 00 00 00 00 00", "tag outside");
	EXPECT_BAD_HEX("42 00 7B 01 00 00 00 00 | 00 00 00 00", "truncated item header");
	EXPECT_BAD_HEX("42 00 7B 01 00 00 00 00 | 42", "truncated item header");
}

ATF_TC_WITHOUT_HEAD(decode_item_cap);
ATF_TC_BODY(decode_item_cap, tc)
{
	unsigned char buf[64];
	size_t len = hex("54 00 01 01 00 00 00 30 | 54 00 02 02 00 00 00 04 00 00 00 01 00 00 00 00 "
			 "| 54 00 02 02 00 00 00 04 00 00 00 02 00 00 00 00 "
			 "| 54 00 02 02 00 00 00 04 00 00 00 03 00 00 00 00",
			 buf, sizeof(buf));
	const char *why;

	for (size_t cap = 0; cap < 4; cap++)
		expect_bad_at(__FILE__, __LINE__, buf, len, cap, "too many items", "4 items");
	ATF_REQUIRE_EQ(decode_copy(buf, len, 4, &why), 0);
	ATF_REQUIRE_EQ(decode_copy(buf, len, 5, &why), 0);
}

ATF_TC_WITHOUT_HEAD(decode_size_limit);
ATF_TC_BODY(decode_size_limit, tc)
{
	struct sk_ttlv_item items[4];
	struct sk_ttlv_doc doc = { .items = items, .cap = 4 };
	size_t len = SK_TTLV_MAX_MESSAGE;
	unsigned char *buf = calloc(1, len + 8);
	const char *why = NULL;
	const unsigned char *bytes;
	size_t blen;

	ATF_REQUIRE(buf != NULL);
	/* a structure of exactly the largest size, holding one byte string */
	hex("54 00 01 01 00 00 FF F8 | 54 00 02 08 00 00 FF F0", buf, 16);
	ATF_REQUIRE_EQ(sk_ttlv_message_len(buf), (long)SK_TTLV_MAX_MESSAGE);
	ATF_REQUIRE_EQ_MSG(sk_ttlv_decode(buf, len, &doc, &why), 0, "%s", why);
	ATF_REQUIRE_EQ(sk_ttlv_get_bytes(&doc, 1, &bytes, &blen), 0);
	ATF_REQUIRE_EQ(blen, SK_TTLV_MAX_MESSAGE - 16);
	/* 8 bytes more */
	hex("54 00 01 01 00 01 00 00 | 54 00 02 08 00 00 FF F8", buf, 16);
	ATF_REQUIRE_EQ(sk_ttlv_message_len(buf), -EBADMSG);
	ATF_REQUIRE_EQ(sk_ttlv_decode(buf, len + 8, &doc, &why), -EBADMSG);
	ATF_REQUIRE(why && strstr(why, "message length out of range"));
	ATF_REQUIRE_EQ(sk_ttlv_decode(buf, SIZE_MAX, &doc, &why), -EBADMSG);
	ATF_REQUIRE(why && strstr(why, "message length out of range"));
	free(buf);
}

ATF_TC_WITHOUT_HEAD(decode_structure_filled_exactly);
ATF_TC_BODY(decode_structure_filled_exactly, tc)
{
	/* 20 bytes: an Integer (16) and 4 bytes that are no item */
	EXPECT_BAD_HEX("42 00 0F 01 00 00 00 14 | 42 00 20 02 00 00 00 04 00 00 00 08 00 00 00 00 "
		       "| 00 00 00 00 00 00 00 00",
		       "truncated item header");
	/* a child longer than its parent, although the message goes on */
	EXPECT_BAD_HEX("54 00 01 01 00 00 00 10 | 54 00 02 01 00 00 00 08 | 54 00 03 02 00 00 00 04 "
		       "| 00 00 00 01 00 00 00 00",
		       "runs past its container");
	/* a parent shorter than its children claims to be */
	EXPECT_BAD_HEX("54 00 01 01 00 00 00 08 | 54 00 02 02 00 00 00 04 | 00 00 00 01 00 00 00 00",
		       "runs past its container");
	/* structure lengths that are not a multiple of 8 cannot hold whole items */
	EXPECT_BAD_HEX("54 00 01 01 00 00 00 0C | 54 00 02 01 00 00 00 00 00 00 00 00 00 00 00 00",
		       "truncated item header");
	/* the same children in a structure of the right length */
	EXPECT_GOOD_HEX("54 00 01 01 00 00 00 10 | 54 00 02 01 00 00 00 00 | 54 00 03 01 00 00 00 00");
}

ATF_TC_WITHOUT_HEAD(message_len);
ATF_TC_BODY(message_len, tc)
{
	unsigned char h[SK_TTLV_HEADER_LEN];

	hex("42 00 7B 01 00 00 00 20", h, sizeof(h));
	ATF_REQUIRE_EQ(sk_ttlv_message_len(h), 0x28);
	hex("42 00 7B 01 00 00 00 00", h, sizeof(h));
	ATF_REQUIRE_EQ(sk_ttlv_message_len(h), 8);
	hex("42 00 7B 01 00 00 FF F8", h, sizeof(h));
	ATF_REQUIRE_EQ(sk_ttlv_message_len(h), (long)SK_TTLV_MAX_MESSAGE);
	/* not a structure */
	hex("42 00 7B 02 00 00 00 04", h, sizeof(h));
	ATF_REQUIRE_EQ(sk_ttlv_message_len(h), -EBADMSG);
	hex("42 00 7B 08 00 00 00 20", h, sizeof(h));
	ATF_REQUIRE_EQ(sk_ttlv_message_len(h), -EBADMSG);
	/* a structure's length is a multiple of 8 */
	hex("42 00 7B 01 00 00 00 21", h, sizeof(h));
	ATF_REQUIRE_EQ(sk_ttlv_message_len(h), -EBADMSG);
	hex("42 00 7B 01 00 00 00 04", h, sizeof(h));
	ATF_REQUIRE_EQ(sk_ttlv_message_len(h), -EBADMSG);
	/* too large */
	hex("42 00 7B 01 00 01 00 00", h, sizeof(h));
	ATF_REQUIRE_EQ(sk_ttlv_message_len(h), -EBADMSG);
	hex("42 00 7B 01 FF FF FF F8", h, sizeof(h));
	ATF_REQUIRE_EQ(sk_ttlv_message_len(h), -EBADMSG);
	hex("42 00 7B 01 80 00 00 00", h, sizeof(h));
	ATF_REQUIRE_EQ(sk_ttlv_message_len(h), -EBADMSG);
}

ATF_TC_WITHOUT_HEAD(encoder_overflow);
ATF_TC_BODY(encoder_overflow, tc)
{
	static const unsigned char key[32];
	struct sk_ttlv_enc enc;

	/* exactly full */
	ATF_REQUIRE_EQ(sk_ttlv_enc_init(&enc, 16), 0);
	sk_ttlv_put_int(&enc, TAG_X(1), 1);
	ATF_REQUIRE_EQ(sk_ttlv_enc_finish(&enc), 0);
	ATF_REQUIRE_EQ(enc.len, 16);
	/* one more item does not fit, and the length stays */
	sk_ttlv_put_int(&enc, TAG_X(1), 2);
	ATF_REQUIRE_EQ(sk_ttlv_enc_finish(&enc), -ENOBUFS);
	ATF_REQUIRE_EQ(enc.len, 16);
	sk_ttlv_enc_free(&enc);

	/* a structure and its child, one byte short */
	ATF_REQUIRE_EQ(sk_ttlv_enc_init(&enc, 23), 0);
	sk_ttlv_begin(&enc, TAG_X(1));
	sk_ttlv_put_int(&enc, TAG_X(2), 1);
	sk_ttlv_end(&enc);
	ATF_REQUIRE_EQ(sk_ttlv_enc_finish(&enc), -ENOBUFS);
	sk_ttlv_enc_free(&enc);

	/* less than one header */
	ATF_REQUIRE_EQ(sk_ttlv_enc_init(&enc, 4), 0);
	sk_ttlv_begin(&enc, TAG_X(1));
	ATF_REQUIRE_EQ(sk_ttlv_enc_finish(&enc), -ENOBUFS);
	ATF_REQUIRE_EQ(enc.len, 0);
	sk_ttlv_enc_free(&enc);

	/* the padding counts: 17 text bytes need 8 + 24 */
	ATF_REQUIRE_EQ(sk_ttlv_enc_init(&enc, 31), 0);
	sk_ttlv_put_text(&enc, TAG_X(1), "12345678901234567");
	ATF_REQUIRE_EQ(sk_ttlv_enc_finish(&enc), -ENOBUFS);
	/* errors are sticky: a small item that would fit is not written */
	sk_ttlv_put_int(&enc, TAG_X(2), 1);
	ATF_REQUIRE_EQ(enc.len, 0);
	ATF_REQUIRE_EQ(sk_ttlv_enc_finish(&enc), -ENOBUFS);
	sk_ttlv_enc_free(&enc);

	/* a key that does not fit, after items that did */
	ATF_REQUIRE_EQ(sk_ttlv_enc_init(&enc, 48), 0);
	sk_ttlv_begin(&enc, KMIP_TAG_KEY_VALUE);
	sk_ttlv_put_enum(&enc, KMIP_TAG_KEY_FORMAT_TYPE, KMIP_KEY_FORMAT_RAW);
	sk_ttlv_put_bytes(&enc, KMIP_TAG_KEY_MATERIAL, key, sizeof(key));
	sk_ttlv_end(&enc);
	ATF_REQUIRE_EQ(sk_ttlv_enc_finish(&enc), -ENOBUFS);
	ATF_REQUIRE_EQ(enc.len, 24);
	sk_ttlv_enc_free(&enc);
	sk_ttlv_enc_free(&enc); /* twice is harmless */
}

ATF_TC_WITHOUT_HEAD(encoder_unbalanced);
ATF_TC_BODY(encoder_unbalanced, tc)
{
	struct sk_ttlv_enc enc;

	ATF_REQUIRE_EQ(sk_ttlv_enc_init(&enc, 256), 0);
	sk_ttlv_begin(&enc, TAG_X(1));
	sk_ttlv_begin(&enc, TAG_X(2));
	sk_ttlv_end(&enc);
	ATF_REQUIRE_EQ(sk_ttlv_enc_finish(&enc), -EINVAL);
	sk_ttlv_end(&enc);
	ATF_REQUIRE_EQ(sk_ttlv_enc_finish(&enc), 0);
	/* one end too many */
	sk_ttlv_end(&enc);
	ATF_REQUIRE_EQ(sk_ttlv_enc_finish(&enc), -EINVAL);
	/* and that stays an error */
	sk_ttlv_begin(&enc, TAG_X(3));
	sk_ttlv_end(&enc);
	ATF_REQUIRE_EQ(sk_ttlv_enc_finish(&enc), -EINVAL);
	sk_ttlv_enc_free(&enc);

	ATF_REQUIRE_EQ(sk_ttlv_enc_init(&enc, 256), 0);
	sk_ttlv_end(&enc);
	ATF_REQUIRE_EQ(sk_ttlv_enc_finish(&enc), -EINVAL);
	sk_ttlv_enc_free(&enc);
}

ATF_TC_WITHOUT_HEAD(encoder_depth);
ATF_TC_BODY(encoder_depth, tc)
{
	struct sk_ttlv_enc enc;

	ATF_REQUIRE_EQ(sk_ttlv_enc_init(&enc, 1024), 0);
	for (unsigned i = 0; i < SK_TTLV_MAX_DEPTH; i++)
		sk_ttlv_begin(&enc, TAG_X(1));
	for (unsigned i = 0; i < SK_TTLV_MAX_DEPTH; i++)
		sk_ttlv_end(&enc);
	ATF_REQUIRE_EQ(sk_ttlv_enc_finish(&enc), 0);
	ATF_REQUIRE_EQ(enc.len, SK_TTLV_MAX_DEPTH * SK_TTLV_HEADER_LEN);
	sk_ttlv_enc_free(&enc);

	ATF_REQUIRE_EQ(sk_ttlv_enc_init(&enc, 1024), 0);
	for (unsigned i = 0; i <= SK_TTLV_MAX_DEPTH; i++)
		sk_ttlv_begin(&enc, TAG_X(1));
	for (unsigned i = 0; i <= SK_TTLV_MAX_DEPTH; i++)
		sk_ttlv_end(&enc);
	ATF_REQUIRE_EQ(sk_ttlv_enc_finish(&enc), -E2BIG);
	ATF_REQUIRE_EQ(enc.depth, SK_TTLV_MAX_DEPTH);
	sk_ttlv_enc_free(&enc);
}

/* A response, built with the encoder, in locked memory as received. */
struct resp_spec {
	uint32_t top;        /* message tag */
	int32_t batch_count; /* -1: none */
	int items;           /* batch items */
	long op;             /* each -1: leave the item out */
	long status;
	long reason;
	const char *message;
	bool payload;
};

/*
 * RESPONSE(.field = value) overrides the defaults of a good Get response:
 * a later designated initializer replacing an earlier one is standard C.
 */
#pragma GCC diagnostic ignored "-Woverride-init"
#define RESPONSE(...)                                                                   \
	((struct resp_spec){ .top = KMIP_TAG_RESPONSE_MESSAGE, .batch_count = 1, .items = 1, \
			     .op = KMIP_OP_GET, .status = KMIP_STATUS_SUCCESS, .reason = -1,  \
			     .payload = true, __VA_ARGS__ })

static struct sk_secret *build_response(const struct resp_spec *s)
{
	struct sk_ttlv_enc enc;
	struct sk_secret *out;

	ATF_REQUIRE_EQ(sk_ttlv_enc_init(&enc, 1024), 0);
	sk_ttlv_begin(&enc, s->top);
	sk_ttlv_begin(&enc, KMIP_TAG_RESPONSE_HEADER);
	sk_kmip_put_version(&enc, (struct sk_kmip_version){ 1, 2 });
	sk_ttlv_put_datetime(&enc, KMIP_TAG_TIME_STAMP, 1205495800);
	if (s->batch_count >= 0)
		sk_ttlv_put_int(&enc, KMIP_TAG_BATCH_COUNT, s->batch_count);
	sk_ttlv_end(&enc);
	for (int i = 0; i < s->items; i++) {
		sk_ttlv_begin(&enc, KMIP_TAG_BATCH_ITEM);
		if (s->op >= 0)
			sk_ttlv_put_enum(&enc, KMIP_TAG_OPERATION, (uint32_t)s->op);
		if (s->status >= 0)
			sk_ttlv_put_enum(&enc, KMIP_TAG_RESULT_STATUS, (uint32_t)s->status);
		if (s->reason >= 0)
			sk_ttlv_put_enum(&enc, KMIP_TAG_RESULT_REASON, (uint32_t)s->reason);
		if (s->message)
			sk_ttlv_put_text(&enc, KMIP_TAG_RESULT_MESSAGE, s->message);
		if (s->payload) {
			sk_ttlv_begin(&enc, KMIP_TAG_RESPONSE_PAYLOAD);
			sk_ttlv_put_text(&enc, KMIP_TAG_UNIQUE_IDENTIFIER, "uid-1234");
			sk_ttlv_end(&enc);
		}
		sk_ttlv_end(&enc);
	}
	sk_ttlv_end(&enc);
	ATF_REQUIRE_EQ(sk_ttlv_enc_finish(&enc), 0);
	out = sk_secret_dup(enc.buf->data, enc.len);
	ATF_REQUIRE(out != NULL);
	sk_ttlv_enc_free(&enc);
	return out;
}

/* Parse @s as the answer to @op; the last error logged is left in the capture. */
static int parse_response(struct resp_spec s, enum kmip_operation op)
{
	struct sk_kmip_response resp = { .buf = build_response(&s) };
	int r;

	capture_start();
	r = sk_kmip_response_parse(&resp, op, "kms.test:5696");
	if (r == 0)
		ATF_CHECK_EQ(capture_errors(), 0);
	else
		ATF_CHECK_MSG(capture_errors() > 0, "refused without a message");
	sk_kmip_response_free(&resp);
	ATF_REQUIRE(resp.buf == NULL && resp.doc.items == NULL && resp.payload == -1);
	return r;
}

#define REQUIRE_LOGGED(needle)                                                     \
	ATF_CHECK_MSG(strstr(capture_last_error(), (needle)) != NULL,               \
		      "message lacks '%s': %s", (needle), capture_last_error())

ATF_TC_WITHOUT_HEAD(response_success);
ATF_TC_BODY(response_success, tc)
{
	struct resp_spec s = RESPONSE();
	struct sk_kmip_response resp = { .buf = build_response(&s) };
	char uid[SK_KMIP_UID_MAX];

	capture_start();
	ATF_REQUIRE_EQ(sk_kmip_response_parse(&resp, KMIP_OP_GET, "kms.test:5696"), 0);
	ATF_REQUIRE_EQ(capture_errors(), 0);
	ATF_REQUIRE(resp.payload > 0);
	expect_item(&resp.doc, resp.payload, KMIP_TAG_RESPONSE_PAYLOAD, SK_TTLV_STRUCT);
	ATF_REQUIRE_EQ(sk_ttlv_get_text(&resp.doc,
					sk_ttlv_find(&resp.doc, resp.payload,
						     KMIP_TAG_UNIQUE_IDENTIFIER, -1),
					uid, sizeof(uid)),
		       0);
	ATF_REQUIRE_STREQ(uid, "uid-1234");
	/* items point into the received buffer */
	ATF_REQUIRE(resp.doc.items[resp.payload].value > resp.buf->data &&
		    resp.doc.items[resp.payload].value < resp.buf->data + resp.buf->len);
	sk_kmip_response_free(&resp);

	/* no payload is fine (Activate, Destroy), and so is no Operation echoed */
	ATF_REQUIRE_EQ(parse_response(RESPONSE(.payload = false, .op = KMIP_OP_DESTROY),
				      KMIP_OP_DESTROY),
		       0);
	ATF_REQUIRE_EQ(parse_response(RESPONSE(.op = -1), KMIP_OP_LOCATE), 0);
	s = RESPONSE(.payload = false);
	resp = (struct sk_kmip_response){ .buf = build_response(&s) };
	ATF_REQUIRE_EQ(sk_kmip_response_parse(&resp, KMIP_OP_GET, "kms.test:5696"), 0);
	ATF_REQUIRE_EQ(resp.payload, -1);
	sk_kmip_response_free(&resp);
}

/* One item of a batch response: its ID (-1: none), status and reason. */
struct batch_answer {
	int id, status;
	uint32_t reason;
	const char *message;
};

static struct sk_secret *batch_response(int32_t count, const struct batch_answer *a, size_t n)
{
	struct sk_ttlv_enc enc;
	struct sk_secret *out;

	ATF_REQUIRE_EQ(sk_ttlv_enc_init(&enc, 4096), 0);
	sk_ttlv_begin(&enc, KMIP_TAG_RESPONSE_MESSAGE);
	sk_ttlv_begin(&enc, KMIP_TAG_RESPONSE_HEADER);
	sk_kmip_put_version(&enc, (struct sk_kmip_version){ 1, 2 });
	sk_ttlv_put_int(&enc, KMIP_TAG_BATCH_COUNT, count);
	sk_ttlv_end(&enc);
	for (size_t i = 0; i < n; i++) {
		const unsigned char id[4] = { 0, 0, 0, (unsigned char)a[i].id };

		sk_ttlv_begin(&enc, KMIP_TAG_BATCH_ITEM);
		sk_ttlv_put_enum(&enc, KMIP_TAG_OPERATION, KMIP_OP_GET);
		if (a[i].id >= 0)
			sk_ttlv_put_bytes(&enc, KMIP_TAG_UNIQUE_BATCH_ITEM_ID, id, sizeof(id));
		sk_ttlv_put_enum(&enc, KMIP_TAG_RESULT_STATUS, (uint32_t)a[i].status);
		if (a[i].status) {
			sk_ttlv_put_enum(&enc, KMIP_TAG_RESULT_REASON, a[i].reason);
			sk_ttlv_put_text(&enc, KMIP_TAG_RESULT_MESSAGE, a[i].message);
		} else {
			sk_ttlv_begin(&enc, KMIP_TAG_RESPONSE_PAYLOAD);
			sk_ttlv_put_text(&enc, KMIP_TAG_UNIQUE_IDENTIFIER, a[i].message);
			sk_ttlv_end(&enc);
		}
		sk_ttlv_end(&enc);
	}
	sk_ttlv_end(&enc);
	ATF_REQUIRE_EQ(sk_ttlv_enc_finish(&enc), 0);
	out = sk_secret_dup(enc.buf->data, enc.len);
	sk_ttlv_enc_free(&enc);
	ATF_REQUIRE(out != NULL);
	return out;
}

static int parse_batch(int32_t count, const struct batch_answer *a, size_t n,
		       struct sk_kmip_item_result *res)
{
	struct sk_kmip_response resp = { .buf = batch_response(count, a, n) };
	int r = sk_kmip_response_parse_batch(&resp, KMIP_OP_GET, "kms.test:5696", 3, res);

	sk_kmip_response_free(&resp);
	return r;
}

ATF_TC_WITHOUT_HEAD(batch_request);
ATF_TC_BODY(batch_request, tc)
{
	struct sk_ttlv_item items[MAX_ITEMS];
	struct sk_kmip_request req;
	struct sk_ttlv_doc doc;
	const unsigned char *id;
	size_t len, n = 0;
	int32_t count;
	uint32_t option;
	int h, item = -1;

	ATF_REQUIRE_EQ(sk_kmip_request_begin_batch(&req, (struct sk_kmip_version){ 2, 0 },
						   KMIP_OP_GET, 3),
		       0);
	for (int i = 0; i < 3; i++) {
		sk_kmip_request_item(&req);
		sk_ttlv_put_text(&req.enc, KMIP_TAG_UNIQUE_IDENTIFIER, "k");
	}
	ATF_REQUIRE_EQ(sk_kmip_request_finish(&req), 0);
	decode_ok(req.enc.buf->data, req.enc.len, &doc, items, MAX_ITEMS);
	h = sk_ttlv_find(&doc, 0, KMIP_TAG_REQUEST_HEADER, -1);
	ATF_REQUIRE_EQ(sk_ttlv_get_int(&doc, sk_ttlv_find(&doc, h, KMIP_TAG_BATCH_COUNT, -1), &count),
		       0);
	ATF_REQUIRE_EQ(count, 3);
	/* Continue (1): PyKMIP stops at the first failed item without it */
	ATF_REQUIRE_EQ(sk_ttlv_get_enum(&doc,
					sk_ttlv_find(&doc, h, KMIP_TAG_BATCH_ERROR_CONTINUATION_OPTION,
						     -1),
					&option),
		       0);
	ATF_REQUIRE_EQ(option, KMIP_BATCH_CONTINUE);
	ATF_REQUIRE_EQ(option, 1);
	while ((item = sk_ttlv_find(&doc, 0, KMIP_TAG_BATCH_ITEM, item)) >= 0) {
		ATF_REQUIRE_EQ(sk_ttlv_get_bytes(&doc,
						 sk_ttlv_find(&doc, item,
							      KMIP_TAG_UNIQUE_BATCH_ITEM_ID, -1),
						 &id, &len),
			       0);
		ATF_REQUIRE(len == 4 && id[0] == 0 && id[1] == 0 && id[2] == 0 && id[3] == n);
		ATF_REQUIRE(sk_ttlv_find(&doc, item, KMIP_TAG_REQUEST_PAYLOAD, -1) >= 0);
		n++;
	}
	ATF_REQUIRE_EQ(n, 3);
	sk_kmip_request_free(&req);
	ATF_REQUIRE_EQ(sk_kmip_request_begin_batch(&req, (struct sk_kmip_version){ 2, 0 },
						   KMIP_OP_GET, SK_KMIP_BATCH_MAX + 1),
		       -EINVAL);
}

ATF_TC_WITHOUT_HEAD(batch_response_items);
ATF_TC_BODY(batch_response_items, tc)
{
	const struct batch_answer out_of_order[] = {
		{ 2, 0, 0, "c" }, { 0, 0, 0, "a" }, { 1, 1, 0x01, "gone" } };
	const struct batch_answer repeated[] = {
		{ 0, 0, 0, "a" }, { 0, 0, 0, "a" }, { 1, 0, 0, "b" } };
	const struct batch_answer whole[] = { { -1, 1, 0x04, "batches are not supported" } };
	struct sk_kmip_item_result res[3];
	struct sk_kmip_response resp = { .buf = batch_response(3, out_of_order, 3) };
	char uid[8], message[SK_KMIP_TEXT_MAX];

	capture_start();
	ATF_REQUIRE_EQ(sk_kmip_response_parse_batch(&resp, KMIP_OP_GET, "kms.test:5696", 3, res), 0);
	/* a failed item is for the caller to report, after the keys are gone */
	ATF_REQUIRE_EQ(capture_errors(), 0);
	ATF_REQUIRE(res[0].r == 0 && res[2].r == 0 && res[1].r == -ENOENT && res[1].reason == 1);
	ATF_REQUIRE_EQ(sk_ttlv_get_text(&resp.doc,
					sk_ttlv_find(&resp.doc, res[2].payload,
						     KMIP_TAG_UNIQUE_IDENTIFIER, -1),
					uid, sizeof(uid)),
		       0);
	ATF_REQUIRE_STREQ(uid, "c");
	sk_kmip_item_message(&resp, &res[1], message, sizeof(message));
	ATF_REQUIRE_STREQ(message, "gone");
	sk_kmip_response_free(&resp);
	/* a server without batches answers the message once */
	ATF_REQUIRE_EQ(parse_batch(1, whole, 1, res), -EOPNOTSUPP);
	ATF_REQUIRE_EQ(parse_batch(3, repeated, 3, res), -EBADMSG);
	ATF_REQUIRE_EQ(parse_batch(3, out_of_order, 2, res), -EBADMSG);
}

ATF_TC_WITHOUT_HEAD(response_failures);
ATF_TC_BODY(response_failures, tc)
{
	/* Operation Failed with Item Not Found */
	ATF_REQUIRE_EQ(parse_response(RESPONSE(.status = 1, .reason = 0x01, .message = "no such key",
					       .payload = false),
				      KMIP_OP_GET),
		       -ENOENT);
	REQUIRE_LOGGED("kms.test:5696");
	REQUIRE_LOGGED("Item Not Found");
	REQUIRE_LOGGED("no such key");
	REQUIRE_LOGGED("Get");
	/* a long message still reaches the log (it is a copy of the received bytes) */
	ATF_REQUIRE_EQ(parse_response(RESPONSE(.status = 1, .reason = 0x03,
					       .message = "Error verifying the client certificate. "
							  "See server logs for more information."),
				      KMIP_OP_GET),
		       -EACCES);
	REQUIRE_LOGGED("Authentication Not Successful: Error verifying the client certificate. "
		       "See server logs for more information.");
	ATF_REQUIRE_EQ(parse_response(RESPONSE(.status = 1, .reason = 0x0c), KMIP_OP_GET), -EACCES);
	REQUIRE_LOGGED("Permission Denied");
	ATF_REQUIRE_EQ(parse_response(RESPONSE(.op = KMIP_OP_LOCATE, .status = 1, .reason = 0x03),
				      KMIP_OP_LOCATE),
		       -EACCES);
	REQUIRE_LOGGED("Authentication Not Successful");
	ATF_REQUIRE_EQ(parse_response(RESPONSE(.status = 1, .reason = 0x04), KMIP_OP_GET), -EPROTO);
	REQUIRE_LOGGED("Invalid Message");
	ATF_REQUIRE_EQ(parse_response(RESPONSE(.status = 1, .reason = 0x100), KMIP_OP_GET), -EPROTO);
	REQUIRE_LOGGED("General Failure");
	ATF_REQUIRE_EQ(parse_response(RESPONSE(.status = 1, .reason = 0x7777), KMIP_OP_GET),
		       -EPROTO);
	REQUIRE_LOGGED("unknown reason");
	/* no reason at all; Operation Pending and Undone are failures too */
	ATF_REQUIRE_EQ(parse_response(RESPONSE(.status = 1, .payload = false), KMIP_OP_GET),
		       -EPROTO);
	ATF_REQUIRE_EQ(parse_response(RESPONSE(.status = 2, .payload = false), KMIP_OP_GET),
		       -EPROTO);
	ATF_REQUIRE_EQ(parse_response(RESPONSE(.status = 3, .payload = false), KMIP_OP_GET),
		       -EPROTO);
}

ATF_TC_WITHOUT_HEAD(response_malformed);
ATF_TC_BODY(response_malformed, tc)
{
	struct sk_kmip_response resp;

	ATF_REQUIRE_EQ(parse_response(RESPONSE(.batch_count = 2), KMIP_OP_GET), -EBADMSG);
	REQUIRE_LOGGED("batch count");
	ATF_REQUIRE_EQ(parse_response(RESPONSE(.batch_count = 2, .items = 2), KMIP_OP_GET),
		       -EBADMSG);
	ATF_REQUIRE_EQ(parse_response(RESPONSE(.batch_count = 0, .items = 0), KMIP_OP_GET),
		       -EBADMSG);
	ATF_REQUIRE_EQ(parse_response(RESPONSE(.batch_count = -1), KMIP_OP_GET), -EBADMSG);
	ATF_REQUIRE_EQ(parse_response(RESPONSE(.items = 2), KMIP_OP_GET), -EBADMSG);
	REQUIRE_LOGGED("not exactly one batch item");
	ATF_REQUIRE_EQ(parse_response(RESPONSE(.items = 0), KMIP_OP_GET), -EBADMSG);
	REQUIRE_LOGGED("not exactly one batch item");
	ATF_REQUIRE_EQ(parse_response(RESPONSE(.op = KMIP_OP_LOCATE), KMIP_OP_GET), -EBADMSG);
	REQUIRE_LOGGED("another operation");
	/* a failure that answers another request is malformed first */
	ATF_REQUIRE_EQ(parse_response(RESPONSE(.op = KMIP_OP_LOCATE, .status = 1, .reason = 1),
				      KMIP_OP_GET),
		       -EBADMSG);
	ATF_REQUIRE_EQ(parse_response(RESPONSE(.top = KMIP_TAG_REQUEST_MESSAGE), KMIP_OP_GET),
		       -EBADMSG);
	REQUIRE_LOGGED("not a Response Message");
	ATF_REQUIRE_EQ(parse_response(RESPONSE(.top = TAG_X(1)), KMIP_OP_GET), -EBADMSG);
	REQUIRE_LOGGED("not a Response Message");
	ATF_REQUIRE_EQ(parse_response(RESPONSE(.status = -1), KMIP_OP_GET), -EBADMSG);
	REQUIRE_LOGGED("no result status");

	/* bytes the decoder refuses, with its reason in the message */
	resp = (struct sk_kmip_response){ .buf = sk_secret_dup(
						  "\x42\x00\x7b\x01\x00\x00\x00\x10"
						  "\x42\x00\x94\x02\x00\x00\x00\x04"
						  "\x00\x00\x00\x01\x00\x00\x00\x00",
						  24) };
	ATF_REQUIRE(resp.buf != NULL);
	capture_start();
	ATF_REQUIRE_EQ(sk_kmip_response_parse(&resp, KMIP_OP_GET, "kms.test:5696"), -EBADMSG);
	REQUIRE_LOGGED("malformed");
	REQUIRE_LOGGED("known tag carries the wrong type");
	sk_kmip_response_free(&resp);
	/* an empty Response Message */
	resp = (struct sk_kmip_response){ .buf = sk_secret_dup("\x42\x00\x7b\x01\x00\x00\x00\x00",
							       8) };
	ATF_REQUIRE(resp.buf != NULL);
	ATF_REQUIRE_EQ(sk_kmip_response_parse(&resp, KMIP_OP_GET, "kms.test:5696"), -EBADMSG);
	sk_kmip_response_free(&resp);
}

ATF_TC_WITHOUT_HEAD(parse_url_good);
ATF_TC_BODY(parse_url_good, tc)
{
	static const struct {
		const char *url, *host, *port;
	} good[] = {
		{ "kmip://host:5696", "host", "5696" },
		{ "kmip://kms.example.com:15696", "kms.example.com", "15696" },
		{ "kmip://127.0.0.1", "127.0.0.1", "5696" },
		{ "kmip://[::1]:1234", "::1", "1234" },
		{ "kmip://[fe80::1%eth0]", "fe80::1%eth0", "5696" },
		{ "host:5696", "host", "5696" },
		{ "10.0.0.1:1", "10.0.0.1", "1" },
		{ "kms", "kms", "5696" },
		{ "kmip://a:65535", "a", "65535" },
	};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct sk_kmip_endpoint ep;

		memset(&ep, 0x55, sizeof(ep));
		ATF_CHECK_EQ_MSG(sk_kmip_parse_url(good[i].url, &ep), 0, "%s refused", good[i].url);
		ATF_CHECK_STREQ_MSG(ep.host, good[i].host, "%s", good[i].url);
		ATF_CHECK_STREQ_MSG(ep.port, good[i].port, "%s", good[i].url);
	}
}

ATF_TC_WITHOUT_HEAD(parse_url_bad);
ATF_TC_BODY(parse_url_bad, tc)
{
	static const char *const bad[] = {
		"kmip://host:0",   "kmip://host:70000", "kmip://host:65536", "kmip://host:x",
		"kmip://host:",    "kmip://host:-1",    "kmip://host:+80",   "kmip://host:123456",
		"kmip://host:80x", "kmip://host: 80",   "kmip://host:1:2",   "kmip://",
		"",                ":5696",             "kmip://:5696",      "kmip://[::1",
		"kmip://[::1]x",   "kmip://[::1]:",     "kmip://[]:5696",    "kmip://::1",
		"kmip://host:5696/path", "kmip://host/path", "kmip://host/",
		"kmip://[::1]:5696/kms",
	};
	struct sk_kmip_endpoint ep;
	char url[300];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ATF_CHECK_EQ_MSG(sk_kmip_parse_url(bad[i], &ep), -EINVAL, "'%s' accepted", bad[i]);
	/* host names up to 255 bytes */
	memcpy(url, "kmip://", 7);
	memset(url + 7, 'a', 255);
	strcpy(url + 7 + 255, ":5696");
	ATF_REQUIRE_EQ(sk_kmip_parse_url(url, &ep), 0);
	ATF_REQUIRE_EQ(strlen(ep.host), 255);
	memset(url + 7, 'a', 256);
	strcpy(url + 7 + 256, ":5696");
	ATF_REQUIRE_EQ(sk_kmip_parse_url(url, &ep), -EINVAL);
	url[7 + 256] = '\0';
	ATF_REQUIRE_EQ(sk_kmip_parse_url(url, &ep), -EINVAL);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of the regular files in @dir ending in @suffix; NULL-terminated. */
static char **list_files(const char *dir, const char *suffix, size_t *count)
{
	char **names = NULL;
	struct dirent *e;
	size_t n = 0;
	DIR *d = opendir(dir);

	ATF_REQUIRE_MSG(d != NULL, "opendir %s: %s", dir, strerror(errno));
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name), sl = strlen(suffix);
		char path[PATH_MAX];
		struct stat st;

		if (e->d_name[0] == '.' || len < sl || strcmp(e->d_name + len - sl, suffix))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		names = realloc(names, (n + 2) * sizeof(*names));
		ATF_REQUIRE(names != NULL);
		names[n] = strdup(e->d_name);
		ATF_REQUIRE(names[n] != NULL);
		names[++n] = NULL;
	}
	closedir(d);
	if (names)
		qsort(names, n, sizeof(*names), by_name);
	*count = n;
	return names;
}

static void free_names(char **names)
{
	for (size_t i = 0; names && names[i]; i++)
		free(names[i]);
	free(names);
}

ATF_TC_WITHOUT_HEAD(fuzz_corpus_replay);
ATF_TC_BODY(fuzz_corpus_replay, tc)
{
	size_t count, decoded = 0;
	char **names = list_files(CORPUS_DIR, "", &count);

	ATF_REQUIRE_MSG(count >= 10, "only %zu files in %s", count, CORPUS_DIR);
	for (size_t i = 0; i < count; i++) {
		struct sk_ttlv_item items[SK_KMIP_MAX_ITEMS];
		struct sk_ttlv_doc doc = { .items = items, .cap = SK_KMIP_MAX_ITEMS };
		char path[PATH_MAX];
		unsigned char *data;
		const char *bad, *why;
		size_t len;

		snprintf(path, sizeof(path), "%s/%s", CORPUS_DIR, names[i]);
		helper_read_file(path, &data, &len);
		capture_start(); /* the parser logs its refusals */
		bad = sk_fuzz_ttlv(data, len);
		ATF_CHECK_MSG(bad == NULL, "%s: %s", names[i], bad);
		if (sk_ttlv_decode(data, len, &doc, &why) == 0)
			decoded++;
		free(data);
	}
	/* the corpus holds valid messages as well as broken ones */
	ATF_CHECK_MSG(decoded >= 5 && decoded < count, "%zu of %zu corpus files decode", decoded,
		      count);
	free_names(names);
}

/*
 * KMIP 1.2 §9.1.3.2.19 Revocation Reason Code: Superseded is 0x05,
 * Cessation of Operation 0x06 (what PyKMIP sends, see revoke-*-request.ttlv).
 */
#define KMIP_SPEC_CESSATION_OF_OPERATION 0x06

ATF_TC_WITHOUT_HEAD(revocation_reason_code);
ATF_TC_BODY(revocation_reason_code, tc)
{
	/* kmip_tags.h once had 0x05, which is Superseded */
	ATF_CHECK_EQ(KMIP_REVOCATION_CESSATION, KMIP_SPEC_CESSATION_OF_OPERATION);
}

/* The PyKMIP vectors' MANIFEST: "file op=X dir=Y version=M.N len=L notes". */
struct vector {
	char file[128], op[32], dir[16];
	struct sk_kmip_version version;
	size_t len;
	const char *notes;
};

static const struct {
	const char *name;
	enum kmip_operation op;
} vector_ops[] = {
	{ "DiscoverVersions", KMIP_OP_DISCOVER_VERSIONS },
	{ "Register", KMIP_OP_REGISTER },
	{ "Create", KMIP_OP_CREATE },
	{ "Get", KMIP_OP_GET },
	{ "Locate", KMIP_OP_LOCATE },
	{ "GetAttributes", KMIP_OP_GET_ATTRIBUTES },
	{ "Activate", KMIP_OP_ACTIVATE },
	{ "Revoke", KMIP_OP_REVOKE },
	{ "Destroy", KMIP_OP_DESTROY },
};

/* The operation named in the MANIFEST; -1 for "(none)" (session-level errors). */
static long vector_op(const struct vector *v)
{
	for (size_t i = 0; i < sizeof(vector_ops) / sizeof(vector_ops[0]); i++)
		if (!strcmp(v->op, vector_ops[i].name))
			return vector_ops[i].op;
	ATF_REQUIRE_STREQ_MSG(v->op, "(none)", "%s: unknown operation", v->file);
	return -1;
}

/* "@key=VALUE" in @notes (VALUE up to a blank, ',' or ';') into @out, or "". */
static void note_value(const char *notes, const char *key, char *out, size_t size)
{
	const char *p = notes;
	size_t klen = strlen(key), n;

	out[0] = '\0';
	while ((p = strstr(p, key)) != NULL) {
		if ((p == notes || p[-1] == ' ') && p[klen] == '=')
			break;
		p += klen;
	}
	if (!p)
		return;
	p += klen + 1;
	n = strcspn(p, " ,;\n");
	ATF_REQUIRE(n < size);
	memcpy(out, p, n);
	out[n] = '\0';
}

/* What securekey's own encoder sends for the uid-only requests. */
static void check_request_bytes(const struct vector *v, const unsigned char *data, size_t len)
{
	struct sk_kmip_request req;
	long op = vector_op(v);
	char uid[SK_KMIP_UID_MAX];

	if (op != KMIP_OP_GET && op != KMIP_OP_ACTIVATE && op != KMIP_OP_DESTROY &&
	    op != KMIP_OP_REVOKE)
		return;
	note_value(v->notes, "uid", uid, sizeof(uid));
	ATF_REQUIRE_MSG(uid[0], "%s: no uid in the MANIFEST", v->file);
	ATF_REQUIRE_EQ(sk_kmip_request_begin(&req, v->version, (enum kmip_operation)op), 0);
	sk_ttlv_put_text(&req.enc, KMIP_TAG_UNIQUE_IDENTIFIER, uid);
	if (op == KMIP_OP_REVOKE) {
		sk_ttlv_begin(&req.enc, KMIP_TAG_REVOCATION_REASON);
		sk_ttlv_put_enum(&req.enc, KMIP_TAG_REVOCATION_REASON_CODE,
				 KMIP_REVOCATION_CESSATION);
		sk_ttlv_end(&req.enc);
	}
	ATF_REQUIRE_EQ(sk_kmip_request_finish(&req), 0);
	ATF_CHECK_MSG(req.enc.len == len && memcmp(req.enc.buf->data, data, len) == 0,
		      "%s: securekey encodes this request differently (%zu bytes)", v->file,
		      req.enc.len);
	sk_kmip_request_free(&req);
}

/* A successful response carries what the MANIFEST says. */
static void check_response_payload(const struct vector *v, const struct sk_kmip_response *resp)
{
	const struct sk_ttlv_doc *doc = &resp->doc;
	char want[128], got[SK_KMIP_UID_MAX];
	int item;

	note_value(v->notes, "uid", want, sizeof(want));
	if (want[0]) {
		item = sk_ttlv_find(doc, resp->payload, KMIP_TAG_UNIQUE_IDENTIFIER, -1);
		ATF_CHECK_MSG(sk_ttlv_get_text(doc, item, got, sizeof(got)) == 0 &&
				      !strcmp(got, want),
			      "%s: Unique Identifier is not %s", v->file, want);
	}
	note_value(v->notes, "key", want, sizeof(want));
	if (want[0] && !strcmp(v->op, "Get")) {
		int key = sk_ttlv_find(doc, resp->payload, KMIP_TAG_SYMMETRIC_KEY, -1);
		int block = sk_ttlv_find(doc, key, KMIP_TAG_KEY_BLOCK, -1);
		int value = sk_ttlv_find(doc, block, KMIP_TAG_KEY_VALUE, -1);
		unsigned char expect[64];
		size_t elen = hex(want, expect, sizeof(expect)), klen = 0;
		const unsigned char *material = NULL;
		uint32_t format = 0;

		ATF_CHECK_EQ_MSG(sk_ttlv_get_enum(doc,
						  sk_ttlv_find(doc, block, KMIP_TAG_KEY_FORMAT_TYPE,
							       -1),
						  &format),
				 0, "%s: no Key Format Type", v->file);
		ATF_CHECK_EQ(format, KMIP_KEY_FORMAT_RAW);
		ATF_CHECK_MSG(sk_ttlv_get_bytes(doc, sk_ttlv_find(doc, value, KMIP_TAG_KEY_MATERIAL, -1),
						&material, &klen) == 0 &&
				      klen == elen && memcmp(material, expect, elen) == 0,
			      "%s: Key Material is not %s", v->file, want);
	}
	if (!strcmp(v->op, "DiscoverVersions")) {
		struct sk_kmip_version first;

		item = sk_ttlv_find(doc, resp->payload, KMIP_TAG_PROTOCOL_VERSION, -1);
		ATF_CHECK_MSG(sk_kmip_read_version(doc, item, &first) == 0 && first.major == 2 &&
				      first.minor == 0,
			      "%s: the server's first choice is not 2.0", v->file);
	}
}

/*
 * Real KMIP messages encoded by PyKMIP (tests/kms/vectors, described by its
 * MANIFEST): every one decodes; the responses pass or fail the response
 * checks as the server meant, and carry what the MANIFEST says; and the
 * uid-only requests are byte for byte what securekey's encoder sends.
 */
ATF_TC_WITHOUT_HEAD(pykmip_vectors);
ATF_TC_BODY(pykmip_vectors, tc)
{
	size_t count, listed = 0, responses = 0, requests = 0;
	char line[1024], **names;
	struct stat st;
	FILE *manifest;

	if (stat(VECTOR_DIR, &st) < 0 || !S_ISDIR(st.st_mode))
		atf_tc_skip("no KMIP vectors in " VECTOR_DIR);
	names = list_files(VECTOR_DIR, ".ttlv", &count);
	ATF_REQUIRE_MSG(count > 0, "no .ttlv files in %s", VECTOR_DIR);
	capture_start(); /* the parser logs its refusals */
	manifest = fopen(VECTOR_DIR "/MANIFEST", "r");
	ATF_REQUIRE_MSG(manifest != NULL, "%s/MANIFEST: %s", VECTOR_DIR, strerror(errno));
	while (fgets(line, sizeof(line), manifest)) {
		struct sk_ttlv_item items[SK_KMIP_MAX_ITEMS];
		struct sk_ttlv_doc doc = { .items = items, .cap = SK_KMIP_MAX_ITEMS };
		struct sk_kmip_version hv = { -1, -1 };
		struct vector v = { .notes = "" };
		char path[PATH_MAX], version[8];
		const char *why = NULL;
		unsigned char *data;
		size_t len;
		int r, notes = 0;

		if (line[0] == '#' || line[0] == '\n')
			continue;
		ATF_REQUIRE_MSG(sscanf(line, "%127s op=%31s dir=%15s version=%7s len=%zu %n", v.file,
				       v.op, v.dir, version, &v.len, &notes) == 5,
				"MANIFEST line not understood: %s", line);
		ATF_REQUIRE_MSG(sscanf(version, "%d.%d", &v.version.major, &v.version.minor) == 2,
				"%s: version %s", v.file, version);
		v.notes = line + notes;
		listed++;
		snprintf(path, sizeof(path), "%s/%s", VECTOR_DIR, v.file);
		helper_read_file(path, &data, &len);
		ATF_CHECK_EQ_MSG(len, v.len, "%s: %zu bytes, MANIFEST says %zu", v.file, len, v.len);
		r = sk_ttlv_decode(data, len, &doc, &why);
		ATF_CHECK_MSG(r == 0, "%s: %s", v.file, why);
		if (r < 0) {
			free(data);
			continue;
		}
		ATF_CHECK_EQ_MSG(sk_ttlv_message_len(data), (long)len, "%s: framing", v.file);
		ATF_CHECK_MSG(sk_fuzz_ttlv(data, len) == NULL, "%s: fuzz invariants", v.file);
		sk_kmip_read_version(&doc,
				     sk_ttlv_find(&doc,
						  sk_ttlv_find(&doc, 0,
							       !strcmp(v.dir, "request")
								       ? KMIP_TAG_REQUEST_HEADER
								       : KMIP_TAG_RESPONSE_HEADER,
							       -1),
						  KMIP_TAG_PROTOCOL_VERSION, -1),
				     &hv);
		ATF_CHECK_MSG(hv.major == v.version.major && hv.minor == v.version.minor,
			      "%s: header version %d.%d", v.file, hv.major, hv.minor);

		if (!strcmp(v.dir, "request")) {
			ATF_CHECK_EQ_MSG(doc.items[0].tag, KMIP_TAG_REQUEST_MESSAGE, "%s", v.file);
			check_request_bytes(&v, data, len);
			requests++;
		} else {
			struct sk_kmip_response resp = { .buf = sk_secret_dup(data, len) };
			long op = vector_op(&v);
			bool failed = op < 0 || strstr(v.notes, "OperationFailed");
			int want = !failed                                ? 0
				   : strstr(v.notes, "ItemNotFound")         ? -ENOENT
				   : strstr(v.notes, "AuthenticationNotSucc") ? -EACCES
									      : -EPROTO;
			char message[128] = "";

			ATF_CHECK_EQ_MSG(doc.items[0].tag, KMIP_TAG_RESPONSE_MESSAGE, "%s", v.file);
			ATF_REQUIRE(resp.buf != NULL);
			capture_start();
			/* session-level errors echo no operation: any request gets them */
			r = sk_kmip_response_parse(&resp, op < 0 ? KMIP_OP_GET : (enum kmip_operation)op,
						   "pykmip:5696");
			ATF_CHECK_EQ_MSG(r, want, "%s: parsed to %d, expected %d: %s", v.file, r, want,
					 capture_last_error());
			if (r == 0 && want == 0)
				check_response_payload(&v, &resp);
			if (want < 0) {
				const char *q = strstr(v.notes, "Result Message '");

				ATF_CHECK_MSG(strcmp(capture_last_error(), SK_LOG_WITHHELD) != 0,
					      "%s: the server's error was withheld from the log",
					      v.file);
				if (q && sscanf(q, "Result Message '%127[^']'", message) == 1)
					ATF_CHECK_MSG(strstr(capture_last_error(), message) != NULL,
						      "%s: '%s' not logged: %s", v.file, message,
						      capture_last_error());
			}
			sk_kmip_response_free(&resp);
			responses++;
		}
		free(data);
	}
	fclose(manifest);
	ATF_CHECK_EQ_MSG(listed, count, "MANIFEST lists %zu files, %zu .ttlv files exist", listed,
			 count);
	ATF_CHECK_MSG(requests > 0 && responses > 0, "%zu requests, %zu responses", requests,
		      responses);
	free_names(names);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, spec_examples_encode);
	ATF_TP_ADD_TC(tp, spec_examples_decode);
	ATF_TP_ADD_TC(tp, encoder_round_trip);
	ATF_TP_ADD_TC(tp, accessors_check_type_and_index);
	ATF_TP_ADD_TC(tp, find_walks_siblings);
	ATF_TP_ADD_TC(tp, decode_truncated);
	ATF_TP_ADD_TC(tp, decode_nesting_limit);
	ATF_TP_ADD_TC(tp, decode_wrong_fixed_lengths);
	ATF_TP_ADD_TC(tp, decode_bad_values);
	ATF_TP_ADD_TC(tp, decode_known_tag_wrong_type);
	ATF_TP_ADD_TC(tp, decode_text_checks);
	ATF_TP_ADD_TC(tp, decode_one_top_level_item);
	ATF_TP_ADD_TC(tp, decode_item_cap);
	ATF_TP_ADD_TC(tp, decode_size_limit);
	ATF_TP_ADD_TC(tp, decode_structure_filled_exactly);
	ATF_TP_ADD_TC(tp, message_len);
	ATF_TP_ADD_TC(tp, encoder_overflow);
	ATF_TP_ADD_TC(tp, encoder_unbalanced);
	ATF_TP_ADD_TC(tp, encoder_depth);
	ATF_TP_ADD_TC(tp, response_success);
	ATF_TP_ADD_TC(tp, response_failures);
	ATF_TP_ADD_TC(tp, response_malformed);
	ATF_TP_ADD_TC(tp, parse_url_good);
	ATF_TP_ADD_TC(tp, parse_url_bad);
	ATF_TP_ADD_TC(tp, fuzz_corpus_replay);
	ATF_TP_ADD_TC(tp, revocation_reason_code);
	ATF_TP_ADD_TC(tp, pykmip_vectors);
	ATF_TP_ADD_TC(tp, batch_request);
	ATF_TP_ADD_TC(tp, batch_response_items);
	return atf_no_error();
}
