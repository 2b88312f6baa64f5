/*
 * The fuzz target's body (see fuzz_token_body.h). A token the parser accepts
 * is opened, re-enciphered and written back by code that trusts it: the
 * keyslot, key type and APQNs are in range, each secure key parses as a blob
 * of the token's key type whose MKVP is the one the token names, and the KMS
 * fields are bounded strings. Write-back must never turn a readable token
 * into one that securekey refuses, so the JSON securekey produces from a
 * parsed token, and from a token changed by each setter, is parsed again and
 * compared field by field.
 */
#include "config.h"

#include "fuzz_token_body.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "blob.h"
#include "token.h"

static bool same_spec(const struct sk_key_spec *a, const struct sk_key_spec *b)
{
	return a->type == b->type && a->bits == b->bits;
}

static const char *check_key(const struct sk_token_key *key, const struct sk_key_spec *spec)
{
	struct sk_blob_header hdr;

	if (!key->blob || sk_blob_parse(key->blob, key->blob_len, &hdr) != 0)
		return "an accepted token holds a secure key that does not parse";
	if (!same_spec(&hdr.key, spec) || key->blob_len != sk_blob_len(spec))
		return "an accepted token holds a secure key of another type than key_type";
	if (!sk_mkvp_equal(hdr.mkvp, key->mkvp))
		return "an accepted token names an MKVP its secure key does not carry";
	return NULL;
}

/* Non-empty and NUL-terminated inside its SK_TOKEN_KMS_TEXT_MAX bytes. */
static bool bounded_text(const char *text)
{
	return text[0] && memchr(text, '\0', SK_TOKEN_KMS_TEXT_MAX);
}

static const char *check_kms(const struct sk_token_kms *kms)
{
	if (kms->n_servers < 1 || kms->n_servers > SK_TOKEN_KMS_MAX_SERVERS)
		return "an accepted token lists no or too many KMS servers";
	for (size_t i = 0; i < kms->n_servers; i++)
		if (!bounded_text(kms->servers[i]) || strncmp(kms->servers[i], "kmip://", 7))
			return "an accepted token names a KMS server that is no kmip:// URL";
	if (!bounded_text(kms->key_id) || !bounded_text(kms->name))
		return "an accepted token has an empty or unbounded KMS key id or name";
	return NULL;
}

static const char *check_apqns(const struct sk_apqn_list *apqns)
{
	if (apqns->count < 1 || apqns->count > SK_APQN_MAX)
		return "an accepted token lists no or too many APQNs";
	for (size_t i = 0; i < apqns->count; i++) {
		if (apqns->items[i].adapter > 0xff || apqns->items[i].domain > 0xffff)
			return "an accepted token holds an APQN out of range";
		for (size_t j = 0; j < i; j++)
			if (sk_apqn_equal(&apqns->items[i], &apqns->items[j]))
				return "an accepted token lists an APQN twice";
	}
	return NULL;
}

static const char *check_token(const struct sk_token *t)
{
	struct sk_key_spec spec;
	char name[16];
	const char *bad;

	if (!t->json)
		return "an accepted token has no JSON";
	if (t->keyslot < 0 || t->keyslot > SK_TOKEN_MAX_KEYSLOT)
		return "an accepted token names a keyslot out of range";
	/* key_type must be a volume key type, never an identity key */
	if (sk_key_spec_parse(sk_key_spec_name(&t->key, name), &spec) != 0 ||
	    !same_spec(&spec, &t->key))
		return "an accepted token has a key type that has no name";
	bad = check_apqns(&t->apqns);
	if (!bad)
		bad = check_key(&t->current, &t->key);
	if (!bad && t->has_staged)
		bad = check_key(&t->staged, &t->key);
	if (!bad && !t->has_staged && t->staged.blob)
		bad = "a token without a staged key holds a staged blob";
	if (!bad && t->has_kms)
		bad = check_kms(&t->kms);
	return bad;
}

static bool same_key(const struct sk_token_key *a, const struct sk_token_key *b)
{
	return a->blob_len == b->blob_len && !memcmp(a->blob, b->blob, a->blob_len) &&
	       sk_mkvp_equal(a->mkvp, b->mkvp);
}

static bool same_kms(const struct sk_token_kms *a, const struct sk_token_kms *b)
{
	if (a->n_servers != b->n_servers || strcmp(a->key_id, b->key_id) ||
	    strcmp(a->name, b->name))
		return false;
	for (size_t i = 0; i < a->n_servers; i++)
		if (strcmp(a->servers[i], b->servers[i]))
			return false;
	return true;
}

/* Keyslot, key type, APQNs and the current key. */
static bool same_core(const struct sk_token *a, const struct sk_token *b)
{
	return a->keyslot == b->keyslot && same_spec(&a->key, &b->key) &&
	       sk_apqn_list_equal(&a->apqns, &b->apqns) && same_key(&a->current, &b->current);
}

static bool same_token(const struct sk_token *a, const struct sk_token *b)
{
	return same_core(a, b) && a->has_staged == b->has_staged &&
	       (!a->has_staged || same_key(&a->staged, &b->staged)) && a->has_kms == b->has_kms &&
	       (!a->has_kms || same_kms(&a->kms, &b->kms));
}

/*
 * Parse what securekey would write for @t into @out, which the caller frees
 * when this returns NULL. sk_token_json's text belongs to @t.
 */
static const char *reparse(struct sk_token *t, struct sk_token *out)
{
	const char *json = sk_token_json(t);
	const char *bad;

	if (!json)
		return "sk_token_json failed";
	if (sk_token_parse(json, out) != 0)
		return "securekey refuses the JSON it writes for a token it accepted";
	bad = check_token(out);
	if (bad)
		sk_token_free(out);
	return bad;
}

/* Write back as is: the same token, and the same JSON a second time. */
static const char *check_roundtrip(struct sk_token *t)
{
	struct sk_token again;
	const char *bad = reparse(t, &again);
	char *first;

	if (bad)
		return bad;
	first = strdup(sk_token_json(t));
	if (!same_token(t, &again))
		bad = "a token written back parses to another token";
	else if (first && strcmp(first, sk_token_json(&again)))
		bad = "writing a token back twice gives different JSON";
	free(first);
	sk_token_free(&again);
	return bad;
}

/*
 * What re-enciphering does to a token: replace the current key, add or drop
 * the staged key, set the KMS fields. Done on a copy parsed from @t's JSON.
 */
static const char *check_setters(struct sk_token *t)
{
	struct sk_token copy, after;
	const char *bad = reparse(t, &copy);

	if (bad)
		return bad;
	if (sk_token_set_current(&copy, t->current.blob, t->current.blob_len) != 0)
		bad = "sk_token_set_current refuses the token's own secure key";
	else if (t->has_staged)
		sk_token_drop_staged(&copy);
	else if (sk_token_set_staged(&copy, t->current.blob, t->current.blob_len) != 0)
		bad = "sk_token_set_staged refuses the token's own secure key";
	if (!bad && t->has_kms && sk_token_set_kms(&copy, &t->kms) != 0)
		bad = "sk_token_set_kms refuses the token's own KMS fields";
	if (!bad)
		bad = reparse(&copy, &after);
	if (bad) {
		sk_token_free(&copy);
		return bad;
	}
	if (!same_core(t, &after) || after.has_staged == t->has_staged ||
	    (after.has_staged && !same_key(&after.staged, &t->current)) ||
	    after.has_kms != t->has_kms || (t->has_kms && !same_kms(&after.kms, &t->kms)))
		bad = "a token changed by the setters parses to something else";
	sk_token_free(&after);
	sk_token_free(&copy);
	return bad;
}

/* enroll's path: a new token from the parsed fields. */
static const char *check_create(const struct sk_token *t)
{
	struct sk_token made, again;
	const char *bad;

	if (sk_token_create(t->keyslot, &t->apqns, t->current.blob, t->current.blob_len,
			    &made) != 0)
		return "sk_token_create refuses the fields of an accepted token";
	bad = reparse(&made, &again);
	if (!bad) {
		if (!same_core(t, &again) || again.has_staged || again.has_kms)
			bad = "a created token parses to something else";
		sk_token_free(&again);
	}
	sk_token_free(&made);
	return bad;
}

const char *sk_fuzz_token(const uint8_t *data, size_t size)
{
	struct sk_token token;
	const char *bad = NULL;
	char *text = malloc(size + 1);
	int r;

	if (!text)
		return NULL;
	if (size)
		memcpy(text, data, size);
	text[size] = '\0';
	r = sk_token_parse(text, &token);
	free(text);
	if (r != 0) {
		if (r != -EINVAL)
			return "sk_token_parse failed with another error than -EINVAL";
		if (token.json || token.current.blob || token.staged.blob)
			return "a refused token was not cleared";
		return NULL;
	}
	bad = check_token(&token);
	if (!bad)
		bad = check_roundtrip(&token);
	if (!bad)
		bad = check_setters(&token);
	if (!bad)
		bad = check_create(&token);
	sk_token_free(&token);
	return bad;
}
