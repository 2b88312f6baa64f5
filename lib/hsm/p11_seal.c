#include "config.h"

#include "p11_seal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "conf.h"
#include "log.h"
#include "p11_keys.h"
#include "p11_rsa.h"

#define CIPHER_FLAGS (CKF_ENCRYPT | CKF_DECRYPT)

static const char *const kind_names[] = {
	[SK_P11_KIND_AUTO] = "none",
	[SK_P11_KIND_AES_GCM] = "aes-gcm",
	[SK_P11_KIND_AES_KWP] = "aes-kwp",
	[SK_P11_KIND_RSA_OAEP] = "rsa-oaep",
};

int sk_p11_kind_parse(const char *name, enum sk_p11_kind *kind)
{
	for (int k = SK_P11_KIND_AES_GCM; k <= SK_P11_KIND_RSA_OAEP; k++) {
		if (!strcmp(name, kind_names[k])) {
			*kind = (enum sk_p11_kind)k;
			return 0;
		}
	}
	return -EINVAL;
}

const char *sk_p11_kind_name(enum sk_p11_kind kind)
{
	return kind_names[kind];
}

int sk_p11_kind_of_location(const char *location, enum sk_p11_kind *kind)
{
	const char *at = strchr(location, '?');
	size_t key_len = strlen(SK_CONFIG_KIND_QUERY);
	char value[16];

	*kind = SK_P11_KIND_AUTO;
	while (at && strncmp(at + 1, SK_CONFIG_KIND_QUERY "=", key_len + 1))
		at = strchr(at + 1, '&');
	if (!at)
		return 0;
	snprintf(value, sizeof(value), "%.*s", (int)strcspn(at + key_len + 2, "&"),
		 at + key_len + 2);
	if (!sk_p11_kind_parse(value, kind))
		return 0;
	sk_err("%s=%s in the PKCS#11 URI is not a master key kind; use aes-gcm, aes-kwp or "
	       "rsa-oaep",
	       SK_CONFIG_KIND_QUERY, value);
	return -EINVAL;
}

static bool kind_supported(struct sk_p11 *p11, enum sk_p11_kind kind)
{
	switch (kind) {
	case SK_P11_KIND_AES_GCM:
		return sk_p11_has_mechanism(p11, CKM_AES_GCM, CIPHER_FLAGS);
	case SK_P11_KIND_AES_KWP:
		return sk_p11_has_mechanism(p11, CKM_AES_KEY_WRAP_KWP, CIPHER_FLAGS);
	case SK_P11_KIND_RSA_OAEP:
		return sk_p11_rsa_supported(p11);
	default:
		return false;
	}
}

int sk_p11_kind_pick(struct sk_p11 *p11, enum sk_p11_kind configured)
{
	p11->kind_configured = configured != SK_P11_KIND_AUTO;
	p11->kind = SK_P11_KIND_AUTO;
	if (p11->kind_configured && !kind_supported(p11, configured)) {
		sk_err("PKCS#11 token '%s' cannot keep %s master keys (master_key_kind in [hsm] of "
		       "securekey.conf): its module lacks the mechanisms; remove the setting to "
		       "let securekey choose",
		       p11->label, kind_names[configured]);
		return -EOPNOTSUPP;
	}
	if (p11->kind_configured) {
		p11->kind = configured;
		return 0;
	}
	for (int k = SK_P11_KIND_AES_GCM; k <= SK_P11_KIND_RSA_OAEP; k++) {
		if (kind_supported(p11, (enum sk_p11_kind)k)) {
			p11->kind = (enum sk_p11_kind)k;
			break;
		}
	}
	return 0;
}

/*
 * An AES master key enciphers with the configured AES mode, else GCM, else
 * KWP: a token configured for RSA-OAEP still reads (and, until rotated,
 * writes under) the AES master keys it had.
 */
int sk_p11_seal_backend(struct sk_p11 *p11, bool rsa, enum sk_blob_backend *backend)
{
	if (rsa) /* the hash is the key pair's: sk_p11_rsa_backend */
		return -EINVAL;
	if (p11->kind != SK_P11_KIND_AES_KWP && kind_supported(p11, SK_P11_KIND_AES_GCM)) {
		*backend = SK_BLOB_PKCS11;
		return 0;
	}
	if (kind_supported(p11, SK_P11_KIND_AES_KWP)) {
		*backend = SK_BLOB_PKCS11_KWP;
		return 0;
	}
	return -EOPNOTSUPP;
}

int sk_p11_seal_unavailable(const struct sk_p11 *p11)
{
	sk_err("PKCS#11 token '%s' offers neither CKM_AES_GCM nor CKM_AES_KEY_WRAP_KWP for "
	       "C_Encrypt/C_Decrypt, nor RSA key pairs with CKM_RSA_PKCS_OAEP, and securekey "
	       "enciphers secure keys with one of them; use a module or firmware that has one",
	       p11->label);
	return -EOPNOTSUPP;
}

const char *sk_p11_seal_describe(const struct sk_p11 *p11)
{
	switch (p11->kind) {
	case SK_P11_KIND_AES_GCM:
		return "AES-GCM (CKM_AES_GCM)";
	case SK_P11_KIND_AES_KWP:
		return "AES-KWP (CKM_AES_KEY_WRAP_KWP)";
	case SK_P11_KIND_RSA_OAEP:
		return "RSA-OAEP, RSA-2048 (CKM_RSA_PKCS_OAEP)";
	default:
		return "none (no AES-GCM, AES-KWP or RSA-OAEP)";
	}
}

const char *sk_p11_seal_name(enum sk_blob_backend backend)
{
	if (sk_blob_is_rsa(backend))
		return backend == SK_BLOB_PKCS11_RSA ? "RSA-OAEP SHA-256" : "RSA-OAEP SHA-1";
	return backend == SK_BLOB_PKCS11_KWP ? "AES-KWP" : "AES-GCM";
}

/* key | check under KWP: the check stands in for GCM's associated data. */
static int seal_kwp(struct sk_p11 *p11, CK_OBJECT_HANDLE mk, const struct sk_secret *key,
		    unsigned char *blob, size_t blob_len)
{
	struct sk_secret *plain = sk_secret_new(key->len + SK_BLOB_KWP_CHECK_LEN);
	size_t payload = blob_len - SK_BLOB_HEADER_LEN;
	int r = plain ? sk_blob_kwp_check(blob, plain->data + key->len) : -ENOMEM;

	if (!r) {
		memcpy(plain->data, key->data, key->len);
		r = sk_p11_kwp(p11, mk, true, plain->data, plain->len, blob + SK_BLOB_HEADER_LEN,
			       payload, payload);
	}
	sk_secret_free(plain);
	return r;
}

int sk_p11_seal(struct sk_p11 *p11, CK_OBJECT_HANDLE mk, enum sk_blob_backend backend,
		const struct sk_secret *key, unsigned char *blob, size_t blob_len)
{
	/* the nonce is the last field of the header */
	const unsigned char *nonce = blob + SK_BLOB_HEADER_LEN - SK_BLOB_NONCE_LEN;

	if (backend == SK_BLOB_PKCS11_KWP)
		return seal_kwp(p11, mk, key, blob, blob_len);
	/* the MKVP sits just before the nonce */
	if (sk_blob_is_rsa(backend))
		return sk_p11_rsa_seal(p11, backend, nonce - SK_MKVP_LEN, key, blob, blob_len);
	return sk_p11_gcm(p11, mk, true, nonce, SK_BLOB_NONCE_LEN, blob, SK_BLOB_HEADER_LEN,
			  key->data, key->len, blob + SK_BLOB_HEADER_LEN);
}

static int unseal_kwp(struct sk_p11 *p11, CK_OBJECT_HANDLE mk, const unsigned char *blob,
		      size_t blob_len, struct sk_secret *key)
{
	size_t payload = blob_len - SK_BLOB_HEADER_LEN;
	struct sk_secret *plain = sk_secret_new(payload - 8);
	unsigned char check[SK_BLOB_KWP_CHECK_LEN];
	int r = plain ? sk_blob_kwp_check(blob, check) : -ENOMEM;

	if (!r)
		r = sk_p11_kwp(p11, mk, false, blob + SK_BLOB_HEADER_LEN, payload, plain->data,
			       plain->len, key->len + SK_BLOB_KWP_CHECK_LEN);
	if (!r && CRYPTO_memcmp(plain->data + key->len, check, SK_BLOB_KWP_CHECK_LEN))
		r = -EKEYREJECTED;
	if (!r)
		memcpy(key->data, plain->data, key->len);
	sk_secret_free(plain);
	return r;
}

int sk_p11_unseal(struct sk_p11 *p11, CK_OBJECT_HANDLE mk, const struct sk_blob_header *hdr,
		  const unsigned char *blob, size_t blob_len, struct sk_secret **key)
{
	struct sk_secret *out = sk_secret_new(hdr->key.bits / 8);
	int r;

	if (!out)
		return -ENOMEM;
	if (hdr->backend == SK_BLOB_PKCS11_KWP)
		r = unseal_kwp(p11, mk, blob, blob_len, out);
	else if (sk_blob_is_rsa(hdr->backend))
		r = sk_p11_rsa_unseal(p11, hdr->backend, mk, blob, blob_len, out);
	else
		r = sk_p11_gcm(p11, mk, false, hdr->nonce, SK_BLOB_NONCE_LEN, blob,
			       SK_BLOB_HEADER_LEN, blob + SK_BLOB_HEADER_LEN,
			       blob_len - SK_BLOB_HEADER_LEN, out->data);
	if (r < 0)
		sk_secret_free(out);
	else
		*key = out;
	return r;
}
