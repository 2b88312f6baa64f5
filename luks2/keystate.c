#include "config.h"

#include "keystate.h"

#include <stdio.h>
#include <string.h>

static const char *const next_names[] = {
	[SK_NEXT_NONE] = "none",
	[SK_NEXT_STAGED] = "reencipher --staged",
	[SK_NEXT_WAIT_SET] = "hsm set",
	[SK_NEXT_COMPLETE] = "reencipher --complete",
	[SK_NEXT_IN_PLACE] = "reencipher --in-place",
	[SK_NEXT_UNREACHABLE] = "refresh or setkey",
};

const char *sk_next_step_name(enum sk_next_step next)
{
	return next_names[next];
}

/* The register that every APQN agrees holds @mkvp, NEW only once committed. */
static bool find_register(const struct sk_hsm_status *st, const unsigned char mkvp[SK_MKVP_LEN],
			  enum sk_mk_register *reg)
{
	static const enum sk_mk_register order[] = { SK_REG_CURRENT, SK_REG_NEW, SK_REG_OLD };

	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		if (sk_hsm_status_agree(st, order[i]) &&
		    sk_mkvp_equal(st->apqns[0].reg[order[i]].mkvp, mkvp)) {
			*reg = order[i];
			return true;
		}
	}
	return false;
}

/* Key parts are loaded into NEW on some APQN of the set (@only: in state @only). */
static bool new_in_state(const struct sk_hsm_status *st, bool partial_only)
{
	for (size_t i = 0; i < st->count; i++) {
		enum sk_mk_state s = st->apqns[i].reg[SK_REG_NEW].state;

		if (s == SK_MK_PARTIAL || (!partial_only && s == SK_MK_FULL_UNCOMMITTED))
			return true;
	}
	return false;
}

static enum sk_next_step next_step(const struct sk_key_state *s)
{
	bool staged_to_new = s->staged_found && s->staged_reg == SK_REG_NEW;

	if (s->staged_found && s->staged_reg == SK_REG_CURRENT)
		return SK_NEXT_COMPLETE;
	/* Staged, set, then another change before --complete: the staged key is under OLD. */
	if (!s->current_found && s->staged_found && s->staged_reg == SK_REG_OLD)
		return SK_NEXT_IN_PLACE;
	if (!s->current_found)
		return SK_NEXT_UNREACHABLE;
	if (s->current_reg == SK_REG_OLD)
		return SK_NEXT_IN_PLACE;
	if (s->current_reg == SK_REG_NEW || staged_to_new)
		return SK_NEXT_WAIT_SET;
	return s->new_committed ? SK_NEXT_STAGED : SK_NEXT_NONE;
}

int sk_key_state_get(struct sk_hsm *hsm, const struct sk_token *token, struct sk_key_state *state)
{
	int r;

	memset(state, 0, sizeof(*state));
	r = sk_hsm_status(hsm, &state->status);
	if (r < 0)
		return r;
	state->current_found = find_register(&state->status, token->current.mkvp,
					     &state->current_reg);
	state->staged_found = token->has_staged &&
			      find_register(&state->status, token->staged.mkvp, &state->staged_reg);
	state->new_committed = sk_hsm_status_agree(&state->status, SK_REG_NEW);
	state->kms = token->has_kms;
	state->new_uncommitted = new_in_state(&state->status, false);
	state->new_partial = new_in_state(&state->status, true);
	state->next = next_step(state);
	return 0;
}

void sk_key_state_apqns_text(const struct sk_key_state *state, char *text, size_t size)
{
	size_t n = 0;

	text[0] = '\0';
	for (size_t i = 0; i < state->status.count && n + SK_APQN_TEXT_LEN + 2 <= size; i++) {
		if (i)
			text[n++] = ',';
		sk_apqn_format(&state->status.apqns[i].apqn, text + n);
		n += strlen(text + n);
	}
}

bool sk_key_state_waits_commit(const struct sk_key_state *state)
{
	return state->next == SK_NEXT_NONE && state->new_uncommitted;
}

const char *sk_key_state_next_name(const struct sk_key_state *state)
{
	/* Staging waits for the officer's commit: that is the step missing, not "none". */
	if (sk_key_state_waits_commit(state))
		return state->new_partial ? "hsm load-part" : "hsm commit";
	if (state->next == SK_NEXT_UNREACHABLE && !state->kms)
		return "setkey";
	return sk_next_step_name(state->next);
}

bool sk_key_state_under_current(const struct sk_key_state *state)
{
	return state->current_found && state->current_reg == SK_REG_CURRENT;
}

const char *sk_key_path(bool staged, enum sk_mk_register reg)
{
	static const char *const names[2][SK_REG_COUNT] = {
		{ "secure key under the OLD master key", "secure key under the CURRENT master key",
		  "secure key under the NEW master key" },
		{ "staged secure key under the OLD master key",
		  "staged secure key under the CURRENT master key",
		  "staged secure key under the NEW master key" },
	};

	return names[staged][reg];
}

const struct sk_token_key *sk_key_state_pick(const struct sk_token *token,
					     const struct sk_key_state *st, const char **path)
{
	const char *unused;

	if (!path)
		path = &unused;
	if (sk_key_state_under_current(st))
		return *path = sk_key_path(false, SK_REG_CURRENT), &token->current;
	if (st->staged_found && st->staged_reg == SK_REG_CURRENT)
		return *path = "staged secure key (NEW master key was set)", &token->staged;
	if (st->current_found)
		return *path = sk_key_path(false, st->current_reg), &token->current;
	/* Two sets without a completion leave the staged key under OLD; else it is under NEW. */
	if (st->staged_found)
		return *path = sk_key_path(true, st->staged_reg), &token->staged;
	return NULL;
}

void sk_key_state_commit_advice(const struct sk_key_state *state, char *text, size_t size)
{
	char apqns[SK_APQN_MAX * (SK_APQN_TEXT_LEN + 1) + 1];

	sk_key_state_apqns_text(state, apqns, sizeof(apqns));
	if (state->new_partial)
		snprintf(text, size,
			 "load its remaining key parts ('securekey hsm load-part --apqns %s') and "
			 "run 'securekey hsm commit --apqns %s'",
			 apqns, apqns);
	else
		snprintf(text, size, "run 'securekey hsm commit --apqns %s'", apqns);
}
