#include "config.h"

#include "kmip_ttlv.h"

#include <errno.h>
#include <string.h>

#define PAD8(n) (((size_t)(n) + 7u) & ~(size_t)7u)

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const unsigned char *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

/* Fixed value length of a type, 0 for variable, -1 for an unknown type. */
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
	case SK_TTLV_STRUCT:
	case SK_TTLV_BIGINT:
	case SK_TTLV_TEXT:
	case SK_TTLV_BYTES:
		return 0;
	default:
		return -1;
	}
}

/* Lead bytes and continuations only; overlong 3/4-byte forms are not checked. */
static bool utf8_valid(const unsigned char *s, size_t len)
{
	for (size_t i = 0; i < len;) {
		unsigned char c = s[i];
		size_t n;

		if (c == 0)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			n = 1;
		else if (c >= 0xe0 && c <= 0xef)
			n = 2;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 3;
		else
			return false;
		if (len - i <= n)
			return false;
		for (size_t k = 1; k <= n; k++)
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
		i += n + 1;
	}
	return true;
}

static int check_value(const struct sk_ttlv_item *it, const char **why)
{
	long want = fixed_len(it->type);
	const struct sk_ttlv_tag_info *info = sk_ttlv_tag_lookup(it->tag);

	if (want < 0)
		return *why = "unknown item type", -EBADMSG;
	if (want > 0 && it->len != (uint32_t)want)
		return *why = "length does not match the item type", -EBADMSG;
	if (it->type == SK_TTLV_BIGINT && (it->len == 0 || it->len % 8))
		return *why = "big integer length is not a multiple of 8", -EBADMSG;
	if (it->type == SK_TTLV_BOOL && be64(it->value) > 1)
		return *why = "boolean is neither 0 nor 1", -EBADMSG;
	if (it->type == SK_TTLV_TEXT && !utf8_valid(it->value, it->len))
		return *why = "text string is not UTF-8 or holds a NUL", -EBADMSG;
	if (info && info->type && info->type != it->type)
		return *why = "a known tag carries the wrong type", -EBADMSG;
	return 0;
}

struct decoder {
	const unsigned char *buf;
	struct sk_ttlv_doc *doc;
	const char **why;
};

/* Items filling [off, end) exactly, at @depth; *first gets the first index. */
static int decode_range(struct decoder *d, size_t off, size_t end, unsigned depth, int *first)
{
	int prev = -1;

	*first = -1;
	/*
	 * Items at @depth sit in @depth structures: up to SK_TTLV_MAX_DEPTH
	 * nested structures may hold items, as the encoder allows.
	 */
	if (depth > SK_TTLV_MAX_DEPTH)
		return *d->why = "structures nested too deep", -EBADMSG;
	while (off < end) {
		const unsigned char *h = d->buf + off;
		struct sk_ttlv_item *it;
		size_t padded;
		int idx, r;

		if (end - off < SK_TTLV_HEADER_LEN)
			return *d->why = "truncated item header", -EBADMSG;
		if (h[0] != 0x42 && h[0] != 0x54)
			return *d->why = "tag outside the KMIP and extension ranges", -EBADMSG;
		if (d->doc->count >= d->doc->cap)
			return *d->why = "too many items", -EBADMSG;
		/* the length alone first: PAD8 wraps a length near 4 GiB where size_t is 32-bit */
		padded = PAD8(be32(h + 4));
		if (be32(h + 4) > end - off - SK_TTLV_HEADER_LEN ||
		    padded > end - off - SK_TTLV_HEADER_LEN)
			return *d->why = "item length runs past its container", -EBADMSG;
		idx = (int)d->doc->count++;
		it = &d->doc->items[idx];
		*it = (struct sk_ttlv_item){ .tag = be32(h) >> 8, .type = h[3], .len = be32(h + 4),
					     .value = h + SK_TTLV_HEADER_LEN, .first_child = -1,
					     .next = -1, .depth = depth };
		r = check_value(it, d->why);
		if (r < 0)
			return r;
		for (size_t i = it->len; i < padded; i++)
			if (it->value[i])
				return *d->why = "non-zero padding", -EBADMSG;
		if (it->type == SK_TTLV_STRUCT) {
			int child;

			r = decode_range(d, off + SK_TTLV_HEADER_LEN,
					 off + SK_TTLV_HEADER_LEN + it->len, depth + 1, &child);
			if (r < 0)
				return r;
			d->doc->items[idx].first_child = child;
		}
		if (prev >= 0)
			d->doc->items[prev].next = idx;
		else
			*first = idx;
		prev = idx;
		off += SK_TTLV_HEADER_LEN + padded;
	}
	return 0;
}

int sk_ttlv_decode(const unsigned char *buf, size_t len, struct sk_ttlv_doc *doc,
		   const char **why)
{
	struct decoder d = { .buf = buf, .doc = doc, .why = why };
	int first, r;

	doc->count = 0;
	*why = NULL;
	if (len < SK_TTLV_HEADER_LEN || len > SK_TTLV_MAX_MESSAGE)
		return *why = "message length out of range", -EBADMSG;
	r = decode_range(&d, 0, len, 0, &first);
	if (r < 0)
		return r;
	if (first != 0 || doc->items[0].next != -1)
		return *why = "more than one top-level item", -EBADMSG;
	return 0;
}

long sk_ttlv_message_len(const unsigned char header[SK_TTLV_HEADER_LEN])
{
	uint32_t len = be32(header + 4);

	if (header[3] != SK_TTLV_STRUCT || len % 8 || len > SK_TTLV_MAX_MESSAGE - SK_TTLV_HEADER_LEN)
		return -EBADMSG;
	return (long)len + SK_TTLV_HEADER_LEN;
}

int sk_ttlv_find(const struct sk_ttlv_doc *doc, int parent, uint32_t tag, int after)
{
	int i;

	if (parent < 0 || (size_t)parent >= doc->count)
		return -1;
	i = after >= 0 ? doc->items[after].next : doc->items[parent].first_child;
	for (; i >= 0; i = doc->items[i].next)
		if (doc->items[i].tag == tag)
			return i;
	return -1;
}

static const struct sk_ttlv_item *typed(const struct sk_ttlv_doc *doc, int item, uint8_t type)
{
	if (item < 0 || (size_t)item >= doc->count || doc->items[item].type != type)
		return NULL;
	return &doc->items[item];
}

int sk_ttlv_get_int(const struct sk_ttlv_doc *doc, int item, int32_t *out)
{
	const struct sk_ttlv_item *it = typed(doc, item, SK_TTLV_INT);

	if (!it)
		return -EBADMSG;
	*out = (int32_t)be32(it->value);
	return 0;
}

int sk_ttlv_get_enum(const struct sk_ttlv_doc *doc, int item, uint32_t *out)
{
	const struct sk_ttlv_item *it = typed(doc, item, SK_TTLV_ENUM);

	if (!it)
		return -EBADMSG;
	*out = be32(it->value);
	return 0;
}

int sk_ttlv_get_long(const struct sk_ttlv_doc *doc, int item, int64_t *out)
{
	const struct sk_ttlv_item *it = typed(doc, item, SK_TTLV_LONG);

	if (!it)
		return -EBADMSG;
	*out = (int64_t)be64(it->value);
	return 0;
}

int sk_ttlv_get_bool(const struct sk_ttlv_doc *doc, int item, bool *out)
{
	const struct sk_ttlv_item *it = typed(doc, item, SK_TTLV_BOOL);

	if (!it)
		return -EBADMSG;
	*out = be64(it->value) != 0;
	return 0;
}

int sk_ttlv_get_text(const struct sk_ttlv_doc *doc, int item, char *buf, size_t size)
{
	const struct sk_ttlv_item *it = typed(doc, item, SK_TTLV_TEXT);

	if (!it || it->len >= size)
		return -EBADMSG;
	memcpy(buf, it->value, it->len);
	buf[it->len] = '\0';
	return 0;
}

int sk_ttlv_get_bytes(const struct sk_ttlv_doc *doc, int item, const unsigned char **data,
		      size_t *len)
{
	const struct sk_ttlv_item *it = typed(doc, item, SK_TTLV_BYTES);

	if (!it)
		return -EBADMSG;
	*data = it->value;
	*len = it->len;
	return 0;
}

/* Encoder */

int sk_ttlv_enc_init(struct sk_ttlv_enc *enc, size_t capacity)
{
	*enc = (struct sk_ttlv_enc){ 0 };
	enc->buf = sk_secret_new(capacity);
	return enc->buf ? 0 : -ENOMEM;
}

void sk_ttlv_enc_free(struct sk_ttlv_enc *enc)
{
	sk_secret_free(enc->buf);
	enc->buf = NULL;
}

static void put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

/* Reserve header + padded value; NULL (and a sticky error) when full. */
static unsigned char *put_header(struct sk_ttlv_enc *enc, uint32_t tag, uint8_t type, size_t len)
{
	unsigned char *p;

	if (enc->error)
		return NULL;
	if (len > UINT32_MAX || PAD8(len) > enc->buf->len - enc->len - SK_TTLV_HEADER_LEN ||
	    enc->buf->len - enc->len < SK_TTLV_HEADER_LEN) {
		enc->error = -ENOBUFS;
		return NULL;
	}
	p = enc->buf->data + enc->len;
	put_be32(p, tag << 8 | type);
	put_be32(p + 4, (uint32_t)len);
	memset(p + SK_TTLV_HEADER_LEN, 0, PAD8(len));
	enc->len += SK_TTLV_HEADER_LEN + PAD8(len);
	return p + SK_TTLV_HEADER_LEN;
}

void sk_ttlv_begin(struct sk_ttlv_enc *enc, uint32_t tag)
{
	if (!enc->error && enc->depth >= SK_TTLV_MAX_DEPTH)
		enc->error = -E2BIG;
	if (!put_header(enc, tag, SK_TTLV_STRUCT, 0))
		return;
	enc->open[enc->depth++] = enc->len - SK_TTLV_HEADER_LEN;
}

void sk_ttlv_end(struct sk_ttlv_enc *enc)
{
	size_t start;

	if (enc->error)
		return;
	if (!enc->depth) {
		enc->error = -EINVAL;
		return;
	}
	start = enc->open[--enc->depth];
	put_be32(enc->buf->data + start + 4, (uint32_t)(enc->len - start - SK_TTLV_HEADER_LEN));
}

void sk_ttlv_put_int(struct sk_ttlv_enc *enc, uint32_t tag, int32_t value)
{
	unsigned char *p = put_header(enc, tag, SK_TTLV_INT, 4);

	if (p)
		put_be32(p, (uint32_t)value);
}

void sk_ttlv_put_enum(struct sk_ttlv_enc *enc, uint32_t tag, uint32_t value)
{
	unsigned char *p = put_header(enc, tag, SK_TTLV_ENUM, 4);

	if (p)
		put_be32(p, value);
}

static void put64(struct sk_ttlv_enc *enc, uint32_t tag, uint8_t type, uint64_t value)
{
	unsigned char *p = put_header(enc, tag, type, 8);

	if (p) {
		put_be32(p, (uint32_t)(value >> 32));
		put_be32(p + 4, (uint32_t)value);
	}
}

void sk_ttlv_put_long(struct sk_ttlv_enc *enc, uint32_t tag, int64_t value)
{
	put64(enc, tag, SK_TTLV_LONG, (uint64_t)value);
}

void sk_ttlv_put_bool(struct sk_ttlv_enc *enc, uint32_t tag, bool value)
{
	put64(enc, tag, SK_TTLV_BOOL, value ? 1 : 0);
}

void sk_ttlv_put_datetime(struct sk_ttlv_enc *enc, uint32_t tag, int64_t value)
{
	put64(enc, tag, SK_TTLV_DATETIME, (uint64_t)value);
}

void sk_ttlv_put_text(struct sk_ttlv_enc *enc, uint32_t tag, const char *text)
{
	size_t len = strlen(text);
	unsigned char *p = put_header(enc, tag, SK_TTLV_TEXT, len);

	if (p)
		memcpy(p, text, len);
}

void sk_ttlv_put_bytes(struct sk_ttlv_enc *enc, uint32_t tag, const void *data, size_t len)
{
	unsigned char *p = put_header(enc, tag, SK_TTLV_BYTES, len);

	if (p && len)
		memcpy(p, data, len);
}

int sk_ttlv_enc_finish(const struct sk_ttlv_enc *enc)
{
	if (enc->error)
		return enc->error;
	return enc->depth ? -EINVAL : 0;
}
