/*
 * The fuzz target's body (see fuzz_ttlv_body.h). Everything the decoder
 * accepts must be a well-formed tree over the input: each item inside the
 * buffer and inside its parent, siblings back to back, structures filled
 * exactly, every accessor agreeing with the item's type; and encoding the
 * tree again must give back the input byte for byte.
 */
#include "config.h"

#include "fuzz_ttlv_body.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "kmip_msg.h"
#include "kmip_tags.h"
#include "kmip_ttlv.h"
#include "secmem.h"

#define PAD8(n) (((size_t)(n) + 7u) & ~(size_t)7u)

static uint64_t be64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static long fixed_len(uint8_t type)
{
	switch (type) {
	case SK_TTLV_INT:
	case SK_TTLV_ENUM:
	case SK_TTLV_INTERVAL:
		return 4;
	case SK_TTLV_LONG:
	case SK_TTLV_BOOL:
	case SK_TTLV_DATETIME:
	case SK_TTLV_DATETIME_EXT:
		return 8;
	default:
		return 0;
	}
}

/* Every accessor on item @i: exactly the one of its type may succeed. */
static const char *check_accessors(const struct sk_ttlv_doc *doc, int i)
{
	const struct sk_ttlv_item *it = &doc->items[i];
	const unsigned char *bytes = NULL;
	size_t blen = 0;
	int32_t i32;
	uint32_t u32;
	int64_t i64;
	bool b;
	char *text;
	int r;

	if ((sk_ttlv_get_int(doc, i, &i32) == 0) != (it->type == SK_TTLV_INT))
		return "sk_ttlv_get_int disagrees with the item type";
	if ((sk_ttlv_get_enum(doc, i, &u32) == 0) != (it->type == SK_TTLV_ENUM))
		return "sk_ttlv_get_enum disagrees with the item type";
	if ((sk_ttlv_get_long(doc, i, &i64) == 0) != (it->type == SK_TTLV_LONG))
		return "sk_ttlv_get_long disagrees with the item type";
	if ((sk_ttlv_get_bool(doc, i, &b) == 0) != (it->type == SK_TTLV_BOOL))
		return "sk_ttlv_get_bool disagrees with the item type";
	if (it->type == SK_TTLV_BOOL && b != (be64(it->value) == 1))
		return "sk_ttlv_get_bool misread the value";
	if ((sk_ttlv_get_bytes(doc, i, &bytes, &blen) == 0) != (it->type == SK_TTLV_BYTES))
		return "sk_ttlv_get_bytes disagrees with the item type";
	if (it->type == SK_TTLV_BYTES && (bytes != it->value || blen != it->len))
		return "sk_ttlv_get_bytes returned another range";

	text = malloc((size_t)it->len + 1);
	if (!text)
		return NULL; /* out of memory is not a finding */
	r = sk_ttlv_get_text(doc, i, text, (size_t)it->len + 1);
	if ((r == 0) != (it->type == SK_TTLV_TEXT)) {
		free(text);
		return "sk_ttlv_get_text disagrees with the item type";
	}
	if (r == 0 && (strlen(text) != it->len || memcmp(text, it->value, it->len))) {
		free(text);
		return "sk_ttlv_get_text copied something else";
	}
	/* one byte short of room for the NUL */
	if (it->type == SK_TTLV_TEXT && sk_ttlv_get_text(doc, i, text, it->len) == 0) {
		free(text);
		return "sk_ttlv_get_text overran a short buffer";
	}
	free(text);
	return NULL;
}

/* Item @i and the links to its children. */
static const char *check_item(const struct sk_ttlv_doc *doc, int i, const uint8_t *data,
			      size_t size, size_t *children)
{
	const struct sk_ttlv_item *it = &doc->items[i];
	const struct sk_ttlv_tag_info *info = sk_ttlv_tag_lookup(it->tag);
	const unsigned char *expect, *h;
	long fixed = fixed_len(it->type);
	const char *bad;
	int prev = i;

	if (it->value < data + SK_TTLV_HEADER_LEN || it->value > data + size ||
	    PAD8(it->len) > (size_t)(data + size - it->value))
		return "item value outside the buffer";
	h = it->value - SK_TTLV_HEADER_LEN;
	if (be64(h) != ((uint64_t)it->tag << 40 | (uint64_t)it->type << 32 | it->len))
		return "item header does not match the item";
	if (it->depth > SK_TTLV_MAX_DEPTH)
		return "item deeper than the limit";
	if (fixed && it->len != (uint32_t)fixed)
		return "fixed-size item with another length";
	for (size_t k = it->len; k < PAD8(it->len); k++)
		if (it->value[k])
			return "non-zero padding accepted";
	if (info && info->type && info->type != it->type)
		return "known tag accepted with the wrong type";
	if (!sk_ttlv_type_name(it->type))
		return "type without a name";
	bad = check_accessors(doc, i);
	if (bad)
		return bad;

	if (it->type != SK_TTLV_STRUCT) {
		if (it->first_child != -1)
			return "a leaf has children";
		return NULL;
	}
	expect = it->value;
	for (int c = it->first_child; c >= 0; c = doc->items[c].next) {
		const struct sk_ttlv_item *ch;
		int found;

		/* children come after their parent and their older siblings */
		if (c <= prev || (size_t)c >= doc->count)
			return "child index out of order";
		ch = &doc->items[c];
		if (ch->depth != it->depth + 1)
			return "child depth is not its parent's plus one";
		if (ch->value - SK_TTLV_HEADER_LEN != expect)
			return "children are not back to back from the parent's start";
		expect = ch->value + PAD8(ch->len);
		if (expect > it->value + it->len)
			return "child runs past its parent";
		found = sk_ttlv_find(doc, i, ch->tag, -1);
		if (found < 0 || found > c || doc->items[found].tag != ch->tag)
			return "sk_ttlv_find misses a child";
		found = sk_ttlv_find(doc, i, ch->tag, prev == i ? -1 : prev);
		if (found != c)
			return "sk_ttlv_find from the previous sibling misses a child";
		(*children)++;
		prev = c;
	}
	if (expect != it->value + it->len)
		return "children do not fill their structure";
	return NULL;
}

/* Encode item @i (and its subtree) again; false for types the encoder lacks. */
static bool reencode(struct sk_ttlv_enc *enc, const struct sk_ttlv_doc *doc, int i)
{
	const struct sk_ttlv_item *it = &doc->items[i];
	const unsigned char *bytes;
	size_t blen;
	int32_t i32;
	uint32_t u32;
	int64_t i64;
	bool b;

	switch (it->type) {
	case SK_TTLV_STRUCT:
		sk_ttlv_begin(enc, it->tag);
		for (int c = it->first_child; c >= 0; c = doc->items[c].next)
			if (!reencode(enc, doc, c))
				return false;
		sk_ttlv_end(enc);
		return true;
	case SK_TTLV_INT:
		sk_ttlv_get_int(doc, i, &i32);
		sk_ttlv_put_int(enc, it->tag, i32);
		return true;
	case SK_TTLV_ENUM:
		sk_ttlv_get_enum(doc, i, &u32);
		sk_ttlv_put_enum(enc, it->tag, u32);
		return true;
	case SK_TTLV_LONG:
		sk_ttlv_get_long(doc, i, &i64);
		sk_ttlv_put_long(enc, it->tag, i64);
		return true;
	case SK_TTLV_BOOL:
		sk_ttlv_get_bool(doc, i, &b);
		sk_ttlv_put_bool(enc, it->tag, b);
		return true;
	case SK_TTLV_DATETIME:
		sk_ttlv_put_datetime(enc, it->tag, (int64_t)be64(it->value));
		return true;
	case SK_TTLV_TEXT: {
		char *text = malloc((size_t)it->len + 1);

		if (!text)
			return false;
		sk_ttlv_get_text(doc, i, text, (size_t)it->len + 1);
		sk_ttlv_put_text(enc, it->tag, text);
		free(text);
		return true;
	}
	case SK_TTLV_BYTES:
		sk_ttlv_get_bytes(doc, i, &bytes, &blen);
		sk_ttlv_put_bytes(enc, it->tag, bytes, blen);
		return true;
	default:
		return false;
	}
}

static const char *check_reencode(const struct sk_ttlv_doc *doc, const uint8_t *data,
				  size_t size)
{
	struct sk_ttlv_enc enc;
	const char *bad = NULL;

	if (sk_ttlv_enc_init(&enc, size) < 0)
		return NULL;
	if (reencode(&enc, doc, 0)) {
		if (sk_ttlv_enc_finish(&enc) != 0)
			bad = "the encoder refused a decoded message";
		else if (enc.len != size || memcmp(enc.buf->data, data, size))
			bad = "re-encoding a decoded message changed it";
	}
	sk_ttlv_enc_free(&enc);
	return bad;
}

/* What the operations read from a successful response's payload. */
static void walk_payload(const struct sk_kmip_response *resp)
{
	const struct sk_ttlv_doc *doc = &resp->doc;
	char text[SK_KMIP_UID_MAX];
	const unsigned char *bytes;
	struct sk_kmip_version v;
	size_t blen;
	int item = -1, key, block, value;
	uint32_t u32;

	while ((item = sk_ttlv_find(doc, resp->payload, KMIP_TAG_UNIQUE_IDENTIFIER, item)) >= 0)
		sk_ttlv_get_text(doc, item, text, sizeof(text));
	while ((item = sk_ttlv_find(doc, resp->payload, KMIP_TAG_PROTOCOL_VERSION, item)) >= 0)
		sk_kmip_read_version(doc, item, &v);
	key = sk_ttlv_find(doc, resp->payload, KMIP_TAG_SYMMETRIC_KEY, -1);
	block = sk_ttlv_find(doc, key, KMIP_TAG_KEY_BLOCK, -1);
	value = sk_ttlv_find(doc, block, KMIP_TAG_KEY_VALUE, -1);
	sk_ttlv_get_enum(doc, sk_ttlv_find(doc, block, KMIP_TAG_KEY_FORMAT_TYPE, -1), &u32);
	sk_ttlv_get_bytes(doc, sk_ttlv_find(doc, value, KMIP_TAG_KEY_MATERIAL, -1), &bytes, &blen);
	while ((item = sk_ttlv_find(doc, resp->payload, KMIP_TAG_ATTRIBUTE, item)) >= 0) {
		sk_ttlv_get_text(doc, sk_ttlv_find(doc, item, KMIP_TAG_ATTRIBUTE_NAME, -1), text,
				 sizeof(text));
		sk_ttlv_find(doc, item, KMIP_TAG_ATTRIBUTE_VALUE, -1);
	}
}

static const char *check_response(const uint8_t *data, size_t size, bool decodes)
{
	static const enum kmip_operation ops[] = { KMIP_OP_GET, KMIP_OP_LOCATE,
						   KMIP_OP_DISCOVER_VERSIONS };

	if (size == 0)
		return NULL; /* a secret cannot be empty */
	for (size_t k = 0; k < sizeof(ops) / sizeof(ops[0]); k++) {
		struct sk_kmip_response resp = { .payload = -1 };
		const char *bad = NULL;
		int r;

		resp.buf = sk_secret_dup(data, size);
		if (!resp.buf)
			return NULL;
		r = sk_kmip_response_parse(&resp, ops[k], "fuzz");
		if (r != 0 && r != -EBADMSG && r != -ENOENT && r != -EACCES && r != -EPROTO &&
		    r != -ENOMEM)
			bad = "sk_kmip_response_parse returned an undocumented error";
		else if (!decodes && r != -EBADMSG && r != -ENOMEM)
			bad = "sk_kmip_response_parse accepted what the decoder refuses";
		else if (r == 0 && resp.payload >= 0 &&
			 ((size_t)resp.payload >= resp.doc.count ||
			  resp.doc.items[resp.payload].tag != KMIP_TAG_RESPONSE_PAYLOAD ||
			  resp.doc.items[resp.payload].type != SK_TTLV_STRUCT))
			bad = "the response payload is not a Response Payload";
		else if (r == 0)
			walk_payload(&resp);
		sk_kmip_response_free(&resp);
		if (bad)
			return bad;
	}
	return NULL;
}

const char *sk_fuzz_ttlv(const uint8_t *data, size_t size)
{
	struct sk_ttlv_doc doc = { .cap = SK_KMIP_MAX_ITEMS };
	const char *why = NULL, *bad = NULL;
	size_t children = 0, count;
	int r;

	doc.items = calloc(doc.cap, sizeof(*doc.items));
	if (!doc.items)
		return NULL;
	r = sk_ttlv_decode(data, size, &doc, &why);
	if (r != 0 && (r != -EBADMSG || !why)) {
		bad = "sk_ttlv_decode failed without -EBADMSG and a reason";
		goto out;
	}
	if (size >= SK_TTLV_HEADER_LEN && r == 0) {
		long len = sk_ttlv_message_len(data);

		if (doc.items[0].type == SK_TTLV_STRUCT ? len != (long)size : len != -EBADMSG) {
			bad = "sk_ttlv_message_len disagrees with the decoder";
			goto out;
		}
	}
	if (r == 0) {
		if (doc.count == 0 || doc.count > doc.cap || doc.items[0].depth != 0 ||
		    doc.items[0].next != -1 ||
		    SK_TTLV_HEADER_LEN + PAD8(doc.items[0].len) != size) {
			bad = "the top-level item does not fill the message";
			goto out;
		}
		if (sk_ttlv_find(&doc, -1, 0, -1) != -1 ||
		    sk_ttlv_find(&doc, (int)doc.count, 0, -1) != -1 ||
		    sk_ttlv_get_bytes(&doc, (int)doc.count, &(const unsigned char *){ NULL },
				      &(size_t){ 0 }) != -EBADMSG) {
			bad = "an index out of range was accepted";
			goto out;
		}
		for (size_t i = 0; i < doc.count && !bad; i++)
			bad = check_item(&doc, (int)i, data, size, &children);
		if (!bad && children != doc.count - 1)
			bad = "items that belong to no structure";
		if (!bad)
			bad = check_reencode(&doc, data, size);
		if (bad)
			goto out;
		/* exactly enough room, then one item short */
		count = doc.count;
		doc.cap = count;
		if (sk_ttlv_decode(data, size, &doc, &why) != 0 || doc.count != count) {
			bad = "decoding fails with exactly enough items";
			goto out;
		}
		doc.cap = count - 1;
		if (sk_ttlv_decode(data, size, &doc, &why) != -EBADMSG) {
			bad = "decoding succeeds with too few items";
			goto out;
		}
	}
	bad = check_response(data, size, r == 0);
out:
	free(doc.items);
	return bad;
}
