#include "config.h"

#include "token.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "log.h"

static int field_error(const char *field, const char *why)
{
	sk_err("securekey token: field '%s' %s", field, why);
	return -EINVAL;
}

/* A string with a NUL inside would be read as its prefix: such a string is no string. */
static bool is_plain_string(json_object *value)
{
	return json_object_is_type(value, json_type_string) &&
	       strlen(json_object_get_string(value)) == (size_t)json_object_get_string_len(value);
}

static json_object *get_typed(json_object *obj, const char *field, json_type type)
{
	json_object *value;

	if (!json_object_object_get_ex(obj, field, &value) || !json_object_is_type(value, type) ||
	    (type == json_type_string && !is_plain_string(value)))
		return NULL;
	return value;
}

static int parse_keyslots(json_object *root, int *keyslot)
{
	json_object *arr = get_typed(root, "keyslots", json_type_array), *item;
	const char *text;
	char *end;
	long n;

	/* libcryptsetup empties the list when the keyslot is destroyed. */
	if (arr && json_object_array_length(arr) == 0)
		return field_error("keyslots", "lists no keyslot: the token's keyslot was removed");
	if (!arr || json_object_array_length(arr) != 1)
		return field_error("keyslots", "must list exactly one keyslot");
	item = json_object_array_get_idx(arr, 0);
	text = is_plain_string(item) ? json_object_get_string(item) : NULL;
	if (!text || !*text || strlen(text) > 2 || strspn(text, "0123456789") != strlen(text))
		return field_error("keyslots", "must hold a keyslot number as a string");
	n = strtol(text, &end, 10);
	if (*end || n < 0 || n > SK_TOKEN_MAX_KEYSLOT || (text[0] == '0' && text[1]))
		return field_error("keyslots", "must hold a keyslot number 0..31");
	*keyslot = (int)n;
	return 0;
}

static int parse_apqns(json_object *root, struct sk_apqn_list *apqns)
{
	json_object *arr = get_typed(root, "apqns", json_type_array);
	size_t n = arr ? json_object_array_length(arr) : 0;

	apqns->count = 0;
	if (n == 0 || n > SK_APQN_MAX)
		return field_error("apqns", "must list 1 to 16 APQNs");
	for (size_t i = 0; i < n; i++) {
		json_object *item = json_object_array_get_idx(arr, i);
		struct sk_apqn apqn;

		if (!is_plain_string(item) || sk_apqn_parse(json_object_get_string(item), &apqn) < 0)
			return field_error("apqns", "holds an entry that is not an APQN AA.DDDD");
		for (size_t j = 0; j < apqns->count; j++)
			if (sk_apqn_equal(&apqns->items[j], &apqn))
				return field_error("apqns", "lists an APQN twice");
		apqns->items[apqns->count++] = apqn;
	}
	return 0;
}

/* A blob with its MKVP field; both must agree and the blob must parse. */
static int parse_key(json_object *obj, const char *where, struct sk_token_key *key,
		     struct sk_blob_header *hdr)
{
	json_object *b64 = get_typed(obj, "secure_key", json_type_string);
	json_object *mkvp = get_typed(obj, "mkvp", json_type_string);
	int r;

	if (!b64 || sk_base64_decode(json_object_get_string(b64), &key->blob, &key->blob_len) < 0)
		return field_error(where, "has no valid base64 'secure_key'");
	if (!mkvp || sk_mkvp_from_hex(json_object_get_string(mkvp), key->mkvp) < 0)
		return field_error(where, "has no 'mkvp' of 16 hex digits");
	r = sk_blob_parse(key->blob, key->blob_len, hdr);
	if (r < 0)
		return field_error(where, "holds a secure key that does not parse");
	if (!sk_mkvp_equal(hdr->mkvp, key->mkvp))
		return field_error(where, "has an 'mkvp' that differs from its secure key's");
	return 0;
}

static int parse_header_fields(json_object *root, struct sk_token *token)
{
	json_object *type = get_typed(root, "type", json_type_string);
	json_object *version = get_typed(root, "version", json_type_int);
	json_object *key_type = get_typed(root, "key_type", json_type_string);

	if (!type || strcmp(json_object_get_string(type), SK_TOKEN_TYPE))
		return field_error("type", "must be \"securekey\"");
	if (!version || json_object_get_int64(version) != SK_TOKEN_VERSION)
		return field_error("version", "must be 1 (this securekey knows version 1 only)");
	if (!key_type || sk_key_spec_parse(json_object_get_string(key_type), &token->key) < 0)
		return field_error("key_type", "must name a key type such as aes-xts-512");
	return 0;
}

static bool same_spec(const struct sk_key_spec *a, const struct sk_key_spec *b)
{
	return a->type == b->type && a->bits == b->bits;
}

static int copy_text(json_object *value, char *dst, const char *field, bool url)
{
	const char *text = is_plain_string(value) ? json_object_get_string(value) : NULL;

	if (!text || !*text || strlen(text) >= SK_TOKEN_KMS_TEXT_MAX)
		return field_error(field, "must be a non-empty string of at most 299 bytes");
	if (url && strncmp(text, "kmip://", 7))
		return field_error(field, "must hold kmip://HOST[:PORT] URLs");
	strcpy(dst, text);
	return 0;
}

static int parse_kms(json_object *kms, struct sk_token_kms *out)
{
	json_object *servers = get_typed(kms, "servers", json_type_array), *value;
	size_t n = servers ? json_object_array_length(servers) : 0;
	int r = 0;

	if (!json_object_is_type(kms, json_type_object))
		return field_error("kms", "must be an object");
	if (!n || n > SK_TOKEN_KMS_MAX_SERVERS)
		return field_error("kms.servers", "must list 1 to 8 servers");
	for (size_t i = 0; i < n && !r; i++)
		r = copy_text(json_object_array_get_idx(servers, i), out->servers[i], "kms.servers",
			      true);
	out->n_servers = n;
	if (!r)
		r = json_object_object_get_ex(kms, "key_id", &value)
			    ? copy_text(value, out->key_id, "kms.key_id", false)
			    : field_error("kms.key_id", "is missing");
	if (!r)
		r = json_object_object_get_ex(kms, "name", &value)
			    ? copy_text(value, out->name, "kms.name", false)
			    : field_error("kms.name", "is missing");
	return r;
}

static int parse_staged_and_kms(json_object *root, struct sk_token *token)
{
	struct sk_blob_header hdr;
	json_object *staged, *kms;
	int r;

	if (json_object_object_get_ex(root, "staged", &staged)) {
		if (!json_object_is_type(staged, json_type_object))
			return field_error("staged", "must be an object");
		r = parse_key(staged, "staged", &token->staged, &hdr);
		if (r < 0)
			return r;
		if (!same_spec(&hdr.key, &token->key))
			return field_error("staged", "holds a key of another type than 'key_type'");
		token->has_staged = true;
	}
	if (json_object_object_get_ex(root, "kms", &kms)) {
		r = parse_kms(kms, &token->kms);
		if (r < 0)
			return r;
		token->has_kms = true;
	}
	return 0;
}

static int parse_object(json_object *root, struct sk_token *token)
{
	struct sk_blob_header hdr;
	int r;

	if (!json_object_is_type(root, json_type_object))
		return field_error("(token)", "is not a JSON object");
	r = parse_header_fields(root, token);
	if (!r)
		r = parse_keyslots(root, &token->keyslot);
	if (!r)
		r = parse_apqns(root, &token->apqns);
	if (!r)
		r = parse_key(root, "secure_key", &token->current, &hdr);
	if (!r && !same_spec(&hdr.key, &token->key))
		r = field_error("secure_key", "holds a key of another type than 'key_type'");
	if (!r)
		r = parse_staged_and_kms(root, token);
	return r;
}

/*
 * One JSON object and nothing after it: json_tokener_parse stops after the
 * first value, so a token with trailing text would otherwise pass. The
 * terminating NUL is fed too, as json_tokener_parse does, to end a number.
 */
static json_object *parse_whole(const char *text)
{
	json_tokener *tok = json_tokener_new();
	json_object *root = NULL;
	enum json_tokener_error jerr;
	const char *why = NULL;
	size_t end;

	if (!tok)
		return NULL;
	/*
	 * Strict: json-c's comments would let "{...}//" swallow the NUL and
	 * report an end past the text (found by tests/fuzz/fuzz_token); text
	 * that is not UTF-8 would come out of 'validate --json' as such.
	 */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	root = json_tokener_parse_ex(tok, text, (int)strlen(text) + 1);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	if (jerr != json_tokener_success)
		why = json_tokener_error_desc(jerr);
	else if (end > strlen(text) + 1 || (end <= strlen(text) &&
					     text[end + strspn(text + end, " \t\r\n")]))
		why = "text follows the JSON object";
	else if (!root)
		why = "it is null, not an object";
	json_tokener_free(tok);
	if (!why)
		return root;
	sk_err("securekey token is not valid JSON: %s", why);
	json_object_put(root);
	return NULL;
}

int sk_token_parse(const char *json_text, struct sk_token *token)
{
	json_object *root;
	int r;

	memset(token, 0, sizeof(*token));
	root = parse_whole(json_text);
	if (!root)
		return -EINVAL;
	token->json = root;
	r = parse_object(root, token);
	if (r < 0)
		sk_token_free(token);
	return r;
}

void sk_token_free(struct sk_token *token)
{
	json_object_put(token->json);
	free(token->current.blob);
	free(token->staged.blob);
	memset(token, 0, sizeof(*token));
}

/* Store @blob as base64 plus its MKVP into @obj, and into @key. */
static int store_key(json_object *obj, const struct sk_key_spec *spec, struct sk_token_key *key,
		     const unsigned char *blob, size_t blob_len)
{
	struct sk_blob_header hdr;
	char hex[SK_MKVP_HEX_LEN + 1], want[16], got[16];
	unsigned char *copy;
	char *b64;

	if (sk_blob_parse(blob, blob_len, &hdr) < 0)
		return -EINVAL;
	if (!same_spec(&hdr.key, spec)) {
		sk_err("internal error: a %s secure key cannot go into a %s token",
		       sk_key_spec_name(&hdr.key, got), sk_key_spec_name(spec, want));
		return -EINVAL;
	}
	b64 = sk_base64_encode(blob, blob_len);
	copy = malloc(blob_len);
	if (!b64 || !copy) {
		free(b64);
		free(copy);
		return -ENOMEM;
	}
	memcpy(copy, blob, blob_len);
	sk_mkvp_to_hex(hdr.mkvp, hex);
	json_object_object_add(obj, "secure_key", json_object_new_string(b64));
	json_object_object_add(obj, "mkvp", json_object_new_string(hex));
	free(b64);
	free(key->blob);
	key->blob = copy;
	key->blob_len = blob_len;
	memcpy(key->mkvp, hdr.mkvp, SK_MKVP_LEN);
	return 0;
}

int sk_token_set_current(struct sk_token *token, const unsigned char *blob, size_t blob_len)
{
	return store_key(token->json, &token->key, &token->current, blob, blob_len);
}

int sk_token_set_staged(struct sk_token *token, const unsigned char *blob, size_t blob_len)
{
	json_object *staged = json_object_new_object();
	int r = store_key(staged, &token->key, &token->staged, blob, blob_len);

	if (r < 0) {
		json_object_put(staged);
		return r;
	}
	json_object_object_add(token->json, "staged", staged);
	token->has_staged = true;
	return 0;
}

void sk_token_drop_staged(struct sk_token *token)
{
	json_object_object_del(token->json, "staged");
	free(token->staged.blob);
	memset(&token->staged, 0, sizeof(token->staged));
	token->has_staged = false;
}

int sk_token_set_kms(struct sk_token *token, const struct sk_token_kms *kms)
{
	json_object *obj = json_object_new_object(), *servers = json_object_new_array();

	if (!obj || !servers || !kms->n_servers) {
		json_object_put(obj);
		json_object_put(servers);
		return -EINVAL;
	}
	for (size_t i = 0; i < kms->n_servers; i++)
		json_object_array_add(servers, json_object_new_string(kms->servers[i]));
	json_object_object_add(obj, "servers", servers);
	json_object_object_add(obj, "key_id", json_object_new_string(kms->key_id));
	json_object_object_add(obj, "name", json_object_new_string(kms->name));
	json_object_object_add(token->json, "kms", obj);
	token->kms = *kms;
	token->has_kms = true;
	return 0;
}

static json_object *apqns_json(const struct sk_apqn_list *apqns)
{
	json_object *arr = json_object_new_array();
	char text[SK_APQN_TEXT_LEN + 1];

	for (size_t i = 0; i < apqns->count; i++) {
		sk_apqn_format(&apqns->items[i], text);
		json_object_array_add(arr, json_object_new_string(text));
	}
	return arr;
}

int sk_token_create(int keyslot, const struct sk_apqn_list *apqns, const unsigned char *blob,
		    size_t blob_len, struct sk_token *token)
{
	struct sk_blob_header hdr;
	json_object *slots = json_object_new_array();
	char slot[4], name[16];
	int r;

	memset(token, 0, sizeof(*token));
	r = sk_blob_parse(blob, blob_len, &hdr);
	if (r < 0 || keyslot < 0 || keyslot > SK_TOKEN_MAX_KEYSLOT || !apqns->count) {
		json_object_put(slots);
		return -EINVAL;
	}
	snprintf(slot, sizeof(slot), "%d", keyslot);
	json_object_array_add(slots, json_object_new_string(slot));
	token->json = json_object_new_object();
	json_object_object_add(token->json, "type", json_object_new_string(SK_TOKEN_TYPE));
	json_object_object_add(token->json, "keyslots", slots);
	json_object_object_add(token->json, "version", json_object_new_int(SK_TOKEN_VERSION));
	json_object_object_add(token->json, "key_type",
			       json_object_new_string(sk_key_spec_name(&hdr.key, name)));
	json_object_object_add(token->json, "apqns", apqns_json(apqns));
	token->keyslot = keyslot;
	token->key = hdr.key;
	token->apqns = *apqns;
	r = sk_token_set_current(token, blob, blob_len);
	if (r < 0)
		sk_token_free(token);
	return r;
}

const char *sk_token_json(struct sk_token *token)
{
	return json_object_to_json_string_ext(token->json,
					      JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
}
