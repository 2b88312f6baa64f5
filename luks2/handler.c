#include "config.h"

#include "handler.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"
#include "hsm.h"
#include "keyslot.h"
#include "keystate.h"
#include "kms.h"
#include "log.h"
#include "paths.h"
#include "token.h"

/* The HSM directory the CLI chose with --hsm-dir; NULL in the plugin. */
static const char *hsm_dir_override;
/* Whether a token PIN may be asked on the terminal (securekey-cryptsetup). */
static bool pin_prompt;

/*
 * Route securekey's messages into libcryptsetup's log for the call's device.
 * crypt_logf ends error and debug messages with a newline itself, but not
 * normal ones.
 */
static void crypt_sink(enum sk_log_level level, const char *msg, void *ctx)
{
	int crypt_level = level == SK_LOG_ERROR	 ? CRYPT_LOG_ERROR
			  : level == SK_LOG_WARN ? CRYPT_LOG_NORMAL
						 : CRYPT_LOG_DEBUG;

	crypt_logf(ctx, crypt_level, "securekey: %s%s", msg,
		   crypt_level == CRYPT_LOG_NORMAL ? "\n" : "");
}

struct log_scope {
	enum sk_log_level saved_level;
};

static void log_enter(struct crypt_device *cd, struct log_scope *scope)
{
	scope->saved_level = sk_log_get_level();
	sk_log_set_level(SK_LOG_DEBUG); /* libcryptsetup filters by its own --debug */
	sk_log_set_sink(crypt_sink, cd);
}

static void log_leave(struct log_scope *scope)
{
	sk_log_set_sink(NULL, NULL);
	sk_log_set_level(scope->saved_level);
}

static int open_hsm(const struct sk_config *cfg, const struct sk_token *token,
		    struct sk_hsm **hsm)
{
	char *dir = sk_path_hsm_dir_or(hsm_dir_override, cfg->hsm_location);
	int r = dir ? sk_hsm_open(dir, &token->apqns, hsm) : -ENOMEM;

	free(dir);
	return r;
}

/* @vk must be this device's volume key; freed and refused when it is not. */
static int verify_volume_key(struct crypt_device *cd, const char *what, struct sk_secret **vk)
{
	if (crypt_volume_key_verify(cd, (const char *)(*vk)->data, (*vk)->len) >= 0)
		return 0;
	sk_err("%s: the %s does not hold this device's volume key", crypt_get_device_name(cd),
	       what);
	sk_secret_free(*vk);
	*vk = NULL;
	return -EPERM;
}

/* The last resort of the open order; read-only: the header is never written here. */
static int fetch_from_kms(struct crypt_device *cd, const struct sk_config *cfg,
			  const struct sk_token *token, const char *why, struct sk_secret **vk)
{
	int r;

	sk_info("%s: %s; fetching volume key %s from the KMS", crypt_get_device_name(cd), why,
		token->kms.key_id);
	r = sk_kms_fetch_isolated(cfg, hsm_dir_override, crypt_get_device_name(cd), &token->kms,
				  vk);
	if (!r)
		r = verify_volume_key(cd, "key fetched from the KMS", vk);
	if (!r)
		sk_info("%s: volume key fetched from the KMS; run 'securekey-cryptsetup refresh' "
			"to store it under the CURRENT master key",
			crypt_get_device_name(cd));
	return r;
}

/* Say so when the blob was made by the other HSM backend than the configured one. */
static bool other_backend(struct crypt_device *cd, struct sk_hsm *hsm,
			  const struct sk_token_key *key)
{
	struct sk_blob_header hdr;

	if (sk_blob_parse(key->blob, key->blob_len, &hdr) < 0 ||
	    !strcmp(sk_blob_backend_name(hdr.backend), sk_hsm_backend(hsm)))
		return false;
	sk_err("%s: the secure key was enciphered by the %s HSM backend, and the HSM configured "
	       "here is %s; select that backend in [hsm] of securekey.conf",
	       crypt_get_device_name(cd), sk_blob_backend_name(hdr.backend), sk_hsm_backend(hsm));
	return true;
}

static int unwrap_verified(struct crypt_device *cd, struct sk_hsm *hsm,
			   const struct sk_token_key *key, const char *path, struct sk_secret **vk)
{
	int r = sk_hsm_unwrap(hsm, key->blob, key->blob_len, vk, NULL);

	if (r < 0)
		sk_err("%s: the %s does not unwrap (see above)", crypt_get_device_name(cd), path);
	else
		r = verify_volume_key(cd, path, vk);
	if (!r)
		sk_verbose("unlocking with the %s", path);
	return r;
}

/*
 * The key that a register holds besides @first, for when @first fails: a
 * damaged blob or a wrong key must not lock out a device whose other key
 * still opens it. NULL when there is none.
 */
static const struct sk_token_key *second_choice(const struct sk_token *token,
						 const struct sk_key_state *st,
						 const struct sk_token_key *first, const char **path)
{
	if (first == &token->current && st->staged_found) {
		*path = sk_key_path(true, st->staged_reg);
		return &token->staged;
	}
	if (first == &token->staged && st->current_found) {
		*path = sk_key_path(false, st->current_reg);
		return &token->current;
	}
	return NULL;
}

/*
 * The HSM's part of the open order. Returns 0 with @vk, or -errno with @why
 * saying why the KMS is the way left.
 */
static int unwrap_with_hsm(struct crypt_device *cd, const struct sk_config *cfg,
			   const struct sk_token *token, struct sk_secret **vk, const char **why)
{
	const struct sk_token_key *first, *second;
	const char *path = NULL, *path2 = NULL;
	struct sk_hsm *hsm = NULL;
	struct sk_key_state st;
	int r = open_hsm(cfg, token, &hsm);

	*why = "the HSM cannot be used (see above)";
	if (!r)
		r = sk_key_state_get(hsm, token, &st);
	if (r < 0)
		goto out;
	first = sk_key_state_pick(token, &st, &path);
	if (!first) {
		*why = "no register holds the secure key's master key";
		if (!token->has_kms && !other_backend(cd, hsm, &token->current))
			sk_err("%s: the secure key is enciphered with a master key in no register "
			       "of its APQNs",
			       crypt_get_device_name(cd));
		r = -EPERM;
		goto out;
	}
	r = unwrap_verified(cd, hsm, first, path, vk);
	second = r < 0 ? second_choice(token, &st, first, &path2) : NULL;
	if (second) {
		r = unwrap_verified(cd, hsm, second, path2, vk);
		if (!r)
			sk_warn("%s: unlocked with the %s instead; check the token with "
				"'securekey-cryptsetup validate'",
				crypt_get_device_name(cd), path2);
	}
	*why = "no secure key of the token unlocks the device";
out:
	sk_hsm_close(hsm);
	return r;
}

static int unwrap_token(struct crypt_device *cd, const struct sk_token *token,
			struct sk_secret **vk)
{
	struct sk_config cfg;
	const char *why = NULL;
	int r = sk_config_load(&cfg);

	if (r < 0)
		return r;
	r = unwrap_with_hsm(cd, &cfg, token, vk, &why);
	if (r < 0 && r != -ENOMEM && token->has_kms) {
		int hsm_r = r;

		r = fetch_from_kms(cd, &cfg, token, why, vk);
		/* the KMS did not help either: the PIN may */
		if (r < 0 && r != -ENOMEM && hsm_r == -ENOANO)
			r = -ENOANO;
	}
	return r;
}

/*
 * @pin: the token PIN cryptsetup asked for, or NULL. In the plugin the
 * terminal is never asked: without a PIN source in the configuration the
 * HSM login fails with -ENOANO, which makes cryptsetup and
 * systemd-cryptsetup ask for the token PIN and call open_pin with it.
 */
static int open_with(struct crypt_device *cd, int token_id, const struct sk_secret *pin,
		     char **buffer, size_t *buffer_len)
{
	struct sk_secret *vk = NULL, *pass = NULL;
	struct log_scope scope;
	struct sk_token token;
	const char *json;
	int r;

	sk_hsm_set_login(pin, !pin && pin_prompt);
	log_enter(cd, &scope);
	r = crypt_token_json_get(cd, token_id, &json);
	if (r >= 0)
		r = sk_token_parse(json, &token);
	if (r >= 0) {
		r = unwrap_token(cd, &token, &vk);
		sk_token_free(&token);
	}
	if (r >= 0)
		r = sk_keyslot_passphrase(vk, &pass);
	sk_secret_free(vk);
	log_leave(&scope);
	sk_hsm_set_login(NULL, true);
	if (r < 0)
		return r == -ENOMEM || r == -ENOANO ? r : -EPERM;
	/* The passphrase stays in locked memory; buffer_free finds its descriptor. */
	*buffer = (char *)pass->data;
	*buffer_len = pass->len;
	return 0;
}

int sk_handler_open(struct crypt_device *cd, int token_id, char **buffer, size_t *buffer_len,
		    void *usrptr)
{
	(void)usrptr;
	return open_with(cd, token_id, NULL, buffer, buffer_len);
}

int sk_handler_open_pin(struct crypt_device *cd, int token_id, const char *pin, size_t pin_size,
			char **buffer, size_t *buffer_len, void *usrptr)
{
	struct sk_secret *secret = NULL;
	int r;

	(void)usrptr;
	if (pin && pin_size) {
		secret = sk_secret_dup(pin, pin_size);
		if (!secret)
			return -ENOMEM;
	}
	r = open_with(cd, token_id, secret, buffer, buffer_len);
	sk_secret_free(secret);
	return r;
}

void sk_handler_buffer_free(void *buffer, size_t buffer_len)
{
	(void)buffer_len;
	if (buffer)
		sk_secret_free((struct sk_secret *)buffer - 1);
}

int sk_handler_validate(struct crypt_device *cd, const char *json)
{
	struct log_scope scope;
	struct sk_token token;
	int r;

	log_enter(cd, &scope);
	r = sk_token_parse(json, &token);
	if (!r)
		sk_token_free(&token);
	log_leave(&scope);
	return r;
}

static void dump_key(struct crypt_device *cd, const char *label, const struct sk_token_key *key)
{
	char hex[SK_MKVP_HEX_LEN + 1];

	sk_mkvp_to_hex(key->mkvp, hex);
	/* Aligned with libcryptsetup's "Keyslot:    "; a long label keeps a space. */
	crypt_logf(cd, CRYPT_LOG_NORMAL, "\t%-11s %s\n", label, hex);
}

void sk_handler_dump(struct crypt_device *cd, const char *json)
{
	char apqns[SK_APQN_MAX * (SK_APQN_TEXT_LEN + 1) + 1], name[16];
	struct log_scope scope;
	struct sk_token token;

	log_enter(cd, &scope);
	if (sk_token_parse(json, &token) < 0) {
		log_leave(&scope);
		return;
	}
	sk_apqn_list_format(&token.apqns, apqns, sizeof(apqns));
	crypt_logf(cd, CRYPT_LOG_NORMAL, "\tKey type:   %s\n", sk_key_spec_name(&token.key, name));
	crypt_logf(cd, CRYPT_LOG_NORMAL, "\tAPQNs:      %s\n", apqns);
	dump_key(cd, "MKVP:", &token.current);
	if (token.has_staged)
		dump_key(cd, "Staged MKVP:", &token.staged);
	if (token.has_kms) {
		/* Header text, to a terminal: escaped (escape.h). */
		char text[SK_ESCAPE_SIZE(SK_TOKEN_KMS_TEXT_MAX)];

		sk_escape(text, sizeof(text), token.kms.key_id, 0);
		crypt_logf(cd, CRYPT_LOG_NORMAL, "\tKMS key:    %s\n", text);
		for (size_t i = 0; i < token.kms.n_servers; i++) {
			sk_escape(text, sizeof(text), token.kms.servers[i], 0);
			crypt_logf(cd, CRYPT_LOG_NORMAL, "\tKMS server: %s\n", text);
		}
	} else {
		crypt_logf(cd, CRYPT_LOG_NORMAL, "\tKMS:        none\n");
	}
	sk_token_free(&token);
	log_leave(&scope);
}

void sk_handler_set_hsm_dir(const char *dir)
{
	hsm_dir_override = dir;
}

void sk_handler_allow_pin_prompt(bool allow)
{
	pin_prompt = allow;
}

int sk_handler_register(void)
{
	static const crypt_token_handler handler = {
		.name = SK_TOKEN_TYPE,
		.open = sk_handler_open,
		.buffer_free = sk_handler_buffer_free,
		.validate = sk_handler_validate,
		.dump = sk_handler_dump,
	};
	int r = crypt_token_register(&handler);

	return r == -EEXIST ? 0 : r;
}
