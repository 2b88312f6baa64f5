/*
 * The securekey LUKS2 token (luks2/token.h): a token made from a secure key
 * of a soft HSM serializes and parses back to the same fields; fields this
 * version does not know survive a change; every malformed field is refused
 * with -EINVAL and a message naming it; "staged" comes and goes.
 *
 * Each case starts from a valid token (fixture_make) and changes one field
 * of its JSON (with_field / with_inner), so a refusal can only come from
 * that field.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <atf-c.h>
#include <json-c/json.h>
#include <openssl/rand.h>

#include "helpers.h"

SK_TEST_LSAN_SUPPRESSIONS

#include "apqn.h"
#include "base64.h"
#include "blob.h"
#include "hsm.h"
#include "log.h"
#include "mkvp.h"
#include "secmem.h"
#include "token.h"

#define TWO "01.0001,02.0001"
#define MIB (1024 * 1024)

/* ---- fixture: a soft HSM, a secure key under CURRENT and its token -------- */

struct fixture {
	struct sk_hsm *hsm;
	struct sk_key_spec spec;
	struct sk_secret *vk;
	unsigned char *blob;
	size_t blob_len;
	unsigned char mkvp[SK_MKVP_LEN]; /* CURRENT */
	char mkvp_hex[SK_MKVP_HEX_LEN + 1];
	struct sk_token token; /* made by sk_token_create */
	char *json;            /* its JSON text, a copy */
};

static void hsm_init_random(const char *csv)
{
	struct sk_hsm *hsm = hsm_open(csv);
	int r;

	capture_start();
	r = sk_hsm_init(hsm, NULL, 0, NULL);
	ATF_REQUIRE_EQ_MSG(r, 0, "init of %s returned %d: %s", csv, r, capture_last_error());
	sk_hsm_close(hsm);
}

static struct sk_key_spec spec_of(const char *name)
{
	struct sk_key_spec spec;

	ATF_REQUIRE_EQ_MSG(sk_key_spec_parse(name, &spec), 0, "key type %s not parsed", name);
	return spec;
}

/* A fresh secure key of @key_type under CURRENT of @hsm; @vk (optional) gets the key. */
static void wrap_new(struct sk_hsm *hsm, const char *key_type, unsigned char **blob,
		     size_t *len, struct sk_secret **vk)
{
	struct sk_key_spec spec = spec_of(key_type);
	struct sk_secret *key = random_key(&spec);
	int r;

	capture_start();
	r = sk_hsm_wrap(hsm, SK_REG_CURRENT, &spec, key, blob, len);
	ATF_REQUIRE_EQ_MSG(r, 0, "wrap of a %s key returned %d: %s", key_type, r,
			   capture_last_error());
	ATF_REQUIRE_EQ(*len, sk_blob_len(&spec));
	if (vk)
		*vk = key;
	else
		sk_secret_free(key);
}

static void fixture_make(struct fixture *f, const char *key_type, int keyslot)
{
	struct sk_apqn_list apqns;
	int r;

	memset(f, 0, sizeof(*f));
	if (access(HSM_DIR, F_OK) < 0)
		hsm_init_random(TWO);
	f->hsm = hsm_open(TWO);
	f->spec = spec_of(key_type);
	ATF_REQUIRE_EQ(sk_hsm_mkvp(f->hsm, SK_REG_CURRENT, f->mkvp), 0);
	sk_mkvp_to_hex(f->mkvp, f->mkvp_hex);
	wrap_new(f->hsm, key_type, &f->blob, &f->blob_len, &f->vk);
	ATF_REQUIRE_EQ(sk_apqn_list_parse(TWO, &apqns), 0);
	capture_start();
	r = sk_token_create(keyslot, &apqns, f->blob, f->blob_len, &f->token);
	ATF_REQUIRE_EQ_MSG(r, 0, "sk_token_create returned %d: %s", r, capture_last_error());
	ATF_REQUIRE(sk_token_json(&f->token) != NULL);
	f->json = strdup(sk_token_json(&f->token));
	ATF_REQUIRE(f->json != NULL);
}

static void fixture_free(struct fixture *f)
{
	sk_token_free(&f->token);
	sk_hsm_close(f->hsm);
	sk_secret_free(f->vk);
	free(f->blob);
	free(f->json);
	memset(f, 0, sizeof(*f));
}

/* ---- JSON editing ---------------------------------------------------------- */

static json_object *parse_json(const char *text)
{
	json_object *obj = json_tokener_parse(text);

	ATF_REQUIRE_MSG(obj != NULL, "the test's own JSON does not parse: %.200s", text);
	return obj;
}

/* A JSON value from its text; "null" is a JSON null (json-c's NULL object). */
static json_object *value_of(const char *text)
{
	if (!strcmp(text, "null"))
		return NULL;
	return parse_json(text);
}

static char *to_text(json_object *obj)
{
	char *text = strdup(json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN |
							   JSON_C_TO_STRING_NOSLASHESCAPE));

	ATF_REQUIRE(text != NULL);
	return text;
}

/*
 * @json with @field of the object @outer (NULL: the top level) set to the
 * JSON value @value, or removed when @value is NULL; malloc'd.
 */
static char *with_inner(const char *json, const char *outer, const char *field,
			const char *value)
{
	json_object *root = parse_json(json), *obj = root;
	char *text;

	if (outer) {
		ATF_REQUIRE_MSG(json_object_object_get_ex(root, outer, &obj) &&
					json_object_is_type(obj, json_type_object),
				"the test's JSON has no object '%s'", outer);
	}
	if (value)
		json_object_object_add(obj, field, value_of(value));
	else
		json_object_object_del(obj, field);
	text = to_text(root);
	json_object_put(root);
	return text;
}

static char *with_field(const char *json, const char *field, const char *value)
{
	return with_inner(json, NULL, field, value);
}

/* A JSON string literal of @s (no characters that need escaping). */
static char *quoted(const char *s)
{
	size_t n = strlen(s);
	char *q = malloc(n + 3);

	ATF_REQUIRE(q != NULL);
	q[0] = '"';
	memcpy(q + 1, s, n);
	q[n + 1] = '"';
	q[n + 2] = '\0';
	return q;
}

/* The base64 of @len bytes at @data as a JSON string literal. */
static char *quoted_b64(const unsigned char *data, size_t len)
{
	char *b64 = sk_base64_encode(data, len), *q;

	ATF_REQUIRE(b64 != NULL);
	q = quoted(b64);
	free(b64);
	return q;
}

/* @json with "secure_key" of @outer (NULL: the top level) holding @len bytes at @data. */
static char *with_secure_key(const char *json, const char *outer, const unsigned char *data,
			     size_t len)
{
	char *b64 = quoted_b64(data, len), *text = with_inner(json, outer, "secure_key", b64);

	free(b64);
	return text;
}

/* @json with "secure_key" (of @outer, or the top level) holding @blob and "mkvp" its MKVP. */
static char *with_blob(const char *json, const char *outer, const unsigned char *blob,
		       size_t len)
{
	char hex[SK_MKVP_HEX_LEN + 1], *b64 = quoted_b64(blob, len), *mkvp, *t1, *t2;

	ATF_REQUIRE(len >= 16);
	sk_mkvp_to_hex(blob + 8, hex);
	mkvp = quoted(hex);
	t1 = with_inner(json, outer, "secure_key", b64);
	t2 = with_inner(t1, outer, "mkvp", mkvp);
	free(b64);
	free(mkvp);
	free(t1);
	return t2;
}

/* ---- checks ------------------------------------------------------------------ */

/*
 * sk_token_parse(@text) must fail with -EINVAL and log an error that contains
 * @needle; the token is left empty. Takes @text. Non-fatal, so one case
 * reports every variant that is wrong.
 */
#define REFUSED(text, needle) require_refused(__LINE__, (text), (needle))

static void require_refused(int line, char *text, const char *needle)
{
	struct sk_token token;
	int r;

	memset(&token, 0x5a, sizeof(token));
	capture_start();
	r = sk_token_parse(text, &token);
	ATF_CHECK_EQ_MSG(r, -EINVAL, "line %d: parse of %.300s%s returned %d, expected -EINVAL",
			 line, text, strlen(text) > 300 ? "..." : "", r);
	if (r == -EINVAL) {
		ATF_CHECK_MSG(capture_errors() > 0, "line %d: refused without a message: %.300s",
			      line, text);
		ATF_CHECK_MSG(strstr(capture_last_error(), needle) != NULL,
			      "line %d: message lacks '%s': %s", line, needle,
			      capture_last_error());
		ATF_CHECK_MSG(token.json == NULL && token.current.blob == NULL &&
				      token.staged.blob == NULL,
			      "line %d: a refused parse left data in the token", line);
	}
	if (r == 0)
		sk_token_free(&token);
	free(text);
}

/* sk_token_parse(@text) must succeed; the caller frees @token. Takes @text. */
#define ACCEPTED(text, token) require_accepted(__LINE__, (text), (token))

static void require_accepted(int line, char *text, struct sk_token *token)
{
	int r;

	capture_start();
	r = sk_token_parse(text, token);
	ATF_REQUIRE_EQ_MSG(r, 0, "line %d: parse of %.300s returned %d: %s", line, text, r,
			   capture_last_error());
	free(text);
}

static void require_key_equal(const struct sk_token_key *key, const unsigned char *blob,
			      size_t len, const char *what)
{
	struct sk_blob_header hdr;

	ATF_REQUIRE_EQ_MSG(key->blob_len, len, "%s: blob of %zu bytes, expected %zu", what,
			   key->blob_len, len);
	ATF_REQUIRE_MSG(key->blob && !memcmp(key->blob, blob, len), "%s: other blob bytes", what);
	ATF_REQUIRE_EQ(sk_blob_parse(blob, len, &hdr), 0);
	ATF_REQUIRE_MSG(sk_mkvp_equal(key->mkvp, hdr.mkvp), "%s: mkvp is not the blob's", what);
}

/* @token's fields are those of @f's token. */
static void require_same_fields(const struct sk_token *token, const struct fixture *f)
{
	char a[256], b[256];

	ATF_REQUIRE_EQ(token->keyslot, f->token.keyslot);
	ATF_REQUIRE_EQ(token->key.type, f->spec.type);
	ATF_REQUIRE_EQ(token->key.bits, f->spec.bits);
	sk_apqn_list_format(&token->apqns, a, sizeof(a));
	sk_apqn_list_format(&f->token.apqns, b, sizeof(b));
	ATF_REQUIRE_STREQ(a, b);
	ATF_REQUIRE_STREQ(a, TWO);
	require_key_equal(&token->current, f->blob, f->blob_len, "secure_key");
	ATF_REQUIRE(sk_mkvp_equal(token->current.mkvp, f->mkvp));
}

static const char *string_field(json_object *obj, const char *field)
{
	json_object *v;

	ATF_REQUIRE_MSG(json_object_object_get_ex(obj, field, &v) &&
				json_object_is_type(v, json_type_string),
			"no string field '%s'", field);
	return json_object_get_string(v);
}

static void require_json_equal(json_object *a, json_object *b, const char *what)
{
	ATF_REQUIRE_MSG(json_object_equal(a, b), "%s differs: %s vs %s", what,
			json_object_to_json_string(a), json_object_to_json_string(b));
}

/* ---- round trip --------------------------------------------------------------- */

ATF_TC_WITHOUT_HEAD(create_json_parse_round_trip);
ATF_TC_BODY(create_json_parse_round_trip, tc)
{
	struct fixture f;
	struct sk_token back;
	json_object *root, *v;
	unsigned char *decoded;
	size_t decoded_len;

	fixture_make(&f, "aes-xts-512", 3);
	ATF_REQUIRE_EQ(f.token.keyslot, 3);
	ATF_REQUIRE(!f.token.has_staged && !f.token.has_kms);

	/* the JSON is the format of doc/design.md */
	root = parse_json(f.json);
	ATF_REQUIRE_STREQ(string_field(root, "type"), "securekey");
	ATF_REQUIRE(json_object_object_get_ex(root, "version", &v) &&
		    json_object_is_type(v, json_type_int) && json_object_get_int64(v) == 1);
	ATF_REQUIRE(json_object_object_get_ex(root, "keyslots", &v));
	{
		json_object *want = parse_json("[\"3\"]");

		require_json_equal(v, want, "keyslots");
		json_object_put(want);
	}
	ATF_REQUIRE_STREQ(string_field(root, "key_type"), "aes-xts-512");
	ATF_REQUIRE(json_object_object_get_ex(root, "apqns", &v));
	{
		json_object *want = parse_json("[\"01.0001\",\"02.0001\"]");

		require_json_equal(v, want, "apqns");
		json_object_put(want);
	}
	ATF_REQUIRE_STREQ(string_field(root, "mkvp"), f.mkvp_hex);
	ATF_REQUIRE_EQ(sk_base64_decode(string_field(root, "secure_key"), &decoded, &decoded_len),
		       0);
	ATF_REQUIRE_EQ(decoded_len, f.blob_len);
	ATF_REQUIRE(!memcmp(decoded, f.blob, f.blob_len));
	free(decoded);
	ATF_REQUIRE(!json_object_object_get_ex(root, "staged", NULL));
	ATF_REQUIRE(!json_object_object_get_ex(root, "kms", NULL));
	json_object_put(root);

	/* it parses back to the same fields and serializes to the same text */
	ACCEPTED(strdup(f.json), &back);
	require_same_fields(&back, &f);
	ATF_REQUIRE(!back.has_staged && !back.has_kms);
	ATF_REQUIRE_STREQ(sk_token_json(&back), f.json);
	sk_token_free(&back);
	fixture_free(&f);
}

ATF_TC_WITHOUT_HEAD(round_trip_every_key_type_and_keyslot);
ATF_TC_BODY(round_trip_every_key_type_and_keyslot, tc)
{
	static const char *const types[] = { "aes-xts-512", "aes-xts-256", "aes-256", "aes-192",
					     "aes-128" };
	struct sk_hsm *hsm;

	hsm_init_random(TWO);
	hsm = hsm_open(TWO);
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		static const int slots[] = { 0, 9, 10, 31 };

		for (size_t s = 0; s < sizeof(slots) / sizeof(slots[0]); s++) {
			struct sk_apqn_list apqns;
			struct sk_token token, back;
			unsigned char *blob;
			size_t len;
			char name[16];

			wrap_new(hsm, types[i], &blob, &len, NULL);
			ATF_REQUIRE_EQ(sk_apqn_list_parse("0a.00ff", &apqns), 0);
			ATF_REQUIRE_EQ(sk_token_create(slots[s], &apqns, blob, len, &token), 0);
			ACCEPTED(strdup(sk_token_json(&token)), &back);
			ATF_REQUIRE_EQ(back.keyslot, slots[s]);
			ATF_REQUIRE_STREQ(sk_key_spec_name(&back.key, name), types[i]);
			ATF_REQUIRE_EQ(back.apqns.count, (size_t)1);
			require_key_equal(&back.current, blob, len, types[i]);
			ATF_REQUIRE_STREQ(sk_token_json(&back), sk_token_json(&token));
			sk_token_free(&back);
			sk_token_free(&token);
			free(blob);
		}
	}
	sk_hsm_close(hsm);
}

ATF_TC_WITHOUT_HEAD(create_refuses_bad_arguments);
ATF_TC_BODY(create_refuses_bad_arguments, tc)
{
	struct sk_apqn_list none = { .count = 0 }, one;
	struct sk_token token;
	struct fixture f;

	fixture_make(&f, "aes-xts-512", 1);
	ATF_REQUIRE_EQ(sk_apqn_list_parse("01.0001", &one), 0);
	capture_start();
	ATF_CHECK_EQ(sk_token_create(32, &one, f.blob, f.blob_len, &token), -EINVAL);
	ATF_CHECK_EQ(sk_token_create(-1, &one, f.blob, f.blob_len, &token), -EINVAL);
	ATF_CHECK_EQ(sk_token_create(1, &none, f.blob, f.blob_len, &token), -EINVAL);
	ATF_CHECK_EQ(sk_token_create(1, &one, f.blob, f.blob_len - 1, &token), -EINVAL);
	f.blob[0] ^= 1;
	ATF_CHECK_EQ(sk_token_create(1, &one, f.blob, f.blob_len, &token), -EINVAL);
	f.blob[0] ^= 1;
	fixture_free(&f);
}

/* ---- unknown fields ------------------------------------------------------------ */

ATF_TC_WITHOUT_HEAD(unknown_fields_survive_set_current);
ATF_TC_BODY(unknown_fields_survive_set_current, tc)
{
	static const char kms[] = "{\"servers\":[\"kmip://kms1:5696\",\"kmip://kms2:5696\"],"
				  "\"key_id\":\"uid-1\",\"name\":\"vol\","
				  "\"future_kms\":{\"a\":[1,2,{\"b\":null}]},\"retries\":3}";
	static const char future[] = "{\"x\":[true,false,1.5,\"s\"],\"y\":{}}";
	json_object *root, *v, *want;
	struct sk_token token, back;
	unsigned char *blob2;
	size_t len2;
	struct fixture f;
	char *t1, *t2, *t3;

	fixture_make(&f, "aes-xts-512", 1);
	t1 = with_field(f.json, "kms", kms);
	t2 = with_field(t1, "future", future);
	t3 = with_field(t2, "comment", "\"kept as it is\"");
	free(t1);
	free(t2);
	ACCEPTED(t3, &token);
	ATF_REQUIRE(token.has_kms);
	require_same_fields(&token, &f);

	/* a change of the secure key keeps everything else */
	wrap_new(f.hsm, "aes-xts-512", &blob2, &len2, NULL);
	capture_start();
	ATF_REQUIRE_EQ_MSG(sk_token_set_current(&token, blob2, len2), 0, "%s",
			   capture_last_error());
	require_key_equal(&token.current, blob2, len2, "new secure_key");
	root = parse_json(sk_token_json(&token));
	ATF_REQUIRE(json_object_object_get_ex(root, "kms", &v));
	want = parse_json(kms);
	require_json_equal(v, want, "kms");
	json_object_put(want);
	ATF_REQUIRE(json_object_object_get_ex(root, "future", &v));
	want = parse_json(future);
	require_json_equal(v, want, "future");
	json_object_put(want);
	ATF_REQUIRE_STREQ(string_field(root, "comment"), "kept as it is");
	ATF_REQUIRE_STREQ(string_field(root, "type"), "securekey");
	json_object_put(root);

	/* and the result parses again, with the new key */
	ACCEPTED(strdup(sk_token_json(&token)), &back);
	ATF_REQUIRE(back.has_kms);
	require_key_equal(&back.current, blob2, len2, "parsed new secure_key");
	ATF_REQUIRE_STREQ(sk_token_json(&back), sk_token_json(&token));
	sk_token_free(&back);
	sk_token_free(&token);
	free(blob2);
	fixture_free(&f);
}

ATF_TC_WITHOUT_HEAD(kms_object_accepted);
ATF_TC_BODY(kms_object_accepted, tc)
{
	struct sk_token token;
	struct fixture f;

	fixture_make(&f, "aes-xts-512", 1);
	ACCEPTED(with_field(f.json, "kms",
			    "{\"servers\":[\"kmip://kms1:5696\",\"kmip://[::1]\"],"
			    "\"key_id\":\"42\",\"name\":\"uuid-1\"}"),
		 &token);
	ATF_REQUIRE(token.has_kms);
	ATF_REQUIRE_EQ(token.kms.n_servers, 2);
	ATF_REQUIRE_STREQ(token.kms.servers[0], "kmip://kms1:5696");
	ATF_REQUIRE_STREQ(token.kms.servers[1], "kmip://[::1]");
	ATF_REQUIRE_STREQ(token.kms.key_id, "42");
	ATF_REQUIRE_STREQ(token.kms.name, "uuid-1");
	sk_token_free(&token);
	fixture_free(&f);
}

ATF_TC_WITHOUT_HEAD(kms_fields_checked);
ATF_TC_BODY(kms_fields_checked, tc)
{
	struct fixture f;

	fixture_make(&f, "aes-xts-512", 1);
	REFUSED(with_field(f.json, "kms", "{}"), "kms.servers");
	REFUSED(with_field(f.json, "kms", "{\"servers\":[],\"key_id\":\"1\",\"name\":\"n\"}"),
		"kms.servers");
	REFUSED(with_field(f.json, "kms",
			   "{\"servers\":[\"https://x\"],\"key_id\":\"1\",\"name\":\"n\"}"),
		"kms.servers");
	REFUSED(with_field(f.json, "kms", "{\"servers\":[\"kmip://x\"],\"name\":\"n\"}"),
		"kms.key_id");
	REFUSED(with_field(f.json, "kms", "{\"servers\":[\"kmip://x\"],\"key_id\":7,\"name\":\"n\"}"),
		"kms.key_id");
	REFUSED(with_field(f.json, "kms", "{\"servers\":[\"kmip://x\"],\"key_id\":\"1\"}"),
		"kms.name");
	fixture_free(&f);
}

/* ---- refusals: whole token, type, version, key_type ----------------------------- */

ATF_TC_WITHOUT_HEAD(not_json_refused);
ATF_TC_BODY(not_json_refused, tc)
{
	struct fixture f;
	char *half;

	fixture_make(&f, "aes-xts-512", 1);
	REFUSED(strdup(""), "JSON");
	REFUSED(strdup("not json"), "JSON");
	REFUSED(strdup("{"), "JSON");
	REFUSED(strdup("{\"type\":"), "JSON");
	REFUSED(strdup("{\"type\" \"securekey\"}"), "JSON");
	half = strdup(f.json);
	ATF_REQUIRE(half != NULL);
	half[strlen(half) / 2] = '\0';
	REFUSED(half, "JSON");
	fixture_free(&f);
}

/*
 * json_tokener_parse_verbose() stops after the first complete value, so
 * text after the token is silently ignored.
 */
ATF_TC_WITHOUT_HEAD(trailing_garbage_refused);
ATF_TC_BODY(trailing_garbage_refused, tc)
{
	struct fixture f;
	size_t n;
	char *text;

	fixture_make(&f, "aes-xts-512", 1);
	n = strlen(f.json);
	text = malloc(n + 32);
	ATF_REQUIRE(text != NULL);
	snprintf(text, n + 32, "%s{\"type\":\"other\"}", f.json);
	REFUSED(text, "JSON");
	fixture_free(&f);
}

ATF_TC_WITHOUT_HEAD(not_object_refused);
ATF_TC_BODY(not_object_refused, tc)
{
	REFUSED(strdup("[]"), "object");
	REFUSED(strdup("[{\"type\":\"securekey\"}]"), "object");
	REFUSED(strdup("\"securekey\""), "object");
	REFUSED(strdup("1"), "object");
	REFUSED(strdup("true"), "object");
}

/* "null" parses to json-c's NULL object: refused, but the message must make sense. */
ATF_TC_WITHOUT_HEAD(null_refused);
ATF_TC_BODY(null_refused, tc)
{
	struct sk_token token;

	capture_start();
	ATF_REQUIRE_EQ(sk_token_parse("null", &token), -EINVAL);
	REFUSED(strdup("null"), "object");
}

ATF_TC_WITHOUT_HEAD(type_refused);
ATF_TC_BODY(type_refused, tc)
{
	struct fixture f;

	fixture_make(&f, "aes-xts-512", 1);
	REFUSED(with_field(f.json, "type", NULL), "type");
	REFUSED(with_field(f.json, "type", "\"luks2-keyring\""), "type");
	REFUSED(with_field(f.json, "type", "\"SecureKey\""), "type");
	REFUSED(with_field(f.json, "type", "\"securekey \""), "type");
	REFUSED(with_field(f.json, "type", "\"\""), "type");
	REFUSED(with_field(f.json, "type", "1"), "type");
	REFUSED(with_field(f.json, "type", "[\"securekey\"]"), "type");
	REFUSED(with_field(f.json, "type", "null"), "type");
	fixture_free(&f);
}

ATF_TC_WITHOUT_HEAD(version_refused);
ATF_TC_BODY(version_refused, tc)
{
	struct fixture f;

	fixture_make(&f, "aes-xts-512", 1);
	REFUSED(with_field(f.json, "version", NULL), "version");
	REFUSED(with_field(f.json, "version", "0"), "version");
	REFUSED(with_field(f.json, "version", "2"), "version");
	REFUSED(with_field(f.json, "version", "-1"), "version");
	REFUSED(with_field(f.json, "version", "4294967297"), "version"); /* 2^32 + 1 */
	REFUSED(with_field(f.json, "version", "18446744073709551617"), "version");
	REFUSED(with_field(f.json, "version", "\"1\""), "version");
	REFUSED(with_field(f.json, "version", "1.0"), "version");
	REFUSED(with_field(f.json, "version", "1.5"), "version");
	REFUSED(with_field(f.json, "version", "true"), "version");
	REFUSED(with_field(f.json, "version", "[1]"), "version");
	REFUSED(with_field(f.json, "version", "null"), "version");
	fixture_free(&f);
}

ATF_TC_WITHOUT_HEAD(key_type_refused);
ATF_TC_BODY(key_type_refused, tc)
{
	struct fixture f;

	fixture_make(&f, "aes-xts-512", 1);
	REFUSED(with_field(f.json, "key_type", NULL), "key_type");
	REFUSED(with_field(f.json, "key_type", "\"aes-xts-1024\""), "key_type");
	REFUSED(with_field(f.json, "key_type", "\"AES-XTS-512\""), "key_type");
	REFUSED(with_field(f.json, "key_type", "\"aes-xts-512 \""), "key_type");
	REFUSED(with_field(f.json, "key_type", "\"des3\""), "key_type");
	REFUSED(with_field(f.json, "key_type", "\"\""), "key_type");
	REFUSED(with_field(f.json, "key_type", "512"), "key_type");
	REFUSED(with_field(f.json, "key_type", "null"), "key_type");
	fixture_free(&f);
}

/* key_type must be the type and size of the secure key. */
ATF_TC_WITHOUT_HEAD(key_type_differing_from_blob_refused);
ATF_TC_BODY(key_type_differing_from_blob_refused, tc)
{
	struct fixture f;

	fixture_make(&f, "aes-xts-512", 1);
	REFUSED(with_field(f.json, "key_type", "\"aes-xts-256\""), "key_type");
	REFUSED(with_field(f.json, "key_type", "\"aes-256\""), "key_type");
	REFUSED(with_field(f.json, "key_type", "\"aes-128\""), "key_type");
	fixture_free(&f);

	fixture_make(&f, "aes-256", 1);
	/* same size, other type */
	REFUSED(with_field(f.json, "key_type", "\"aes-xts-256\""), "key_type");
	REFUSED(with_field(f.json, "key_type", "\"aes-xts-512\""), "key_type");
	fixture_free(&f);
}

/* ---- keyslots ----------------------------------------------------------------- */

ATF_TC_WITHOUT_HEAD(keyslots_refused);
ATF_TC_BODY(keyslots_refused, tc)
{
	struct fixture f;

	fixture_make(&f, "aes-xts-512", 1);
	REFUSED(with_field(f.json, "keyslots", NULL), "keyslots");
	REFUSED(with_field(f.json, "keyslots", "[]"), "keyslots");
	REFUSED(with_field(f.json, "keyslots", "[\"1\",\"2\"]"), "keyslots");
	REFUSED(with_field(f.json, "keyslots", "[\"1\",\"1\"]"), "keyslots");
	REFUSED(with_field(f.json, "keyslots", "[1]"), "keyslots");
	REFUSED(with_field(f.json, "keyslots", "[null]"), "keyslots");
	REFUSED(with_field(f.json, "keyslots", "[[\"1\"]]"), "keyslots");
	REFUSED(with_field(f.json, "keyslots", "[\"32\"]"), "keyslots");
	REFUSED(with_field(f.json, "keyslots", "[\"99\"]"), "keyslots");
	REFUSED(with_field(f.json, "keyslots", "[\"100\"]"), "keyslots");
	REFUSED(with_field(f.json, "keyslots", "[\"-1\"]"), "keyslots");
	REFUSED(with_field(f.json, "keyslots", "[\"01\"]"), "keyslots");
	REFUSED(with_field(f.json, "keyslots", "[\"00\"]"), "keyslots");
	REFUSED(with_field(f.json, "keyslots", "[\"a\"]"), "keyslots");
	REFUSED(with_field(f.json, "keyslots", "[\"1a\"]"), "keyslots");
	REFUSED(with_field(f.json, "keyslots", "[\"0x1\"]"), "keyslots");
	REFUSED(with_field(f.json, "keyslots", "[\"\"]"), "keyslots");
	REFUSED(with_field(f.json, "keyslots", "[\"1 \"]"), "keyslots");
	REFUSED(with_field(f.json, "keyslots", "\"1\""), "keyslots");
	REFUSED(with_field(f.json, "keyslots", "1"), "keyslots");
	REFUSED(with_field(f.json, "keyslots", "{\"0\":\"1\"}"), "keyslots");
	REFUSED(with_field(f.json, "keyslots", "null"), "keyslots");
	fixture_free(&f);
}

ATF_TC_WITHOUT_HEAD(keyslots_boundaries_accepted);
ATF_TC_BODY(keyslots_boundaries_accepted, tc)
{
	static const struct {
		const char *json;
		int slot;
	} ok[] = { { "[\"0\"]", 0 }, { "[\"7\"]", 7 }, { "[\"10\"]", 10 }, { "[\"31\"]", 31 } };
	struct fixture f;

	fixture_make(&f, "aes-xts-512", 1);
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct sk_token token;

		ACCEPTED(with_field(f.json, "keyslots", ok[i].json), &token);
		ATF_CHECK_EQ_MSG(token.keyslot, ok[i].slot, "%s parsed as %d", ok[i].json,
				 token.keyslot);
		sk_token_free(&token);
	}
	fixture_free(&f);
}

/*
 * A keyslot is a decimal number as a string, as LUKS2 writes it; strtol()
 * also takes a sign and leading white space.
 */
ATF_TC_WITHOUT_HEAD(keyslots_sign_and_space_refused);
ATF_TC_BODY(keyslots_sign_and_space_refused, tc)
{
	static const char *const bad[] = { "[\"+1\"]", "[\" 1\"]", "[\"\\t1\"]", "[\"\\n1\"]",
					   "[\"-0\"]", "[\"+0\"]" };
	struct fixture f;

	fixture_make(&f, "aes-xts-512", 1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		REFUSED(with_field(f.json, "keyslots", bad[i]), "keyslots");
	fixture_free(&f);
}

/* ---- apqns -------------------------------------------------------------------- */

/* A JSON array of @n distinct APQNs, @dup making the last equal to the first. */
static char *apqn_array(size_t n, bool dup)
{
	char *text = malloc(n * 12 + 3), *p = text;

	ATF_REQUIRE(text != NULL);
	*p++ = '[';
	for (size_t i = 0; i < n; i++) {
		unsigned adapter = dup && n > 1 && i == n - 1 ? 1 : (unsigned)i + 1;

		p += sprintf(p, "%s\"%02x.0001\"", i ? "," : "", adapter);
	}
	*p++ = ']';
	*p = '\0';
	return text;
}

ATF_TC_WITHOUT_HEAD(apqns_refused);
ATF_TC_BODY(apqns_refused, tc)
{
	static const char *const bad[] = {
		"[]",
		"[\"1.1\"]",
		"[\"01.001\"]",
		"[\"01.00001\"]",
		"[\"001.0001\"]",
		"[\"01-0001\"]",
		"[\"0g.0001\"]",
		"[\"01.0001 \"]",
		"[\" 01.0001\"]",
		"[\"01.0001,02.0001\"]",
		"[\"\"]",
		"[1]",
		"[null]",
		"[[\"01.0001\"]]",
		"[\"01.0001\",\"02.0001\",\"01.0001\"]",
		"[\"01.0001\",\"01.0001\"]",
		"[\"0a.00ff\",\"0A.00FF\"]",
		"\"01.0001\"",
		"{\"01.0001\":true}",
		"null",
	};
	struct fixture f;
	char *arr;

	fixture_make(&f, "aes-xts-512", 1);
	REFUSED(with_field(f.json, "apqns", NULL), "apqns");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		REFUSED(with_field(f.json, "apqns", bad[i]), "apqns");
	arr = apqn_array(17, false);
	REFUSED(with_field(f.json, "apqns", arr), "apqns");
	free(arr);
	arr = apqn_array(16, true);
	REFUSED(with_field(f.json, "apqns", arr), "apqns");
	free(arr);
	arr = apqn_array(1000, false);
	REFUSED(with_field(f.json, "apqns", arr), "apqns");
	free(arr);
	fixture_free(&f);
}

ATF_TC_WITHOUT_HEAD(apqns_sixteen_accepted);
ATF_TC_BODY(apqns_sixteen_accepted, tc)
{
	struct sk_token token;
	struct fixture f;
	char *arr = apqn_array(16, false);
	char text[256];

	fixture_make(&f, "aes-xts-512", 1);
	ACCEPTED(with_field(f.json, "apqns", arr), &token);
	ATF_REQUIRE_EQ(token.apqns.count, (size_t)16);
	sk_apqn_list_format(&token.apqns, text, sizeof(text));
	ATF_REQUIRE_MSG(!strncmp(text, "01.0001,02.0001,", 16) && strstr(text, ",10.0001"),
			"%s", text);
	sk_token_free(&token);
	/* upper-case hex is an APQN too */
	ACCEPTED(with_field(f.json, "apqns", "[\"0A.00FF\"]"), &token);
	ATF_REQUIRE_EQ(token.apqns.count, (size_t)1);
	ATF_REQUIRE(sk_apqn_equal(&token.apqns.items[0], &(struct sk_apqn){ 0x0a, 0xff }));
	sk_token_free(&token);
	free(arr);
	fixture_free(&f);
}

/* ---- secure_key and mkvp -------------------------------------------------------- */

ATF_TC_WITHOUT_HEAD(secure_key_not_base64_refused);
ATF_TC_BODY(secure_key_not_base64_refused, tc)
{
	struct fixture f;
	char *b64, *text;
	size_t n;

	fixture_make(&f, "aes-xts-512", 1); /* 108 bytes: base64 without padding */
	b64 = sk_base64_encode(f.blob, f.blob_len);
	ATF_REQUIRE(b64 != NULL);
	n = strlen(b64);
	ATF_REQUIRE_EQ(n, (size_t)144);

	REFUSED(with_field(f.json, "secure_key", NULL), "secure_key");
	REFUSED(with_field(f.json, "secure_key", "\"\""), "secure_key");
	REFUSED(with_field(f.json, "secure_key", "\"!!!!\""), "secure_key");
	REFUSED(with_field(f.json, "secure_key", "\"not base64 at all\""), "secure_key");
	REFUSED(with_field(f.json, "secure_key", "42"), "secure_key");
	REFUSED(with_field(f.json, "secure_key", "[]"), "secure_key");
	REFUSED(with_field(f.json, "secure_key", "null"), "secure_key");

	text = malloc(n + 8);
	ATF_REQUIRE(text != NULL);
	/* one character missing, one too many, a character outside the alphabet */
	snprintf(text, n + 8, "\"%.*s\"", (int)n - 1, b64);
	REFUSED(with_field(f.json, "secure_key", text), "secure_key");
	snprintf(text, n + 8, "\"%sA\"", b64);
	REFUSED(with_field(f.json, "secure_key", text), "secure_key");
	snprintf(text, n + 8, "\"%.*s-%s\"", 10, b64, b64 + 11);
	REFUSED(with_field(f.json, "secure_key", text), "secure_key");
	snprintf(text, n + 8, "\"%.*s_%s\"", 10, b64, b64 + 11);
	REFUSED(with_field(f.json, "secure_key", text), "secure_key");
	free(text);
	free(b64);
	fixture_free(&f);
}

/* Base64 that decodes to the right bytes but is not the canonical encoding. */
ATF_TC_WITHOUT_HEAD(secure_key_non_canonical_base64_refused);
ATF_TC_BODY(secure_key_non_canonical_base64_refused, tc)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	struct fixture f;
	char *b64, *text;
	size_t n;

	/* aes-256: 76 bytes, base64 ends in "x==" with 4 unused bits in x */
	fixture_make(&f, "aes-256", 1);
	b64 = sk_base64_encode(f.blob, f.blob_len);
	ATF_REQUIRE(b64 != NULL);
	n = strlen(b64);
	ATF_REQUIRE_MSG(n >= 4 && !strcmp(b64 + n - 2, "=="), "%s", b64);
	text = malloc(n + 16);
	ATF_REQUIRE(text != NULL);
	{
		char *odd = strdup(b64);
		size_t idx = (size_t)(strchr(alphabet, odd[n - 3]) - alphabet);

		ATF_REQUIRE(odd != NULL);
		ATF_REQUIRE_EQ(idx & 0xf, (size_t)0);
		odd[n - 3] = alphabet[idx | 1]; /* same bytes, a non-zero unused bit */
		snprintf(text, n + 16, "\"%s\"", odd);
		REFUSED(with_field(f.json, "secure_key", text), "secure_key");
		free(odd);
	}
	/* padding left out, padding doubled */
	snprintf(text, n + 16, "\"%.*s\"", (int)n - 2, b64);
	REFUSED(with_field(f.json, "secure_key", text), "secure_key");
	snprintf(text, n + 16, "\"%s====\"", b64);
	REFUSED(with_field(f.json, "secure_key", text), "secure_key");
	/* white space, line breaks */
	snprintf(text, n + 16, "\" %s\"", b64);
	REFUSED(with_field(f.json, "secure_key", text), "secure_key");
	snprintf(text, n + 16, "\"%s\\n\"", b64);
	REFUSED(with_field(f.json, "secure_key", text), "secure_key");
	snprintf(text, n + 16, "\"%.*s\\n%s\"", 64, b64, b64 + 64);
	REFUSED(with_field(f.json, "secure_key", text), "secure_key");
	snprintf(text, n + 16, "\"%.*s\\r\\n%s\"", 64, b64, b64 + 64);
	REFUSED(with_field(f.json, "secure_key", text), "secure_key");
	free(text);
	free(b64);
	fixture_free(&f);
}

ATF_TC_WITHOUT_HEAD(secure_key_truncated_or_extended_refused);
ATF_TC_BODY(secure_key_truncated_or_extended_refused, tc)
{
	unsigned char longer[SK_BLOB_MAX_LEN + 1];
	struct fixture f;
	static const size_t cut[] = { 1, 3, 16, 64 };

	fixture_make(&f, "aes-xts-512", 1);
	/* keep the mkvp field right, so only the blob's length is wrong */
	for (size_t i = 0; i < sizeof(cut) / sizeof(cut[0]); i++)
		REFUSED(with_secure_key(f.json, NULL, f.blob, f.blob_len - cut[i]),
			"secure_key");
	REFUSED(with_secure_key(f.json, NULL, f.blob, 12), "secure_key");
	REFUSED(with_secure_key(f.json, NULL, f.blob, 1), "secure_key");
	memcpy(longer, f.blob, f.blob_len);
	longer[f.blob_len] = 0;
	REFUSED(with_secure_key(f.json, NULL, longer, f.blob_len + 1),
		"secure_key");
	fixture_free(&f);
}

/* Every error message logged since the last reset, one per line. */
static char all_errors[1 << 16];

static void all_sink(enum sk_log_level level, const char *msg, void *ctx)
{
	size_t n = strlen(all_errors);

	(void)ctx;
	if (level == SK_LOG_ERROR)
		snprintf(all_errors + n, sizeof(all_errors) - n, "%s\n", msg);
}

/* Parse must fail with -EINVAL; the messages name @field and say @why. Takes @text. */
static void require_refused_why(char *text, const char *field, const char *why)
{
	struct sk_token token;
	int r;

	all_errors[0] = '\0';
	sk_log_set_sink(all_sink, NULL);
	r = sk_token_parse(text, &token);
	if (r == 0)
		sk_token_free(&token);
	ATF_CHECK_EQ_MSG(r, -EINVAL, "parse returned %d, expected -EINVAL (%s)", r, why);
	ATF_CHECK_MSG(strstr(all_errors, field) && strstr(all_errors, why),
		      "messages lack '%s' or '%s': %s", field, why, all_errors);
	free(text);
}

ATF_TC_WITHOUT_HEAD(secure_key_bad_header_refused);
ATF_TC_BODY(secure_key_bad_header_refused, tc)
{
	struct fixture f;
	unsigned char *b;

	fixture_make(&f, "aes-xts-512", 1);
	b = malloc(f.blob_len);
	ATF_REQUIRE(b != NULL);
	/* every bit of the magic */
	for (size_t bit = 0; bit < 32; bit++) {
		memcpy(b, f.blob, f.blob_len);
		b[bit / 8] ^= (unsigned char)(1u << (bit % 8));
		REFUSED(with_secure_key(f.json, NULL, b, f.blob_len),
			"secure_key");
	}
	memcpy(b, f.blob, f.blob_len);
	b[0] ^= 0x01;
	require_refused_why(with_secure_key(f.json, NULL, b, f.blob_len),
			    "secure_key", "bad magic");
	/* version, key type, key bits */
	memcpy(b, f.blob, f.blob_len);
	b[4] ^= 0x02;
	require_refused_why(with_secure_key(f.json, NULL, b, f.blob_len),
			    "secure_key", "version");
	memcpy(b, f.blob, f.blob_len);
	b[5] ^= 0x04;
	require_refused_why(with_secure_key(f.json, NULL, b, f.blob_len),
			    "secure_key", "key type");
	memcpy(b, f.blob, f.blob_len);
	b[6] ^= 0x01;
	REFUSED(with_secure_key(f.json, NULL, b, f.blob_len), "secure_key");
	memcpy(b, f.blob, f.blob_len);
	b[7] ^= 0x80;
	REFUSED(with_secure_key(f.json, NULL, b, f.blob_len), "secure_key");
	/* the blob's MKVP no longer matches the field */
	memcpy(b, f.blob, f.blob_len);
	b[8] ^= 0x01;
	REFUSED(with_secure_key(f.json, NULL, b, f.blob_len), "mkvp");
	free(b);
	fixture_free(&f);
}

ATF_TC_WITHOUT_HEAD(mkvp_refused);
ATF_TC_BODY(mkvp_refused, tc)
{
	struct fixture f;
	char bad[64];

	fixture_make(&f, "aes-xts-512", 1);
	REFUSED(with_field(f.json, "mkvp", NULL), "mkvp");
	REFUSED(with_field(f.json, "mkvp", "\"\""), "mkvp");
	snprintf(bad, sizeof(bad), "\"%.15s\"", f.mkvp_hex);
	REFUSED(with_field(f.json, "mkvp", bad), "mkvp");
	snprintf(bad, sizeof(bad), "\"%s0\"", f.mkvp_hex);
	REFUSED(with_field(f.json, "mkvp", bad), "mkvp");
	snprintf(bad, sizeof(bad), "\"%.14szz\"", f.mkvp_hex);
	REFUSED(with_field(f.json, "mkvp", bad), "mkvp");
	snprintf(bad, sizeof(bad), "\"0x%.14s\"", f.mkvp_hex);
	REFUSED(with_field(f.json, "mkvp", bad), "mkvp");
	snprintf(bad, sizeof(bad), "\" %.15s\"", f.mkvp_hex);
	REFUSED(with_field(f.json, "mkvp", bad), "mkvp");
	REFUSED(with_field(f.json, "mkvp", "1234"), "mkvp");
	REFUSED(with_field(f.json, "mkvp", "null"), "mkvp");
	REFUSED(with_field(f.json, "mkvp", "[]"), "mkvp");
	/* 16 hex digits, but another master key's */
	snprintf(bad, sizeof(bad), "\"%s\"", f.mkvp_hex);
	bad[1] = bad[1] == '0' ? '1' : '0';
	REFUSED(with_field(f.json, "mkvp", bad), "mkvp");
	snprintf(bad, sizeof(bad), "\"%s\"", f.mkvp_hex);
	bad[16] = bad[16] == 'f' ? 'e' : 'f';
	REFUSED(with_field(f.json, "mkvp", bad), "mkvp");
	REFUSED(with_field(f.json, "mkvp", "\"0000000000000000\""), "mkvp");
	fixture_free(&f);
}

/* Hex digits in either case, as sk_mkvp_from_hex allows. */
ATF_TC_WITHOUT_HEAD(mkvp_upper_case_accepted);
ATF_TC_BODY(mkvp_upper_case_accepted, tc)
{
	struct sk_token token;
	struct fixture f;
	char upper[32];

	fixture_make(&f, "aes-xts-512", 1);
	snprintf(upper, sizeof(upper), "\"%s\"", f.mkvp_hex);
	for (char *p = upper; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	ACCEPTED(with_field(f.json, "mkvp", upper), &token);
	ATF_REQUIRE(sk_mkvp_equal(token.current.mkvp, f.mkvp));
	sk_token_free(&token);
	fixture_free(&f);
}

/*
 * json-c strings may hold U+0000; a field is only what json_object_get_string
 * shows up to the first NUL, so "securekey\u0000x" must not count as
 * "securekey".
 */
ATF_TC_WITHOUT_HEAD(embedded_nul_refused);
ATF_TC_BODY(embedded_nul_refused, tc)
{
	struct fixture f;
	char *b64 = NULL, *key = NULL, hex[40];
	struct {
		const char *field;
		char *value;
	} bad[6];

	fixture_make(&f, "aes-xts-512", 1);
	b64 = sk_base64_encode(f.blob, f.blob_len);
	ATF_REQUIRE(b64 != NULL);
	key = malloc(strlen(b64) + 16);
	ATF_REQUIRE(key != NULL);
	sprintf(key, "\"%s\\u0000AAAA\"", b64);
	snprintf(hex, sizeof(hex), "\"%s\\u0000\"", f.mkvp_hex);
	bad[0].field = "type", bad[0].value = strdup("\"securekey\\u0000x\"");
	bad[1].field = "key_type", bad[1].value = strdup("\"aes-xts-512\\u0000\"");
	bad[2].field = "keyslots", bad[2].value = strdup("[\"1\\u0000\"]");
	bad[3].field = "apqns", bad[3].value = strdup("[\"01.0001\\u0000\",\"02.0001\"]");
	bad[4].field = "mkvp", bad[4].value = strdup(hex);
	bad[5].field = "secure_key", bad[5].value = strdup(key);
	for (size_t i = 0; i < 6; i++) {
		REFUSED(with_field(f.json, bad[i].field, bad[i].value), bad[i].field);
		free(bad[i].value);
	}
	free(key);
	free(b64);
	fixture_free(&f);
}

/* ---- staged --------------------------------------------------------------------- */

ATF_TC_WITHOUT_HEAD(staged_accepted);
ATF_TC_BODY(staged_accepted, tc)
{
	struct sk_token token;
	unsigned char *blob2;
	size_t len2;
	struct fixture f;
	char *t1;

	fixture_make(&f, "aes-xts-512", 1);
	wrap_new(f.hsm, "aes-xts-512", &blob2, &len2, NULL);
	t1 = with_field(f.json, "staged", "{}");
	ACCEPTED(with_blob(t1, "staged", blob2, len2), &token);
	free(t1);
	ATF_REQUIRE(token.has_staged);
	require_key_equal(&token.staged, blob2, len2, "staged");
	require_same_fields(&token, &f);
	sk_token_free(&token);
	free(blob2);
	fixture_free(&f);
}

ATF_TC_WITHOUT_HEAD(staged_refused);
ATF_TC_BODY(staged_refused, tc)
{
	struct fixture f;
	unsigned char *blob2, *other, *b;
	size_t len2, other_len;
	char *with_staged, *t, *bad_hex;

	fixture_make(&f, "aes-xts-512", 1);
	wrap_new(f.hsm, "aes-xts-512", &blob2, &len2, NULL);
	wrap_new(f.hsm, "aes-256", &other, &other_len, NULL);
	t = with_field(f.json, "staged", "{}");
	with_staged = with_blob(t, "staged", blob2, len2);
	free(t);

	/* not an object */
	REFUSED(with_field(f.json, "staged", "\"x\""), "staged");
	REFUSED(with_field(f.json, "staged", "[]"), "staged");
	REFUSED(with_field(f.json, "staged", "1"), "staged");
	REFUSED(with_field(f.json, "staged", "true"), "staged");
	REFUSED(with_field(f.json, "staged", "null"), "staged");
	REFUSED(with_field(f.json, "staged", "{}"), "staged");

	/* a bad blob or mkvp */
	REFUSED(with_inner(with_staged, "staged", "secure_key", NULL), "staged");
	REFUSED(with_inner(with_staged, "staged", "mkvp", NULL), "staged");
	REFUSED(with_inner(with_staged, "staged", "secure_key", "\"!!!!\""), "staged");
	REFUSED(with_inner(with_staged, "staged", "secure_key", "7"), "staged");
	REFUSED(with_inner(with_staged, "staged", "mkvp", "\"0123\""), "staged");
	REFUSED(with_secure_key(with_staged, "staged", blob2, len2 - 1),
		"staged");
	b = malloc(len2);
	ATF_REQUIRE(b != NULL);
	memcpy(b, blob2, len2);
	b[0] ^= 0x20; /* bad magic */
	REFUSED(with_secure_key(with_staged, "staged", b, len2), "staged");
	free(b);
	bad_hex = quoted("0000000000000000");
	REFUSED(with_inner(with_staged, "staged", "mkvp", bad_hex), "staged");
	free(bad_hex);

	/* a key of another type than key_type */
	t = with_field(f.json, "staged", "{}");
	REFUSED(with_blob(t, "staged", other, other_len), "staged");
	free(t);

	free(with_staged);
	free(blob2);
	free(other);
	fixture_free(&f);
}

ATF_TC_WITHOUT_HEAD(kms_not_object_refused);
ATF_TC_BODY(kms_not_object_refused, tc)
{
	struct fixture f;

	fixture_make(&f, "aes-xts-512", 1);
	REFUSED(with_field(f.json, "kms", "\"kmip://kms1:5696\""), "kms");
	REFUSED(with_field(f.json, "kms", "[\"kmip://kms1:5696\"]"), "kms");
	REFUSED(with_field(f.json, "kms", "0"), "kms");
	REFUSED(with_field(f.json, "kms", "false"), "kms");
	REFUSED(with_field(f.json, "kms", "null"), "kms");
	fixture_free(&f);
}

/* ---- set_staged / drop_staged / set_current ------------------------------------ */

static bool json_has(struct sk_token *token, const char *field)
{
	json_object *root = parse_json(sk_token_json(token));
	bool has = json_object_object_get_ex(root, field, NULL);

	json_object_put(root);
	return has;
}

ATF_TC_WITHOUT_HEAD(set_and_drop_staged);
ATF_TC_BODY(set_and_drop_staged, tc)
{
	unsigned char *blob2, *blob3;
	size_t len2, len3;
	struct sk_token back;
	json_object *root, *staged;
	char hex[SK_MKVP_HEX_LEN + 1];
	struct fixture f;

	fixture_make(&f, "aes-xts-512", 2);
	wrap_new(f.hsm, "aes-xts-512", &blob2, &len2, NULL);
	wrap_new(f.hsm, "aes-xts-512", &blob3, &len3, NULL);
	ATF_REQUIRE(!json_has(&f.token, "staged"));

	capture_start();
	ATF_REQUIRE_EQ_MSG(sk_token_set_staged(&f.token, blob2, len2), 0, "%s",
			   capture_last_error());
	ATF_REQUIRE(f.token.has_staged);
	require_key_equal(&f.token.staged, blob2, len2, "staged");
	require_key_equal(&f.token.current, f.blob, f.blob_len, "secure_key");
	root = parse_json(sk_token_json(&f.token));
	ATF_REQUIRE(json_object_object_get_ex(root, "staged", &staged) &&
		    json_object_is_type(staged, json_type_object));
	sk_mkvp_to_hex(blob2 + 8, hex);
	ATF_REQUIRE_STREQ(string_field(staged, "mkvp"), hex);
	{
		char *b64 = sk_base64_encode(blob2, len2);

		ATF_REQUIRE_STREQ(string_field(staged, "secure_key"), b64);
		free(b64);
	}
	json_object_put(root);
	ACCEPTED(strdup(sk_token_json(&f.token)), &back);
	ATF_REQUIRE(back.has_staged);
	require_key_equal(&back.staged, blob2, len2, "parsed staged");
	require_same_fields(&back, &f);
	sk_token_free(&back);

	/* a second set_staged replaces the first */
	ATF_REQUIRE_EQ(sk_token_set_staged(&f.token, blob3, len3), 0);
	require_key_equal(&f.token.staged, blob3, len3, "staged again");
	ACCEPTED(strdup(sk_token_json(&f.token)), &back);
	require_key_equal(&back.staged, blob3, len3, "parsed staged again");
	sk_token_free(&back);

	/* a bad blob is refused and changes nothing */
	{
		char *before = strdup(sk_token_json(&f.token));

		ATF_REQUIRE(before != NULL);
		capture_start();
		ATF_REQUIRE_EQ(sk_token_set_staged(&f.token, blob2, len2 - 1), -EINVAL);
		ATF_REQUIRE_EQ(sk_token_set_current(&f.token, blob2, len2 - 1), -EINVAL);
		ATF_REQUIRE_STREQ(sk_token_json(&f.token), before);
		require_key_equal(&f.token.staged, blob3, len3, "staged after refusal");
		require_key_equal(&f.token.current, f.blob, f.blob_len, "current after refusal");
		free(before);
	}

	sk_token_drop_staged(&f.token);
	ATF_REQUIRE(!f.token.has_staged);
	ATF_REQUIRE(f.token.staged.blob == NULL);
	ATF_REQUIRE(!json_has(&f.token, "staged"));
	ATF_REQUIRE_STREQ(sk_token_json(&f.token), f.json);
	ACCEPTED(strdup(sk_token_json(&f.token)), &back);
	ATF_REQUIRE(!back.has_staged);
	require_same_fields(&back, &f);
	sk_token_free(&back);
	/* dropping twice is harmless */
	sk_token_drop_staged(&f.token);
	ATF_REQUIRE_STREQ(sk_token_json(&f.token), f.json);

	free(blob2);
	free(blob3);
	fixture_free(&f);
}

/*
 * The token's key_type is fixed; a secure key of another type put into it
 * would give a token that sk_token_parse itself refuses.
 */
ATF_TC_WITHOUT_HEAD(set_key_of_other_type_refused);
ATF_TC_BODY(set_key_of_other_type_refused, tc)
{
	unsigned char *other;
	size_t other_len;
	struct fixture f;
	int rc, rs;

	fixture_make(&f, "aes-xts-512", 1);
	wrap_new(f.hsm, "aes-256", &other, &other_len, NULL);
	capture_start();
	rs = sk_token_set_staged(&f.token, other, other_len);
	rc = sk_token_set_current(&f.token, other, other_len);
	ATF_CHECK_EQ_MSG(rs, -EINVAL, "set_staged of an aes-256 key returned %d", rs);
	ATF_CHECK_EQ_MSG(rc, -EINVAL, "set_current of an aes-256 key returned %d", rc);
	{
		struct sk_token back;
		int r = sk_token_parse(sk_token_json(&f.token), &back);

		ATF_CHECK_EQ_MSG(r, 0, "the token no longer parses: %s", capture_last_error());
		if (r == 0)
			sk_token_free(&back);
	}
	free(other);
	fixture_free(&f);
}

/* ---- size limits ------------------------------------------------------------------ */

static char *filled(char c, size_t n)
{
	char *s = malloc(n + 3);

	ATF_REQUIRE(s != NULL);
	s[0] = '"';
	memset(s + 1, c, n);
	s[n + 1] = '"';
	s[n + 2] = '\0';
	return s;
}

ATF_TC_WITHOUT_HEAD(huge_strings_refused);
ATF_TC_BODY(huge_strings_refused, tc)
{
	struct fixture f;
	char *big;

	fixture_make(&f, "aes-xts-512", 1);
	/* 1 MiB of valid base64 (zero bytes) */
	big = filled('A', MIB);
	REFUSED(with_field(f.json, "secure_key", big), "secure_key");
	free(big);
	/* 1 MiB + 1 that is not base64 */
	big = filled('!', MIB + 1);
	REFUSED(with_field(f.json, "secure_key", big), "secure_key");
	free(big);
	/* a 1 MiB blob with a valid header of the right key type */
	{
		unsigned char *blob = calloc(1, MIB);
		char *q;

		ATF_REQUIRE(blob != NULL);
		memcpy(blob, f.blob, SK_BLOB_HEADER_LEN);
		q = quoted_b64(blob, MIB);
		REFUSED(with_field(f.json, "secure_key", q), "secure_key");
		free(q);
		q = quoted_b64(blob, MIB);
		{
			char *t = with_field(f.json, "staged", "{}");
			char *t2 = with_inner(t, "staged", "secure_key", q);
			char *hex = quoted(f.mkvp_hex);

			REFUSED(with_inner(t2, "staged", "mkvp", hex), "staged");
			free(hex);
			free(t2);
			free(t);
		}
		free(q);
		free(blob);
	}
	big = filled('a', MIB);
	REFUSED(with_field(f.json, "mkvp", big), "mkvp");
	REFUSED(with_field(f.json, "type", big), "type");
	REFUSED(with_field(f.json, "key_type", big), "key_type");
	free(big);
	big = filled('1', MIB);
	{
		char *arr = malloc(MIB + 8);

		ATF_REQUIRE(arr != NULL);
		sprintf(arr, "[%s]", big);
		REFUSED(with_field(f.json, "keyslots", arr), "keyslots");
		REFUSED(with_field(f.json, "apqns", arr), "apqns");
		free(arr);
	}
	free(big);
	fixture_free(&f);
}

/* Unknown fields may be big or deep; neither crashes the parser. */
ATF_TC_WITHOUT_HEAD(huge_or_deep_unknown_fields);
ATF_TC_BODY(huge_or_deep_unknown_fields, tc)
{
	struct sk_token token;
	struct fixture f;
	size_t depth = 100000;
	char *big, *deep, *t;
	int r;

	fixture_make(&f, "aes-xts-512", 1);
	big = filled('x', MIB);
	ACCEPTED(with_field(f.json, "future", big), &token);
	sk_token_free(&token);
	free(big);

	/* nesting that json-c's depth limit refuses: refused as JSON, no crash */
	deep = malloc(2 * depth + 1);
	ATF_REQUIRE(deep != NULL);
	memset(deep, '[', depth);
	memset(deep + depth, ']', depth);
	deep[2 * depth] = '\0';
	t = malloc(strlen(f.json) + 2 * depth + 32);
	ATF_REQUIRE(t != NULL);
	sprintf(t, "{\"future\":%s,%s", deep, f.json + 1);
	capture_start();
	r = sk_token_parse(t, &token);
	ATF_CHECK_EQ_MSG(r, -EINVAL, "deeply nested token returned %d", r);
	if (r == 0)
		sk_token_free(&token);
	free(t);
	free(deep);
	fixture_free(&f);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, create_json_parse_round_trip);
	ATF_TP_ADD_TC(tp, round_trip_every_key_type_and_keyslot);
	ATF_TP_ADD_TC(tp, create_refuses_bad_arguments);
	ATF_TP_ADD_TC(tp, unknown_fields_survive_set_current);
	ATF_TP_ADD_TC(tp, kms_object_accepted);
	ATF_TP_ADD_TC(tp, kms_fields_checked);
	ATF_TP_ADD_TC(tp, not_json_refused);
	ATF_TP_ADD_TC(tp, trailing_garbage_refused);
	ATF_TP_ADD_TC(tp, not_object_refused);
	ATF_TP_ADD_TC(tp, null_refused);
	ATF_TP_ADD_TC(tp, type_refused);
	ATF_TP_ADD_TC(tp, version_refused);
	ATF_TP_ADD_TC(tp, key_type_refused);
	ATF_TP_ADD_TC(tp, key_type_differing_from_blob_refused);
	ATF_TP_ADD_TC(tp, keyslots_refused);
	ATF_TP_ADD_TC(tp, keyslots_boundaries_accepted);
	ATF_TP_ADD_TC(tp, keyslots_sign_and_space_refused);
	ATF_TP_ADD_TC(tp, apqns_refused);
	ATF_TP_ADD_TC(tp, apqns_sixteen_accepted);
	ATF_TP_ADD_TC(tp, secure_key_not_base64_refused);
	ATF_TP_ADD_TC(tp, secure_key_non_canonical_base64_refused);
	ATF_TP_ADD_TC(tp, secure_key_truncated_or_extended_refused);
	ATF_TP_ADD_TC(tp, secure_key_bad_header_refused);
	ATF_TP_ADD_TC(tp, mkvp_refused);
	ATF_TP_ADD_TC(tp, mkvp_upper_case_accepted);
	ATF_TP_ADD_TC(tp, embedded_nul_refused);
	ATF_TP_ADD_TC(tp, staged_accepted);
	ATF_TP_ADD_TC(tp, staged_refused);
	ATF_TP_ADD_TC(tp, kms_not_object_refused);
	ATF_TP_ADD_TC(tp, set_and_drop_staged);
	ATF_TP_ADD_TC(tp, set_key_of_other_type_refused);
	ATF_TP_ADD_TC(tp, huge_strings_refused);
	ATF_TP_ADD_TC(tp, huge_or_deep_unknown_fields);
	return atf_no_error();
}
