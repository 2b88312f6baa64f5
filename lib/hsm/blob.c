#include "config.h"

#include "blob.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "log.h"

#define OFF_VERSION 4
#define OFF_TYPE 5
#define OFF_BITS 6
#define OFF_MKVP 8
#define OFF_NONCE (OFF_MKVP + SK_MKVP_LEN)

static const struct {
	const char *name;
	struct sk_key_spec spec;
} key_specs[] = {
	{ "aes-xts-512", { SK_KEY_AES_XTS, 512 } },
	{ "aes-xts-256", { SK_KEY_AES_XTS, 256 } },
	{ "aes-256", { SK_KEY_AES, 256 } },
	{ "aes-192", { SK_KEY_AES, 192 } },
	{ "aes-128", { SK_KEY_AES, 128 } },
};

#define N_KEY_SPECS (sizeof(key_specs) / sizeof(key_specs[0]))

static const char *spec_lookup(const struct sk_key_spec *spec)
{
	if (spec->type == SK_KEY_IDENTITY)
		return spec->bits % 8 == 0 && spec->bits / 8 >= SK_IDENTITY_MIN_LEN &&
				       spec->bits / 8 <= SK_IDENTITY_MAX_LEN
			       ? "identity"
			       : NULL;
	for (size_t i = 0; i < N_KEY_SPECS; i++)
		if (key_specs[i].spec.type == spec->type && key_specs[i].spec.bits == spec->bits)
			return key_specs[i].name;
	return NULL;
}

int sk_key_spec_parse(const char *name, struct sk_key_spec *spec)
{
	for (size_t i = 0; i < N_KEY_SPECS; i++) {
		if (name && !strcmp(name, key_specs[i].name)) {
			*spec = key_specs[i].spec;
			return 0;
		}
	}
	return -EINVAL;
}

const char *sk_key_spec_name(const struct sk_key_spec *spec, char buf[16])
{
	const char *name = spec_lookup(spec);

	if (name)
		return name;
	snprintf(buf, 16, "type%u-%u", (unsigned)spec->type & 0xff, spec->bits & 0xffff);
	return buf;
}

size_t sk_blob_len(const struct sk_key_spec *spec)
{
	return SK_BLOB_HEADER_LEN + spec->bits / 8 + SK_BLOB_TAG_LEN;
}

size_t sk_blob_len_for(enum sk_blob_backend backend, const struct sk_key_spec *spec)
{
	size_t plain = spec->bits / 8 + SK_BLOB_KWP_CHECK_LEN;

	/* RFC 5649: the plaintext padded to 8 bytes, plus the 8-byte integrity block. */
	if (backend == SK_BLOB_PKCS11_KWP)
		return SK_BLOB_HEADER_LEN + (plain + 7) / 8 * 8 + 8;
	if (sk_blob_is_rsa(backend))
		return SK_BLOB_HEADER_LEN + SK_BLOB_RSA_LEN;
	return sk_blob_len(spec);
}

int sk_blob_kwp_check(const unsigned char *blob, unsigned char check[SK_BLOB_KWP_CHECK_LEN])
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	if (EVP_Digest(blob, SK_BLOB_HEADER_LEN, digest, &len, EVP_sha256(), NULL) != 1)
		return -EIO;
	memcpy(check, digest, SK_BLOB_KWP_CHECK_LEN);
	return 0;
}

static bool known_backend(enum sk_blob_backend backend)
{
	return backend == SK_BLOB_SOFT || backend == SK_BLOB_PKCS11 ||
	       backend == SK_BLOB_PKCS11_KWP || sk_blob_is_rsa(backend);
}

/* An RSA-OAEP payload has room for SK_BLOB_RSA_KEY_MAX key bytes only. */
static bool fits(enum sk_blob_backend backend, const struct sk_key_spec *spec)
{
	return !sk_blob_is_rsa(backend) || spec->bits / 8 <= SK_BLOB_RSA_KEY_MAX;
}

static void write_header(unsigned char *out, const struct sk_blob_header *hdr)
{
	memcpy(out, SK_BLOB_MAGIC, 4);
	out[OFF_VERSION] = (unsigned char)(hdr->backend << 4 | hdr->version);
	out[OFF_TYPE] = (unsigned char)hdr->key.type;
	out[OFF_BITS] = (unsigned char)(hdr->key.bits >> 8);
	out[OFF_BITS + 1] = (unsigned char)(hdr->key.bits & 0xff);
	memcpy(out + OFF_MKVP, hdr->mkvp, SK_MKVP_LEN);
	memcpy(out + OFF_NONCE, hdr->nonce, SK_BLOB_NONCE_LEN);
}

/* One AES-256-GCM pass; @encrypt selects direction, tag is written or checked. */
static int gcm(int encrypt, const unsigned char mk[SK_MK_LEN], const unsigned char *aad,
	       const unsigned char *nonce, const unsigned char *in, int len, unsigned char *out,
	       unsigned char tag[SK_BLOB_TAG_LEN])
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n, ok;

	ok = ctx && EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, encrypt) &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, SK_BLOB_NONCE_LEN, NULL) &&
	     EVP_CipherInit_ex(ctx, NULL, NULL, mk, nonce, encrypt) &&
	     EVP_CipherUpdate(ctx, NULL, &n, aad, SK_BLOB_HEADER_LEN) &&
	     EVP_CipherUpdate(ctx, out, &n, in, len);
	if (ok && !encrypt)
		ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, SK_BLOB_TAG_LEN, tag);
	ok = ok && EVP_CipherFinal_ex(ctx, out + n, &n);
	if (ok && encrypt)
		ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, SK_BLOB_TAG_LEN, tag);
	EVP_CIPHER_CTX_free(ctx);
	return ok ? 0 : -1;
}

const char *sk_blob_backend_name(enum sk_blob_backend backend)
{
	if (backend == SK_BLOB_SOFT)
		return "soft";
	return known_backend(backend) ? "pkcs11" : "?";
}

int sk_blob_frame(enum sk_blob_backend backend, const struct sk_key_spec *spec,
		  const unsigned char mkvp[SK_MKVP_LEN], unsigned char **blob)
{
	struct sk_blob_header hdr = { .version = SK_BLOB_VERSION, .backend = backend,
				      .key = *spec };

	if (!spec_lookup(spec) || !known_backend(backend) || !fits(backend, spec)) {
		sk_err("internal error: no blob for this key type or backend");
		return -EINVAL;
	}
	memcpy(hdr.mkvp, mkvp, SK_MKVP_LEN);
	if (RAND_bytes(hdr.nonce, SK_BLOB_NONCE_LEN) != 1) {
		sk_err("cannot get random bytes for a secure key nonce");
		return -EIO;
	}
	*blob = malloc(sk_blob_len_for(backend, spec));
	if (!*blob)
		return -ENOMEM;
	write_header(*blob, &hdr);
	return 0;
}

int sk_blob_seal(const unsigned char mk[SK_MK_LEN], const struct sk_key_spec *spec,
		 const struct sk_secret *key, unsigned char **blob, size_t *blob_len)
{
	size_t key_len = spec->bits / 8, len = sk_blob_len(spec);
	unsigned char mkvp[SK_MKVP_LEN], *out;
	int r;

	if (!spec_lookup(spec) || !key || key->len != key_len) {
		sk_err("internal error: key does not match its key type");
		return -EINVAL;
	}
	if (sk_mkvp_compute(mk, mkvp) < 0)
		return -EIO;
	r = sk_blob_frame(SK_BLOB_SOFT, spec, mkvp, &out);
	if (r < 0)
		return r;
	if (gcm(1, mk, out, out + OFF_NONCE, key->data, (int)key_len, out + SK_BLOB_HEADER_LEN,
		out + SK_BLOB_HEADER_LEN + key_len) < 0) {
		free(out);
		sk_err("cannot encipher the secure key (AES-GCM failed)");
		return -EIO;
	}
	*blob = out;
	*blob_len = len;
	return 0;
}

static int parse_fail(const unsigned char *blob, size_t blob_len, const char *why)
{
	char hex[SK_MKVP_HEX_LEN + 1];

	if (blob_len >= OFF_MKVP + SK_MKVP_LEN) {
		sk_mkvp_to_hex(blob + OFF_MKVP, hex);
		sk_err("secure key is corrupt: %s (it names master key MKVP %s)", why, hex);
	} else {
		sk_err("secure key is corrupt: %s (too short to name its master key)", why);
	}
	return -EINVAL;
}

int sk_blob_parse(const unsigned char *blob, size_t blob_len, struct sk_blob_header *hdr)
{
	struct sk_blob_header h = { 0 };

	if (blob_len < SK_BLOB_HEADER_LEN + SK_BLOB_TAG_LEN)
		return parse_fail(blob, blob_len, "it is truncated");
	if (memcmp(blob, SK_BLOB_MAGIC, 4))
		return parse_fail(blob, blob_len, "bad magic");
	h.version = blob[OFF_VERSION] & 0x0f;
	h.backend = (enum sk_blob_backend)(blob[OFF_VERSION] >> 4);
	if (h.version != SK_BLOB_VERSION || !known_backend(h.backend))
		return parse_fail(blob, blob_len, "unsupported format version");
	h.key.type = (enum sk_key_type)blob[OFF_TYPE];
	h.key.bits = (unsigned)blob[OFF_BITS] << 8 | blob[OFF_BITS + 1];
	if (!spec_lookup(&h.key) || !fits(h.backend, &h.key))
		return parse_fail(blob, blob_len, "unknown key type or size");
	if (blob_len != sk_blob_len_for(h.backend, &h.key))
		return parse_fail(blob, blob_len, "length does not match its key size");
	memcpy(h.mkvp, blob + OFF_MKVP, SK_MKVP_LEN);
	memcpy(h.nonce, blob + OFF_NONCE, SK_BLOB_NONCE_LEN);
	*hdr = h;
	return 0;
}

int sk_blob_open(const unsigned char mk[SK_MK_LEN], const unsigned char *blob, size_t blob_len,
		 struct sk_secret **key)
{
	unsigned char tag[SK_BLOB_TAG_LEN];
	struct sk_blob_header hdr;
	char hex[SK_MKVP_HEX_LEN + 1];
	struct sk_secret *out;
	size_t key_len;
	int r;

	r = sk_blob_parse(blob, blob_len, &hdr);
	if (r < 0)
		return r;
	key_len = hdr.key.bits / 8;
	out = sk_secret_new(key_len);
	if (!out)
		return -ENOMEM;
	memcpy(tag, blob + SK_BLOB_HEADER_LEN + key_len, SK_BLOB_TAG_LEN);
	if (gcm(0, mk, blob, hdr.nonce, blob + SK_BLOB_HEADER_LEN, (int)key_len, out->data,
		tag) < 0) {
		sk_secret_free(out);
		sk_mkvp_to_hex(hdr.mkvp, hex);
		sk_err("secure key does not verify under master key MKVP %s: "
		       "it was altered or enciphered with another key",
		       hex);
		return -EKEYREJECTED;
	}
	*key = out;
	return 0;
}
