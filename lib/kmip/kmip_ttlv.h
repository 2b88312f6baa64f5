/*
 * KMIP TTLV codec (KMIP 1.x/2.0 "Tag-Type-Length-Value", 8-byte aligned).
 *
 * The decoder is strict and bounded: every length must match its type, every
 * padding byte must be zero, structures must be filled exactly by their
 * children, nesting is limited to SK_TTLV_MAX_DEPTH and the item count to the
 * caller's arena. Items point into the caller's buffer, so a buffer holding a
 * key stays the only copy of it.
 *
 * The encoder writes into a fixed-size locked buffer (requests carry keys);
 * errors are sticky and reported once by sk_ttlv_enc_finish().
 */
#ifndef SECUREKEY_KMIP_TTLV_H
#define SECUREKEY_KMIP_TTLV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "secmem.h"

enum sk_ttlv_type {
	SK_TTLV_STRUCT = 0x01,
	SK_TTLV_INT = 0x02,
	SK_TTLV_LONG = 0x03,
	SK_TTLV_BIGINT = 0x04,
	SK_TTLV_ENUM = 0x05,
	SK_TTLV_BOOL = 0x06,
	SK_TTLV_TEXT = 0x07,
	SK_TTLV_BYTES = 0x08,
	SK_TTLV_DATETIME = 0x09,
	SK_TTLV_INTERVAL = 0x0a,
	SK_TTLV_DATETIME_EXT = 0x0b,
};

#define SK_TTLV_HEADER_LEN 8
#define SK_TTLV_MAX_DEPTH 16
/* Largest message either side accepts; KMIP key responses are far smaller. */
#define SK_TTLV_MAX_MESSAGE (64 * 1024)

struct sk_ttlv_item {
	uint32_t tag;
	uint8_t type;
	uint32_t len;                /* value length without padding */
	const unsigned char *value;  /* into the decoded buffer */
	int first_child, next;       /* item indexes, -1 when none */
	unsigned depth;
};

struct sk_ttlv_doc {
	struct sk_ttlv_item *items;
	size_t count, cap;
};

/* Tag of a known item and the type KMIP gives it; SK_TTLV_* 0 when any. */
struct sk_ttlv_tag_info {
	uint32_t tag;
	uint8_t type;
	const char *name;
};

const struct sk_ttlv_tag_info *sk_ttlv_tag_lookup(uint32_t tag);
const char *sk_ttlv_type_name(uint8_t type);

/*
 * Decode exactly one top-level item filling all of @buf. @doc->items must
 * hold @doc->cap entries. Returns 0 or -EBADMSG with the reason in @why
 * (a static string).
 */
int sk_ttlv_decode(const unsigned char *buf, size_t len, struct sk_ttlv_doc *doc,
		   const char **why);

/* Length of the whole message announced by an 8-byte TTLV header, or -EBADMSG. */
long sk_ttlv_message_len(const unsigned char header[SK_TTLV_HEADER_LEN]);

/* First child of @parent with @tag (from @after's next sibling when >= 0). */
int sk_ttlv_find(const struct sk_ttlv_doc *doc, int parent, uint32_t tag, int after);

int sk_ttlv_get_int(const struct sk_ttlv_doc *doc, int item, int32_t *out);
int sk_ttlv_get_enum(const struct sk_ttlv_doc *doc, int item, uint32_t *out);
int sk_ttlv_get_long(const struct sk_ttlv_doc *doc, int item, int64_t *out);
int sk_ttlv_get_bool(const struct sk_ttlv_doc *doc, int item, bool *out);
/* Text as a NUL-free string copied into @buf (size @size), or -EBADMSG. */
int sk_ttlv_get_text(const struct sk_ttlv_doc *doc, int item, char *buf, size_t size);
int sk_ttlv_get_bytes(const struct sk_ttlv_doc *doc, int item, const unsigned char **data,
		      size_t *len);

struct sk_ttlv_enc {
	struct sk_secret *buf;
	size_t len;
	size_t open[SK_TTLV_MAX_DEPTH];
	unsigned depth;
	int error;
};

int sk_ttlv_enc_init(struct sk_ttlv_enc *enc, size_t capacity);
void sk_ttlv_enc_free(struct sk_ttlv_enc *enc);
void sk_ttlv_begin(struct sk_ttlv_enc *enc, uint32_t tag);
void sk_ttlv_end(struct sk_ttlv_enc *enc);
void sk_ttlv_put_int(struct sk_ttlv_enc *enc, uint32_t tag, int32_t value);
void sk_ttlv_put_enum(struct sk_ttlv_enc *enc, uint32_t tag, uint32_t value);
void sk_ttlv_put_long(struct sk_ttlv_enc *enc, uint32_t tag, int64_t value);
void sk_ttlv_put_bool(struct sk_ttlv_enc *enc, uint32_t tag, bool value);
void sk_ttlv_put_datetime(struct sk_ttlv_enc *enc, uint32_t tag, int64_t value);
void sk_ttlv_put_text(struct sk_ttlv_enc *enc, uint32_t tag, const char *text);
void sk_ttlv_put_bytes(struct sk_ttlv_enc *enc, uint32_t tag, const void *data, size_t len);
/* 0 when every structure was closed and nothing overflowed. */
int sk_ttlv_enc_finish(const struct sk_ttlv_enc *enc);

#endif
