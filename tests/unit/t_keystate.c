/*
 * The re-encipher state machine of doc/design.md over a soft HSM driven through
 * lib/hsm/hsm.h: sk_key_state_get finds the register of a token's secure keys
 * and the next step, sk_reencipher_choose accepts or refuses a mode, and
 * sk_reencipher_apply changes the token's secure keys but never the volume
 * key. Also the keyslot passphrase derived from the volume key.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <atf-c.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include "helpers.h"

SK_TEST_LSAN_SUPPRESSIONS

#include "blob.h"
#include "hsm.h"
#include "keyslot.h"
#include "keystate.h"
#include "log.h"
#include "mkvp.h"
#include "reencipher.h"
#include "secmem.h"
#include "token.h"

#define TWO "01.0001,02.0001"
#define DEV "/dev/test-volume"
/* HKDF-SHA256 of the VKs 00 01 .. 3f and 00 01 .. 1f (see keyslot_passphrase_vectors) */
#define VECTOR_64 "1c2b312a74ee1f59cd630ba2d1c5004c0038c0951be33224d3eb8be3bf91c5ec"
#define VECTOR_32 "2e687d542f10b69042e09448143cb6eca602d6d97999ec9fcfbb021242c29b93"

/* ---- HSM administration: each fails the test on error --------------------- */

static void admin(const char *what, int r)
{
	ATF_REQUIRE_EQ_MSG(r, 0, "%s returned %d: %s", what, r, capture_last_error());
}

static void hsm_init_random(void)
{
	struct sk_hsm *hsm = hsm_open(TWO);

	capture_start();
	admin("init", sk_hsm_init(hsm, NULL, 0, NULL));
	sk_hsm_close(hsm);
}

/* Load two random parts into NEW and commit it; @mkvp (optional) gets NEW's MKVP. */
static void hsm_new_committed(unsigned char *mkvp)
{
	struct sk_secret *parts[2] = { random_part(), random_part() };
	struct sk_hsm *hsm = hsm_open(TWO);

	capture_start();
	admin("load-part 1", sk_hsm_load_part(hsm, parts[0], NULL));
	admin("load-part 2", sk_hsm_load_part(hsm, parts[1], NULL));
	admin("commit", sk_hsm_commit(hsm, NULL));
	if (mkvp) {
		unsigned char got[SK_MKVP_LEN];

		mkvp_of_parts(parts, 2, mkvp);
		admin("mkvp of NEW", sk_hsm_mkvp(hsm, SK_REG_NEW, got));
		ATF_REQUIRE(sk_mkvp_equal(got, mkvp));
	}
	sk_hsm_close(hsm);
	sk_secret_free(parts[0]);
	sk_secret_free(parts[1]);
}

static void hsm_set(void)
{
	struct sk_hsm *hsm = hsm_open(TWO);

	capture_start();
	admin("set", sk_hsm_set(hsm, NULL));
	sk_hsm_close(hsm);
}

static void hsm_clear_new(void)
{
	struct sk_hsm *hsm = hsm_open(TWO);

	capture_start();
	admin("clear-new", sk_hsm_clear_new(hsm, NULL));
	sk_hsm_close(hsm);
}

static void hsm_mkvp(enum sk_mk_register reg, unsigned char mkvp[SK_MKVP_LEN])
{
	struct sk_hsm *hsm = hsm_open(TWO);

	capture_start();
	admin("mkvp", sk_hsm_mkvp(hsm, reg, mkvp));
	sk_hsm_close(hsm);
}

/* ---- a volume: its VK and its token ------------------------------------------ */

struct volume {
	struct sk_secret *vk;
	struct sk_token token;
};

/* A random aes-xts-512 VK wrapped under @reg, in a token for keyslot 1. */
static void volume_make(struct volume *v, enum sk_mk_register reg)
{
	struct sk_key_spec spec;
	struct sk_apqn_list apqns;
	struct sk_hsm *hsm = hsm_open(TWO);
	unsigned char *blob;
	size_t len;

	ATF_REQUIRE_EQ(sk_key_spec_parse("aes-xts-512", &spec), 0);
	v->vk = sk_secret_new(spec.bits / 8);
	ATF_REQUIRE(v->vk != NULL);
	ATF_REQUIRE_EQ(RAND_bytes(v->vk->data, (int)v->vk->len), 1);
	capture_start();
	admin("wrap", sk_hsm_wrap(hsm, reg, &spec, v->vk, &blob, &len));
	ATF_REQUIRE_EQ(sk_apqn_list_parse(TWO, &apqns), 0);
	admin("token create", sk_token_create(1, &apqns, blob, len, &v->token));
	free(blob);
	sk_hsm_close(hsm);
}

static void volume_free(struct volume *v)
{
	sk_token_free(&v->token);
	sk_secret_free(v->vk);
}

static struct sk_key_state state_of(struct volume *v)
{
	struct sk_key_state st;
	struct sk_hsm *hsm = hsm_open(TWO);

	capture_start();
	admin("sk_key_state_get", sk_key_state_get(hsm, &v->token, &st));
	sk_hsm_close(hsm);
	return st;
}

#define REQUIRE_NEXT(st, want)                                                                \
	ATF_REQUIRE_EQ_MSG((st).next, (want), "next step is '%s', expected '%s'",             \
			   sk_next_step_name((st).next), sk_next_step_name(want))

/* @blob unwraps to @vk under @reg. */
static void require_blob_holds(const unsigned char *blob, size_t len, const struct sk_secret *vk,
			       enum sk_mk_register want, const char *what)
{
	struct sk_hsm *hsm = hsm_open(TWO);
	enum sk_mk_register reg = (enum sk_mk_register)-1;
	struct sk_secret *back = NULL;
	int r;

	capture_start();
	r = sk_hsm_unwrap(hsm, blob, len, &back, &reg);
	ATF_REQUIRE_EQ_MSG(r, 0, "%s: unwrap returned %d: %s", what, r, capture_last_error());
	ATF_REQUIRE_EQ_MSG(reg, want, "%s: under %s, expected %s", what, sk_register_name(reg),
			   sk_register_name(want));
	ATF_REQUIRE_MSG(sk_secret_equal(back, vk), "%s: the volume key changed",
			what);
	sk_secret_free(back);
	sk_hsm_close(hsm);
}

/* The token's secure key (and staged key, when @staged_reg >= 0) hold the VK. */
static void require_vk(struct volume *v, enum sk_mk_register current_reg, int staged_reg)
{
	char hex[SK_MKVP_HEX_LEN + 1];
	unsigned char mkvp[SK_MKVP_LEN];

	require_blob_holds(v->token.current.blob, v->token.current.blob_len, v->vk, current_reg,
			   "secure_key");
	hsm_mkvp(current_reg, mkvp);
	sk_mkvp_to_hex(v->token.current.mkvp, hex);
	ATF_REQUIRE_MSG(sk_mkvp_equal(v->token.current.mkvp, mkvp),
			"secure_key mkvp %s is not that of %s", hex, sk_register_name(current_reg));
	ATF_REQUIRE_EQ_MSG(v->token.has_staged, staged_reg >= 0, "has_staged is %d",
			   v->token.has_staged);
	if (staged_reg >= 0) {
		require_blob_holds(v->token.staged.blob, v->token.staged.blob_len, v->vk,
				   (enum sk_mk_register)staged_reg, "staged");
		hsm_mkvp((enum sk_mk_register)staged_reg, mkvp);
		ATF_REQUIRE(sk_mkvp_equal(v->token.staged.mkvp, mkvp));
	}
	/* the JSON says the same and parses */
	{
		struct sk_token back;
		int r;

		capture_start();
		r = sk_token_parse(sk_token_json(&v->token), &back);
		ATF_REQUIRE_EQ_MSG(r, 0, "the token does not parse: %s", capture_last_error());
		ATF_REQUIRE_EQ(back.has_staged, v->token.has_staged);
		ATF_REQUIRE(back.current.blob_len == v->token.current.blob_len &&
			    !memcmp(back.current.blob, v->token.current.blob,
				    back.current.blob_len));
		if (back.has_staged)
			ATF_REQUIRE(back.staged.blob_len == v->token.staged.blob_len &&
				    !memcmp(back.staged.blob, v->token.staged.blob,
					    back.staged.blob_len));
		ATF_REQUIRE_EQ_MSG(strstr(sk_token_json(&v->token), "\"staged\"") != NULL,
				   v->token.has_staged, "JSON and has_staged disagree: %s",
				   sk_token_json(&v->token));
		sk_token_free(&back);
	}
}

/* ---- choose and apply ---------------------------------------------------------- */

static const char *mode_name(enum sk_reencipher_mode mode)
{
	switch (mode) {
	case SK_REENCIPHER_AUTO:
		return "auto";
	case SK_REENCIPHER_STAGED:
		return "--staged";
	case SK_REENCIPHER_IN_PLACE:
		return "--in-place";
	case SK_REENCIPHER_COMPLETE:
		return "--complete";
	}
	return "?";
}

/* sk_reencipher_choose(@mode) picks @want without an error. */
static void require_choice(const struct sk_key_state *st, enum sk_reencipher_mode mode,
			   enum sk_next_step want)
{
	enum sk_next_step action = (enum sk_next_step)-1;
	int r;

	capture_start();
	r = sk_reencipher_choose(DEV, st, mode, &action);
	ATF_REQUIRE_EQ_MSG(r, 0, "%s in state '%s' returned %d: %s", mode_name(mode),
			   sk_next_step_name(st->next), r, capture_last_error());
	ATF_REQUIRE_EQ_MSG(action, want, "%s in state '%s' chose '%s', expected '%s'",
			   mode_name(mode), sk_next_step_name(st->next), sk_next_step_name(action),
			   sk_next_step_name(want));
	ATF_REQUIRE_EQ_MSG(capture_errors(), 0, "%s logged an error: %s", mode_name(mode),
			   capture_last_error());
}

/*
 * sk_reencipher_choose(@mode) refuses with @err, leaves the action NONE and
 * logs a message about the device that contains @needle and @needle2.
 */
static void require_choice_refused(const struct sk_key_state *st, enum sk_reencipher_mode mode,
				   int err, const char *needle, const char *needle2)
{
	enum sk_next_step action = (enum sk_next_step)-1;
	int r;

	capture_start();
	r = sk_reencipher_choose(DEV, st, mode, &action);
	ATF_REQUIRE_EQ_MSG(r, err, "%s in state '%s' returned %d, expected %d", mode_name(mode),
			   sk_next_step_name(st->next), r, err);
	ATF_REQUIRE_EQ_MSG(action, SK_NEXT_NONE, "%s was refused but chose '%s'", mode_name(mode),
			   sk_next_step_name(action));
	ATF_REQUIRE_MSG(capture_errors() > 0, "%s was refused without a message", mode_name(mode));
	ATF_REQUIRE_MSG(strstr(capture_last_error(), DEV), "%s: message lacks the device: %s",
			mode_name(mode), capture_last_error());
	ATF_REQUIRE_MSG(strstr(capture_last_error(), needle), "%s: message lacks '%s': %s",
			mode_name(mode), needle, capture_last_error());
	if (needle2)
		ATF_REQUIRE_MSG(strstr(capture_last_error(), needle2),
				"%s: message lacks '%s': %s", mode_name(mode), needle2,
				capture_last_error());
}

/*
 * Every explicit mode but @allowed (AUTO: none) is refused with -EPERM,
 * naming the next step.
 */
static void require_only_mode(const struct sk_key_state *st, enum sk_reencipher_mode allowed)
{
	static const enum sk_reencipher_mode modes[] = { SK_REENCIPHER_STAGED,
							 SK_REENCIPHER_IN_PLACE,
							 SK_REENCIPHER_COMPLETE };

	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (modes[i] != allowed)
			require_choice_refused(st, modes[i], -EPERM, sk_next_step_name(st->next),
					       NULL);
}

static void apply(struct volume *v, enum sk_next_step action)
{
	struct sk_hsm *hsm = hsm_open(TWO);
	int r;

	capture_start();
	r = sk_reencipher_apply(hsm, &v->token, action);
	ATF_REQUIRE_EQ_MSG(r, 0, "apply '%s' returned %d: %s", sk_next_step_name(action), r,
			   capture_last_error());
	sk_hsm_close(hsm);
}

/* Applying @action fails with a message and leaves the token as it was. */
static void require_apply_refused(struct volume *v, enum sk_next_step action)
{
	struct sk_hsm *hsm = hsm_open(TWO);
	char *before = strdup(sk_token_json(&v->token));
	bool had_staged = v->token.has_staged;
	int r;

	ATF_REQUIRE(before != NULL);
	capture_start();
	r = sk_reencipher_apply(hsm, &v->token, action);
	ATF_CHECK_MSG(r < 0, "apply '%s' succeeded in state '%s'", sk_next_step_name(action),
		      sk_next_step_name(state_of(v).next));
	ATF_CHECK_MSG(r >= 0 || capture_errors() > 0, "apply '%s' failed without a message",
		      sk_next_step_name(action));
	ATF_CHECK_MSG(!strcmp(sk_token_json(&v->token), before),
		      "a failed apply '%s' changed the token", sk_next_step_name(action));
	ATF_CHECK_EQ(v->token.has_staged, had_staged);
	free(before);
	sk_hsm_close(hsm);
}

static unsigned char *copy_of(const unsigned char *data, size_t len)
{
	unsigned char *c = malloc(len);

	ATF_REQUIRE(c != NULL);
	memcpy(c, data, len);
	return c;
}

/* ---- the table ------------------------------------------------------------------ */

ATF_TC_WITHOUT_HEAD(fresh_key_nothing_to_do);
ATF_TC_BODY(fresh_key_nothing_to_do, tc)
{
	struct sk_key_state st;
	struct volume v;
	char *before;

	hsm_init_random();
	volume_make(&v, SK_REG_CURRENT);
	st = state_of(&v);
	REQUIRE_NEXT(st, SK_NEXT_NONE);
	ATF_REQUIRE_EQ(st.status.count, (size_t)2);
	ATF_REQUIRE(st.current_found);
	ATF_REQUIRE_EQ(st.current_reg, SK_REG_CURRENT);
	ATF_REQUIRE(!st.staged_found);
	ATF_REQUIRE(!st.new_committed);

	require_choice(&st, SK_REENCIPHER_AUTO, SK_NEXT_NONE);
	require_only_mode(&st, SK_REENCIPHER_AUTO);

	before = strdup(sk_token_json(&v.token));
	apply(&v, SK_NEXT_NONE);
	ATF_REQUIRE_STREQ(sk_token_json(&v.token), before);
	free(before);
	require_vk(&v, SK_REG_CURRENT, -1);
	volume_free(&v);
}

ATF_TC_WITHOUT_HEAD(staged_wait_set_complete);
ATF_TC_BODY(staged_wait_set_complete, tc)
{
	unsigned char new_mkvp[SK_MKVP_LEN], *current, *staged;
	size_t current_len, staged_len;
	struct sk_key_state st;
	struct volume v;

	hsm_init_random();
	volume_make(&v, SK_REG_CURRENT);
	hsm_new_committed(new_mkvp);

	/* CURRENT, NEW committed: stage */
	st = state_of(&v);
	REQUIRE_NEXT(st, SK_NEXT_STAGED);
	ATF_REQUIRE(st.new_committed);
	ATF_REQUIRE(st.current_found && st.current_reg == SK_REG_CURRENT);
	ATF_REQUIRE(!st.staged_found);
	require_choice(&st, SK_REENCIPHER_AUTO, SK_NEXT_STAGED);
	require_choice(&st, SK_REENCIPHER_STAGED, SK_NEXT_STAGED);
	require_only_mode(&st, SK_REENCIPHER_STAGED);

	current = copy_of(v.token.current.blob, v.token.current.blob_len);
	current_len = v.token.current.blob_len;
	apply(&v, SK_NEXT_STAGED);
	ATF_REQUIRE(v.token.has_staged);
	ATF_REQUIRE(sk_mkvp_equal(v.token.staged.mkvp, new_mkvp));
	ATF_REQUIRE_MSG(v.token.current.blob_len == current_len &&
				!memcmp(v.token.current.blob, current, current_len),
			"staging changed the secure key under CURRENT");
	require_vk(&v, SK_REG_CURRENT, SK_REG_NEW);

	/* staged to NEW: the officer sets NEW next */
	st = state_of(&v);
	REQUIRE_NEXT(st, SK_NEXT_WAIT_SET);
	ATF_REQUIRE(st.staged_found && st.staged_reg == SK_REG_NEW);
	ATF_REQUIRE(st.current_found && st.current_reg == SK_REG_CURRENT);
	require_choice_refused(&st, SK_REENCIPHER_AUTO, -EPERM, "hsm set", NULL);
	require_choice_refused(&st, SK_REENCIPHER_STAGED, -EPERM, "hsm set", NULL);
	require_choice_refused(&st, SK_REENCIPHER_IN_PLACE, -EPERM, "hsm set", NULL);
	require_choice_refused(&st, SK_REENCIPHER_COMPLETE, -EPERM, "hsm set", NULL);
	ATF_REQUIRE_STREQ(sk_next_step_name(st.next), "hsm set");

	/* NEW set: the staged key is under CURRENT, the old one under OLD */
	hsm_set();
	st = state_of(&v);
	REQUIRE_NEXT(st, SK_NEXT_COMPLETE);
	ATF_REQUIRE(st.staged_found && st.staged_reg == SK_REG_CURRENT);
	ATF_REQUIRE(st.current_found && st.current_reg == SK_REG_OLD);
	ATF_REQUIRE(!st.new_committed);
	require_choice(&st, SK_REENCIPHER_AUTO, SK_NEXT_COMPLETE);
	require_choice(&st, SK_REENCIPHER_COMPLETE, SK_NEXT_COMPLETE);
	require_only_mode(&st, SK_REENCIPHER_COMPLETE);
	require_vk(&v, SK_REG_OLD, SK_REG_CURRENT);

	staged = copy_of(v.token.staged.blob, v.token.staged.blob_len);
	staged_len = v.token.staged.blob_len;
	apply(&v, SK_NEXT_COMPLETE);
	ATF_REQUIRE(!v.token.has_staged);
	ATF_REQUIRE(sk_mkvp_equal(v.token.current.mkvp, new_mkvp));
	ATF_REQUIRE_MSG(v.token.current.blob_len == staged_len &&
				!memcmp(v.token.current.blob, staged, staged_len),
			"complete did not move the staged key into secure_key");
	require_vk(&v, SK_REG_CURRENT, -1);

	st = state_of(&v);
	REQUIRE_NEXT(st, SK_NEXT_NONE);
	require_choice(&st, SK_REENCIPHER_AUTO, SK_NEXT_NONE);
	free(current);
	free(staged);
	volume_free(&v);
}

ATF_TC_WITHOUT_HEAD(set_without_staging_in_place);
ATF_TC_BODY(set_without_staging_in_place, tc)
{
	unsigned char old_mkvp[SK_MKVP_LEN], new_mkvp[SK_MKVP_LEN];
	struct sk_key_state st;
	struct volume v;

	hsm_init_random();
	hsm_mkvp(SK_REG_CURRENT, old_mkvp);
	volume_make(&v, SK_REG_CURRENT);
	hsm_new_committed(new_mkvp);
	hsm_set();

	st = state_of(&v);
	REQUIRE_NEXT(st, SK_NEXT_IN_PLACE);
	ATF_REQUIRE(st.current_found && st.current_reg == SK_REG_OLD);
	ATF_REQUIRE(!st.staged_found && !st.new_committed);
	require_choice(&st, SK_REENCIPHER_AUTO, SK_NEXT_IN_PLACE);
	require_choice(&st, SK_REENCIPHER_IN_PLACE, SK_NEXT_IN_PLACE);
	require_only_mode(&st, SK_REENCIPHER_IN_PLACE);
	require_vk(&v, SK_REG_OLD, -1);
	ATF_REQUIRE(sk_mkvp_equal(v.token.current.mkvp, old_mkvp));

	apply(&v, SK_NEXT_IN_PLACE);
	ATF_REQUIRE(sk_mkvp_equal(v.token.current.mkvp, new_mkvp));
	require_vk(&v, SK_REG_CURRENT, -1);
	st = state_of(&v);
	REQUIRE_NEXT(st, SK_NEXT_NONE);
	volume_free(&v);
}

/* In place also from OLD with NEW committed again ("OLD | any"). */
ATF_TC_WITHOUT_HEAD(in_place_whatever_new_holds);
ATF_TC_BODY(in_place_whatever_new_holds, tc)
{
	struct sk_key_state st;
	struct volume v;

	hsm_init_random();
	volume_make(&v, SK_REG_CURRENT);
	hsm_new_committed(NULL);
	hsm_set();
	hsm_new_committed(NULL);
	st = state_of(&v);
	REQUIRE_NEXT(st, SK_NEXT_IN_PLACE);
	ATF_REQUIRE(st.new_committed);
	require_choice(&st, SK_REENCIPHER_AUTO, SK_NEXT_IN_PLACE);
	require_only_mode(&st, SK_REENCIPHER_IN_PLACE);
	apply(&v, SK_NEXT_IN_PLACE);
	require_vk(&v, SK_REG_CURRENT, -1);
	/* and then the usual staging to the new NEW */
	st = state_of(&v);
	REQUIRE_NEXT(st, SK_NEXT_STAGED);
	volume_free(&v);
}

/* Staged, set, not completed, and the next NEW already committed: complete first. */
ATF_TC_WITHOUT_HEAD(complete_before_next_staging);
ATF_TC_BODY(complete_before_next_staging, tc)
{
	struct sk_key_state st;
	struct volume v;

	hsm_init_random();
	volume_make(&v, SK_REG_CURRENT);
	hsm_new_committed(NULL);
	apply(&v, SK_NEXT_STAGED);
	hsm_set();
	hsm_new_committed(NULL);
	st = state_of(&v);
	REQUIRE_NEXT(st, SK_NEXT_COMPLETE);
	ATF_REQUIRE(st.new_committed);
	require_choice(&st, SK_REENCIPHER_AUTO, SK_NEXT_COMPLETE);
	require_only_mode(&st, SK_REENCIPHER_COMPLETE);
	apply(&v, SK_NEXT_COMPLETE);
	require_vk(&v, SK_REG_CURRENT, -1);
	st = state_of(&v);
	REQUIRE_NEXT(st, SK_NEXT_STAGED);
	apply(&v, SK_NEXT_STAGED);
	require_vk(&v, SK_REG_CURRENT, SK_REG_NEW);
	volume_free(&v);
}

ATF_TC_WITHOUT_HEAD(two_sets_unreachable);
ATF_TC_BODY(two_sets_unreachable, tc)
{
	static const enum sk_reencipher_mode modes[] = { SK_REENCIPHER_AUTO, SK_REENCIPHER_STAGED,
							 SK_REENCIPHER_IN_PLACE,
							 SK_REENCIPHER_COMPLETE };
	struct sk_key_state st;
	struct volume v;
	char *before;

	hsm_init_random();
	volume_make(&v, SK_REG_CURRENT);
	hsm_new_committed(NULL);
	hsm_set();
	hsm_new_committed(NULL);
	hsm_set();

	st = state_of(&v);
	REQUIRE_NEXT(st, SK_NEXT_UNREACHABLE);
	ATF_REQUIRE(!st.current_found && !st.staged_found);
	/* A token without KMS: setkey only, refresh does not apply. */
	ATF_REQUIRE_STREQ(sk_key_state_next_name(&st), "setkey");
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		require_choice_refused(&st, modes[i], -ENOKEY, "not bound to a KMS", "setkey");
		ATF_CHECK_MSG(!strstr(capture_last_error(), "refresh"), "refresh advised: %s",
			      capture_last_error());
	}
	st.kms = true;
	ATF_REQUIRE_STREQ(sk_key_state_next_name(&st), "refresh or setkey");
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		require_choice_refused(&st, modes[i], -ENOKEY, "refresh", "setkey");

	before = strdup(sk_token_json(&v.token));
	capture_start();
	{
		struct sk_hsm *hsm = hsm_open(TWO);

		(void)sk_reencipher_apply(hsm, &v.token, SK_NEXT_UNREACHABLE);
		sk_hsm_close(hsm);
	}
	ATF_REQUIRE_STREQ(sk_token_json(&v.token), before);
	free(before);
	volume_free(&v);
}

/*
 * Staged, set, then the next change set before --complete: only the staged
 * key is still under a register (OLD); in place re-enciphers it to CURRENT.
 */
ATF_TC_WITHOUT_HEAD(staged_left_under_old_in_place);
ATF_TC_BODY(staged_left_under_old_in_place, tc)
{
	struct sk_key_state st;
	struct volume v;

	hsm_init_random();
	volume_make(&v, SK_REG_CURRENT);
	hsm_new_committed(NULL);
	st = state_of(&v);
	apply(&v, SK_NEXT_STAGED);
	hsm_set();
	hsm_new_committed(NULL);
	hsm_set();

	st = state_of(&v);
	REQUIRE_NEXT(st, SK_NEXT_IN_PLACE);
	ATF_REQUIRE(!st.current_found && st.staged_found && st.staged_reg == SK_REG_OLD);
	require_choice(&st, SK_REENCIPHER_AUTO, SK_NEXT_IN_PLACE);
	apply(&v, SK_NEXT_IN_PLACE);
	require_vk(&v, SK_REG_CURRENT, -1);
	st = state_of(&v);
	REQUIRE_NEXT(st, SK_NEXT_NONE);
	volume_free(&v);
}

/* Staged, then the officer clears NEW: the staged key is stale and ignored. */
ATF_TC_WITHOUT_HEAD(stale_staged_after_clear_new);
ATF_TC_BODY(stale_staged_after_clear_new, tc)
{
	unsigned char stale[SK_MKVP_LEN], fresh[SK_MKVP_LEN];
	struct sk_key_state st;
	struct volume v;

	hsm_init_random();
	volume_make(&v, SK_REG_CURRENT);
	hsm_new_committed(stale);
	apply(&v, SK_NEXT_STAGED);
	ATF_REQUIRE(v.token.has_staged && sk_mkvp_equal(v.token.staged.mkvp, stale));
	hsm_clear_new();

	st = state_of(&v);
	REQUIRE_NEXT(st, SK_NEXT_NONE);
	ATF_REQUIRE(st.current_found && st.current_reg == SK_REG_CURRENT);
	ATF_REQUIRE(!st.staged_found);
	ATF_REQUIRE(!st.new_committed);
	require_choice(&st, SK_REENCIPHER_AUTO, SK_NEXT_NONE);
	require_only_mode(&st, SK_REENCIPHER_AUTO);

	/* another NEW: stage again over the stale key */
	hsm_new_committed(fresh);
	st = state_of(&v);
	REQUIRE_NEXT(st, SK_NEXT_STAGED);
	require_choice(&st, SK_REENCIPHER_AUTO, SK_NEXT_STAGED);
	apply(&v, SK_NEXT_STAGED);
	ATF_REQUIRE(sk_mkvp_equal(v.token.staged.mkvp, fresh));
	require_vk(&v, SK_REG_CURRENT, SK_REG_NEW);
	REQUIRE_NEXT(state_of(&v), SK_NEXT_WAIT_SET);
	volume_free(&v);
}

/* A secure key made under a committed NEW waits for the set like a staged one. */
ATF_TC_WITHOUT_HEAD(key_under_new_waits_for_set);
ATF_TC_BODY(key_under_new_waits_for_set, tc)
{
	struct sk_key_state st;
	struct volume v;

	hsm_init_random();
	hsm_new_committed(NULL);
	volume_make(&v, SK_REG_NEW);
	st = state_of(&v);
	REQUIRE_NEXT(st, SK_NEXT_WAIT_SET);
	ATF_REQUIRE(st.current_found && st.current_reg == SK_REG_NEW);
	require_choice_refused(&st, SK_REENCIPHER_AUTO, -EPERM, "hsm set", NULL);
	hsm_set();
	st = state_of(&v);
	REQUIRE_NEXT(st, SK_NEXT_NONE);
	require_vk(&v, SK_REG_CURRENT, -1);
	volume_free(&v);
}

/* An action the HSM's state does not allow fails and leaves the token alone. */
ATF_TC_WITHOUT_HEAD(apply_refuses_impossible_actions);
ATF_TC_BODY(apply_refuses_impossible_actions, tc)
{
	struct volume v;

	hsm_init_random();
	volume_make(&v, SK_REG_CURRENT);
	/* under CURRENT, NEW empty, nothing staged */
	require_apply_refused(&v, SK_NEXT_STAGED);
	require_apply_refused(&v, SK_NEXT_IN_PLACE);
	require_apply_refused(&v, SK_NEXT_COMPLETE);
	require_vk(&v, SK_REG_CURRENT, -1);

	/* staged to NEW, not set yet: complete must not take the NEW key */
	hsm_new_committed(NULL);
	apply(&v, SK_NEXT_STAGED);
	require_apply_refused(&v, SK_NEXT_COMPLETE);
	require_apply_refused(&v, SK_NEXT_IN_PLACE);
	require_vk(&v, SK_REG_CURRENT, SK_REG_NEW);
	volume_free(&v);
}

/*
 * APQNs that disagree (NEW set on one of two) hold the key in no agreeing
 * register: every mode is refused, nothing is chosen.
 */
ATF_TC_WITHOUT_HEAD(disagreeing_apqns_refused);
ATF_TC_BODY(disagreeing_apqns_refused, tc)
{
	static const enum sk_reencipher_mode modes[] = { SK_REENCIPHER_AUTO, SK_REENCIPHER_STAGED,
							 SK_REENCIPHER_IN_PLACE,
							 SK_REENCIPHER_COMPLETE };
	struct sk_key_state st;
	struct sk_hsm *one;
	struct volume v;

	hsm_init_random();
	volume_make(&v, SK_REG_CURRENT);
	hsm_new_committed(NULL);
	one = hsm_open("01.0001");
	capture_start();
	admin("set on one APQN", sk_hsm_set(one, NULL));
	sk_hsm_close(one);

	st = state_of(&v);
	ATF_REQUIRE(!st.current_found);
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		enum sk_next_step action = (enum sk_next_step)-1;
		int r;

		capture_start();
		r = sk_reencipher_choose(DEV, &st, modes[i], &action);
		ATF_CHECK_MSG(r < 0, "%s chose '%s' with disagreeing APQNs", mode_name(modes[i]),
			      sk_next_step_name(action));
		ATF_CHECK_EQ(action, SK_NEXT_NONE);
		ATF_CHECK(capture_errors() > 0);
	}
	volume_free(&v);
}

ATF_TC_WITHOUT_HEAD(next_step_names);
ATF_TC_BODY(next_step_names, tc)
{
	static const struct {
		enum sk_next_step step;
		const char *name;
	} all[] = {
		{ SK_NEXT_NONE, "none" },
		{ SK_NEXT_STAGED, "reencipher --staged" },
		{ SK_NEXT_WAIT_SET, "hsm set" },
		{ SK_NEXT_COMPLETE, "reencipher --complete" },
		{ SK_NEXT_IN_PLACE, "reencipher --in-place" },
		{ SK_NEXT_UNREACHABLE, "refresh or setkey" },
	};
	const size_t n = sizeof(all) / sizeof(all[0]);

	ATF_REQUIRE_EQ((size_t)SK_NEXT_UNREACHABLE + 1, n);
	for (size_t i = 0; i < n; i++) {
		const char *name = sk_next_step_name(all[i].step);

		ATF_REQUIRE_MSG(name != NULL && *name, "step %d has no name", (int)all[i].step);
		ATF_CHECK_STREQ(name, all[i].name);
		for (size_t j = 0; j < i; j++)
			ATF_CHECK_MSG(strcmp(name, sk_next_step_name(all[j].step)),
				      "steps %zu and %zu share the name %s", i, j, name);
	}
	ATF_CHECK(strstr(sk_next_step_name(SK_NEXT_UNREACHABLE), "refresh") &&
		  strstr(sk_next_step_name(SK_NEXT_UNREACHABLE), "setkey"));
}

/* ---- keyslot passphrase ----------------------------------------------------------- */

static struct sk_secret *passphrase_of(const struct sk_secret *vk)
{
	struct sk_secret *pass = NULL;
	int r;

	capture_start();
	r = sk_keyslot_passphrase(vk, &pass);
	ATF_REQUIRE_EQ_MSG(r, 0, "sk_keyslot_passphrase returned %d: %s", r,
			   capture_last_error());
	ATF_REQUIRE(pass != NULL);
	return pass;
}

static void require_hex64(const struct sk_secret *pass)
{
	ATF_REQUIRE_EQ(pass->len, (size_t)SK_KEYSLOT_PASSPHRASE_LEN);
	ATF_REQUIRE_EQ(pass->len, (size_t)64);
	for (size_t i = 0; i < pass->len; i++)
		ATF_REQUIRE_MSG((pass->data[i] >= '0' && pass->data[i] <= '9') ||
					(pass->data[i] >= 'a' && pass->data[i] <= 'f'),
				"character %zu of the passphrase is not lower-case hex", i);
}

static struct sk_secret *counting_secret(size_t len)
{
	struct sk_secret *s = sk_secret_new(len);

	ATF_REQUIRE(s != NULL);
	for (size_t i = 0; i < len; i++)
		s->data[i] = (unsigned char)i;
	return s;
}

/* HKDF-SHA256(key=@vk, no salt, info "securekey-keyslot", 32 bytes) in lower-case hex. */
static void reference_hkdf_hex(const struct sk_secret *vk, char hex[65])
{
	EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
	unsigned char out[32];
	size_t out_len = sizeof(out);

	ATF_REQUIRE(pctx != NULL);
	ATF_REQUIRE_EQ(EVP_PKEY_derive_init(pctx), 1);
	ATF_REQUIRE_EQ(EVP_PKEY_CTX_set_hkdf_md(pctx, EVP_sha256()), 1);
	ATF_REQUIRE_EQ(EVP_PKEY_CTX_set1_hkdf_key(pctx, vk->data, (int)vk->len), 1);
	ATF_REQUIRE_EQ(EVP_PKEY_CTX_add1_hkdf_info(pctx, (const unsigned char *)"securekey-keyslot",
						   (int)strlen("securekey-keyslot")),
		       1);
	ATF_REQUIRE_EQ(EVP_PKEY_derive(pctx, out, &out_len), 1);
	ATF_REQUIRE_EQ(out_len, sizeof(out));
	EVP_PKEY_CTX_free(pctx);
	for (size_t i = 0; i < sizeof(out); i++)
		snprintf(hex + 2 * i, 3, "%02x", out[i]);
}

static void require_passphrase(const struct sk_secret *pass, const char *hex)
{
	ATF_REQUIRE_EQ(strlen(hex), (size_t)64);
	ATF_REQUIRE_MSG(pass->len == 64 && !memcmp(pass->data, hex, 64),
			"the passphrase is not %s", hex);
}

ATF_TC_WITHOUT_HEAD(keyslot_passphrase_deterministic_hex);
ATF_TC_BODY(keyslot_passphrase_deterministic_hex, tc)
{
	struct sk_secret *vk = sk_secret_new(64), *a, *b, *c;

	ATF_REQUIRE(vk != NULL);
	ATF_REQUIRE_EQ(RAND_bytes(vk->data, 64), 1);
	a = passphrase_of(vk);
	b = passphrase_of(vk);
	require_hex64(a);
	require_hex64(b);
	ATF_REQUIRE_MSG(sk_secret_equal(a, b), "two derivations from one VK differ");

	/* one bit of the VK changes the passphrase */
	vk->data[63] ^= 0x01;
	c = passphrase_of(vk);
	require_hex64(c);
	ATF_REQUIRE_MSG(!sk_secret_equal(a, c), "two VKs give the same passphrase");
	sk_secret_free(c);

	/* as does a VK of another length with the same first bytes */
	{
		struct sk_secret *half = sk_secret_dup(vk->data, 32);

		ATF_REQUIRE(half != NULL);
		c = passphrase_of(half);
		ATF_REQUIRE(!sk_secret_equal(a, c));
		sk_secret_free(c);
		sk_secret_free(half);
	}
	sk_secret_free(a);
	sk_secret_free(b);
	sk_secret_free(vk);
}

ATF_TC_WITHOUT_HEAD(keyslot_passphrase_is_hkdf_sha256);
ATF_TC_BODY(keyslot_passphrase_is_hkdf_sha256, tc)
{
	ATF_REQUIRE_STREQ(SK_KEYSLOT_INFO, "securekey-keyslot");
	for (int round = 0; round < 8; round++) {
		size_t len = round % 2 ? 32 : 64;
		struct sk_secret *vk = sk_secret_new(len), *pass;
		char hex[65];

		ATF_REQUIRE(vk != NULL);
		ATF_REQUIRE_EQ(RAND_bytes(vk->data, (int)len), 1);
		reference_hkdf_hex(vk, hex);
		pass = passphrase_of(vk);
		require_passphrase(pass, hex);
		sk_secret_free(pass);
		sk_secret_free(vk);
	}
}

/*
 * Fixed vectors, computed apart from OpenSSL with Python's hmac/hashlib
 * (RFC 5869: PRK = HMAC-SHA256(32 zero bytes, VK), OKM = HMAC-SHA256(PRK,
 * info || 0x01)); the same code gives RFC 5869 test case 3.
 */
ATF_TC_WITHOUT_HEAD(keyslot_passphrase_vectors);
ATF_TC_BODY(keyslot_passphrase_vectors, tc)
{
	struct sk_secret *vk64 = counting_secret(64), *vk32 = counting_secret(32), *pass;
	char hex[65];

	pass = passphrase_of(vk64);
	require_passphrase(pass, VECTOR_64);
	sk_secret_free(pass);
	pass = passphrase_of(vk32);
	require_passphrase(pass, VECTOR_32);
	sk_secret_free(pass);
	/* and the reference derivation of this test agrees with the vectors */
	reference_hkdf_hex(vk64, hex);
	ATF_REQUIRE_STREQ(hex, VECTOR_64);
	sk_secret_free(vk64);
	sk_secret_free(vk32);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, fresh_key_nothing_to_do);
	ATF_TP_ADD_TC(tp, staged_wait_set_complete);
	ATF_TP_ADD_TC(tp, set_without_staging_in_place);
	ATF_TP_ADD_TC(tp, in_place_whatever_new_holds);
	ATF_TP_ADD_TC(tp, complete_before_next_staging);
	ATF_TP_ADD_TC(tp, two_sets_unreachable);
	ATF_TP_ADD_TC(tp, staged_left_under_old_in_place);
	ATF_TP_ADD_TC(tp, stale_staged_after_clear_new);
	ATF_TP_ADD_TC(tp, key_under_new_waits_for_set);
	ATF_TP_ADD_TC(tp, apply_refuses_impossible_actions);
	ATF_TP_ADD_TC(tp, disagreeing_apqns_refused);
	ATF_TP_ADD_TC(tp, next_step_names);
	ATF_TP_ADD_TC(tp, keyslot_passphrase_deterministic_hex);
	ATF_TP_ADD_TC(tp, keyslot_passphrase_is_hkdf_sha256);
	ATF_TP_ADD_TC(tp, keyslot_passphrase_vectors);
	return atf_no_error();
}
