/*
 * The PKCS#11 backend: master keys are AES-256 key objects on one token,
 * labelled by register (securekey-mk-current, -old, -new, and
 * -new-uncommitted before commit) with their MKVP as CKA_ID; secure keys
 * are enciphered and deciphered inside the token with CKM_AES_GCM, or
 * CKM_AES_KEY_WRAP_KWP where the token has no GCM (p11_seal.c), in the
 * same blob layout as the soft HSM's. On a token with neither (a TPM2) a
 * master key is an RSA key pair instead, labelled the same way by its
 * private key (p11_rsa.h); [hsm] master_key_kind can choose the kind. The APQN names of the set are kept
 * in a data object: every name refers to this one token.
 *
 * Changes take an exclusive lock in the run directory, readers a shared
 * one. 'hsm set' is three object changes (destroy OLD, CURRENT→OLD,
 * NEW→CURRENT); cut short after the second, the token has no CURRENT and
 * a committed NEW, which 'hsm status' reports and --repair completes.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "conf.h"
#include "hsm_backend.h"
#include "lockfile.h"
#include "log.h"
#include "p11_keys.h"
#include "p11_parts.h"
#include "p11_rsa.h"
#include "p11_seal.h"
#include "p11_token.h"

#define LABEL_NEW_UNCOMMITTED "securekey-mk-new-uncommitted"
/* NEW while key parts are loaded: securekey-mk-new-part1 .. -part3. */
#define LABEL_NEW_PART "securekey-mk-new-part%u"
#define LABEL_PENDING "securekey-mk-pending"
#define LABEL_APQNS "securekey-apqns"

static const char *const reg_labels[SK_REG_COUNT] = {
	"securekey-mk-old",
	"securekey-mk-current",
	"securekey-mk-new",
};

struct p11_register {
	enum sk_mk_state state;
	unsigned parts; /* NEW: the key parts XORed into it so far */
	bool rsa;	/* an RSA key pair (its private key), not an AES key */
	CK_OBJECT_HANDLE obj;
	unsigned char mkvp[SK_MKVP_LEN];
};

struct p11_view {
	struct p11_register reg[SK_REG_COUNT];
	bool pending;	  /* keys of a generation or a key-part step cut short */
	bool stale_parts; /* part keys that are not NEW's, left by a step cut short */
	int lock_fd;
};

static struct sk_p11 *token_of(struct sk_hsm *hsm)
{
	return hsm->priv;
}

static int lock_token(struct sk_hsm *hsm, bool exclusive)
{
	char what[SK_P11_LABEL_LEN + 24];

	snprintf(what, sizeof(what), "PKCS#11 token '%s'", token_of(hsm)->label);
	return sk_p11_lock(exclusive, what);
}

/* The names the token was initialized with; -ENOENT logged when none. */
static int read_names(struct sk_hsm *hsm, struct sk_apqn_list *names)
{
	char csv[SK_APQN_MAX * (SK_APQN_TEXT_LEN + 1) + 1];
	int r = sk_p11_data_get(token_of(hsm), LABEL_APQNS, csv, sizeof(csv));

	if (r == -ENOENT)
		sk_err("PKCS#11 token '%s' holds no securekey master keys; create them with "
		       "'securekey hsm init --apqns AA.DDDD'",
		       token_of(hsm)->label);
	if (!r && sk_apqn_list_parse(csv, names) < 0) {
		sk_err("PKCS#11 token '%s': its APQN names (%s) are not valid", token_of(hsm)->label,
		       csv);
		r = -EUCLEAN;
	}
	return r;
}

static int check_names(struct sk_hsm *hsm)
{
	char text[SK_APQN_TEXT_LEN + 1], known[SK_APQN_MAX * (SK_APQN_TEXT_LEN + 1) + 1];
	struct sk_apqn_list names;
	int r = read_names(hsm, &names);

	for (size_t i = 0; !r && i < hsm->apqns.count; i++) {
		if (sk_apqn_list_has(&names, &hsm->apqns.items[i]))
			continue;
		sk_apqn_format(&hsm->apqns.items[i], text);
		sk_apqn_list_format(&names, known, sizeof(known));
		sk_err("APQN %s is not initialized: it is not a name of PKCS#11 token '%s' (%s)",
		       text, token_of(hsm)->label, known);
		r = -ENOENT;
	}
	return r;
}

static int read_register(struct sk_p11 *p11, const char *label, enum sk_mk_state present,
			 struct p11_register *reg)
{
	int r = sk_p11_mk_find(p11, label, &reg->obj, reg->mkvp, &reg->rsa);

	if (r == -ENOENT)
		return 0;
	if (!r) {
		reg->state = present;
		reg->parts = 0;
	}
	return r;
}

static void part_label(unsigned parts, char label[40])
{
	snprintf(label, 40, LABEL_NEW_PART, parts);
}

/*
 * NEW with key parts loaded: the part key with the most parts. *@others:
 * part keys beside it, which a step cut short after its relabel leaves.
 */
static int read_parts(struct sk_p11 *p11, struct p11_register *reg, bool *others)
{
	char label[40];
	int r = 0;

	*others = false;
	for (unsigned n = SK_MK_MAX_PARTS; !r && n >= 1; n--) {
		part_label(n, label);
		if (reg->state != SK_MK_EMPTY) {
			r = sk_p11_key_count(p11, label);
			*others = *others || r > 0;
			continue;
		}
		r = read_register(p11, label, n < SK_MK_MIN_PARTS ? SK_MK_PARTIAL : SK_MK_FULL_UNCOMMITTED,
				  reg);
		if (!r && reg->state != SK_MK_EMPTY)
			reg->parts = n;
	}
	return r < 0 ? r : 0;
}

static int read_view(struct sk_hsm *hsm, struct p11_view *v)
{
	struct sk_p11 *p11 = token_of(hsm);
	struct p11_register *new = &v->reg[SK_REG_NEW];
	bool had_parts;
	int r;

	r = read_register(p11, reg_labels[SK_REG_OLD], SK_MK_VALID, &v->reg[SK_REG_OLD]);
	if (!r)
		r = read_register(p11, reg_labels[SK_REG_CURRENT], SK_MK_VALID,
				  &v->reg[SK_REG_CURRENT]);
	if (!r)
		r = read_parts(p11, new, &v->stale_parts);
	had_parts = new->parts > 0;
	if (!r)
		r = read_register(p11, LABEL_NEW_UNCOMMITTED, SK_MK_FULL_UNCOMMITTED, new);
	if (!r)
		r = read_register(p11, reg_labels[SK_REG_NEW], SK_MK_COMMITTED, new);
	/* part keys beside a committed or generated NEW: a commit cut short */
	v->stale_parts = v->stale_parts || (had_parts && !new->parts);
	if (!r) {
		r = sk_p11_key_count(p11, LABEL_PENDING);
		v->pending = r > 0;
	}
	return r < 0 ? r : 0;
}

static void view_end(struct p11_view *v)
{
	sk_lock_release(v->lock_fd);
	v->lock_fd = -1;
}

/* Lock, check the APQN names, read the registers. */
static int view_begin(struct sk_hsm *hsm, bool exclusive, struct p11_view *v)
{
	int r;

	memset(v, 0, sizeof(*v));
	v->lock_fd = lock_token(hsm, exclusive);
	if (v->lock_fd < 0)
		return v->lock_fd;
	r = check_names(hsm);
	if (!r)
		r = read_view(hsm, v);
	if (r < 0)
		view_end(v);
	return r;
}

static void fill_apqn_status(const struct p11_view *v, const struct sk_apqn *apqn,
			     struct sk_apqn_status *out)
{
	out->apqn = *apqn;
	for (int i = 0; i < SK_REG_COUNT; i++) {
		out->reg[i].state = v->reg[i].state;
		out->reg[i].parts = v->reg[i].parts;
		out->reg[i].has_mkvp = v->reg[i].state != SK_MK_EMPTY;
		memcpy(out->reg[i].mkvp, v->reg[i].mkvp, SK_MKVP_LEN);
	}
}

static bool usable(const struct p11_view *v, enum sk_mk_register reg)
{
	return v->reg[reg].state == (reg == SK_REG_NEW ? SK_MK_COMMITTED : SK_MK_VALID);
}

static bool set_was_cut_short(const struct p11_view *v)
{
	return v->reg[SK_REG_CURRENT].state == SK_MK_EMPTY && usable(v, SK_REG_NEW);
}

static int need_register(struct sk_hsm *hsm, const struct p11_view *v, enum sk_mk_register reg)
{
	const char *label = token_of(hsm)->label;

	if (usable(v, reg))
		return 0;
	if (reg == SK_REG_CURRENT && set_was_cut_short(v))
		sk_err("PKCS#11 token '%s' has no CURRENT master key: an 'hsm set' was cut short; "
		       "run 'securekey hsm status --repair'",
		       label);
	else if (reg == SK_REG_NEW)
		sk_err("the NEW register of PKCS#11 token '%s' is %s; run 'securekey hsm "
		       "generate-new' (or load key parts) and 'securekey hsm commit'",
		       label, sk_mk_state_name(v->reg[reg].state));
	else
		sk_err("the %s register of PKCS#11 token '%s' is empty%s", sk_register_name(reg),
		       label,
		       reg == SK_REG_CURRENT ? "; initialize it with 'securekey hsm init'" : "");
	return -ENOKEY;
}

/* Changes wait for 'hsm status --repair' after a key-part step or generation cut short. */
static int need_no_repair(struct sk_hsm *hsm, const struct p11_view *v)
{
	if (!v->pending && !v->stale_parts)
		return 0;
	sk_err("PKCS#11 token '%s' holds keys %s; run 'securekey hsm status --repair' first",
	       token_of(hsm)->label,
	       v->stale_parts ? "of key parts that a finished step left behind"
			      : "of a generation or key-part step that was cut short");
	return -EBUSY;
}

/* Lock for a change: CURRENT must be valid and no repair pending. */
static int begin_change(struct sk_hsm *hsm, struct p11_view *v)
{
	int r = view_begin(hsm, true, v);

	if (r < 0)
		return r;
	r = need_register(hsm, v, SK_REG_CURRENT);
	if (!r)
		r = need_no_repair(hsm, v);
	if (r < 0)
		view_end(v);
	return r;
}

static int p11_open(struct sk_hsm *hsm)
{
	enum sk_p11_kind kind;
	struct sk_p11 *p11;
	int r = sk_p11_kind_of_location(hsm->location, &kind);

	if (!r)
		r = sk_p11_open(hsm->location, &p11);
	if (r < 0)
		return r;
	hsm->priv = p11;
	r = sk_p11_kind_pick(p11, kind);
	if (r < 0)
		return r;
	return hsm->apqns.count ? 0 : read_names(hsm, &hsm->apqns);
}

static void p11_close(struct sk_hsm *hsm)
{
	sk_p11_close(token_of(hsm));
	hsm->priv = NULL;
}

static void fill_token_info(struct sk_hsm *hsm, const struct p11_view *v,
			    struct sk_hsm_status *status)
{
	struct sk_p11 *p11 = token_of(hsm);
	struct sk_hsm_token_info *t = &status->token;

	t->present = true;
	snprintf(t->cipher, sizeof(t->cipher), "%s", sk_p11_seal_describe(p11));
	snprintf(t->kind, sizeof(t->kind), "%s", sk_p11_kind_name(p11->kind));
	t->kind_configured = p11->kind_configured;
	for (int r = 0; r < SK_REG_COUNT; r++) {
		enum sk_blob_backend backend;

		/* which OAEP hash each RSA key pair was found to decrypt with */
		if (v->reg[r].state != SK_MK_EMPTY && v->reg[r].rsa &&
		    sk_p11_rsa_backend(p11, v->reg[r].mkvp, &backend) == 0)
			snprintf(t->oaep_hash[r], sizeof(t->oaep_hash[r]), "%s",
				 sk_p11_rsa_hash_name(backend));
	}
	snprintf(t->module, sizeof(t->module), "%s", p11->module_path);
	snprintf(t->label, sizeof(t->label), "%s", p11->label);
	snprintf(t->serial, sizeof(t->serial), "%s", p11->serial);
	snprintf(t->model, sizeof(t->model), "%s %s", p11->manufacturer, p11->model);
	if (set_was_cut_short(v))
		snprintf(status->repair, sizeof(status->repair),
			 "an 'hsm set' was cut short: NEW is committed but there is no CURRENT; "
			 "--repair makes NEW CURRENT");
	else if (v->stale_parts)
		snprintf(status->repair, sizeof(status->repair),
			 "a key-part step was cut short after it was done; --repair removes the "
			 "old part keys");
	else if (v->pending)
		snprintf(status->repair, sizeof(status->repair),
			 "a generation or key-part step was cut short; --repair removes its key, "
			 "then run that step again (the PARTS column shows what is loaded)");
}

static int p11_status(struct sk_hsm *hsm, struct sk_hsm_status *status)
{
	struct p11_view v;
	int r = view_begin(hsm, false, &v);

	if (r < 0)
		return r;
	status->count = hsm->apqns.count;
	for (size_t i = 0; i < hsm->apqns.count; i++)
		fill_apqn_status(&v, &hsm->apqns.items[i], &status->apqns[i]);
	fill_token_info(hsm, &v, status);
	view_end(&v);
	return 0;
}

static int p11_mkvp(struct sk_hsm *hsm, enum sk_mk_register reg, unsigned char mkvp[SK_MKVP_LEN])
{
	struct p11_view v;
	int r = view_begin(hsm, false, &v);

	if (r < 0)
		return r;
	r = need_register(hsm, &v, reg);
	if (!r)
		memcpy(mkvp, v.reg[reg].mkvp, SK_MKVP_LEN);
	view_end(&v);
	return r;
}

/* An identity key may be longer than an RSA-OAEP block takes; volume keys always fit. */
static int need_rsa_room(struct sk_hsm *hsm, const struct sk_key_spec *spec)
{
	if (spec->bits / 8 <= SK_BLOB_RSA_KEY_MAX)
		return 0;
	sk_err("a key of %u bytes does not fit one RSA-OAEP block of PKCS#11 token '%s' (at most "
	       "%d bytes under its RSA-2048 master key); use an EC identity key, or an AES master "
	       "key on a token that has AES-GCM or AES-KWP",
	       spec->bits / 8, token_of(hsm)->label, SK_BLOB_RSA_KEY_MAX);
	return -EMSGSIZE;
}

static int p11_wrap(struct sk_hsm *hsm, enum sk_mk_register reg, const struct sk_key_spec *spec,
		    const struct sk_secret *key, unsigned char **blob, size_t *blob_len)
{
	enum sk_blob_backend backend;
	unsigned char *out = NULL;
	struct p11_view v;
	int r;

	if (!key || key->len != spec->bits / 8) {
		sk_err("internal error: key does not match its key type");
		return -EINVAL;
	}
	r = view_begin(hsm, false, &v);
	if (r < 0)
		return r;
	r = need_register(hsm, &v, SK_REG_CURRENT);
	if (!r)
		r = need_register(hsm, &v, reg);
	if (!r && v.reg[reg].rsa)
		r = sk_p11_rsa_backend(token_of(hsm), v.reg[reg].mkvp, &backend);
	else if (!r && sk_p11_seal_backend(token_of(hsm), false, &backend) < 0)
		r = sk_p11_seal_unavailable(token_of(hsm));
	if (!r && sk_blob_is_rsa(backend))
		r = need_rsa_room(hsm, spec);
	if (!r)
		r = sk_blob_frame(backend, spec, v.reg[reg].mkvp, &out);
	if (!r)
		r = sk_p11_seal(token_of(hsm), v.reg[reg].obj, backend, key, out,
				sk_blob_len_for(backend, spec));
	view_end(&v);
	if (r < 0) {
		free(out);
		return r == -EKEYREJECTED ? -EIO : r;
	}
	*blob = out;
	*blob_len = sk_blob_len_for(backend, spec);
	return 0;
}

/* CURRENT first, then a committed NEW (staged keys), then OLD. */
static const enum sk_mk_register unwrap_order[] = { SK_REG_CURRENT, SK_REG_NEW, SK_REG_OLD };

static int find_register(struct sk_hsm *hsm, const struct p11_view *v,
			 const unsigned char mkvp[SK_MKVP_LEN], enum sk_mk_register *found)
{
	char hex[SK_MKVP_HEX_LEN + 1], regs[SK_REG_COUNT][SK_MKVP_HEX_LEN + 1];

	for (size_t i = 0; i < sizeof(unwrap_order) / sizeof(unwrap_order[0]); i++) {
		if (usable(v, unwrap_order[i]) && sk_mkvp_equal(v->reg[unwrap_order[i]].mkvp, mkvp)) {
			*found = unwrap_order[i];
			return 0;
		}
	}
	sk_mkvp_to_hex(mkvp, hex);
	for (int i = 0; i < SK_REG_COUNT; i++) {
		if (v->reg[i].state == SK_MK_EMPTY)
			strcpy(regs[i], "-");
		else
			sk_mkvp_to_hex(v->reg[i].mkvp, regs[i]);
	}
	sk_err("secure key needs master key MKVP %s, which no register of PKCS#11 token '%s' "
	       "holds (OLD %s, CURRENT %s, NEW %s)",
	       hex, token_of(hsm)->label, regs[SK_REG_OLD], regs[SK_REG_CURRENT], regs[SK_REG_NEW]);
	return -ENOKEY;
}

static int check_blob_backend(struct sk_hsm *hsm, const struct sk_blob_header *hdr)
{
	char hex[SK_MKVP_HEX_LEN + 1];

	if (hdr->backend == SK_BLOB_PKCS11 || hdr->backend == SK_BLOB_PKCS11_KWP ||
	    sk_blob_is_rsa(hdr->backend))
		return 0;
	sk_mkvp_to_hex(hdr->mkvp, hex);
	sk_err("secure key (MKVP %s) was enciphered by the %s HSM backend, not by PKCS#11 token "
	       "'%s'; select that backend in [hsm] of securekey.conf",
	       hex, sk_blob_backend_name(hdr->backend), token_of(hsm)->label);
	return -ENOKEY;
}

static int decipher(struct sk_hsm *hsm, const struct p11_view *v, enum sk_mk_register reg,
		    const struct sk_blob_header *hdr, const unsigned char *blob, size_t blob_len,
		    struct sk_secret **key)
{
	char hex[SK_MKVP_HEX_LEN + 1];
	/* an RSA blob under an AES key (or the reverse) cannot verify: say so, not a token error */
	bool matches = sk_blob_is_rsa(hdr->backend) == v->reg[reg].rsa;
	int r = matches ? sk_p11_unseal(token_of(hsm), v->reg[reg].obj, hdr, blob, blob_len, key)
			: -EKEYREJECTED;

	if (r == -EKEYREJECTED) {
		sk_mkvp_to_hex(hdr->mkvp, hex);
		sk_err("secure key does not verify under master key MKVP %s: it was altered or "
		       "enciphered with another key (%s)",
		       hex, sk_p11_seal_name(hdr->backend));
	}
	return r;
}

static int p11_unwrap(struct sk_hsm *hsm, const unsigned char *blob, size_t blob_len,
		      struct sk_secret **key, enum sk_mk_register *reg)
{
	struct sk_blob_header hdr;
	struct p11_view v;
	int r = sk_blob_parse(blob, blob_len, &hdr);

	if (!r)
		r = check_blob_backend(hsm, &hdr);
	if (r < 0)
		return r;
	r = view_begin(hsm, false, &v);
	if (r < 0)
		return r;
	r = find_register(hsm, &v, hdr.mkvp, reg);
	if (!r)
		sk_verbose("secure key is enciphered with the %s master key", sk_register_name(*reg));
	if (!r)
		r = decipher(hsm, &v, *reg, &hdr, blob, blob_len, key);
	view_end(&v);
	return r;
}

/* An RSA key pair, pending until its private key takes @label. */
static int make_pair(struct sk_p11 *p11, const char *label, unsigned char mkvp[SK_MKVP_LEN])
{
	CK_OBJECT_HANDLE priv;
	int r = sk_p11_rsa_generate(p11, LABEL_PENDING, &priv, mkvp);

	if (r < 0)
		return r;
	r = sk_p11_key_relabel(p11, priv, label, NULL);
	if (r < 0)
		sk_p11_rsa_destroy(p11, priv, mkvp);
	return r;
}

/*
 * A new key labelled @label with its MKVP as CKA_ID; pending until then:
 * an AES key, or an RSA key pair on a token of that kind.
 */
static int make_key(struct sk_hsm *hsm, const char *label, unsigned char mkvp[SK_MKVP_LEN])
{
	struct sk_p11 *p11 = token_of(hsm);
	CK_OBJECT_HANDLE obj;
	int r;

	if (p11->kind == SK_P11_KIND_AUTO)
		return sk_p11_seal_unavailable(p11);
	if (p11->kind == SK_P11_KIND_RSA_OAEP)
		return make_pair(p11, label, mkvp);
	r = sk_p11_key_generate(p11, LABEL_PENDING, &obj);

	if (!r)
		r = sk_p11_key_mkvp(p11, obj, mkvp);
	if (!r)
		r = sk_p11_key_relabel(p11, obj, label, mkvp);
	if (r < 0)
		sk_p11_object_destroy(p11, obj);
	return r;
}

/* Key parts are combined inside the token only (p11_parts.h), and make AES keys. */
static int need_parts_support(struct sk_hsm *hsm)
{
	struct sk_p11 *p11 = token_of(hsm);

	if (p11->kind == SK_P11_KIND_RSA_OAEP) {
		sk_err("PKCS#11 token '%s' keeps RSA-OAEP master keys, key pairs generated inside "
		       "it: key parts do not apply to them; use 'securekey hsm generate-new' for "
		       "NEW ('securekey hsm init' without --part-file for CURRENT)",
		       p11->label);
		return -EOPNOTSUPP;
	}
	if (sk_p11_parts_supported(p11))
		return 0;
	sk_err("PKCS#11 token '%s' cannot combine key parts: its module has no "
	       "CKM_XOR_BASE_AND_DATA, and securekey never combines them outside the token; "
	       "generate the master key inside it instead: 'securekey hsm init' without "
	       "--part-file, 'securekey hsm generate-new' for NEW",
	       p11->label);
	return -EOPNOTSUPP;
}

static int refuse_existing(struct sk_hsm *hsm)
{
	CK_OBJECT_HANDLE obj;
	const char *labels[] = { reg_labels[SK_REG_OLD], reg_labels[SK_REG_CURRENT],
				 reg_labels[SK_REG_NEW], LABEL_NEW_UNCOMMITTED };

	for (size_t i = 0; i < sizeof(labels) / sizeof(labels[0]); i++) {
		int r = sk_p11_key_find(token_of(hsm), labels[i], &obj, NULL);

		if (r == -ENOENT)
			continue;
		if (!r) {
			sk_err("PKCS#11 token '%s' already holds securekey master keys (%s); they "
			       "are left as they are",
			       token_of(hsm)->label, labels[i]);
			r = -EEXIST;
		}
		return r;
	}
	return 0;
}

static void report(struct sk_hsm *hsm, struct sk_apqn_status *after)
{
	struct p11_view v = { .lock_fd = -1 };

	if (after && !read_view(hsm, &v))
		fill_apqn_status(&v, &hsm->apqns.items[0], after);
}

/* Destroy the part keys of fewer than @below parts (all: SK_MK_MAX_PARTS + 1). */
static int destroy_part_keys(struct sk_p11 *p11, unsigned below)
{
	char label[40];
	int r = 0;

	for (unsigned n = 1; !r && n < below; n++) {
		part_label(n, label);
		r = sk_p11_keys_destroy(p11, label);
	}
	return r;
}

/*
 * XOR @parts into @base (NEW's key of @base_parts parts) or, without a
 * base, into a first imported part, as a pending key; label it (@final:
 * @label, else the part key of the new count); then destroy the keys it
 * replaces. Cut short before the label, 'hsm status --repair' removes the
 * pending key and the step can run again; after it, the next step (or the
 * repair) removes the replaced keys.
 */
static int combine_parts(struct sk_hsm *hsm, CK_OBJECT_HANDLE base, unsigned base_parts,
			 struct sk_secret *const *parts, size_t nparts, bool final,
			 const char *label)
{
	struct sk_p11 *p11 = token_of(hsm);
	unsigned char mkvp[SK_MKVP_LEN];
	unsigned count = base_parts + (unsigned)nparts;
	char part_key[40];
	CK_OBJECT_HANDLE obj;
	int r;

	if (!final) {
		part_label(count, part_key);
		label = part_key;
	}
	r = sk_p11_parts_xor(p11, base, parts, nparts, final, LABEL_PENDING, &obj, mkvp);
	if (r < 0)
		return r;
	r = sk_p11_key_relabel(p11, obj, label, mkvp);
	if (r < 0) {
		sk_p11_object_destroy(p11, obj);
		return r;
	}
	/* The step is done: a part key left over must not make anyone load a part twice. */
	if (destroy_part_keys(p11, final ? SK_MK_MAX_PARTS + 1 : count) < 0)
		sk_warn("PKCS#11 token '%s': %s is done, but an old part key is left; do not "
			"repeat it: run 'securekey hsm status --repair'",
			p11->label, final ? "the master key" : "the key part");
	return 0;
}

/* The names are written first: cut short before the key, init can run again. */
static int p11_init(struct sk_hsm *hsm, struct sk_secret *const *parts, size_t nparts,
		    struct sk_apqn_status *after)
{
	char csv[SK_APQN_MAX * (SK_APQN_TEXT_LEN + 1) + 1];
	unsigned char mkvp[SK_MKVP_LEN];
	int fd, r;

	if (nparts && need_parts_support(hsm) < 0)
		return -EOPNOTSUPP;
	fd = lock_token(hsm, true);
	if (fd < 0)
		return fd;
	sk_apqn_list_format(&hsm->apqns, csv, sizeof(csv));
	r = refuse_existing(hsm);
	if (!r)
		r = sk_p11_data_put(token_of(hsm), LABEL_APQNS, csv);
	if (!r)
		r = nparts ? combine_parts(hsm, CK_INVALID_HANDLE, 0, parts, nparts, true,
					   reg_labels[SK_REG_CURRENT])
			   : make_key(hsm, reg_labels[SK_REG_CURRENT], mkvp);
	if (!r)
		report(hsm, after);
	sk_lock_release(fd);
	return r;
}

static int check_part_loadable(struct sk_hsm *hsm, const struct p11_view *v)
{
	const struct p11_register *new = &v->reg[SK_REG_NEW];
	const char *label = token_of(hsm)->label;

	if (new->state == SK_MK_COMMITTED || (new->state == SK_MK_FULL_UNCOMMITTED && !new->parts)) {
		sk_err("the NEW register of PKCS#11 token '%s' is %s%s; run 'securekey hsm "
		       "clear-new' before loading key parts",
		       label, sk_mk_state_name(new->state),
		       new->state == SK_MK_COMMITTED ? "" : " with a generated key, not key parts");
		return -EPERM;
	}
	if (new->parts >= SK_MK_MAX_PARTS) {
		sk_err("the NEW register of PKCS#11 token '%s' already holds %u key parts, the most "
		       "a master key has; run 'securekey hsm commit'",
		       label, new->parts);
		return -EPERM;
	}
	return 0;
}

/* The part is XORed into NEW's part key, or is NEW's first part. */
static int p11_load_part(struct sk_hsm *hsm, const struct sk_secret *part,
			 struct sk_apqn_status *after)
{
	struct p11_register *new;
	struct p11_view v;
	int r;

	r = need_parts_support(hsm);
	if (!r)
		r = begin_change(hsm, &v);
	if (r < 0)
		return r;
	new = &v.reg[SK_REG_NEW];
	r = check_part_loadable(hsm, &v);
	if (!r)
		r = combine_parts(hsm, new->parts ? new->obj : CK_INVALID_HANDLE, new->parts,
				  (struct sk_secret *const *)&part, 1, false, NULL);
	if (!r)
		report(hsm, after);
	view_end(&v);
	return r;
}

static int p11_generate_new(struct sk_hsm *hsm, struct sk_apqn_status *after)
{
	unsigned char mkvp[SK_MKVP_LEN];
	struct p11_view v;
	int r = begin_change(hsm, &v);

	if (r < 0)
		return r;
	if (v.reg[SK_REG_NEW].state != SK_MK_EMPTY) {
		sk_err("the NEW register of PKCS#11 token '%s' is %s; run %s or 'securekey hsm "
		       "clear-new' first",
		       token_of(hsm)->label, sk_mk_state_name(v.reg[SK_REG_NEW].state),
		       v.reg[SK_REG_NEW].state == SK_MK_COMMITTED ? "'securekey hsm set'"
								  : "'securekey hsm commit'");
		r = -EPERM;
	}
	if (!r)
		r = make_key(hsm, LABEL_NEW_UNCOMMITTED, mkvp);
	if (!r)
		report(hsm, after);
	view_end(&v);
	return r;
}

static int check_committable(struct sk_hsm *hsm, const struct p11_view *v)
{
	const struct p11_register *new = &v->reg[SK_REG_NEW];
	const char *label = token_of(hsm)->label;
	char hex[SK_MKVP_HEX_LEN + 1];

	if (new->state == SK_MK_COMMITTED) {
		sk_mkvp_to_hex(new->mkvp, hex);
		sk_err("the NEW register of PKCS#11 token '%s' is already committed (MKVP %s); "
		       "next: 'securekey hsm set'",
		       label, hex);
		return -EPERM;
	}
	if (new->state == SK_MK_PARTIAL) {
		sk_err("the NEW register of PKCS#11 token '%s' holds %u key part; load at least %d "
		       "key parts with 'securekey hsm load-part' before commit",
		       label, new->parts, SK_MK_MIN_PARTS);
		return -EPERM;
	}
	if (new->state != SK_MK_FULL_UNCOMMITTED) {
		sk_err("the NEW register of PKCS#11 token '%s' is empty; run 'securekey hsm "
		       "generate-new' (or load key parts) before commit",
		       label);
		return -EPERM;
	}
	return 0;
}

/* A generated NEW is relabelled; key parts are made into a key without CKA_DERIVE. */
static int p11_commit(struct sk_hsm *hsm, struct sk_apqn_status *after)
{
	struct sk_secret *zero = NULL;
	struct p11_register *new;
	struct p11_view v;
	int r = begin_change(hsm, &v);

	if (r < 0)
		return r;
	new = &v.reg[SK_REG_NEW];
	r = check_committable(hsm, &v);
	if (!r && new->parts) {
		zero = sk_secret_new(SK_MK_PART_LEN);
		r = zero ? combine_parts(hsm, new->obj, new->parts, &zero, 1, true,
					 reg_labels[SK_REG_NEW])
			 : -ENOMEM;
	} else if (!r) {
		r = sk_p11_key_relabel(token_of(hsm), new->obj, reg_labels[SK_REG_NEW], NULL);
	}
	sk_secret_free(zero);
	if (!r)
		report(hsm, after);
	view_end(&v);
	return r;
}

static int promote_new(struct sk_hsm *hsm, const struct p11_view *v)
{
	return sk_p11_key_relabel(token_of(hsm), v->reg[SK_REG_NEW].obj,
				  reg_labels[SK_REG_CURRENT], NULL);
}

/* The key, and for an RSA pair its public half too. */
static int destroy_register(struct sk_p11 *p11, const struct p11_register *reg)
{
	if (reg->rsa)
		return sk_p11_rsa_destroy(p11, reg->obj, reg->mkvp);
	return sk_p11_object_destroy(p11, reg->obj);
}

static int p11_set(struct sk_hsm *hsm, struct sk_apqn_status *after)
{
	struct sk_p11 *p11 = token_of(hsm);
	struct p11_view v;
	int r = begin_change(hsm, &v);

	if (r < 0)
		return r;
	r = need_register(hsm, &v, SK_REG_NEW);
	if (!r && v.reg[SK_REG_OLD].state != SK_MK_EMPTY)
		r = destroy_register(p11, &v.reg[SK_REG_OLD]);
	if (!r)
		r = sk_p11_key_relabel(p11, v.reg[SK_REG_CURRENT].obj, reg_labels[SK_REG_OLD], NULL);
	if (!r)
		r = promote_new(hsm, &v);
	if (!r)
		report(hsm, after);
	view_end(&v);
	return r;
}

static int destroy_if(struct sk_p11 *p11, const char *label)
{
	struct p11_register reg = { .state = SK_MK_EMPTY };
	int r = read_register(p11, label, SK_MK_VALID, &reg);

	if (r < 0 || reg.state == SK_MK_EMPTY)
		return r;
	return destroy_register(p11, &reg);
}

/* Works whatever state NEW is in: it is how an operator starts over. */
static int p11_clear_new(struct sk_hsm *hsm, struct sk_apqn_status *after)
{
	struct sk_p11 *p11 = token_of(hsm);
	struct p11_view v;
	int r = view_begin(hsm, true, &v);

	if (r < 0)
		return r;
	r = destroy_if(p11, reg_labels[SK_REG_NEW]);
	if (!r)
		r = destroy_if(p11, LABEL_NEW_UNCOMMITTED);
	if (!r)
		r = destroy_part_keys(p11, SK_MK_MAX_PARTS + 1);
	if (!r)
		r = sk_p11_keys_destroy(p11, LABEL_PENDING);
	if (!r)
		report(hsm, after);
	view_end(&v);
	return r;
}

static int p11_repair(struct sk_hsm *hsm, struct sk_apqn_status *after)
{
	struct p11_view v;
	int r = view_begin(hsm, true, &v);

	if (r < 0)
		return r;
	if (v.pending)
		r = sk_p11_keys_destroy(token_of(hsm), LABEL_PENDING);
	if (!r && v.stale_parts)
		r = destroy_part_keys(token_of(hsm), v.reg[SK_REG_NEW].parts
							     ? v.reg[SK_REG_NEW].parts
							     : SK_MK_MAX_PARTS + 1);
	if (!r && set_was_cut_short(&v))
		r = promote_new(hsm, &v);
	if (!r)
		r = v.pending || v.stale_parts || set_was_cut_short(&v) ? 1 : 0;
	if (r >= 0)
		report(hsm, after);
	view_end(&v);
	return r;
}

const struct sk_hsm_ops sk_hsm_pkcs11_ops = {
	.name = "pkcs11",
	.open = p11_open,
	.close = p11_close,
	.status = p11_status,
	.mkvp = p11_mkvp,
	.wrap = p11_wrap,
	.unwrap = p11_unwrap,
	.init = p11_init,
	.load_part = p11_load_part,
	.generate_new = p11_generate_new,
	.commit = p11_commit,
	.set = p11_set,
	.clear_new = p11_clear_new,
	.repair = p11_repair,
};
