#include "config.h"

#include "p11_rsa.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "log.h"
#include "p11_keys.h"

#define MKVP_LABEL "securekey-mkvp-rsa"
#define MAX_PUBLIC_EXPONENT 8

static CK_BBOOL yes = CK_TRUE, no = CK_FALSE;

/* OAEP's hash and MGF1 hash, both SHA-256 or both SHA-1, by blob id. */
static const EVP_MD *oaep_md(enum sk_blob_backend backend)
{
	return backend == SK_BLOB_PKCS11_RSA_SHA1 ? EVP_sha1() : EVP_sha256();
}

static CK_RSA_PKCS_OAEP_PARAMS oaep_params(enum sk_blob_backend backend)
{
	CK_RSA_PKCS_OAEP_PARAMS p = { CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, NULL, 0 };

	if (backend == SK_BLOB_PKCS11_RSA_SHA1) {
		p.hashAlg = CKM_SHA_1;
		p.mgf = CKG_MGF1_SHA1;
	}
	return p;
}

const char *sk_p11_rsa_hash_name(enum sk_blob_backend backend)
{
	return backend == SK_BLOB_PKCS11_RSA_SHA1 ? "SHA-1" : "SHA-256";
}

static const char *public_label(enum sk_blob_backend backend)
{
	return backend == SK_BLOB_PKCS11_RSA_SHA1 ? SK_P11_RSA_PUBLIC_LABEL_SHA1
						  : SK_P11_RSA_PUBLIC_LABEL;
}

bool sk_p11_rsa_supported(struct sk_p11 *p11)
{
	return sk_p11_has_mechanism(p11, CKM_RSA_PKCS_KEY_PAIR_GEN, CKF_GENERATE_KEY_PAIR) &&
	       sk_p11_has_mechanism(p11, CKM_RSA_PKCS_OAEP, CKF_DECRYPT);
}

/* The public key object with CKA_ID @mkvp: -ENOENT logged when there is none. */
static int find_public(struct sk_p11 *p11, const unsigned char mkvp[SK_MKVP_LEN],
		       CK_OBJECT_HANDLE *obj)
{
	CK_OBJECT_CLASS class = CKO_PUBLIC_KEY;
	CK_ATTRIBUTE match[] = {
		{ CKA_CLASS, &class, sizeof(class) },
		{ CKA_ID, (void *)mkvp, SK_MKVP_LEN },
	};
	CK_FUNCTION_LIST *m = p11->module;
	char hex[SK_MKVP_HEX_LEN + 1];
	CK_ULONG count = 0;
	CK_RV rv = m->C_FindObjectsInit(p11->session, match, 2);

	if (rv == CKR_OK) {
		rv = m->C_FindObjects(p11->session, obj, 1, &count);
		m->C_FindObjectsFinal(p11->session);
	}
	if (rv != CKR_OK)
		return sk_p11_fail(p11, rv, "searching a public key");
	if (count)
		return 0;
	sk_mkvp_to_hex(mkvp, hex);
	sk_err("PKCS#11 token '%s' has no public key with CKA_ID %s beside its RSA master key; "
	       "the key pair is incomplete: make a new master key ('securekey hsm generate-new')",
	       p11->label, hex);
	return -ENOKEY;
}

/* One attribute of a public key into @buf: its length, or an -errno. */
static long read_attr(struct sk_p11 *p11, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_TYPE type,
		      unsigned char *buf, size_t size)
{
	CK_ATTRIBUTE attr = { type, buf, size };
	CK_RV rv = p11->module->C_GetAttributeValue(p11->session, obj, &attr, 1);

	if (rv != CKR_OK)
		return sk_p11_fail(p11, rv, "reading an RSA public key");
	return (long)attr.ulValueLen;
}

/* An OpenSSL key from big-endian modulus and exponent. */
static EVP_PKEY *rsa_from(const unsigned char *n, size_t n_len, const unsigned char *e,
			  size_t e_len)
{
	BIGNUM *bn_n = BN_bin2bn(n, (int)n_len, NULL), *bn_e = BN_bin2bn(e, (int)e_len, NULL);
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	OSSL_PARAM *params = NULL;
	EVP_PKEY *pkey = NULL;

	if (bn_n && bn_e && bld && ctx && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e))
		params = OSSL_PARAM_BLD_to_param(bld);
	if (params && EVP_PKEY_fromdata_init(ctx) == 1)
		EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params);
	OSSL_PARAM_free(params);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn_n);
	BN_free(bn_e);
	return pkey;
}

/* The public key @obj (CKA_MODULUS, CKA_PUBLIC_EXPONENT); RSA-2048 only. */
static int read_public(struct sk_p11 *p11, CK_OBJECT_HANDLE obj, EVP_PKEY **out)
{
	unsigned char n[SK_P11_RSA_BITS / 8 + 1], e[MAX_PUBLIC_EXPONENT];
	long n_len = read_attr(p11, obj, CKA_MODULUS, n, sizeof(n));
	long e_len = n_len < 0 ? n_len : read_attr(p11, obj, CKA_PUBLIC_EXPONENT, e, sizeof(e));

	if (e_len < 0)
		return (int)e_len;
	*out = rsa_from(n, (size_t)n_len, e, (size_t)e_len);
	if (!*out) {
		sk_err("PKCS#11 token '%s': its RSA public key is not valid", p11->label);
		return -EIO;
	}
	if (EVP_PKEY_get_bits(*out) != SK_P11_RSA_BITS) {
		sk_err("PKCS#11 token '%s': its RSA master key has %d bits, not %d; it was not "
		       "made by securekey",
		       p11->label, EVP_PKEY_get_bits(*out), SK_P11_RSA_BITS);
		EVP_PKEY_free(*out);
		return -EUCLEAN;
	}
	return 0;
}

int sk_p11_rsa_spki_mkvp(const unsigned char *der, size_t len, unsigned char mkvp[SK_MKVP_LEN])
{
	return sk_mkvp_digest(MKVP_LABEL, der, len, mkvp);
}

static int pkey_mkvp(EVP_PKEY *pkey, unsigned char mkvp[SK_MKVP_LEN])
{
	unsigned char *der = NULL;
	int len = i2d_PUBKEY(pkey, &der), r;

	if (len <= 0)
		return -EIO;
	r = sk_p11_rsa_spki_mkvp(der, (size_t)len, mkvp);
	OPENSSL_free(der);
	return r;
}

static int generate_pair(struct sk_p11 *p11, const char *label, CK_OBJECT_HANDLE *pub,
			 CK_OBJECT_HANDLE *priv)
{
	CK_ULONG bits = SK_P11_RSA_BITS;
	unsigned char exponent[] = { 0x01, 0x00, 0x01 };
	CK_ATTRIBUTE pub_tmpl[] = {
		{ CKA_LABEL, (void *)label, strlen(label) },
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_MODULUS_BITS, &bits, sizeof(bits) },
		{ CKA_PUBLIC_EXPONENT, exponent, sizeof(exponent) },
	};
	/* Decrypt only: no signing, no unwrapping of other keys into the token. */
	CK_ATTRIBUTE priv_tmpl[] = {
		{ CKA_LABEL, (void *)label, strlen(label) },
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_PRIVATE, &yes, sizeof(yes) },
		{ CKA_SENSITIVE, &yes, sizeof(yes) },
		{ CKA_EXTRACTABLE, &no, sizeof(no) },
		{ CKA_DECRYPT, &yes, sizeof(yes) },
		{ CKA_SIGN, &no, sizeof(no) },
		{ CKA_UNWRAP, &no, sizeof(no) },
		{ CKA_DERIVE, &no, sizeof(no) },
	};
	CK_MECHANISM mech = { CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0 };
	CK_RV rv = p11->module->C_GenerateKeyPair(
		p11->session, &mech, pub_tmpl, sizeof(pub_tmpl) / sizeof(pub_tmpl[0]), priv_tmpl,
		sizeof(priv_tmpl) / sizeof(priv_tmpl[0]), pub, priv);

	return rv == CKR_OK ? 0 : sk_p11_fail(p11, rv, "generating an RSA-2048 master key pair");
}

static int oaep_encrypt(EVP_PKEY *pkey, enum sk_blob_backend backend,
			const struct sk_secret *plain, unsigned char *out);

/* True when the token deciphers, with @priv, what OpenSSL enciphered under @pkey with @backend's hash. */
static bool decrypts_with(struct sk_p11 *p11, EVP_PKEY *pkey, CK_OBJECT_HANDLE priv,
			  enum sk_blob_backend backend)
{
	CK_RSA_PKCS_OAEP_PARAMS params = oaep_params(backend);
	CK_MECHANISM mech = { CKM_RSA_PKCS_OAEP, &params, sizeof(params) };
	struct sk_secret *probe = sk_secret_new(32), *back = sk_secret_new(SK_BLOB_RSA_LEN);
	unsigned char cipher[SK_BLOB_RSA_LEN];
	CK_ULONG got = SK_BLOB_RSA_LEN;
	bool ok = probe && back && RAND_bytes(probe->data, (int)probe->len) == 1;

	/* no error logged: SoftHSM2 2.6 answers CKR_ARGUMENTS_BAD to SHA-256 */
	ok = ok && !oaep_encrypt(pkey, backend, probe, cipher) &&
	     p11->module->C_DecryptInit(p11->session, &mech, priv) == CKR_OK &&
	     p11->module->C_Decrypt(p11->session, cipher, SK_BLOB_RSA_LEN, back->data, &got) ==
		     CKR_OK &&
	     got == probe->len && !CRYPTO_memcmp(back->data, probe->data, probe->len);
	sk_secret_free(probe);
	sk_secret_free(back);
	return ok;
}

/* The OAEP hash the token decrypts with: SHA-256 where it can, else SHA-1. */
static int probe_hash(struct sk_p11 *p11, EVP_PKEY *pkey, CK_OBJECT_HANDLE priv,
		      enum sk_blob_backend *backend)
{
	*backend = SK_BLOB_PKCS11_RSA;
	if (decrypts_with(p11, pkey, priv, *backend))
		return 0;
	*backend = SK_BLOB_PKCS11_RSA_SHA1;
	if (decrypts_with(p11, pkey, priv, *backend)) {
		sk_verbose("PKCS#11 token '%s' decrypts RSA-OAEP with SHA-1 only: its master key "
			 "pair uses SHA-1",
			 p11->label);
		return 0;
	}
	sk_err("PKCS#11 token '%s' decrypts RSA-OAEP with neither SHA-256 nor SHA-1 "
	       "(C_Decrypt failed on a test encryption under its new key pair); use a token "
	       "with AES-GCM or AES-KWP",
	       p11->label);
	return -EOPNOTSUPP;
}

int sk_p11_rsa_generate(struct sk_p11 *p11, const char *label, CK_OBJECT_HANDLE *priv,
			unsigned char mkvp[SK_MKVP_LEN])
{
	enum sk_blob_backend backend = SK_BLOB_PKCS11_RSA;
	CK_OBJECT_HANDLE pub;
	EVP_PKEY *pkey = NULL;
	int r = generate_pair(p11, label, &pub, priv);

	if (r < 0)
		return r;
	r = read_public(p11, pub, &pkey);
	if (!r)
		r = pkey_mkvp(pkey, mkvp);
	if (!r)
		r = probe_hash(p11, pkey, *priv, &backend);
	EVP_PKEY_free(pkey);
	/* the public half first: a pair cut short here is found by the private key's label */
	if (!r)
		r = sk_p11_key_relabel(p11, pub, public_label(backend), mkvp);
	if (!r)
		r = sk_p11_key_relabel(p11, *priv, label, mkvp);
	if (r < 0) {
		sk_p11_object_destroy(p11, *priv);
		sk_p11_object_destroy(p11, pub);
	}
	return r;
}

int sk_p11_rsa_destroy(struct sk_p11 *p11, CK_OBJECT_HANDLE priv,
		       const unsigned char mkvp[SK_MKVP_LEN])
{
	CK_OBJECT_HANDLE pub;
	int r = sk_p11_object_destroy(p11, priv);

	/* The public half alone is harmless: nothing deciphers with it. */
	if (!r && !find_public(p11, mkvp, &pub))
		r = sk_p11_object_destroy(p11, pub);
	return r;
}

static int oaep_encrypt(EVP_PKEY *pkey, enum sk_blob_backend backend,
			const struct sk_secret *plain, unsigned char *out)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pkey, NULL);
	size_t len = SK_BLOB_RSA_LEN;
	int ok = ctx && EVP_PKEY_encrypt_init(ctx) == 1 &&
		 EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) == 1 &&
		 EVP_PKEY_CTX_set_rsa_oaep_md(ctx, oaep_md(backend)) == 1 &&
		 EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, oaep_md(backend)) == 1 &&
		 EVP_PKEY_encrypt(ctx, out, &len, plain->data, plain->len) == 1 &&
		 len == SK_BLOB_RSA_LEN;

	EVP_PKEY_CTX_free(ctx);
	if (!ok) {
		sk_err("cannot encipher the secure key (RSA-OAEP failed)");
		return -EIO;
	}
	return 0;
}

/* The token's public key for @mkvp, checked against it: a blob never names a key it is not under. */
static int public_for(struct sk_p11 *p11, const unsigned char mkvp[SK_MKVP_LEN], EVP_PKEY **pkey)
{
	unsigned char got[SK_MKVP_LEN];
	CK_OBJECT_HANDLE pub;
	int r = find_public(p11, mkvp, &pub);

	if (!r)
		r = read_public(p11, pub, pkey);
	if (r < 0)
		return r;
	r = pkey_mkvp(*pkey, got);
	if (!r && !sk_mkvp_equal(got, mkvp)) {
		sk_err("PKCS#11 token '%s': the public key with CKA_ID %02x%02x... does not match "
		       "that MKVP; it was changed outside securekey",
		       p11->label, mkvp[0], mkvp[1]);
		r = -EUCLEAN;
	}
	if (r < 0)
		EVP_PKEY_free(*pkey);
	return r;
}

int sk_p11_rsa_backend(struct sk_p11 *p11, const unsigned char mkvp[SK_MKVP_LEN],
		       enum sk_blob_backend *backend)
{
	char label[sizeof(SK_P11_RSA_PUBLIC_LABEL_SHA1) + 8];
	CK_ATTRIBUTE attr = { CKA_LABEL, label, sizeof(label) - 1 };
	CK_OBJECT_HANDLE pub;
	int r = find_public(p11, mkvp, &pub);
	CK_RV rv;

	if (r < 0)
		return r;
	rv = p11->module->C_GetAttributeValue(p11->session, pub, &attr, 1);
	if (rv != CKR_OK && rv != CKR_BUFFER_TOO_SMALL)
		return sk_p11_fail(p11, rv, "reading an RSA public key's label");
	label[rv == CKR_OK ? attr.ulValueLen : 0] = '\0';
	if (!strcmp(label, SK_P11_RSA_PUBLIC_LABEL)) {
		*backend = SK_BLOB_PKCS11_RSA;
		return 0;
	}
	if (!strcmp(label, SK_P11_RSA_PUBLIC_LABEL_SHA1)) {
		*backend = SK_BLOB_PKCS11_RSA_SHA1;
		return 0;
	}
	sk_err("PKCS#11 token '%s': the public key beside an RSA master key is labelled '%s', "
	       "not %s or %s; it was changed outside securekey",
	       p11->label, label, SK_P11_RSA_PUBLIC_LABEL, SK_P11_RSA_PUBLIC_LABEL_SHA1);
	return -EUCLEAN;
}

int sk_p11_rsa_seal(struct sk_p11 *p11, enum sk_blob_backend backend,
		    const unsigned char mkvp[SK_MKVP_LEN], const struct sk_secret *key,
		    unsigned char *blob, size_t blob_len)
{
	struct sk_secret *plain = sk_secret_new(key->len + SK_BLOB_KWP_CHECK_LEN);
	EVP_PKEY *pkey = NULL;
	int r = plain ? sk_blob_kwp_check(blob, plain->data + key->len) : -ENOMEM;

	if (!r && blob_len != SK_BLOB_HEADER_LEN + SK_BLOB_RSA_LEN)
		r = -EINVAL;
	if (!r)
		r = public_for(p11, mkvp, &pkey);
	if (!r) {
		memcpy(plain->data, key->data, key->len);
		r = oaep_encrypt(pkey, backend, plain, blob + SK_BLOB_HEADER_LEN);
		EVP_PKEY_free(pkey);
	}
	sk_secret_free(plain);
	return r;
}

static int oaep_decrypt(struct sk_p11 *p11, enum sk_blob_backend backend, CK_OBJECT_HANDLE priv,
			const unsigned char *in, struct sk_secret *out, CK_ULONG *got)
{
	CK_RSA_PKCS_OAEP_PARAMS params = oaep_params(backend);
	CK_MECHANISM mech = { CKM_RSA_PKCS_OAEP, &params, sizeof(params) };
	CK_FUNCTION_LIST *m = p11->module;
	CK_RV rv = m->C_DecryptInit(p11->session, &mech, priv);

	*got = out->len;
	if (rv == CKR_OK)
		rv = m->C_Decrypt(p11->session, (unsigned char *)in, SK_BLOB_RSA_LEN, out->data, got);
	/* a wrong key or an altered payload fails the OAEP padding check */
	if (rv == CKR_ENCRYPTED_DATA_INVALID || rv == CKR_ENCRYPTED_DATA_LEN_RANGE ||
	    rv == CKR_GENERAL_ERROR || rv == CKR_FUNCTION_FAILED)
		return -EKEYREJECTED;
	return rv == CKR_OK ? 0 : sk_p11_fail(p11, rv, "RSA-OAEP decrypt");
}

int sk_p11_rsa_unseal(struct sk_p11 *p11, enum sk_blob_backend backend, CK_OBJECT_HANDLE priv,
		      const unsigned char *blob, size_t blob_len, struct sk_secret *key)
{
	struct sk_secret *plain = sk_secret_new(SK_BLOB_RSA_LEN);
	unsigned char check[SK_BLOB_KWP_CHECK_LEN];
	CK_ULONG got = 0;
	int r = plain ? sk_blob_kwp_check(blob, check) : -ENOMEM;

	if (!r && blob_len != SK_BLOB_HEADER_LEN + SK_BLOB_RSA_LEN)
		r = -EINVAL;
	if (!r)
		r = oaep_decrypt(p11, backend, priv, blob + SK_BLOB_HEADER_LEN, plain, &got);
	if (!r && (got != key->len + SK_BLOB_KWP_CHECK_LEN ||
		   CRYPTO_memcmp(plain->data + key->len, check, SK_BLOB_KWP_CHECK_LEN)))
		r = -EKEYREJECTED;
	if (!r)
		memcpy(key->data, plain->data, key->len);
	sk_secret_free(plain);
	return r;
}
