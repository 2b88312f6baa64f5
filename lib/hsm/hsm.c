#include "config.h"

#include "hsm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hsm_backend.h"
#include "log.h"
#include "p11_seal.h"
#include "p11_token.h"

static const char *const register_names[SK_REG_COUNT] = { "OLD", "CURRENT", "NEW" };

static const char *const state_names[] = {
	[SK_MK_EMPTY] = "empty",
	[SK_MK_VALID] = "valid",
	[SK_MK_PARTIAL] = "partial",
	[SK_MK_FULL_UNCOMMITTED] = "full-uncommitted",
	[SK_MK_COMMITTED] = "committed",
};

const char *sk_register_name(enum sk_mk_register reg)
{
	return (unsigned)reg < SK_REG_COUNT ? register_names[reg] : "?";
}

int sk_register_parse(const char *text, enum sk_mk_register *reg)
{
	for (int i = 0; i < SK_REG_COUNT; i++) {
		if (text && !strcasecmp(text, register_names[i])) {
			*reg = (enum sk_mk_register)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *sk_mk_state_name(enum sk_mk_state state)
{
	return (unsigned)state <= SK_MK_COMMITTED ? state_names[state] : "?";
}

static const struct sk_secret *login_pin;
static bool login_may_prompt = true;

void sk_hsm_set_login(const struct sk_secret *pin, bool may_prompt)
{
	login_pin = pin;
	login_may_prompt = may_prompt;
}

const struct sk_secret *sk_hsm_login_pin(void)
{
	return login_pin;
}

bool sk_hsm_login_may_prompt(void)
{
	return login_may_prompt;
}

/* HSMs open in this process: none may be when it forks workers (sk_hsm_open_count). */
static unsigned open_count;

unsigned sk_hsm_open_count(void)
{
	return open_count;
}

/* Set for good once a PKCS#11 module is loaded here (sk_hsm_module_loaded). */
static bool module_loaded;

bool sk_hsm_module_loaded(void)
{
	return module_loaded;
}

void sk_hsm_note_module_load(void)
{
	module_loaded = true;
}

int sk_hsm_open(const char *location, const struct sk_apqn_list *apqns, struct sk_hsm **out)
{
	struct sk_hsm *hsm = calloc(1, sizeof(*hsm));
	int r;

	if (!hsm)
		return -ENOMEM;
	open_count++;
	hsm->ops = sk_p11_is_uri(location) ? &sk_hsm_pkcs11_ops : &sk_hsm_soft_ops;
	hsm->location = strdup(location);
	if (apqns)
		hsm->apqns = *apqns;
	if (!hsm->location) {
		sk_hsm_close(hsm);
		return -ENOMEM;
	}
	r = hsm->ops->open(hsm);
	if (r < 0) {
		sk_hsm_close(hsm);
		return r;
	}
	*out = hsm;
	return 0;
}

void sk_hsm_close(struct sk_hsm *hsm)
{
	if (!hsm)
		return;
	if (hsm->ops->close)
		hsm->ops->close(hsm);
	open_count--;
	free(hsm->location);
	free(hsm);
}

const struct sk_apqn_list *sk_hsm_apqns(const struct sk_hsm *hsm)
{
	return &hsm->apqns;
}

const char *sk_hsm_backend(const struct sk_hsm *hsm)
{
	return hsm->ops->name;
}

int sk_hsm_check_key_parts(const char *location)
{
	enum sk_p11_kind kind;
	int r;

	if (!sk_p11_is_uri(location))
		return 0;
	r = sk_p11_kind_of_location(location, &kind);
	if (r < 0 || kind != SK_P11_KIND_RSA_OAEP)
		return r;
	sk_err("the PKCS#11 token of %s keeps RSA-OAEP master keys (master_key_kind = rsa-oaep), "
	       "key pairs generated inside it: key parts do not apply to them; use 'securekey hsm "
	       "generate-new' for NEW",
	       location);
	return -EOPNOTSUPP;
}

const char *sk_hsm_location(const struct sk_hsm *hsm)
{
	return hsm->location;
}

int sk_hsm_status(struct sk_hsm *hsm, struct sk_hsm_status *status)
{
	memset(status, 0, sizeof(*status));
	status->backend = hsm->ops->name;
	return hsm->ops->status(hsm, status);
}

static bool register_usable(enum sk_mk_register reg, enum sk_mk_state state)
{
	return reg == SK_REG_NEW ? state == SK_MK_COMMITTED : state == SK_MK_VALID;
}

bool sk_hsm_status_agree(const struct sk_hsm_status *status, enum sk_mk_register reg)
{
	const struct sk_register_status *first = &status->apqns[0].reg[reg % SK_REG_COUNT];

	if (!status->count || (unsigned)reg >= SK_REG_COUNT || !register_usable(reg, first->state))
		return false;
	for (size_t i = 1; i < status->count; i++) {
		const struct sk_register_status *r = &status->apqns[i].reg[reg];

		if (!register_usable(reg, r->state) || !sk_mkvp_equal(r->mkvp, first->mkvp))
			return false;
	}
	return true;
}

static int check_register(enum sk_mk_register reg)
{
	if ((unsigned)reg < SK_REG_COUNT)
		return 0;
	sk_err("internal error: no master-key register %d", (int)reg);
	return -EINVAL;
}

int sk_hsm_mkvp(struct sk_hsm *hsm, enum sk_mk_register reg, unsigned char mkvp[SK_MKVP_LEN])
{
	int r = check_register(reg);

	return r ? r : hsm->ops->mkvp(hsm, reg, mkvp);
}

int sk_hsm_wrap(struct sk_hsm *hsm, enum sk_mk_register reg, const struct sk_key_spec *spec,
		const struct sk_secret *key, unsigned char **blob, size_t *blob_len)
{
	if (check_register(reg) < 0)
		return -EINVAL;
	if (reg == SK_REG_OLD) {
		sk_err("keys are never enciphered with the OLD master key; use CURRENT or NEW");
		return -EINVAL;
	}
	return hsm->ops->wrap(hsm, reg, spec, key, blob, blob_len);
}

int sk_hsm_unwrap(struct sk_hsm *hsm, const unsigned char *blob, size_t blob_len,
		  struct sk_secret **key, enum sk_mk_register *reg)
{
	enum sk_mk_register found;
	int r = hsm->ops->unwrap(hsm, blob, blob_len, key, &found);

	if (!r && reg)
		*reg = found;
	return r;
}

int sk_hsm_rewrap(struct sk_hsm *hsm, const unsigned char *blob, size_t blob_len,
		  enum sk_mk_register from, enum sk_mk_register to, unsigned char **out,
		  size_t *out_len)
{
	struct sk_blob_header hdr;
	enum sk_mk_register found;
	struct sk_secret *key = NULL;
	int r;

	r = check_register(from);
	if (!r)
		r = sk_blob_parse(blob, blob_len, &hdr);
	if (!r)
		r = sk_hsm_unwrap(hsm, blob, blob_len, &key, &found);
	if (!r && found != from) {
		sk_err("secure key is enciphered with the %s master key, not with the %s one",
		       sk_register_name(found), sk_register_name(from));
		r = -EINVAL;
	}
	if (!r)
		r = sk_hsm_wrap(hsm, to, &hdr.key, key, out, out_len);
	sk_secret_free(key);
	return r;
}

static int not_supported(const struct sk_hsm *hsm, const char *what)
{
	sk_err("the %s HSM backend cannot %s; use the HSM's own administration tools",
	       hsm->ops->name, what);
	return -EOPNOTSUPP;
}

static int check_part(const struct sk_secret *part)
{
	if (part->len == SK_MK_PART_LEN)
		return 0;
	sk_err("a key part is %d bytes, not %zu", SK_MK_PART_LEN, part->len);
	return -EINVAL;
}

/* Every backend takes no part (a random key) or 2 to 3 parts of SK_MK_PART_LEN bytes. */
static int check_parts(struct sk_secret *const *parts, size_t nparts)
{
	int r = 0;

	if (nparts && (nparts < SK_MK_MIN_PARTS || nparts > SK_MK_MAX_PARTS)) {
		sk_err("a master key is made of %d or %d key parts, %zu were given",
		       SK_MK_MIN_PARTS, SK_MK_MAX_PARTS, nparts);
		return -EINVAL;
	}
	for (size_t i = 0; !r && i < nparts; i++)
		r = check_part(parts[i]);
	return r;
}

int sk_hsm_init(struct sk_hsm *hsm, struct sk_secret *const *parts, size_t nparts,
		struct sk_apqn_status *after)
{
	int r = check_parts(parts, nparts);

	if (r < 0)
		return r;
	return hsm->ops->init ? hsm->ops->init(hsm, parts, nparts, after)
			      : not_supported(hsm, "initialize master keys");
}

int sk_hsm_load_part(struct sk_hsm *hsm, const struct sk_secret *part,
		     struct sk_apqn_status *after)
{
	int r = check_part(part);

	if (r < 0)
		return r;
	return hsm->ops->load_part ? hsm->ops->load_part(hsm, part, after)
				   : not_supported(hsm, "load key parts");
}

int sk_hsm_generate_new(struct sk_hsm *hsm, struct sk_apqn_status *after)
{
	return hsm->ops->generate_new ? hsm->ops->generate_new(hsm, after)
				      : not_supported(hsm, "generate master keys");
}

int sk_hsm_commit(struct sk_hsm *hsm, struct sk_apqn_status *after)
{
	return hsm->ops->commit ? hsm->ops->commit(hsm, after) : not_supported(hsm, "commit");
}

int sk_hsm_set(struct sk_hsm *hsm, struct sk_apqn_status *after)
{
	return hsm->ops->set ? hsm->ops->set(hsm, after) : not_supported(hsm, "set master keys");
}

int sk_hsm_clear_new(struct sk_hsm *hsm, struct sk_apqn_status *after)
{
	return hsm->ops->clear_new ? hsm->ops->clear_new(hsm, after)
				   : not_supported(hsm, "clear the NEW register");
}

int sk_hsm_repair(struct sk_hsm *hsm, struct sk_apqn_status *after)
{
	/* the soft HSM replaces its files atomically: nothing is ever half done */
	return hsm->ops->repair ? hsm->ops->repair(hsm, after) : 0;
}
