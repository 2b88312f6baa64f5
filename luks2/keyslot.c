#include "config.h"

#include "keyslot.h"

#include <errno.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "log.h"

#define DERIVED_LEN (SK_KEYSLOT_PASSPHRASE_LEN / 2)

static int hkdf_sha256(const struct sk_secret *vk, unsigned char out[DERIVED_LEN])
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, vk->data, vk->len),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (char *)SK_KEYSLOT_INFO,
						  strlen(SK_KEYSLOT_INFO)),
		OSSL_PARAM_construct_end(),
	};
	int ok = ctx && EVP_KDF_derive(ctx, out, DERIVED_LEN, params) == 1;

	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	if (!ok)
		sk_err("cannot derive the keyslot passphrase (HKDF-SHA256 failed)");
	return ok ? 0 : -EIO;
}

int sk_keyslot_passphrase(const struct sk_secret *vk, struct sk_secret **passphrase)
{
	static const char digits[] = "0123456789abcdef";
	struct sk_secret *raw = sk_secret_new(DERIVED_LEN);
	struct sk_secret *hex = sk_secret_new(SK_KEYSLOT_PASSPHRASE_LEN);
	int r = raw && hex ? hkdf_sha256(vk, raw->data) : -ENOMEM;

	for (int i = 0; !r && i < DERIVED_LEN; i++) {
		hex->data[2 * i] = (unsigned char)digits[raw->data[i] >> 4];
		hex->data[2 * i + 1] = (unsigned char)digits[raw->data[i] & 0xf];
	}
	sk_secret_free(raw);
	if (r) {
		sk_secret_free(hex);
		return r;
	}
	*passphrase = hex;
	return 0;
}

static int add_keyslot(struct crypt_device *cd, const char *device, const struct sk_secret *vk,
		       const struct sk_secret *pass)
{
	struct crypt_pbkdf_type pbkdf = {
		.type = CRYPT_KDF_PBKDF2,
		.hash = "sha256",
		.iterations = SK_KEYSLOT_PBKDF_ITERATIONS,
		.flags = CRYPT_PBKDF_NO_BENCHMARK,
	};
	int r = crypt_set_pbkdf_type(cd, &pbkdf);

	if (!r)
		r = crypt_keyslot_add_by_volume_key(cd, CRYPT_ANY_SLOT, (const char *)vk->data,
						    vk->len, (const char *)pass->data, pass->len);
	if (r < 0)
		sk_err("cannot add the securekey keyslot to %s: %s", device, strerror(-r));
	return r;
}

int sk_keyslot_open_derived(struct crypt_device *cd, int keyslot, const struct sk_secret *vk)
{
	struct sk_secret *pass = NULL;
	int r = sk_keyslot_passphrase(vk, &pass);

	if (!r)
		r = crypt_activate_by_passphrase(cd, NULL, keyslot, (const char *)pass->data,
						 pass->len, 0);
	sk_secret_free(pass);
	return r;
}

int sk_keyslot_add_derived(struct crypt_device *cd, const char *device,
			   const struct sk_secret *vk)
{
	struct sk_secret *pass = NULL;
	int r = sk_keyslot_passphrase(vk, &pass);

	if (!r)
		r = add_keyslot(cd, device, vk, pass);
	sk_secret_free(pass);
	return r;
}

int sk_keyslot_volume_key(struct crypt_device *cd, const char *device,
			  const struct sk_secret *passphrase, struct sk_secret **vk)
{
	int size = crypt_get_volume_key_size(cd);
	size_t len = (size_t)size;
	struct sk_secret *key = size > 0 ? sk_secret_new(len) : NULL;
	int r;

	if (!key)
		return -ENOMEM;
	r = crypt_volume_key_get(cd, CRYPT_ANY_SLOT, (char *)key->data, &len,
				 (const char *)passphrase->data, passphrase->len);
	if (r < 0 || len != key->len) {
		sk_secret_free(key);
		if (r == -EPERM)
			sk_err("no keyslot of %s opens with this passphrase", device);
		else
			sk_err("cannot get the volume key of %s: %s", device, strerror(-r));
		return r < 0 ? r : -EIO;
	}
	*vk = key;
	return r;
}
