/*
 * The fuzz target's body (see fuzz_blob_body.h). sk_blob_parse is the gate
 * in front of every unwrap and every token: what it accepts must be exactly
 * one blob of a known key type, with the header it reports taken from the
 * bytes, and nothing a byte shorter or longer may pass. A blob that unwraps
 * must seal and unwrap again to the same key, and base64 (the form blobs
 * take in a token) must give back exactly the bytes it encoded.
 */
#include "config.h"

#include "fuzz_blob_body.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "blob.h"
#include "secmem.h"

/* The header layout of blob.h, spelled out here to check the parser. */
#define OFF_VERSION 4
#define OFF_TYPE 5
#define OFF_BITS 6
#define OFF_MKVP 8
#define OFF_NONCE (OFF_MKVP + SK_MKVP_LEN)

const unsigned char sk_fuzz_blob_mk[SK_MK_LEN] = {
	0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a,
	0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15,
	0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
};

static bool same_spec(const struct sk_key_spec *a, const struct sk_key_spec *b)
{
	return a->type == b->type && a->bits == b->bits;
}

static const char *check_name(const struct sk_key_spec *spec)
{
	struct sk_key_spec back;
	char buf[16];
	const char *name = sk_key_spec_name(spec, buf);

	if (name == buf)
		return "an accepted blob has a key type without a name";
	/* identity keys are never named by a token, so their name does not parse */
	if (spec->type != SK_KEY_IDENTITY &&
	    (sk_key_spec_parse(name, &back) != 0 || !same_spec(&back, spec)))
		return "the name of an accepted blob's key type parses to another type";
	return NULL;
}

static const char *check_header(const uint8_t *data, size_t size,
				 const struct sk_blob_header *hdr)
{
	unsigned char mkvp[SK_MKVP_LEN];
	char hex[SK_MKVP_HEX_LEN + 1];

	if (hdr->version != SK_BLOB_VERSION || memcmp(data, SK_BLOB_MAGIC, 4))
		return "an accepted blob has another magic or version";
	if ((unsigned)hdr->backend != data[OFF_VERSION] >> 4)
		return "the header's backend is not the blob's";
	if ((unsigned)hdr->key.type != data[OFF_TYPE] ||
	    hdr->key.bits != ((unsigned)data[OFF_BITS] << 8 | data[OFF_BITS + 1]))
		return "the header's key type is not the blob's";
	/* AES-KWP blobs (pkcs11 without GCM) pad the key and a check to 8 bytes */
	if (size != sk_blob_len_for(hdr->backend, &hdr->key) || size > SK_BLOB_IDENTITY_MAX_LEN)
		return "an accepted blob's length does not match its key size";
	if (memcmp(hdr->mkvp, data + OFF_MKVP, SK_MKVP_LEN) ||
	    memcmp(hdr->nonce, data + OFF_NONCE, SK_BLOB_NONCE_LEN))
		return "the header does not hold the blob's MKVP and nonce";
	sk_mkvp_to_hex(hdr->mkvp, hex);
	if (sk_mkvp_from_hex(hex, mkvp) != 0 || !sk_mkvp_equal(mkvp, hdr->mkvp))
		return "the MKVP does not survive its hex form";
	return check_name(&hdr->key);
}

/* One byte less, one byte more: exact-size heap copies, so ASan sees overreads. */
static const char *check_neighbours(const uint8_t *data, size_t size)
{
	struct sk_blob_header hdr;
	unsigned char *copy = malloc(size + 1);
	const char *bad = NULL;

	if (!copy)
		return NULL;
	memcpy(copy, data, size);
	copy[size] = 0;
	if (sk_blob_parse(copy, size + 1, &hdr) == 0)
		bad = "a blob with a byte appended still parses";
	free(copy);
	copy = malloc(size - 1);
	if (!bad && copy) {
		memcpy(copy, data, size - 1);
		if (sk_blob_parse(copy, size - 1, &hdr) == 0)
			bad = "a blob cut by one byte still parses";
	}
	free(copy);
	return bad;
}

/* Seal @key again under the fuzz master key and unwrap the new blob. */
static const char *check_reseal(const struct sk_blob_header *hdr, size_t size,
				const struct sk_secret *key)
{
	struct sk_blob_header again;
	struct sk_secret *back = NULL;
	unsigned char *blob = NULL;
	const char *bad = NULL;
	size_t len;

	if (sk_blob_seal(sk_fuzz_blob_mk, &hdr->key, key, &blob, &len) != 0)
		return "an unwrapped key does not seal again";
	if (sk_blob_parse(blob, len, &again) != 0 || len != size ||
	    !same_spec(&again.key, &hdr->key))
		bad = "a re-sealed blob does not parse as the same key type";
	else if (sk_blob_open(sk_fuzz_blob_mk, blob, len, &back) != 0 ||
		 !sk_secret_equal(back, key))
		bad = "a re-sealed blob does not unwrap to its key";
	sk_secret_free(back);
	free(blob);
	return bad;
}

static const char *check_open(const uint8_t *data, size_t size, const struct sk_blob_header *hdr)
{
	struct sk_secret *key = NULL;
	const char *bad;
	int r = sk_blob_open(sk_fuzz_blob_mk, data, size, &key);

	if (r == -EKEYREJECTED || r == -ENOMEM)
		return key ? "a refused unwrap returned a key" : NULL;
	if (r != 0)
		return "sk_blob_open failed on a parsed blob with an undocumented error";
	if (!key || key->len != hdr->key.bits / 8)
		return "an unwrapped key does not have the size of its key type";
	bad = check_reseal(hdr, size, key);
	sk_secret_free(key);
	return bad;
}

/* Encoding and decoding again gives the bytes; decoded text is canonical. */
static const char *check_base64(const uint8_t *data, size_t size)
{
	char *text = sk_base64_encode(data, size);
	unsigned char *back = NULL;
	const char *bad = NULL;
	size_t n;

	if (text && (sk_base64_decode(text, &back, &n) != 0 || n != size ||
		     memcmp(back, data, size)))
		bad = "base64 does not give back the bytes it encoded";
	free(back);
	free(text);
	text = malloc(size + 1);
	if (bad || !text) {
		free(text);
		return bad;
	}
	memcpy(text, data, size);
	text[size] = '\0';
	back = NULL;
	if (sk_base64_decode(text, &back, &n) == 0) {
		char *again = sk_base64_encode(back, n);

		if (again && strcmp(again, text))
			bad = "base64 that is not canonical decodes";
		free(again);
	}
	free(back);
	free(text);
	return bad;
}

const char *sk_fuzz_blob(const uint8_t *data, size_t size)
{
	struct sk_blob_header hdr;
	struct sk_secret *key = NULL;
	const char *bad;

	if (size == 0)
		data = (const uint8_t *)""; /* never hand a NULL to memcpy */
	else if ((bad = check_base64(data, size)))
		return bad;
	if (sk_blob_parse(data, size, &hdr) != 0) {
		/* sk_blob_open parses first and must refuse just the same */
		if (sk_blob_open(sk_fuzz_blob_mk, data, size, &key) != -EINVAL || key)
			return "sk_blob_open takes a blob that sk_blob_parse refuses";
		return NULL;
	}
	bad = check_header(data, size, &hdr);
	if (!bad)
		bad = check_neighbours(data, size);
	if (!bad)
		bad = check_open(data, size, &hdr);
	return bad;
}
