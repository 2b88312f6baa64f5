/*
 * A PKCS#11 module for tests that forwards to a real one and hides some of
 * its mechanisms, so that securekey's choices for a module without them can
 * be run on SoftHSM2 or NSS's softoken:
 *
 *   SK_P11SHIM_MODULE=/usr/lib/.../libsoftokn3.so   the real module
 *   SK_P11SHIM_HIDE=0x1087,0x364                    mechanisms it lacks
 *   SK_P11SHIM_INIT_ARGS="configdir='sql:/tmp/x' ..."  C_Initialize's
 *                                                   pReserved (NSS needs it)
 *   SK_P11SHIM_XOR=1                                offer CKM_XOR_BASE_AND_DATA
 *
 * Hidden mechanisms are left out of C_GetMechanismList and refused by
 * C_GetMechanismInfo, C_EncryptInit, C_DecryptInit, C_SignInit,
 * C_VerifyInit and C_DeriveKey.
 *
 * No module at hand has CKM_XOR_BASE_AND_DATA on a token that keeps
 * objects (SoftHSM2 lacks it, NSS has it only in its session-only slot), so
 * with SK_P11SHIM_XOR the shim does it itself: secret keys created through
 * it are kept readable (not sensitive) in the real token, and the XOR is
 * an import of base ^ data with the caller's template. What such a test
 * checks is securekey's use of the mechanism, not the keys' protection.
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/pkcs11.h>

#define MAX_HIDDEN 16

static CK_FUNCTION_LIST shim, *real;
static CK_MECHANISM_TYPE hidden[MAX_HIDDEN];
static size_t n_hidden;

static int xor_offered(void)
{
	const char *flag = getenv("SK_P11SHIM_XOR");

	return flag && !strcmp(flag, "1");
}

static int is_hidden(CK_MECHANISM_TYPE type)
{
	for (size_t i = 0; i < n_hidden; i++)
		if (hidden[i] == type)
			return 1;
	return 0;
}

static CK_RV shim_initialize(void *args)
{
	CK_C_INITIALIZE_ARGS copy = { 0 };
	const char *reserved = getenv("SK_P11SHIM_INIT_ARGS");

	if (!reserved)
		return real->C_Initialize(args);
	if (args)
		copy = *(CK_C_INITIALIZE_ARGS *)args;
	else
		copy.flags = CKF_OS_LOCKING_OK;
	copy.pReserved = (void *)reserved;
	return real->C_Initialize(&copy);
}

static CK_RV shim_mechanism_list(CK_SLOT_ID slot, CK_MECHANISM_TYPE *list, CK_ULONG *count)
{
	CK_MECHANISM_TYPE all[512];
	CK_ULONG n = 512, kept = 0;
	CK_RV rv = real->C_GetMechanismList(slot, all, &n);

	if (rv != CKR_OK)
		return rv;
	for (CK_ULONG i = 0; i < n; i++) {
		if (is_hidden(all[i]))
			continue;
		if (list && kept < *count)
			list[kept] = all[i];
		kept++;
	}
	if (xor_offered()) {
		if (list && kept < *count)
			list[kept] = CKM_XOR_BASE_AND_DATA;
		kept++;
	}
	rv = list && kept > *count ? CKR_BUFFER_TOO_SMALL : CKR_OK;
	*count = kept;
	return rv;
}

static CK_RV shim_mechanism_info(CK_SLOT_ID slot, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO *info)
{
	if (type == CKM_XOR_BASE_AND_DATA && xor_offered()) {
		*info = (CK_MECHANISM_INFO){ 1, 512, CKF_DERIVE };
		return CKR_OK;
	}
	return is_hidden(type) ? CKR_MECHANISM_INVALID
			       : real->C_GetMechanismInfo(slot, type, info);
}

#define MAX_ATTRS 32

/*
 * @tmpl without CKA_VALUE_LEN, with @value (if any) as CKA_VALUE and the
 * key kept readable in the real token; returns the count, 0 when too long.
 */
static CK_ULONG readable_template(const CK_ATTRIBUTE *tmpl, CK_ULONG n, CK_ATTRIBUTE *out,
				  CK_BYTE *value, CK_ULONG value_len)
{
	static CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ULONG m = 0;

	for (CK_ULONG i = 0; i < n && m < MAX_ATTRS - 3; i++) {
		if (tmpl[i].type == CKA_VALUE_LEN || tmpl[i].type == CKA_SENSITIVE ||
		    tmpl[i].type == CKA_EXTRACTABLE || (value && tmpl[i].type == CKA_VALUE))
			continue;
		out[m++] = tmpl[i];
	}
	if (n > MAX_ATTRS - 3)
		return 0;
	out[m++] = (CK_ATTRIBUTE){ CKA_SENSITIVE, &no, sizeof(no) };
	out[m++] = (CK_ATTRIBUTE){ CKA_EXTRACTABLE, &yes, sizeof(yes) };
	if (value)
		out[m++] = (CK_ATTRIBUTE){ CKA_VALUE, value, value_len };
	return m;
}

static int is_secret_key(const CK_ATTRIBUTE *tmpl, CK_ULONG n)
{
	for (CK_ULONG i = 0; i < n; i++)
		if (tmpl[i].type == CKA_CLASS && tmpl[i].ulValueLen == sizeof(CK_OBJECT_CLASS))
			return *(CK_OBJECT_CLASS *)tmpl[i].pValue == CKO_SECRET_KEY;
	return 0;
}

static CK_RV shim_create(CK_SESSION_HANDLE s, CK_ATTRIBUTE *tmpl, CK_ULONG n,
			 CK_OBJECT_HANDLE *obj)
{
	CK_ATTRIBUTE readable[MAX_ATTRS];
	CK_ULONG m;

	if (!xor_offered() || !is_secret_key(tmpl, n))
		return real->C_CreateObject(s, tmpl, n, obj);
	m = readable_template(tmpl, n, readable, NULL, 0);
	return m ? real->C_CreateObject(s, readable, m, obj) : CKR_TEMPLATE_INCONSISTENT;
}

/* CKM_XOR_BASE_AND_DATA as PKCS#11 defines it, for a base that allows CKA_DERIVE. */
static CK_RV xor_derive(CK_SESSION_HANDLE s, CK_MECHANISM *m, CK_OBJECT_HANDLE base,
			CK_ATTRIBUTE *tmpl, CK_ULONG n, CK_OBJECT_HANDLE *key)
{
	CK_KEY_DERIVATION_STRING_DATA *data = m->pParameter;
	CK_BYTE value[64];
	CK_BBOOL derive = CK_FALSE;
	CK_ATTRIBUTE attrs[] = { { CKA_VALUE, value, sizeof(value) },
				 { CKA_DERIVE, &derive, sizeof(derive) } };
	CK_ATTRIBUTE readable[MAX_ATTRS];
	CK_ULONG len, count;
	CK_RV rv;

	if (!data || m->ulParameterLen != sizeof(*data))
		return CKR_MECHANISM_PARAM_INVALID;
	rv = real->C_GetAttributeValue(s, base, attrs, 2);
	if (rv != CKR_OK)
		return rv;
	if (derive != CK_TRUE)
		return CKR_KEY_FUNCTION_NOT_PERMITTED;
	len = attrs[0].ulValueLen < data->ulLen ? attrs[0].ulValueLen : data->ulLen;
	for (CK_ULONG i = 0; i < len; i++)
		value[i] ^= data->pData[i];
	count = readable_template(tmpl, n, readable, value, len);
	rv = count ? real->C_CreateObject(s, readable, count, key) : CKR_TEMPLATE_INCONSISTENT;
	memset(value, 0, sizeof(value));
	return rv;
}

#define GUARDED(name, call)                                                              \
	static CK_RV shim_##name(CK_SESSION_HANDLE s, CK_MECHANISM *m, CK_OBJECT_HANDLE k) \
	{                                                                                \
		return m && is_hidden(m->mechanism) ? CKR_MECHANISM_INVALID : call(s, m, k);  \
	}
GUARDED(encrypt_init, real->C_EncryptInit)
GUARDED(decrypt_init, real->C_DecryptInit)
GUARDED(sign_init, real->C_SignInit)
GUARDED(verify_init, real->C_VerifyInit)

static CK_RV shim_derive(CK_SESSION_HANDLE s, CK_MECHANISM *m, CK_OBJECT_HANDLE base,
			 CK_ATTRIBUTE *tmpl, CK_ULONG n, CK_OBJECT_HANDLE *key)
{
	if (m && m->mechanism == CKM_XOR_BASE_AND_DATA && xor_offered())
		return xor_derive(s, m, base, tmpl, n, key);
	return m && is_hidden(m->mechanism) ? CKR_MECHANISM_INVALID
					    : real->C_DeriveKey(s, m, base, tmpl, n, key);
}

static void read_hidden(void)
{
	const char *text = getenv("SK_P11SHIM_HIDE");

	for (char *end; text && *text && n_hidden < MAX_HIDDEN; text = *end ? end + 1 : end) {
		hidden[n_hidden++] = strtoul(text, &end, 0);
		if (end == text)
			break;
	}
}

CK_RV C_GetFunctionList(CK_FUNCTION_LIST **list)
{
	const char *path = getenv("SK_P11SHIM_MODULE");
	CK_C_GetFunctionList get;
	void *module;

	if (!real) {
		module = path ? dlopen(path, RTLD_NOW | RTLD_LOCAL) : NULL;
		get = module ? (CK_C_GetFunctionList)dlsym(module, "C_GetFunctionList") : NULL;
		if (!get || get(&real) != CKR_OK)
			return CKR_GENERAL_ERROR;
		read_hidden();
		shim = *real;
		shim.C_Initialize = shim_initialize;
		shim.C_GetMechanismList = shim_mechanism_list;
		shim.C_GetMechanismInfo = shim_mechanism_info;
		shim.C_EncryptInit = shim_encrypt_init;
		shim.C_DecryptInit = shim_decrypt_init;
		shim.C_SignInit = shim_sign_init;
		shim.C_VerifyInit = shim_verify_init;
		shim.C_DeriveKey = shim_derive;
		shim.C_CreateObject = shim_create;
	}
	*list = &shim;
	return CKR_OK;
}
