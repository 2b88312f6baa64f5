#include "config.h"

#include "p11_keys.h"

#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>

#include "log.h"
#include "secmem.h"

#define MKVP_LABEL "securekey-mkvp-p11"
#define MK_BYTES 32
#define GCM_TAG_LEN 16
#define DATA_APPLICATION "securekey"

static CK_BBOOL yes = CK_TRUE, no = CK_FALSE;

/* Up to two objects of @class labelled @label: two means "more than one". */
static int find_objects(struct sk_p11 *p11, CK_OBJECT_CLASS class, const char *label,
			CK_OBJECT_HANDLE found[2], CK_ULONG *count)
{
	CK_ATTRIBUTE match[] = {
		{ CKA_CLASS, &class, sizeof(class) },
		{ CKA_LABEL, (void *)label, strlen(label) },
	};
	CK_FUNCTION_LIST *m = p11->module;
	CK_RV rv = m->C_FindObjectsInit(p11->session, match, 2);

	if (rv != CKR_OK)
		return sk_p11_fail(p11, rv, "searching objects");
	rv = m->C_FindObjects(p11->session, found, 2, count);
	m->C_FindObjectsFinal(p11->session);
	return rv == CKR_OK ? 0 : sk_p11_fail(p11, rv, "searching objects");
}

static int one_object(struct sk_p11 *p11, CK_OBJECT_CLASS class, const char *label,
		      CK_OBJECT_HANDLE *obj)
{
	CK_OBJECT_HANDLE found[2];
	CK_ULONG count = 0;
	int r = find_objects(p11, class, label, found, &count);

	if (r < 0)
		return r;
	if (!count)
		return -ENOENT;
	if (count > 1) {
		sk_err("PKCS#11 token '%s' holds more than one object labelled %s; remove the "
		       "extra one with the token's tools (it was not made by securekey)",
		       p11->label, label);
		return -EUCLEAN;
	}
	*obj = found[0];
	return 0;
}

/* Master keys are secret keys (AES) or private keys (RSA pairs, p11_rsa.h). */
static const CK_OBJECT_CLASS mk_classes[] = { CKO_SECRET_KEY, CKO_PRIVATE_KEY };

int sk_p11_key_count(struct sk_p11 *p11, const char *label)
{
	CK_OBJECT_HANDLE found[2];
	CK_ULONG count = 0, total = 0;
	int r = 0;

	for (size_t i = 0; !r && i < 2; i++) {
		r = find_objects(p11, mk_classes[i], label, found, &count);
		total += count;
	}
	return r < 0 ? r : (int)(total > 2 ? 2 : total);
}

/* Every key labelled @label, public halves of RSA pairs too (they are pending until labelled). */
int sk_p11_keys_destroy(struct sk_p11 *p11, const char *label)
{
	static const CK_OBJECT_CLASS classes[] = { CKO_SECRET_KEY, CKO_PRIVATE_KEY,
						   CKO_PUBLIC_KEY };
	CK_OBJECT_HANDLE found[2];
	CK_ULONG count;
	int r = 0;

	for (size_t c = 0; !r && c < 3; c++) {
		do {
			count = 0;
			r = find_objects(p11, classes[c], label, found, &count);
			for (CK_ULONG i = 0; !r && i < count; i++)
				r = sk_p11_object_destroy(p11, found[i]);
		} while (!r && count);
	}
	return r;
}

/* The master key @label of either class; *@rsa tells which. */
static int find_mk(struct sk_p11 *p11, const char *label, CK_OBJECT_HANDLE *obj, bool *rsa)
{
	CK_OBJECT_HANDLE other;
	int aes = one_object(p11, CKO_SECRET_KEY, label, obj), pair;

	if (aes < 0 && aes != -ENOENT)
		return aes;
	pair = one_object(p11, CKO_PRIVATE_KEY, label, aes ? obj : &other);
	if (pair < 0 && pair != -ENOENT)
		return pair;
	if (!aes && !pair) {
		sk_err("PKCS#11 token '%s' holds both an AES key and an RSA key labelled %s; "
		       "remove the one securekey did not make with the token's tools",
		       p11->label, label);
		return -EUCLEAN;
	}
	*rsa = !pair;
	return aes ? pair : 0;
}

int sk_p11_mk_find(struct sk_p11 *p11, const char *label, CK_OBJECT_HANDLE *obj,
		   unsigned char mkvp[SK_MKVP_LEN], bool *rsa)
{
	unsigned char id[SK_MKVP_LEN + 1];
	CK_ATTRIBUTE attr = { CKA_ID, id, sizeof(id) };
	bool is_rsa = false;
	int r = find_mk(p11, label, obj, &is_rsa);
	CK_RV rv;

	if (rsa)
		*rsa = is_rsa;
	if (r < 0 || !mkvp)
		return r;
	rv = p11->module->C_GetAttributeValue(p11->session, *obj, &attr, 1);
	if (rv != CKR_OK && rv != CKR_BUFFER_TOO_SMALL)
		return sk_p11_fail(p11, rv, "reading a key's CKA_ID");
	if (rv != CKR_OK || attr.ulValueLen != SK_MKVP_LEN) {
		sk_err("PKCS#11 token '%s': key %s has no MKVP in its CKA_ID; it was not made by "
		       "securekey, or a change was cut short ('securekey hsm status --repair')",
		       p11->label, label);
		return -EUCLEAN;
	}
	memcpy(mkvp, id, SK_MKVP_LEN);
	return 0;
}

int sk_p11_key_find(struct sk_p11 *p11, const char *label, CK_OBJECT_HANDLE *obj,
		    unsigned char mkvp[SK_MKVP_LEN])
{
	return sk_p11_mk_find(p11, label, obj, mkvp, NULL);
}

int sk_p11_key_generate(struct sk_p11 *p11, const char *label, CK_OBJECT_HANDLE *obj)
{
	CK_OBJECT_CLASS class = CKO_SECRET_KEY;
	CK_KEY_TYPE type = CKK_AES;
	CK_ULONG bytes = MK_BYTES;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &class, sizeof(class) },
		{ CKA_KEY_TYPE, &type, sizeof(type) },
		{ CKA_VALUE_LEN, &bytes, sizeof(bytes) },
		{ CKA_LABEL, (void *)label, strlen(label) },
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_PRIVATE, &yes, sizeof(yes) },
		{ CKA_SENSITIVE, &yes, sizeof(yes) },
		{ CKA_EXTRACTABLE, &no, sizeof(no) },
		{ CKA_MODIFIABLE, &yes, sizeof(yes) },
		{ CKA_ENCRYPT, &yes, sizeof(yes) },
		{ CKA_DECRYPT, &yes, sizeof(yes) },
		{ CKA_WRAP, &no, sizeof(no) },
		{ CKA_UNWRAP, &no, sizeof(no) },
		{ CKA_DERIVE, &no, sizeof(no) },
		{ CKA_SIGN, &no, sizeof(no) },
		{ CKA_VERIFY, &no, sizeof(no) },
	};
	CK_MECHANISM mech = { CKM_AES_KEY_GEN, NULL, 0 };
	CK_RV rv = p11->module->C_GenerateKey(p11->session, &mech, tmpl,
					      sizeof(tmpl) / sizeof(tmpl[0]), obj);

	return rv == CKR_OK ? 0 : sk_p11_fail(p11, rv, "generating an AES-256 master key");
}

int sk_p11_kcv_mkvp(const unsigned char *kcv, size_t len, unsigned char mkvp[SK_MKVP_LEN])
{
	return sk_mkvp_digest(MKVP_LABEL, kcv, len, mkvp);
}

int sk_p11_key_mkvp(struct sk_p11 *p11, CK_OBJECT_HANDLE obj, unsigned char mkvp[SK_MKVP_LEN])
{
	unsigned char zero[16] = { 0 }, kcv[16];
	CK_ULONG kcv_len = sizeof(kcv);
	CK_MECHANISM mech = { CKM_AES_ECB, NULL, 0 };
	CK_FUNCTION_LIST *m = p11->module;
	CK_RV rv = m->C_EncryptInit(p11->session, &mech, obj);
	int r;

	if (rv == CKR_OK)
		rv = m->C_Encrypt(p11->session, zero, sizeof(zero), kcv, &kcv_len);
	if (rv != CKR_OK)
		return sk_p11_fail(p11, rv, "computing the MKVP (AES-ECB of a fixed block)");
	r = sk_p11_kcv_mkvp(kcv, kcv_len, mkvp);
	OPENSSL_cleanse(kcv, sizeof(kcv));
	return r;
}

int sk_p11_key_relabel(struct sk_p11 *p11, CK_OBJECT_HANDLE obj, const char *label,
		       const unsigned char *mkvp)
{
	CK_ATTRIBUTE attrs[] = {
		{ CKA_LABEL, (void *)label, strlen(label) },
		{ CKA_ID, (void *)mkvp, SK_MKVP_LEN },
	};
	CK_RV rv = p11->module->C_SetAttributeValue(p11->session, obj, attrs, mkvp ? 2 : 1);

	return rv == CKR_OK ? 0 : sk_p11_fail(p11, rv, "relabelling a master key");
}

int sk_p11_object_destroy(struct sk_p11 *p11, CK_OBJECT_HANDLE obj)
{
	CK_RV rv = p11->module->C_DestroyObject(p11->session, obj);

	return rv == CKR_OK ? 0 : sk_p11_fail(p11, rv, "destroying an object");
}

/* A cipher pass of @mech; the output must be @out_len bytes. */
static int crypt_once(struct sk_p11 *p11, CK_MECHANISM *mech, CK_OBJECT_HANDLE key, bool encrypt,
		      const unsigned char *in, size_t in_len, unsigned char *out, size_t out_cap,
		      size_t out_len, const char *what)
{
	CK_FUNCTION_LIST *m = p11->module;
	CK_ULONG got = out_cap;
	CK_RV rv = encrypt ? m->C_EncryptInit(p11->session, mech, key)
			   : m->C_DecryptInit(p11->session, mech, key);

	if (rv == CKR_OK)
		rv = encrypt ? m->C_Encrypt(p11->session, (unsigned char *)in, in_len, out, &got)
			     : m->C_Decrypt(p11->session, (unsigned char *)in, in_len, out, &got);
	if (!encrypt && (rv == CKR_ENCRYPTED_DATA_INVALID || rv == CKR_ENCRYPTED_DATA_LEN_RANGE ||
			 rv == CKR_GENERAL_ERROR))
		return -EKEYREJECTED;
	if (rv != CKR_OK)
		return sk_p11_fail(p11, rv, what);
	if (got != out_len) {
		sk_err("PKCS#11 token '%s': %s gave %lu bytes, not the %zu expected", p11->label,
		       what, (unsigned long)got, out_len);
		return encrypt ? -EIO : -EKEYREJECTED;
	}
	return 0;
}

int sk_p11_gcm(struct sk_p11 *p11, CK_OBJECT_HANDLE key, bool encrypt, const unsigned char *nonce,
	       size_t nonce_len, const unsigned char *aad, size_t aad_len, const unsigned char *in,
	       size_t in_len, unsigned char *out)
{
	CK_GCM_PARAMS params = { (unsigned char *)nonce, nonce_len, nonce_len * 8,
				 (unsigned char *)aad, aad_len, GCM_TAG_LEN * 8 };
	CK_MECHANISM mech = { CKM_AES_GCM, &params, sizeof(params) };
	struct sk_secret *room;
	int r;

	if (encrypt)
		return crypt_once(p11, &mech, key, true, in, in_len, out, in_len + GCM_TAG_LEN,
				  in_len + GCM_TAG_LEN, "AES-GCM encrypt");
	if (in_len < GCM_TAG_LEN)
		return -EINVAL;
	/* Modules want room for the tag too (SoftHSM2 says CKR_BUFFER_TOO_SMALL otherwise). */
	room = sk_secret_new(in_len);
	if (!room)
		return -ENOMEM;
	/*
	 * A tag that does not verify is CKR_ENCRYPTED_DATA_INVALID by the
	 * standard; SoftHSM2 2.6 says CKR_GENERAL_ERROR, so crypt_once counts that too.
	 */
	r = crypt_once(p11, &mech, key, false, in, in_len, room->data, in_len,
		       in_len - GCM_TAG_LEN, "AES-GCM decrypt");
	if (!r)
		memcpy(out, room->data, in_len - GCM_TAG_LEN);
	sk_secret_free(room);
	return r;
}

int sk_p11_kwp(struct sk_p11 *p11, CK_OBJECT_HANDLE key, bool encrypt, const unsigned char *in,
	       size_t in_len, unsigned char *out, size_t out_cap, size_t out_len)
{
	CK_MECHANISM mech = { CKM_AES_KEY_WRAP_KWP, NULL, 0 };

	return crypt_once(p11, &mech, key, encrypt, in, in_len, out, out_cap, out_len,
			  encrypt ? "AES-KWP encrypt" : "AES-KWP decrypt");
}

/*
 * In the slot's mechanism list first: tpm2-pkcs11 logs an ERROR line on
 * stderr for every C_GetMechanismInfo of a mechanism it lacks.
 */
static bool listed(struct sk_p11 *p11, CK_MECHANISM_TYPE type)
{
	CK_MECHANISM_TYPE list[256];
	CK_ULONG n = sizeof(list) / sizeof(list[0]);

	if (p11->module->C_GetMechanismList(p11->slot, list, &n) != CKR_OK)
		return true; /* a longer list, or none: let C_GetMechanismInfo decide */
	for (CK_ULONG i = 0; i < n; i++)
		if (list[i] == type)
			return true;
	return false;
}

bool sk_p11_has_mechanism(struct sk_p11 *p11, CK_MECHANISM_TYPE type, CK_FLAGS flags)
{
	CK_MECHANISM_INFO info;

	return listed(p11, type) &&
	       p11->module->C_GetMechanismInfo(p11->slot, type, &info) == CKR_OK &&
	       (info.flags & flags) == flags;
}

/*
 * Some tokens keep no token data objects (NSS's softoken and several HSMs
 * refuse CKO_DATA with CKA_TOKEN, and make every token key sensitive);
 * there the value is the CKA_ID of a generic secret that can do nothing
 * (no encrypt, sign, wrap or derive).
 */
static const struct {
	CK_OBJECT_CLASS class;
	CK_ATTRIBUTE_TYPE holder;
} data_kinds[] = { { CKO_DATA, CKA_VALUE }, { CKO_SECRET_KEY, CKA_ID } };

/* The object @label of either kind: 0 and its value's attribute type. */
static int find_data(struct sk_p11 *p11, const char *label, CK_OBJECT_HANDLE *obj,
		     CK_ATTRIBUTE_TYPE *holder)
{
	int r = -ENOENT;

	for (size_t i = 0; r == -ENOENT && i < 2; i++) {
		r = one_object(p11, data_kinds[i].class, label, obj);
		*holder = data_kinds[i].holder;
	}
	return r;
}

int sk_p11_data_get(struct sk_p11 *p11, const char *label, char *value, size_t size)
{
	CK_OBJECT_HANDLE obj;
	CK_ATTRIBUTE attr = { CKA_VALUE, value, size - 1 };
	int r = find_data(p11, label, &obj, &attr.type);
	CK_RV rv;

	if (r < 0)
		return r;
	rv = p11->module->C_GetAttributeValue(p11->session, obj, &attr, 1);
	if (rv != CKR_OK)
		return sk_p11_fail(p11, rv, "reading a data object");
	value[attr.ulValueLen] = '\0';
	return 0;
}

static CK_RV create_data(struct sk_p11 *p11, const char *label, const char *value)
{
	CK_OBJECT_CLASS class = CKO_DATA;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &class, sizeof(class) },
		{ CKA_LABEL, (void *)label, strlen(label) },
		{ CKA_VALUE, (void *)value, strlen(value) },
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_PRIVATE, &yes, sizeof(yes) },
		{ CKA_MODIFIABLE, &yes, sizeof(yes) },
		{ CKA_APPLICATION, DATA_APPLICATION, strlen(DATA_APPLICATION) },
	};
	CK_OBJECT_HANDLE obj;

	return p11->module->C_CreateObject(p11->session, tmpl, sizeof(tmpl) / sizeof(tmpl[0]),
					   &obj);
}

static CK_RV create_data_key(struct sk_p11 *p11, const char *label, const char *value)
{
	CK_OBJECT_CLASS class = CKO_SECRET_KEY;
	CK_KEY_TYPE type = CKK_GENERIC_SECRET;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &class, sizeof(class) },
		{ CKA_LABEL, (void *)label, strlen(label) },
		{ CKA_ID, (void *)value, strlen(value) },
		{ CKA_VALUE, (void *)value, strlen(value) },
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_PRIVATE, &yes, sizeof(yes) },
		{ CKA_MODIFIABLE, &yes, sizeof(yes) },
		{ CKA_KEY_TYPE, &type, sizeof(type) },
		{ CKA_ENCRYPT, &no, sizeof(no) },
		{ CKA_DECRYPT, &no, sizeof(no) },
		{ CKA_WRAP, &no, sizeof(no) },
		{ CKA_UNWRAP, &no, sizeof(no) },
		{ CKA_DERIVE, &no, sizeof(no) },
		{ CKA_SIGN, &no, sizeof(no) },
		{ CKA_VERIFY, &no, sizeof(no) },
	};
	CK_OBJECT_HANDLE obj;

	return p11->module->C_CreateObject(p11->session, tmpl, sizeof(tmpl) / sizeof(tmpl[0]),
					   &obj);
}

int sk_p11_data_put(struct sk_p11 *p11, const char *label, const char *value)
{
	CK_ATTRIBUTE attr = { CKA_VALUE, (void *)value, strlen(value) };
	CK_OBJECT_HANDLE obj;
	int r = find_data(p11, label, &obj, &attr.type);
	CK_RV rv;

	if (!r) {
		rv = p11->module->C_SetAttributeValue(p11->session, obj, &attr, 1);
		return rv == CKR_OK ? 0 : sk_p11_fail(p11, rv, "writing a data object");
	}
	if (r != -ENOENT)
		return r;
	rv = create_data(p11, label, value);
	if (rv == CKR_ATTRIBUTE_VALUE_INVALID || rv == CKR_TEMPLATE_INCONSISTENT ||
	    rv == CKR_ATTRIBUTE_TYPE_INVALID)
		rv = create_data_key(p11, label, value);
	return rv == CKR_OK ? 0 : sk_p11_fail(p11, rv, "creating a data object");
}
