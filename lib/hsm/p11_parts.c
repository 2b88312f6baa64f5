#include "config.h"

#include "p11_parts.h"

#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "hsm.h"
#include "log.h"
#include "p11_keys.h"

static CK_BBOOL yes = CK_TRUE, no = CK_FALSE;

bool sk_p11_parts_supported(struct sk_p11 *p11)
{
	return sk_p11_has_mechanism(p11, CKM_XOR_BASE_AND_DATA, CKF_DERIVE);
}

/* Attributes of every key of the chain; @final picks what it may do. */
#define CHAIN_TEMPLATE(class, type, label, final)                                          \
	{ CKA_CLASS, &(class), sizeof(class) }, { CKA_KEY_TYPE, &(type), sizeof(type) },     \
		{ CKA_LABEL, (void *)(label), strlen(label) },                               \
		{ CKA_TOKEN, &yes, sizeof(yes) }, { CKA_PRIVATE, &yes, sizeof(yes) },        \
		{ CKA_SENSITIVE, &yes, sizeof(yes) }, { CKA_EXTRACTABLE, &no, sizeof(no) },  \
		{ CKA_MODIFIABLE, &yes, sizeof(yes) }, { CKA_ENCRYPT, &yes, sizeof(yes) },   \
		{ CKA_DECRYPT, (final) ? &yes : &no, sizeof(CK_BBOOL) },                     \
		{ CKA_DERIVE, (final) ? &no : &yes, sizeof(CK_BBOOL) },                      \
		{ CKA_WRAP, &no, sizeof(no) }, { CKA_UNWRAP, &no, sizeof(no) },              \
		{ CKA_SIGN, &no, sizeof(no) }, { CKA_VERIFY, &no, sizeof(no) }

/*
 * A key that takes more parts may only XOR and give its MKVP: without
 * this, CKA_DERIVE would let other mechanisms (CKM_EXTRACT_KEY_FROM_KEY,
 * concatenation) take it apart. It is the last attribute of a template, so
 * it can be left out for a module that does not know it.
 */
static CK_MECHANISM_TYPE part_mechanisms[] = { CKM_XOR_BASE_AND_DATA, CKM_AES_ECB };
#define PART_MECHANISMS { CKA_ALLOWED_MECHANISMS, part_mechanisms, sizeof(part_mechanisms) }

/* Without CKA_ALLOWED_MECHANISMS when the module does not know it, or for a final key. */
static CK_ULONG attrs_for(CK_ULONG count, bool final, CK_RV first_try)
{
	return final || first_try == CKR_ATTRIBUTE_TYPE_INVALID ? count - 1 : count;
}

static int import_part(struct sk_p11 *p11, const struct sk_secret *part, bool final,
		       const char *label, CK_OBJECT_HANDLE *obj)
{
	CK_OBJECT_CLASS class = CKO_SECRET_KEY;
	CK_KEY_TYPE type = CKK_AES;
	CK_ATTRIBUTE tmpl[] = {
		CHAIN_TEMPLATE(class, type, label, final),
		{ CKA_VALUE, part->data, part->len },
		PART_MECHANISMS,
	};
	CK_ULONG count = sizeof(tmpl) / sizeof(tmpl[0]);
	CK_RV rv = p11->module->C_CreateObject(p11->session, tmpl, attrs_for(count, final, CKR_OK),
					       obj);

	if (rv == CKR_ATTRIBUTE_TYPE_INVALID && !final)
		rv = p11->module->C_CreateObject(p11->session, tmpl, attrs_for(count, final, rv), obj);
	return rv == CKR_OK ? 0 : sk_p11_fail(p11, rv, "importing a key part");
}

static int xor_part(struct sk_p11 *p11, CK_OBJECT_HANDLE base, const struct sk_secret *part,
		    bool final, const char *label, CK_OBJECT_HANDLE *obj)
{
	CK_OBJECT_CLASS class = CKO_SECRET_KEY;
	CK_KEY_TYPE type = CKK_AES;
	CK_ULONG bytes = SK_MK_PART_LEN;
	CK_ATTRIBUTE tmpl[] = {
		CHAIN_TEMPLATE(class, type, label, final),
		{ CKA_VALUE_LEN, &bytes, sizeof(bytes) },
		PART_MECHANISMS,
	};
	CK_ULONG count = sizeof(tmpl) / sizeof(tmpl[0]);
	CK_KEY_DERIVATION_STRING_DATA data = { part->data, part->len };
	CK_MECHANISM mech = { CKM_XOR_BASE_AND_DATA, &data, sizeof(data) };
	CK_RV rv = p11->module->C_DeriveKey(p11->session, &mech, base, tmpl,
					    attrs_for(count, final, CKR_OK), obj);

	if (rv == CKR_ATTRIBUTE_TYPE_INVALID && !final)
		rv = p11->module->C_DeriveKey(p11->session, &mech, base, tmpl,
					      attrs_for(count, final, rv), obj);
	return rv == CKR_OK ? 0 : sk_p11_fail(p11, rv, "XOR of a key part (CKM_XOR_BASE_AND_DATA)");
}

/* The MKVP the all-zero key would have on a token: parts that cancel out give it. */
static int zero_key_mkvp(unsigned char mkvp[SK_MKVP_LEN])
{
	unsigned char key[SK_MK_LEN] = { 0 }, block[16] = { 0 }, kcv[32];
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int len = 0, ok;

	ok = ctx && EVP_EncryptInit_ex(ctx, EVP_aes_256_ecb(), NULL, key, NULL) &&
	     EVP_CIPHER_CTX_set_padding(ctx, 0) &&
	     EVP_EncryptUpdate(ctx, kcv, &len, block, sizeof(block));
	EVP_CIPHER_CTX_free(ctx);
	return ok && len == 16 ? sk_p11_kcv_mkvp(kcv, 16, mkvp) : -EIO;
}

static int check_not_zero(struct sk_p11 *p11, CK_OBJECT_HANDLE obj,
			  unsigned char mkvp[SK_MKVP_LEN])
{
	unsigned char zero[SK_MKVP_LEN];
	int r = sk_p11_key_mkvp(p11, obj, mkvp);

	if (!r)
		r = zero_key_mkvp(zero);
	if (!r && sk_mkvp_equal(mkvp, zero)) {
		sk_err("the key parts cancel each other out (was one part given twice, or is a part "
		       "all zeros?); nothing was kept");
		r = -EINVAL;
	}
	return r;
}

int sk_p11_parts_xor(struct sk_p11 *p11, CK_OBJECT_HANDLE base, struct sk_secret *const *parts,
		     size_t nparts, bool final, const char *label, CK_OBJECT_HANDLE *out,
		     unsigned char mkvp[SK_MKVP_LEN])
{
	CK_OBJECT_HANDLE obj = base, next;
	size_t i = 0;
	int r = 0;

	if (base == CK_INVALID_HANDLE)
		r = import_part(p11, parts[i++], final && nparts == 1, label, &obj);
	for (; !r && i < nparts; i++) {
		r = xor_part(p11, obj, parts[i], final && i + 1 == nparts, label, &next);
		if (obj != base)
			sk_p11_object_destroy(p11, obj);
		obj = r ? base : next;
	}
	if (!r)
		r = check_not_zero(p11, obj, mkvp);
	if (r < 0 && obj != base && obj != CK_INVALID_HANDLE)
		sk_p11_object_destroy(p11, obj);
	if (!r)
		*out = obj;
	return r;
}
