/* Key specs and the secure key blob: seal, parse, open, tamper detection. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <atf-c.h>
#include <openssl/rand.h>

#include "blob.h"
#include "log.h"
#include "mkvp.h"
#include "secmem.h"

#include "helpers.h"

SK_TEST_LSAN_SUPPRESSIONS

static const struct {
	const char *name;
	enum sk_key_type type;
	unsigned bits;
} all_specs[] = {
	{ "aes-xts-512", SK_KEY_AES_XTS, 512 },
	{ "aes-xts-256", SK_KEY_AES_XTS, 256 },
	{ "aes-256", SK_KEY_AES, 256 },
	{ "aes-192", SK_KEY_AES, 192 },
	{ "aes-128", SK_KEY_AES, 128 },
};

#define N_SPECS (sizeof(all_specs) / sizeof(all_specs[0]))


static void random_bytes(unsigned char *buf, size_t len)
{
	ATF_REQUIRE_EQ(RAND_bytes(buf, (int)len), 1);
}

static struct sk_key_spec spec_of(const char *name)
{
	struct sk_key_spec spec;

	ATF_REQUIRE_EQ_MSG(sk_key_spec_parse(name, &spec), 0, "%s not parsed", name);
	return spec;
}

static void mkvp_hex_of(const unsigned char mk[SK_MK_LEN], char hex[SK_MKVP_HEX_LEN + 1])
{
	unsigned char mkvp[SK_MKVP_LEN];

	ATF_REQUIRE_EQ(sk_mkvp_compute(mk, mkvp), 0);
	sk_mkvp_to_hex(mkvp, hex);
}

/* A random key of @spec sealed under @mk. */
static struct sk_secret *seal_random(const unsigned char mk[SK_MK_LEN],
				     const struct sk_key_spec *spec, unsigned char **blob,
				     size_t *blob_len)
{
	struct sk_secret *key = random_secret(spec->bits / 8);

	ATF_REQUIRE_EQ(sk_blob_seal(mk, spec, key, blob, blob_len), 0);
	return key;
}

ATF_TC_WITHOUT_HEAD(key_spec_all_types);
ATF_TC_BODY(key_spec_all_types, tc)
{
	for (size_t i = 0; i < N_SPECS; i++) {
		struct sk_key_spec spec = { 0, 0 };

		ATF_REQUIRE_EQ_MSG(sk_key_spec_parse(all_specs[i].name, &spec), 0, "%s refused",
				   all_specs[i].name);
		ATF_REQUIRE_EQ_MSG(spec.type, all_specs[i].type, "%s: type %d", all_specs[i].name,
				   (int)spec.type);
		ATF_REQUIRE_EQ_MSG(spec.bits, all_specs[i].bits, "%s: bits %u", all_specs[i].name,
				   spec.bits);
	}
	/* and each spec is called by its name */
	for (size_t i = 0; i < N_SPECS; i++) {
		struct sk_key_spec spec = { all_specs[i].type, all_specs[i].bits };
		char buf[16];

		ATF_REQUIRE_STREQ(sk_key_spec_name(&spec, buf), all_specs[i].name);
	}
}

ATF_TC_WITHOUT_HEAD(key_spec_unknown);
ATF_TC_BODY(key_spec_unknown, tc)
{
	static const char *const bad[] = {
		"aes-512", "aes-xts-128", "AES-256", "aes-256 ", "aes",
		"", "xts-512", "aes-xts-1024", "aes-xts-512x",
	};
	static const struct sk_key_spec bad_specs[] = {
		{ SK_KEY_AES, 512 },
		{ SK_KEY_AES_XTS, 128 },
		{ (enum sk_key_type)0, 256 },
		{ (enum sk_key_type)255, 65535 },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sk_key_spec spec = { SK_KEY_AES, 7 };

		ATF_REQUIRE_EQ_MSG(sk_key_spec_parse(bad[i], &spec), -EINVAL, "'%s' parsed",
				   bad[i]);
		ATF_REQUIRE_EQ_MSG(spec.bits, 7u, "'%s' changed the output", bad[i]);
	}
	ATF_REQUIRE_EQ(sk_key_spec_parse(NULL, &(struct sk_key_spec){ SK_KEY_AES, 0 }), -EINVAL);
	/* An unsupported spec gets a name, and it is not that of a supported spec. */
	for (size_t i = 0; i < sizeof(bad_specs) / sizeof(bad_specs[0]); i++) {
		struct sk_key_spec back;
		char buf[16];
		const char *name = sk_key_spec_name(&bad_specs[i], buf);

		ATF_REQUIRE(name != NULL);
		ATF_REQUIRE(strlen(name) > 0 && strlen(name) < sizeof(buf));
		ATF_REQUIRE_EQ_MSG(sk_key_spec_parse(name, &back), -EINVAL,
				   "unsupported spec %zu is named '%s'", i, name);
	}
}

ATF_TC_WITHOUT_HEAD(blob_len_per_type);
ATF_TC_BODY(blob_len_per_type, tc)
{
	ATF_REQUIRE_EQ(SK_BLOB_HEADER_LEN, 28); /* 4 + 1 + 1 + 2 + 8 + 12 */
	for (size_t i = 0; i < N_SPECS; i++) {
		struct sk_key_spec spec = spec_of(all_specs[i].name);

		ATF_REQUIRE_EQ_MSG(sk_blob_len(&spec),
				   (size_t)(28 + all_specs[i].bits / 8 + SK_BLOB_TAG_LEN), "%s",
				   all_specs[i].name);
		ATF_REQUIRE(sk_blob_len(&spec) <= SK_BLOB_MAX_LEN);
	}
	ATF_REQUIRE_EQ(sk_blob_len(&(struct sk_key_spec){ SK_KEY_AES_XTS, 512 }),
		       (size_t)SK_BLOB_MAX_LEN);
}

ATF_TC_WITHOUT_HEAD(seal_open_round_trip_all_types);
ATF_TC_BODY(seal_open_round_trip_all_types, tc)
{
	unsigned char mk[SK_MK_LEN];

	random_bytes(mk, sizeof(mk));
	for (size_t i = 0; i < N_SPECS; i++) {
		struct sk_key_spec spec = spec_of(all_specs[i].name);
		struct sk_secret *key, *back = NULL;
		unsigned char *blob = NULL;
		size_t blob_len = 0;

		key = seal_random(mk, &spec, &blob, &blob_len);
		ATF_REQUIRE_EQ_MSG(blob_len, sk_blob_len(&spec), "%s: blob of %zu bytes",
				   all_specs[i].name, blob_len);
		ATF_REQUIRE_EQ_MSG(sk_blob_open(mk, blob, blob_len, &back), 0, "%s: open failed",
				   all_specs[i].name);
		ATF_REQUIRE(back != NULL);
		ATF_REQUIRE_EQ(back->len, spec.bits / 8);
		ATF_REQUIRE_MSG(sk_secret_equal(key, back), "%s: opened key differs",
				all_specs[i].name);
		/* neither the key nor the master key shows in the blob */
		ATF_REQUIRE(memmem(blob, blob_len, key->data, 16) == NULL);
		ATF_REQUIRE(memmem(blob, blob_len, key->data + key->len - 16, 16) == NULL);
		ATF_REQUIRE(memmem(blob, blob_len, mk, 16) == NULL);
		sk_secret_free(back);
		sk_secret_free(key);
		free(blob);
	}
}

ATF_TC_WITHOUT_HEAD(parse_reads_header);
ATF_TC_BODY(parse_reads_header, tc)
{
	unsigned char mk[SK_MK_LEN], mkvp[SK_MKVP_LEN];

	random_bytes(mk, sizeof(mk));
	ATF_REQUIRE_EQ(sk_mkvp_compute(mk, mkvp), 0);
	for (size_t i = 0; i < N_SPECS; i++) {
		struct sk_key_spec spec = spec_of(all_specs[i].name);
		struct sk_blob_header hdr;
		unsigned char *blob;
		size_t blob_len;
		struct sk_secret *key = seal_random(mk, &spec, &blob, &blob_len);

		ATF_REQUIRE_EQ(sk_blob_parse(blob, blob_len, &hdr), 0);
		ATF_REQUIRE_EQ(hdr.version, (unsigned)SK_BLOB_VERSION);
		ATF_REQUIRE_EQ(hdr.key.type, spec.type);
		ATF_REQUIRE_EQ(hdr.key.bits, spec.bits);
		ATF_REQUIRE(sk_mkvp_equal(hdr.mkvp, mkvp));
		/* The documented layout, big-endian. */
		ATF_REQUIRE(memcmp(blob, SK_BLOB_MAGIC, 4) == 0);
		ATF_REQUIRE_EQ(blob[4], SK_BLOB_VERSION);
		ATF_REQUIRE_EQ(blob[5], (unsigned char)spec.type);
		ATF_REQUIRE_EQ((unsigned)blob[6] << 8 | blob[7], spec.bits);
		ATF_REQUIRE(memcmp(blob + 8, mkvp, SK_MKVP_LEN) == 0);
		ATF_REQUIRE(memcmp(blob + 16, hdr.nonce, SK_BLOB_NONCE_LEN) == 0);
		sk_secret_free(key);
		free(blob);
	}
}

ATF_TC_WITHOUT_HEAD(seal_refuses_mismatched_key);
ATF_TC_BODY(seal_refuses_mismatched_key, tc)
{
	struct sk_key_spec xts512 = spec_of("aes-xts-512");
	struct sk_secret *short_key = random_secret(32);
	unsigned char mk[SK_MK_LEN], *blob = NULL;
	size_t blob_len = 0;

	random_bytes(mk, sizeof(mk));
	capture_start();
	ATF_REQUIRE_EQ(sk_blob_seal(mk, &xts512, short_key, &blob, &blob_len), -EINVAL);
	ATF_REQUIRE(blob == NULL);
	ATF_REQUIRE_EQ(sk_blob_seal(mk, &xts512, NULL, &blob, &blob_len), -EINVAL);
	/* A key of the right length for an unknown spec. */
	ATF_REQUIRE_EQ(sk_blob_seal(mk, &(struct sk_key_spec){ SK_KEY_AES, 512 }, short_key, &blob,
				    &blob_len),
		       -EINVAL);
	ATF_REQUIRE_EQ(sk_blob_seal(mk, &(struct sk_key_spec){ SK_KEY_AES_XTS, 256 }, short_key,
				    &blob, &blob_len),
		       0);
	ATF_REQUIRE_EQ(blob_len, (size_t)(28 + 32 + 16));
	ATF_REQUIRE(capture_errors() >= 3);
	sk_secret_free(short_key);
	free(blob);
}

ATF_TC_WITHOUT_HEAD(open_under_other_mk_rejected);
ATF_TC_BODY(open_under_other_mk_rejected, tc)
{
	struct sk_key_spec spec = spec_of("aes-xts-512");
	unsigned char mk[SK_MK_LEN], other[SK_MK_LEN], *blob;
	char hex[SK_MKVP_HEX_LEN + 1];
	struct sk_secret *key, *back = NULL;
	size_t blob_len;

	random_bytes(mk, sizeof(mk));
	random_bytes(other, sizeof(other));
	key = seal_random(mk, &spec, &blob, &blob_len);
	capture_start();
	ATF_REQUIRE_EQ(sk_blob_open(other, blob, blob_len, &back), -EKEYREJECTED);
	ATF_REQUIRE(back == NULL);
	ATF_REQUIRE_EQ(capture_errors(), 1);
	mkvp_hex_of(mk, hex);
	ATF_REQUIRE_MSG(strstr(capture_last_error(), hex), "message does not name MKVP %s: %s", hex,
			capture_last_error());
	/* A key that differs in one bit is another key. */
	memcpy(other, mk, sizeof(mk));
	other[SK_MK_LEN - 1] ^= 1;
	ATF_REQUIRE_EQ(sk_blob_open(other, blob, blob_len, &back), -EKEYREJECTED);
	ATF_REQUIRE(back == NULL);
	sk_secret_free(key);
	free(blob);
}

/*
 * Every single-bit flip of a sealed aes-xts-512 blob fails: a flip in the
 * framing (magic, version, type, bits) fails to parse, any other flip
 * fails to authenticate. Each error names the MKVP the blob now carries.
 */
ATF_TC_WITHOUT_HEAD(every_bit_flip_fails);
ATF_TC_BODY(every_bit_flip_fails, tc)
{
	struct sk_key_spec spec = spec_of("aes-xts-512");
	unsigned char mk[SK_MK_LEN], *blob, *copy;
	char orig_hex[SK_MKVP_HEX_LEN + 1], hex[SK_MKVP_HEX_LEN + 1];
	struct sk_secret *key;
	size_t blob_len;

	random_bytes(mk, sizeof(mk));
	key = seal_random(mk, &spec, &blob, &blob_len);
	ATF_REQUIRE_EQ(blob_len, (size_t)(28 + 64 + 16));
	mkvp_hex_of(mk, orig_hex);
	copy = malloc(blob_len);
	ATF_REQUIRE(copy != NULL);

	for (size_t bit = 0; bit < blob_len * 8; bit++) {
		size_t byte = bit / 8;
		struct sk_secret *back = NULL;
		struct sk_blob_header hdr;
		int r;

		memcpy(copy, blob, blob_len);
		copy[byte] ^= (unsigned char)(1u << (bit % 8));
		sk_mkvp_to_hex(copy + 8, hex);
		if (byte < 8 || byte >= 16)
			ATF_REQUIRE_STREQ_MSG(hex, orig_hex, "bit %zu", bit);
		else
			ATF_REQUIRE_MSG(strcmp(hex, orig_hex) != 0, "bit %zu", bit);

		capture_start();
		r = sk_blob_parse(copy, blob_len, &hdr);
		/*
		 * bits 36 and 37 turn the soft backend's 0x01 into pkcs11's 0x11
		 * or 0x21 (AES-KWP, the same length for this key): it parses
		 */
		if (byte < 8 && bit != 36 && bit != 37) {
			ATF_REQUIRE_EQ_MSG(r, -EINVAL, "bit %zu in the framing: parse returned %d",
					   bit, r);
		} else {
			ATF_REQUIRE_EQ_MSG(r, 0, "bit %zu: parse returned %d", bit, r);
			r = sk_blob_open(mk, copy, blob_len, &back);
			ATF_REQUIRE_EQ_MSG(r, -EKEYREJECTED, "bit %zu: open returned %d", bit, r);
		}
		ATF_REQUIRE_MSG(back == NULL, "bit %zu: a key came out", bit);
		ATF_REQUIRE_EQ_MSG(capture_errors(), 1, "bit %zu: %d error messages", bit, capture_errors());
		ATF_REQUIRE_MSG(strstr(capture_last_error(), hex) != NULL,
				"bit %zu: message does not name MKVP %s: %s", bit, hex, capture_last_error());
	}
	/* The untouched blob still opens. */
	{
		struct sk_secret *back = NULL;

		ATF_REQUIRE_EQ(sk_blob_open(mk, blob, blob_len, &back), 0);
		ATF_REQUIRE(sk_secret_equal(back, key));
		sk_secret_free(back);
	}
	free(copy);
	free(blob);
	sk_secret_free(key);
}

ATF_TC_WITHOUT_HEAD(truncated_or_extended_blob_refused);
ATF_TC_BODY(truncated_or_extended_blob_refused, tc)
{
	struct sk_key_spec spec = spec_of("aes-xts-512");
	unsigned char mk[SK_MK_LEN], *blob, longer[SK_BLOB_MAX_LEN + 32];
	char hex[SK_MKVP_HEX_LEN + 1];
	struct sk_secret *key;
	size_t blob_len;

	random_bytes(mk, sizeof(mk));
	key = seal_random(mk, &spec, &blob, &blob_len);
	mkvp_hex_of(mk, hex);
	for (size_t len = 0; len < blob_len; len++) {
		/* An exact-size copy, so a read past the end is caught by ASan. */
		unsigned char *cut = malloc(len ? len : 1);
		struct sk_secret *back = NULL;
		struct sk_blob_header hdr;

		ATF_REQUIRE(cut != NULL);
		memcpy(cut, blob, len);
		capture_start();
		ATF_REQUIRE_EQ_MSG(sk_blob_parse(cut, len, &hdr), -EINVAL, "%zu bytes parsed", len);
		ATF_REQUIRE_EQ_MSG(sk_blob_open(mk, cut, len, &back), -EINVAL, "%zu bytes opened",
				   len);
		ATF_REQUIRE(back == NULL);
		ATF_REQUIRE_MSG(strstr(capture_last_error(), "corrupt"), "%zu bytes: %s", len, capture_last_error());
		/* Once the MKVP field is there, the message names it. */
		if (len >= 16)
			ATF_REQUIRE_MSG(strstr(capture_last_error(), hex), "%zu bytes: no MKVP in: %s", len,
					capture_last_error());
		free(cut);
	}
	memset(longer, 0, sizeof(longer));
	memcpy(longer, blob, blob_len);
	for (size_t extra = 1; extra <= 32; extra++) {
		struct sk_secret *back = NULL;
		struct sk_blob_header hdr;

		capture_start();
		ATF_REQUIRE_EQ_MSG(sk_blob_parse(longer, blob_len + extra, &hdr), -EINVAL,
				   "%zu extra bytes parsed", extra);
		ATF_REQUIRE_EQ(sk_blob_open(mk, longer, blob_len + extra, &back), -EINVAL);
		ATF_REQUIRE(back == NULL);
		ATF_REQUIRE_MSG(strstr(capture_last_error(), hex), "no MKVP in: %s", capture_last_error());
	}
	sk_secret_free(key);
	free(blob);
}

ATF_TC_WITHOUT_HEAD(two_seals_differ);
ATF_TC_BODY(two_seals_differ, tc)
{
	struct sk_key_spec spec = spec_of("aes-xts-512");
	unsigned char mk[SK_MK_LEN], *a, *b;
	struct sk_secret *key, *ka = NULL, *kb = NULL;
	struct sk_blob_header ha, hb;
	size_t a_len, b_len;

	random_bytes(mk, sizeof(mk));
	key = random_secret(spec.bits / 8);
	ATF_REQUIRE_EQ(sk_blob_seal(mk, &spec, key, &a, &a_len), 0);
	ATF_REQUIRE_EQ(sk_blob_seal(mk, &spec, key, &b, &b_len), 0);
	ATF_REQUIRE_EQ(a_len, b_len);
	ATF_REQUIRE(memcmp(a, b, a_len) != 0);
	ATF_REQUIRE_EQ(sk_blob_parse(a, a_len, &ha), 0);
	ATF_REQUIRE_EQ(sk_blob_parse(b, b_len, &hb), 0);
	ATF_REQUIRE(memcmp(ha.nonce, hb.nonce, SK_BLOB_NONCE_LEN) != 0);
	ATF_REQUIRE(memcmp(a + SK_BLOB_HEADER_LEN, b + SK_BLOB_HEADER_LEN,
			   a_len - SK_BLOB_HEADER_LEN) != 0);
	ATF_REQUIRE_EQ(sk_blob_open(mk, a, a_len, &ka), 0);
	ATF_REQUIRE_EQ(sk_blob_open(mk, b, b_len, &kb), 0);
	ATF_REQUIRE(sk_secret_equal(ka, key));
	ATF_REQUIRE(sk_secret_equal(kb, key));
	sk_secret_free(ka);
	sk_secret_free(kb);
	sk_secret_free(key);
	free(a);
	free(b);
}

/* The high nibble of the version byte names the backend; others are refused. */
ATF_TC_WITHOUT_HEAD(frame_names_backend);
ATF_TC_BODY(frame_names_backend, tc)
{
	struct sk_key_spec spec = spec_of("aes-xts-512");
	unsigned char mkvp[SK_MKVP_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8 }, *blob;
	struct sk_blob_header hdr;
	size_t len = sk_blob_len(&spec);

	ATF_REQUIRE_EQ(sk_blob_frame(SK_BLOB_PKCS11, &spec, mkvp, &blob), 0);
	memset(blob + SK_BLOB_HEADER_LEN, 0, len - SK_BLOB_HEADER_LEN);
	ATF_REQUIRE_EQ(blob[4], 0x10 | SK_BLOB_VERSION);
	ATF_REQUIRE_EQ(sk_blob_parse(blob, len, &hdr), 0);
	ATF_REQUIRE_EQ(hdr.backend, SK_BLOB_PKCS11);
	ATF_REQUIRE_EQ(hdr.version, (unsigned)SK_BLOB_VERSION);
	ATF_REQUIRE(sk_mkvp_equal(hdr.mkvp, mkvp));
	ATF_REQUIRE_STREQ(sk_blob_backend_name(hdr.backend), "pkcs11");
	blob[4] = 0x30 | SK_BLOB_VERSION;
	ATF_REQUIRE_EQ(sk_blob_parse(blob, len, &hdr), -EINVAL);
	blob[4] = SK_BLOB_VERSION;
	ATF_REQUIRE_EQ(sk_blob_parse(blob, len, &hdr), 0);
	ATF_REQUIRE_EQ(hdr.backend, SK_BLOB_SOFT);
	free(blob);
}

/*
 * AES-KWP blobs (backend 2): the same length as GCM for every volume key;
 * an identity key not a multiple of 8 bytes long is padded, and its blob
 * of GCM length is refused. The check covers every header byte.
 */
ATF_TC_WITHOUT_HEAD(kwp_blob_lengths_and_check);
ATF_TC_BODY(kwp_blob_lengths_and_check, tc)
{
	struct sk_key_spec odd = { SK_KEY_IDENTITY, 8 * 121 };
	unsigned char mkvp[SK_MKVP_LEN] = { 0 }, *blob, check[8], again[8];
	struct sk_blob_header hdr;
	size_t len = sk_blob_len_for(SK_BLOB_PKCS11_KWP, &odd);

	for (size_t i = 0; i < N_SPECS; i++) {
		struct sk_key_spec spec = spec_of(all_specs[i].name);

		ATF_REQUIRE_EQ(sk_blob_len_for(SK_BLOB_PKCS11_KWP, &spec), sk_blob_len(&spec));
		ATF_REQUIRE_EQ(sk_blob_len_for(SK_BLOB_PKCS11, &spec), sk_blob_len(&spec));
	}
	/* 121 + 8 bytes of plaintext pad to 136, plus the 8-byte integrity block */
	ATF_REQUIRE_EQ(len, (size_t)SK_BLOB_HEADER_LEN + 144);
	ATF_REQUIRE(len <= SK_BLOB_IDENTITY_MAX_LEN);
	ATF_REQUIRE_EQ(sk_blob_frame(SK_BLOB_PKCS11_KWP, &odd, mkvp, &blob), 0);
	memset(blob + SK_BLOB_HEADER_LEN, 0, len - SK_BLOB_HEADER_LEN);
	ATF_REQUIRE_EQ(blob[4], 0x20 | SK_BLOB_VERSION);
	ATF_REQUIRE_EQ(sk_blob_parse(blob, len, &hdr), 0);
	ATF_REQUIRE_EQ(hdr.backend, SK_BLOB_PKCS11_KWP);
	ATF_REQUIRE_STREQ(sk_blob_backend_name(hdr.backend), "pkcs11");
	ATF_REQUIRE_EQ(sk_blob_parse(blob, sk_blob_len(&odd), &hdr), -EINVAL);
	ATF_REQUIRE_EQ(sk_blob_kwp_check(blob, check), 0);
	for (size_t i = 0; i < SK_BLOB_HEADER_LEN; i++) {
		blob[i] ^= 0x01;
		ATF_REQUIRE_EQ(sk_blob_kwp_check(blob, again), 0);
		ATF_REQUIRE_MSG(memcmp(check, again, sizeof(check)), "byte %zu not covered", i);
		blob[i] ^= 0x01;
	}
	free(blob);
}

/*
 * RSA-OAEP blobs: backend 3 (SHA-256) and 4 (SHA-1) are the header and 256
 * bytes whatever the key, name the backend in the version byte, and refuse
 * a key longer than SK_BLOB_RSA_KEY_MAX (182 bytes) when framed or parsed.
 */
ATF_TC_WITHOUT_HEAD(rsa_blob_backends);
ATF_TC_BODY(rsa_blob_backends, tc)
{
	const enum sk_blob_backend ids[] = { SK_BLOB_PKCS11_RSA, SK_BLOB_PKCS11_RSA_SHA1 };
	struct sk_key_spec fits = { SK_KEY_IDENTITY, 8 * SK_BLOB_RSA_KEY_MAX };
	struct sk_key_spec too_long = { SK_KEY_IDENTITY, 8 * (SK_BLOB_RSA_KEY_MAX + 1) };
	unsigned char mkvp[SK_MKVP_LEN] = { 0 }, *blob = NULL;
	struct sk_blob_header hdr;

	ATF_REQUIRE_EQ(SK_BLOB_RSA_KEY_MAX, 182);
	for (size_t b = 0; b < 2; b++) {
		size_t len = SK_BLOB_HEADER_LEN + SK_BLOB_RSA_LEN;

		ATF_REQUIRE(sk_blob_is_rsa(ids[b]));
		for (size_t i = 0; i < N_SPECS; i++) {
			struct sk_key_spec spec = spec_of(all_specs[i].name);

			ATF_REQUIRE_EQ(sk_blob_len_for(ids[b], &spec), len);
		}
		ATF_REQUIRE_EQ(sk_blob_frame(ids[b], &fits, mkvp, &blob), 0);
		memset(blob + SK_BLOB_HEADER_LEN, 0, SK_BLOB_RSA_LEN);
		ATF_REQUIRE_EQ(blob[4], (unsigned)ids[b] << 4 | SK_BLOB_VERSION);
		ATF_REQUIRE_EQ(sk_blob_parse(blob, len, &hdr), 0);
		ATF_REQUIRE_EQ(hdr.backend, ids[b]);
		ATF_REQUIRE_STREQ(sk_blob_backend_name(hdr.backend), "pkcs11");
		/* the same bytes with a key one byte too long */
		blob[6] = (unsigned char)(too_long.bits >> 8);
		blob[7] = (unsigned char)too_long.bits;
		capture_start();
		ATF_REQUIRE_EQ(sk_blob_parse(blob, len, &hdr), -EINVAL);
		free(blob);
		blob = NULL;
		capture_start();
		ATF_REQUIRE_EQ(sk_blob_frame(ids[b], &too_long, mkvp, &blob), -EINVAL);
	}
	ATF_REQUIRE(!sk_blob_is_rsa(SK_BLOB_PKCS11_KWP));
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, rsa_blob_backends);
	ATF_TP_ADD_TC(tp, kwp_blob_lengths_and_check);
	ATF_TP_ADD_TC(tp, frame_names_backend);
	ATF_TP_ADD_TC(tp, key_spec_all_types);
	ATF_TP_ADD_TC(tp, key_spec_unknown);
	ATF_TP_ADD_TC(tp, blob_len_per_type);
	ATF_TP_ADD_TC(tp, seal_open_round_trip_all_types);
	ATF_TP_ADD_TC(tp, parse_reads_header);
	ATF_TP_ADD_TC(tp, seal_refuses_mismatched_key);
	ATF_TP_ADD_TC(tp, open_under_other_mk_rejected);
	ATF_TP_ADD_TC(tp, every_bit_flip_fails);
	ATF_TP_ADD_TC(tp, truncated_or_extended_blob_refused);
	ATF_TP_ADD_TC(tp, two_seals_differ);
	return atf_no_error();
}
