#include "config.h"

#include "p11_token.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "hsm_backend.h"
#include "lockfile.h"
#include "log.h"
#include "p11kit_dl.h"
#include "paths.h"
#include "secfile.h"
#include "secmem.h"
#include "ttyprompt.h"

#define MAX_SLOTS 64

/* What the search for the token found. */
struct p11_match {
	CK_FUNCTION_LIST *module;
	CK_SLOT_ID slot;
	CK_TOKEN_INFO info;
	unsigned count;
	char seen[256]; /* labels of the tokens that did not match, for the message */
};

struct p11_private {
	struct sk_p11 pub;
	CK_FUNCTION_LIST **registered; /* p11-kit's modules, or NULL */
	CK_FUNCTION_LIST *loaded;      /* the module-path module, or NULL */
};

int sk_p11_lock(bool exclusive, const char *what)
{
	char *path;
	int fd;

	if (sk_path_make_run_dir() < 0)
		return -EIO;
	path = sk_path_join(sk_path_run_dir(), "pkcs11.lock");
	if (!path)
		return -ENOMEM;
	fd = sk_lock_acquire(path, exclusive, what);
	free(path);
	return fd;
}

bool sk_p11_is_uri(const char *location)
{
	return location && !strncmp(location, "pkcs11:", 7);
}

static int errno_of(CK_RV rv)
{
	switch (rv) {
	case CKR_PIN_INCORRECT:
	case CKR_PIN_LOCKED:
	case CKR_PIN_EXPIRED:
		return -EACCES;
	case CKR_TOKEN_NOT_PRESENT:
	case CKR_DEVICE_REMOVED:
	case CKR_SLOT_ID_INVALID:
		return -ENODEV;
	case CKR_MECHANISM_INVALID:
	case CKR_FUNCTION_NOT_SUPPORTED:
		return -EOPNOTSUPP;
	case CKR_HOST_MEMORY:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

int sk_p11_fail(const struct sk_p11 *p11, CK_RV rv, const char *what)
{
	sk_err("PKCS#11 token '%s': %s failed: %s", p11->label, what, sym_p11_kit_strerror(rv));
	return errno_of(rv);
}

/* A blank-padded PKCS#11 text field as a C string. */
static void field_text(char *out, const unsigned char *field, size_t len)
{
	size_t n = sym_p11_kit_space_strlen(field, len);

	memcpy(out, field, n);
	out[n] = '\0';
}

static void note_seen(struct p11_match *m, const CK_TOKEN_INFO *info)
{
	char label[SK_P11_LABEL_LEN + 1];
	size_t used = strlen(m->seen);

	field_text(label, info->label, sizeof(info->label));
	snprintf(m->seen + used, sizeof(m->seen) - used, "%s'%s'", used ? ", " : "", label);
}

static void search_module(CK_FUNCTION_LIST *module, P11KitUri *uri, struct p11_match *m)
{
	CK_SLOT_ID slots[MAX_SLOTS];
	CK_ULONG n = MAX_SLOTS;
	CK_TOKEN_INFO info;
	CK_INFO minfo;

	if (module->C_GetInfo(&minfo) != CKR_OK || !sym_p11_kit_uri_match_module_info(uri, &minfo))
		return;
	if (module->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK)
		return;
	for (CK_ULONG i = 0; i < n; i++) {
		if (module->C_GetTokenInfo(slots[i], &info) != CKR_OK)
			continue;
		if (!sym_p11_kit_uri_match_token_info(uri, &info)) {
			if (info.flags & CKF_TOKEN_INITIALIZED)
				note_seen(m, &info);
			continue;
		}
		if (!m->count++) {
			m->module = module;
			m->slot = slots[i];
			m->info = info;
		}
	}
}

int sk_p11_module_check(const char *path)
{
	if (access(path, F_OK) < 0 && errno == ENOENT)
		return 0;
	return sk_trusted_file_check(-1, path, "PKCS#11 module");
}

static int load_modules(struct p11_private *p, P11KitUri *uri)
{
	const char *path = sym_p11_kit_uri_get_module_path(uri);
	CK_RV rv;

	/* for good, even when loading fails: the module may have started threads (hsm.h) */
	if (!path) {
		sk_hsm_note_module_load();
		p->registered = sym_p11_kit_modules_load_and_initialize(0);
		if (!p->registered) {
			sk_err("p11-kit has no PKCS#11 modules to load: %s; name one with "
			       "module-path= in the URI",
			       sym_p11_kit_message() ? sym_p11_kit_message() : "none configured");
			return -ENOENT;
		}
		snprintf(p->pub.module_path, sizeof(p->pub.module_path), "p11-kit modules");
		return 0;
	}
	snprintf(p->pub.module_path, sizeof(p->pub.module_path), "%s", path);
	if (sk_p11_module_check(path) < 0)
		return -EACCES;
	sk_hsm_note_module_load();
	p->loaded = sym_p11_kit_module_load(path, 0);
	if (!p->loaded) {
		sk_err("cannot load PKCS#11 module %s: %s", path,
		       sym_p11_kit_message() ? sym_p11_kit_message() : "unknown error");
		return -ENOENT;
	}
	rv = sym_p11_kit_module_initialize(p->loaded);
	if (rv != CKR_OK) {
		sk_err("cannot initialize PKCS#11 module %s: %s", path, sym_p11_kit_strerror(rv));
		sym_p11_kit_module_release(p->loaded);
		p->loaded = NULL;
		return -EIO;
	}
	return 0;
}

static int find_token(struct p11_private *p, P11KitUri *uri, const char *text,
		      struct p11_match *m)
{
	memset(m, 0, sizeof(*m));
	if (p->loaded)
		search_module(p->loaded, uri, m);
	for (size_t i = 0; p->registered && p->registered[i]; i++)
		search_module(p->registered[i], uri, m);
	if (m->count == 1)
		return 0;
	if (!m->count)
		sk_err("no PKCS#11 token matches %s in %s (tokens present: %s)", text,
		       p->pub.module_path, m->seen[0] ? m->seen : "none");
	else
		sk_err("%u PKCS#11 tokens match %s in %s; add serial= to the URI to name one",
		       m->count, text, p->pub.module_path);
	return m->count ? -EINVAL : -ENODEV;
}

static int read_pin(struct sk_p11 *p11, const char *source, struct sk_secret **pin)
{
	char prompt[SK_P11_LABEL_LEN + 40];
	int r;

	if (source && !strncmp(source, SK_CONFIG_PIN_SOURCE, strlen(SK_CONFIG_PIN_SOURCE)))
		return sk_config_read_pin(source + strlen(SK_CONFIG_PIN_SOURCE), SK_P11_PIN_MAX, pin);
	if (source) {
		if (!strncmp(source, "file:", 5))
			source += 5;
		if (source[0] != '/') {
			sk_err("pin-source %s of PKCS#11 token '%s' is not a file; use "
			       "pin-source=file:/PATH (a 0600 file)",
			       source, p11->label);
			return -EINVAL;
		}
		return sk_secfile_read_line(source, SK_P11_PIN_MAX, "PIN file", pin);
	}
	if (sk_hsm_login_pin()) {
		*pin = sk_secret_dup(sk_hsm_login_pin()->data, sk_hsm_login_pin()->len);
		return *pin ? 0 : -ENOMEM;
	}
	if (!sk_hsm_login_may_prompt()) {
		sk_info("PKCS#11 token '%s' needs its PIN and no pin source is configured; "
			"asking for the token PIN",
			p11->label);
		return -ENOANO;
	}
	snprintf(prompt, sizeof(prompt), "PIN for PKCS#11 token '%s'", p11->label);
	r = sk_tty_read_secret(prompt, SK_P11_PIN_MAX, pin);
	if (r == -ENOTTY)
		sk_err("no PIN for PKCS#11 token '%s': add pin-source=file:PATH to its URI, or "
		       "pin_file or pin to [hsm] of securekey.conf, or run on a terminal",
		       p11->label);
	return r;
}

static int login(struct sk_p11 *p11, const CK_TOKEN_INFO *info, const char *pin_source)
{
	struct sk_secret *pin = NULL;
	CK_RV rv;
	int r;

	if (info->flags & CKF_PROTECTED_AUTHENTICATION_PATH) {
		rv = p11->module->C_Login(p11->session, CKU_USER, NULL, 0);
	} else {
		r = read_pin(p11, pin_source, &pin);
		if (r < 0)
			return r;
		rv = p11->module->C_Login(p11->session, CKU_USER, pin->data, pin->len);
		sk_secret_free(pin);
	}
	if (rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN)
		return 0;
	if (rv == CKR_PIN_INCORRECT) {
		sk_err("wrong PIN for PKCS#11 token '%s'%s%s", p11->label,
		       pin_source ? " in " : "", pin_source ? pin_source : "");
		return -EACCES;
	}
	return sk_p11_fail(p11, rv, "login");
}

static int open_session(struct p11_private *p, const struct p11_match *m, const char *pin_source)
{
	struct sk_p11 *p11 = &p->pub;
	CK_RV rv;

	p11->module = m->module;
	p11->slot = m->slot;
	field_text(p11->label, m->info.label, sizeof(m->info.label));
	field_text(p11->serial, m->info.serialNumber, sizeof(m->info.serialNumber));
	field_text(p11->model, m->info.model, sizeof(m->info.model));
	field_text(p11->manufacturer, m->info.manufacturerID, sizeof(m->info.manufacturerID));
	if (!(m->info.flags & CKF_TOKEN_INITIALIZED) || !(m->info.flags & CKF_USER_PIN_INITIALIZED)) {
		sk_err("PKCS#11 token '%s' has no user PIN yet; initialize it with the token's "
		       "own tools (softhsm2-util --init-token, pkcs11-tool --init-pin)",
		       p11->label);
		return -ENODEV;
	}
	rv = p11->module->C_OpenSession(m->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL,
					&p11->session);
	if (rv != CKR_OK)
		return sk_p11_fail(p11, rv, "opening a session");
	return login(p11, &m->info, pin_source);
}

static int parse_uri(const char *text, P11KitUri **uri)
{
	int r;

	*uri = sym_p11_kit_uri_new();
	if (!*uri)
		return -ENOMEM;
	r = sym_p11_kit_uri_parse(text, P11_KIT_URI_FOR_ANY, *uri);
	if (r != P11_KIT_URI_OK) {
		sk_err("bad PKCS#11 URI %s: %s", text, sym_p11_kit_uri_message(r));
		return -EINVAL;
	}
	if (sym_p11_kit_uri_get_pin_value(*uri)) {
		sk_err("the PKCS#11 URI carries the PIN (pin-value); put it in a 0600 file and "
		       "name that with pin-source=file:PATH instead");
		return -EINVAL;
	}
	return 0;
}

int sk_p11_open(const char *text, struct sk_p11 **out)
{
	struct p11_private *p = calloc(1, sizeof(*p));
	struct p11_match match;
	P11KitUri *uri = NULL;
	int fd = -1, r = p ? sk_p11kit_load() : -ENOMEM;

	if (!r)
		r = parse_uri(text, &uri);
	if (!r)
		r = fd = sk_p11_lock(true, "the PKCS#11 tokens");
	if (r >= 0)
		r = load_modules(p, uri);
	if (!r)
		r = find_token(p, uri, text, &match);
	if (!r)
		r = open_session(p, &match, sym_p11_kit_uri_get_pin_source(uri));
	sk_lock_release(fd);
	if (uri)
		sym_p11_kit_uri_free(uri);
	if (r < 0) {
		sk_p11_close(p ? &p->pub : NULL);
		return r;
	}
	*out = &p->pub;
	return 0;
}

void sk_p11_close(struct sk_p11 *p11)
{
	struct p11_private *p = (struct p11_private *)p11;

	int fd;

	if (!p)
		return;
	fd = sk_p11_lock(true, "the PKCS#11 tokens");
	if (p11->session)
		p11->module->C_CloseSession(p11->session);
	if (p->loaded) {
		sym_p11_kit_module_finalize(p->loaded);
		sym_p11_kit_module_release(p->loaded);
	}
	if (p->registered)
		sym_p11_kit_modules_finalize_and_release(p->registered);
	sk_lock_release(fd);
	free(p);
}
