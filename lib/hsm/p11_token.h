/*
 * Reaching one PKCS#11 token: the module (a module-path, or the modules
 * p11-kit is configured with), the token an RFC 7512 URI names, a
 * read-write session and the user login.
 *
 *   pkcs11:token=securekey;serial=...?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/securekey/hsm.pin
 *
 * The PIN comes from pin-source (a 0600 file, "file:" or a path, or
 * "securekey-conf:PATH" for [hsm] pin in a 0600 securekey.conf), else from
 * the terminal; it is never part of the URI (pin-value is refused).
 */
#ifndef SECUREKEY_P11_TOKEN_H
#define SECUREKEY_P11_TOKEN_H

#include <stdbool.h>

#include <p11-kit/pkcs11.h>

#include "hsm.h"

#define SK_P11_LABEL_LEN 32
#define SK_P11_SERIAL_LEN 16
#define SK_P11_PIN_MAX SK_HSM_PIN_MAX

/*
 * What the token's master keys are (p11_seal.h): AES-256 keys used with
 * AES-GCM or AES-KWP, or RSA-2048 key pairs used with RSA-OAEP. AUTO:
 * the token offers none of them.
 */
enum sk_p11_kind {
	SK_P11_KIND_AUTO,
	SK_P11_KIND_AES_GCM,
	SK_P11_KIND_AES_KWP,
	SK_P11_KIND_RSA_OAEP,
};

struct sk_p11 {
	CK_FUNCTION_LIST *module;
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE session;
	char module_path[256];
	char label[SK_P11_LABEL_LEN + 1];
	char serial[SK_P11_SERIAL_LEN + 1];
	char model[17];
	char manufacturer[33];
	enum sk_p11_kind kind; /* what new master keys are, sk_p11_kind_pick */
	bool kind_configured;  /* [hsm] master_key_kind chose it, not the mechanisms */
};

/* True when @location is a PKCS#11 URI (it starts with "pkcs11:"). */
bool sk_p11_is_uri(const char *location);

/*
 * A module-path is code run in root's processes (the cryptsetup plugin too):
 * refuse a file that others than root or the caller may change (its
 * directories are not checked). A missing one is left to the loader.
 */
int sk_p11_module_check(const char *path);

/* Load, find the one matching token, open a session and log in. */
int sk_p11_open(const char *uri, struct sk_p11 **out);
void sk_p11_close(struct sk_p11 *p11);

/*
 * The lock every securekey process takes around its PKCS#11 calls
 * ($SECUREKEY_RUN_DIR/pkcs11.lock): shared to read, exclusive to change
 * and to log in. SoftHSM2 rewrites its token file at every login and its
 * file store is not safe against a process that writes while another reads.
 */
int sk_p11_lock(bool exclusive, const char *what);

/* Log "PKCS#11 token LABEL: @what failed: REASON"; returns an -errno for @rv. */
int sk_p11_fail(const struct sk_p11 *p11, CK_RV rv, const char *what);

#endif
