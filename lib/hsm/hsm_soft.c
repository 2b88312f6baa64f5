/*
 * The embedded soft HSM: master keys in 0600 state files, one per APQN, so
 * the whole product runs and is tested without hardware. Every operation
 * locks the directory (shared to read, exclusive to change), loads the
 * APQN set, checks that the set agrees, acts, and writes all files back.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "hsm_backend.h"
#include "hsm_soft_state.h"
#include "lockfile.h"
#include "log.h"
#include "paths.h"

struct soft_set {
	size_t count;
	struct sk_soft_apqn apqn[SK_APQN_MAX];
	int lock_fd;
};

static const char *apqn_text(const struct sk_apqn *apqn, char buf[SK_APQN_TEXT_LEN + 1])
{
	sk_apqn_format(apqn, buf);
	return buf;
}

static int lock_dir(struct sk_hsm *hsm, bool exclusive)
{
	char *path = sk_path_join(hsm->location, ".lock"), *what = NULL;
	int fd;

	if (!path || asprintf(&what, "soft HSM %s", hsm->location) < 0) {
		free(path);
		return -ENOMEM;
	}
	fd = sk_lock_acquire(path, exclusive, what);
	free(path);
	free(what);
	return fd;
}

static void set_end(struct soft_set *set)
{
	for (size_t i = 0; i < set->count; i++)
		sk_soft_state_free(&set->apqn[i]);
	set->count = 0;
	sk_lock_release(set->lock_fd);
	set->lock_fd = -1;
}

static int set_begin(struct sk_hsm *hsm, bool exclusive, struct soft_set *set)
{
	int r;

	memset(set, 0, sizeof(*set));
	set->lock_fd = -1;
	r = sk_soft_dir_check(hsm->location, false);
	if (r < 0)
		return r;
	set->lock_fd = lock_dir(hsm, exclusive);
	if (set->lock_fd < 0)
		return set->lock_fd;
	sk_dbg("soft HSM %s: locked %s", hsm->location, exclusive ? "exclusive" : "shared");
	if (exclusive && sk_soft_state_settle(hsm->location) < 0) {
		set_end(set);
		return -EIO;
	}
	for (size_t i = 0; i < hsm->apqns.count; i++) {
		r = sk_soft_state_load(hsm->location, &hsm->apqns.items[i], &set->apqn[i]);
		if (r < 0) {
			set_end(set);
			return r;
		}
		set->count++;
	}
	return 0;
}

static int set_save(struct sk_hsm *hsm, struct soft_set *set)
{
	sk_dbg("soft HSM %s: writing %zu state file(s)", hsm->location, set->count);
	return sk_soft_state_save(hsm->location, set->apqn, set->count);
}

static void mkvp_text(const struct sk_soft_register *reg, char hex[SK_MKVP_HEX_LEN + 1])
{
	if (reg->state == SK_MK_EMPTY || reg->state == SK_MK_PARTIAL)
		strcpy(hex, "-");
	else
		sk_mkvp_to_hex(reg->mkvp, hex);
}

static bool usable(enum sk_mk_register reg, const struct sk_soft_register *r)
{
	return reg == SK_REG_NEW ? r->state == SK_MK_COMMITTED : r->state == SK_MK_VALID;
}

static const char *unusable_hint(enum sk_mk_register reg)
{
	switch (reg) {
	case SK_REG_NEW:
		return "load 2 or 3 key parts and run 'securekey hsm commit'";
	case SK_REG_CURRENT:
		return "initialize it with 'securekey hsm init'";
	default:
		return "it is filled by 'securekey hsm set'";
	}
}

/* Every APQN must hold the same usable master key in @reg. */
static int set_agrees(struct soft_set *set, enum sk_mk_register reg)
{
	struct sk_soft_apqn *first = &set->apqn[0];
	char a[SK_APQN_TEXT_LEN + 1], b[SK_APQN_TEXT_LEN + 1];
	char ha[SK_MKVP_HEX_LEN + 1], hb[SK_MKVP_HEX_LEN + 1];

	for (size_t i = 0; i < set->count; i++) {
		struct sk_soft_apqn *cur = &set->apqn[i];

		if (!usable(reg, &cur->reg[reg])) {
			sk_err("the %s register of APQN %s is %s; %s", sk_register_name(reg),
			       apqn_text(&cur->apqn, a), sk_mk_state_name(cur->reg[reg].state),
			       unusable_hint(reg));
			return -ENOKEY;
		}
		if (!sk_mkvp_equal(cur->reg[reg].mkvp, first->reg[reg].mkvp)) {
			mkvp_text(&first->reg[reg], ha);
			mkvp_text(&cur->reg[reg], hb);
			sk_err("APQNs %s and %s hold different %s master keys (MKVP %s and %s); all "
			       "APQNs of a set must hold the same master key",
			       apqn_text(&first->apqn, a), apqn_text(&cur->apqn, b),
			       sk_register_name(reg), ha, hb);
			return -EUCLEAN;
		}
	}
	return 0;
}

/* The NEW registers must be in the same state with the same parts loaded. */
static int new_registers_agree(struct soft_set *set)
{
	struct sk_soft_apqn *first = &set->apqn[0];
	char a[SK_APQN_TEXT_LEN + 1], b[SK_APQN_TEXT_LEN + 1];

	for (size_t i = 1; i < set->count; i++) {
		struct sk_soft_apqn *cur = &set->apqn[i];

		if (cur->reg[SK_REG_NEW].state != first->reg[SK_REG_NEW].state ||
		    cur->reg[SK_REG_NEW].parts != first->reg[SK_REG_NEW].parts ||
		    CRYPTO_memcmp(sk_soft_key(cur, SK_REG_NEW), sk_soft_key(first, SK_REG_NEW),
				  SK_MK_LEN)) {
			sk_err("the NEW registers of APQNs %s and %s differ (%s, %u parts vs %s, %u "
			       "parts); run 'securekey hsm clear-new' on the set and load the parts "
			       "again",
			       apqn_text(&first->apqn, a), apqn_text(&cur->apqn, b),
			       sk_mk_state_name(first->reg[SK_REG_NEW].state),
			       first->reg[SK_REG_NEW].parts,
			       sk_mk_state_name(cur->reg[SK_REG_NEW].state),
			       cur->reg[SK_REG_NEW].parts);
			return -EUCLEAN;
		}
	}
	return 0;
}

static int soft_open(struct sk_hsm *hsm)
{
	if (hsm->apqns.count)
		return 0;
	if (sk_soft_dir_check(hsm->location, false) < 0)
		return -ENOENT;
	if (sk_soft_state_list(hsm->location, &hsm->apqns) < 0)
		return -EIO;
	if (!hsm->apqns.count) {
		sk_err("the soft HSM in %s has no APQNs; create them with 'securekey hsm init "
		       "--apqns AA.DDDD'",
		       hsm->location);
		return -ENOENT;
	}
	return 0;
}

static void fill_apqn_status(const struct sk_soft_apqn *apqn, struct sk_apqn_status *out)
{
	out->apqn = apqn->apqn;
	for (int r = 0; r < SK_REG_COUNT; r++) {
		const struct sk_soft_register *reg = &apqn->reg[r];

		out->reg[r].state = reg->state;
		out->reg[r].parts = reg->parts;
		out->reg[r].has_mkvp = reg->state != SK_MK_EMPTY && reg->state != SK_MK_PARTIAL;
		memcpy(out->reg[r].mkvp, reg->mkvp, SK_MKVP_LEN);
	}
}

static void fill_status(struct soft_set *set, struct sk_hsm_status *status)
{
	status->count = set->count;
	for (size_t i = 0; i < set->count; i++)
		fill_apqn_status(&set->apqn[i], &status->apqns[i]);
}

/* Save the changed set and report it as saved, still under the lock. */
static int set_save_and_report(struct sk_hsm *hsm, struct soft_set *set,
			       struct sk_apqn_status *after)
{
	int r = set_save(hsm, set);

	if (!r && after)
		fill_apqn_status(&set->apqn[0], after);
	return r;
}

static int soft_status(struct sk_hsm *hsm, struct sk_hsm_status *status)
{
	struct soft_set set;
	int r = set_begin(hsm, false, &set);

	if (r < 0)
		return r;
	fill_status(&set, status);
	set_end(&set);
	return 0;
}

static int soft_mkvp(struct sk_hsm *hsm, enum sk_mk_register reg, unsigned char mkvp[SK_MKVP_LEN])
{
	struct soft_set set;
	int r = set_begin(hsm, false, &set);

	if (r < 0)
		return r;
	r = set_agrees(&set, reg);
	if (!r)
		memcpy(mkvp, set.apqn[0].reg[reg].mkvp, SK_MKVP_LEN);
	set_end(&set);
	return r;
}

static int soft_wrap(struct sk_hsm *hsm, enum sk_mk_register reg, const struct sk_key_spec *spec,
		     const struct sk_secret *key, unsigned char **blob, size_t *blob_len)
{
	struct soft_set set;
	int r = set_begin(hsm, false, &set);

	if (r < 0)
		return r;
	r = set_agrees(&set, SK_REG_CURRENT);
	if (!r && reg != SK_REG_CURRENT)
		r = set_agrees(&set, reg);
	if (!r)
		r = sk_blob_seal(sk_soft_key(&set.apqn[0], reg), spec, key, blob, blob_len);
	set_end(&set);
	return r;
}

static void describe_registers(struct sk_soft_apqn *apqn, char *buf, size_t size)
{
	char old[SK_MKVP_HEX_LEN + 1], cur[SK_MKVP_HEX_LEN + 1], new[SK_MKVP_HEX_LEN + 1];

	mkvp_text(&apqn->reg[SK_REG_OLD], old);
	mkvp_text(&apqn->reg[SK_REG_CURRENT], cur);
	mkvp_text(&apqn->reg[SK_REG_NEW], new);
	snprintf(buf, size, "OLD %s, CURRENT %s, NEW %s", old, cur, new);
}

/* CURRENT first: the common case; NEW only once committed (staged keys). */
static const enum sk_mk_register unwrap_order[] = { SK_REG_CURRENT, SK_REG_NEW, SK_REG_OLD };

static int find_register(struct soft_set *set, const unsigned char mkvp[SK_MKVP_LEN],
			 enum sk_mk_register *found)
{
	for (size_t i = 0; i < sizeof(unwrap_order) / sizeof(unwrap_order[0]); i++) {
		enum sk_mk_register reg = unwrap_order[i];

		if (usable(reg, &set->apqn[0].reg[reg]) &&
		    sk_mkvp_equal(set->apqn[0].reg[reg].mkvp, mkvp)) {
			*found = reg;
			return 0;
		}
	}
	return -ENOKEY;
}

static int soft_unwrap(struct sk_hsm *hsm, const unsigned char *blob, size_t blob_len,
		       struct sk_secret **key, enum sk_mk_register *reg)
{
	char hex[SK_MKVP_HEX_LEN + 1], apqns[SK_APQN_MAX * 8 + 1], regs[96];
	struct sk_blob_header hdr;
	struct soft_set set;
	int r;

	r = sk_blob_parse(blob, blob_len, &hdr);
	if (!r && hdr.backend != SK_BLOB_SOFT) {
		sk_mkvp_to_hex(hdr.mkvp, hex);
		sk_err("secure key (MKVP %s) was enciphered by the %s HSM backend, not by the soft "
		       "HSM in %s; select that backend in [hsm] of securekey.conf",
		       hex, sk_blob_backend_name(hdr.backend), hsm->location);
		r = -ENOKEY;
	}
	if (r < 0)
		return r;
	r = set_begin(hsm, false, &set);
	if (r < 0)
		return r;
	r = set_agrees(&set, SK_REG_CURRENT);
	if (!r && find_register(&set, hdr.mkvp, reg) < 0) {
		sk_mkvp_to_hex(hdr.mkvp, hex);
		sk_apqn_list_format(&hsm->apqns, apqns, sizeof(apqns));
		describe_registers(&set.apqn[0], regs, sizeof(regs));
		sk_err("secure key needs master key MKVP %s, which no register of APQNs %s holds "
		       "(%s)",
		       hex, apqns, regs);
		r = -ENOKEY;
	}
	if (!r && *reg != SK_REG_CURRENT)
		r = set_agrees(&set, *reg);
	if (!r)
		sk_verbose("secure key is enciphered with the %s master key", sk_register_name(*reg));
	if (!r)
		r = sk_blob_open(sk_soft_key(&set.apqn[0], *reg), blob, blob_len, key);
	set_end(&set);
	return r;
}

static bool key_is_zero(const unsigned char *key)
{
	unsigned char acc = 0;

	for (int i = 0; i < SK_MK_LEN; i++)
		acc |= key[i];
	return acc == 0;
}

/* The master key is the XOR of its parts; random when no part is given. */
static int combine_parts(struct sk_secret *const *parts, size_t nparts, struct sk_secret *mk)
{
	if (nparts == 0) {
		if (RAND_bytes(mk->data, SK_MK_LEN) != 1) {
			sk_err("cannot get random bytes for a master key");
			return -EIO;
		}
		return 0;
	}
	/* sk_hsm_init checked the count and the lengths */
	for (size_t p = 0; p < nparts; p++) {
		for (int i = 0; i < SK_MK_LEN; i++)
			mk->data[i] ^= parts[p]->data[i];
	}
	if (key_is_zero(mk->data)) {
		sk_err("the key parts cancel each other out (was one part given twice?)");
		return -EINVAL;
	}
	return 0;
}

static int refuse_existing(struct sk_hsm *hsm)
{
	char text[SK_APQN_TEXT_LEN + 1];

	for (size_t i = 0; i < hsm->apqns.count; i++) {
		if (sk_soft_state_exists(hsm->location, &hsm->apqns.items[i])) {
			sk_err("APQN %s is already initialized in %s; its master keys are left as "
			       "they are",
			       apqn_text(&hsm->apqns.items[i], text), hsm->location);
			return -EEXIST;
		}
	}
	return 0;
}

static int new_set_with_current(struct sk_hsm *hsm, const struct sk_secret *mk,
				struct soft_set *set)
{
	unsigned char mkvp[SK_MKVP_LEN];
	int r = sk_mkvp_compute(mk->data, mkvp);

	for (size_t i = 0; !r && i < hsm->apqns.count; i++) {
		struct sk_soft_apqn *a = &set->apqn[i];

		r = sk_soft_state_new(&hsm->apqns.items[i], a);
		if (r < 0)
			break;
		set->count++;
		a->reg[SK_REG_CURRENT].state = SK_MK_VALID;
		memcpy(a->reg[SK_REG_CURRENT].mkvp, mkvp, SK_MKVP_LEN);
		memcpy(sk_soft_key(a, SK_REG_CURRENT), mk->data, SK_MK_LEN);
	}
	return r;
}

/* The key is made before the directory exists, so a refusal creates nothing. */
static int soft_init(struct sk_hsm *hsm, struct sk_secret *const *parts, size_t nparts,
		     struct sk_apqn_status *after)
{
	struct sk_secret *mk = sk_secret_new(SK_MK_LEN);
	struct soft_set set = { .lock_fd = -1 };
	int r = mk ? 0 : -ENOMEM;

	if (!r)
		r = combine_parts(parts, nparts, mk);
	if (!r)
		r = sk_soft_dir_check(hsm->location, true);
	if (!r) {
		set.lock_fd = lock_dir(hsm, true);
		r = set.lock_fd < 0 ? set.lock_fd : 0;
	}
	if (!r)
		r = sk_soft_state_settle(hsm->location);
	if (!r)
		r = refuse_existing(hsm);
	if (!r)
		r = new_set_with_current(hsm, mk, &set);
	if (!r)
		r = set_save_and_report(hsm, &set, after);
	sk_secret_free(mk);
	set_end(&set);
	return r;
}

/* Shared prologue of the NEW-register commands: lock, load, agree. */
static int begin_new_change(struct sk_hsm *hsm, struct soft_set *set)
{
	int r = set_begin(hsm, true, set);

	if (r < 0)
		return r;
	r = set_agrees(set, SK_REG_CURRENT);
	if (!r)
		r = new_registers_agree(set);
	if (r < 0)
		set_end(set);
	return r;
}

static int check_part_loadable(struct sk_soft_apqn *first)
{
	char text[SK_APQN_TEXT_LEN + 1];
	const struct sk_soft_register *new = &first->reg[SK_REG_NEW];

	apqn_text(&first->apqn, text);
	if (new->state == SK_MK_COMMITTED) {
		sk_err("the NEW register of APQN %s is committed; run 'securekey hsm set' to make "
		       "it CURRENT, or 'securekey hsm clear-new' to start over",
		       text);
		return -EPERM;
	}
	if (new->state == SK_MK_FULL_UNCOMMITTED && !new->parts) {
		sk_err("the NEW register of APQN %s holds a generated master key, not key parts; "
		       "run 'securekey hsm commit', or 'securekey hsm clear-new' to start over",
		       text);
		return -EPERM;
	}
	if (new->parts >= SK_MK_MAX_PARTS) {
		sk_err("the NEW register of APQN %s already holds %u key parts, the most a master "
		       "key has; run 'securekey hsm commit', or 'securekey hsm clear-new' to start "
		       "over",
		       text, new->parts);
		return -EPERM;
	}
	return 0;
}

static int add_part(struct sk_soft_apqn *a, const struct sk_secret *part)
{
	struct sk_soft_register *new = &a->reg[SK_REG_NEW];
	unsigned char *key = sk_soft_key(a, SK_REG_NEW);

	for (int i = 0; i < SK_MK_LEN; i++)
		key[i] ^= part->data[i];
	new->parts++;
	new->state = new->parts < SK_MK_MIN_PARTS ? SK_MK_PARTIAL : SK_MK_FULL_UNCOMMITTED;
	if (new->state == SK_MK_PARTIAL)
		return 0;
	if (key_is_zero(key)) {
		sk_err("the key parts cancel each other out (was one part loaded twice?); nothing "
		       "was changed");
		return -EINVAL;
	}
	return sk_mkvp_compute(key, new->mkvp);
}

static int soft_load_part(struct sk_hsm *hsm, const struct sk_secret *part,
			  struct sk_apqn_status *after)
{
	struct soft_set set;
	int r;

	r = begin_new_change(hsm, &set);
	if (r < 0)
		return r;
	r = check_part_loadable(&set.apqn[0]);
	for (size_t i = 0; !r && i < set.count; i++)
		r = add_part(&set.apqn[i], part);
	if (!r)
		r = set_save_and_report(hsm, &set, after);
	set_end(&set);
	return r;
}

static int soft_generate_new(struct sk_hsm *hsm, struct sk_apqn_status *after)
{
	struct sk_secret *mk = sk_secret_new(SK_MK_LEN);
	char text[SK_APQN_TEXT_LEN + 1];
	struct soft_set set;
	int r = mk ? begin_new_change(hsm, &set) : -ENOMEM;

	if (r < 0) {
		sk_secret_free(mk);
		return r;
	}
	if (set.apqn[0].reg[SK_REG_NEW].state != SK_MK_EMPTY) {
		sk_err("the NEW register of APQN %s is %s; run 'securekey hsm set' or 'securekey "
		       "hsm clear-new' first",
		       apqn_text(&set.apqn[0].apqn, text),
		       sk_mk_state_name(set.apqn[0].reg[SK_REG_NEW].state));
		r = -EPERM;
	}
	if (!r)
		r = combine_parts(NULL, 0, mk);
	for (size_t i = 0; !r && i < set.count; i++) {
		struct sk_soft_apqn *a = &set.apqn[i];

		memcpy(sk_soft_key(a, SK_REG_NEW), mk->data, SK_MK_LEN);
		a->reg[SK_REG_NEW].state = SK_MK_FULL_UNCOMMITTED;
		a->reg[SK_REG_NEW].parts = 0;
		r = sk_mkvp_compute(mk->data, a->reg[SK_REG_NEW].mkvp);
	}
	if (!r)
		r = set_save_and_report(hsm, &set, after);
	sk_secret_free(mk);
	set_end(&set);
	return r;
}

static int check_committable(struct sk_soft_apqn *first)
{
	char text[SK_APQN_TEXT_LEN + 1], hex[SK_MKVP_HEX_LEN + 1];
	const struct sk_soft_register *new = &first->reg[SK_REG_NEW];

	apqn_text(&first->apqn, text);
	if (new->state == SK_MK_COMMITTED) {
		sk_mkvp_to_hex(new->mkvp, hex);
		sk_err("the NEW register of APQN %s is already committed (MKVP %s); next: "
		       "'securekey hsm set'",
		       text, hex);
		return -EPERM;
	}
	if (new->state != SK_MK_FULL_UNCOMMITTED) {
		sk_err("the NEW register of APQN %s holds %u key part%s; load at least %d key "
		       "parts with 'securekey hsm load-part' (or run 'securekey hsm generate-new') "
		       "before commit",
		       text, new->parts, new->parts == 1 ? "" : "s", SK_MK_MIN_PARTS);
		return -EPERM;
	}
	if (sk_mkvp_equal(new->mkvp, first->reg[SK_REG_CURRENT].mkvp)) {
		sk_err("the new master key of APQN %s equals the CURRENT one; load different key "
		       "parts after 'securekey hsm clear-new'",
		       text);
		return -EPERM;
	}
	return 0;
}

static int soft_commit(struct sk_hsm *hsm, struct sk_apqn_status *after)
{
	struct soft_set set;
	int r = begin_new_change(hsm, &set);

	if (r < 0)
		return r;
	r = check_committable(&set.apqn[0]);
	for (size_t i = 0; !r && i < set.count; i++)
		set.apqn[i].reg[SK_REG_NEW].state = SK_MK_COMMITTED;
	if (!r)
		r = set_save_and_report(hsm, &set, after);
	set_end(&set);
	return r;
}

static void clear_register(struct sk_soft_apqn *a, enum sk_mk_register reg)
{
	memset(&a->reg[reg], 0, sizeof(a->reg[reg]));
	OPENSSL_cleanse(sk_soft_key(a, reg), SK_MK_LEN);
}

static void move_register(struct sk_soft_apqn *a, enum sk_mk_register from,
			  enum sk_mk_register to)
{
	a->reg[to] = a->reg[from];
	a->reg[to].state = SK_MK_VALID;
	a->reg[to].parts = 0;
	memcpy(sk_soft_key(a, to), sk_soft_key(a, from), SK_MK_LEN);
	clear_register(a, from);
}

static int soft_set(struct sk_hsm *hsm, struct sk_apqn_status *after)
{
	struct soft_set set;
	int r = begin_new_change(hsm, &set);

	if (r < 0)
		return r;
	r = set_agrees(&set, SK_REG_NEW);
	for (size_t i = 0; !r && i < set.count; i++) {
		move_register(&set.apqn[i], SK_REG_CURRENT, SK_REG_OLD);
		move_register(&set.apqn[i], SK_REG_NEW, SK_REG_CURRENT);
	}
	if (!r)
		r = set_save_and_report(hsm, &set, after);
	set_end(&set);
	return r;
}

/* Works even when the set disagrees: it is how an operator starts over. */
static int soft_clear_new(struct sk_hsm *hsm, struct sk_apqn_status *after)
{
	struct soft_set set;
	bool changed = false;
	int r = set_begin(hsm, true, &set);

	if (r < 0)
		return r;
	for (size_t i = 0; i < set.count; i++) {
		changed |= set.apqn[i].reg[SK_REG_NEW].state != SK_MK_EMPTY;
		clear_register(&set.apqn[i], SK_REG_NEW);
	}
	if (changed)
		r = set_save(hsm, &set);
	if (!r && after)
		fill_apqn_status(&set.apqn[0], after);
	set_end(&set);
	return r;
}

const struct sk_hsm_ops sk_hsm_soft_ops = {
	.name = "soft",
	.open = soft_open,
	.status = soft_status,
	.mkvp = soft_mkvp,
	.wrap = soft_wrap,
	.unwrap = soft_unwrap,
	.init = soft_init,
	.load_part = soft_load_part,
	.generate_new = soft_generate_new,
	.commit = soft_commit,
	.set = soft_set,
	.clear_new = soft_clear_new,
};
