/*
 * The securekey LUKS2 token (JSON, see doc/design.md and securekey-token(7)):
 *   { "type": "securekey", "keyslots": ["1"], "version": 1,
 *     "key_type": "aes-xts-512", "apqns": ["01.0001"],
 *     "secure_key": "<base64>", "mkvp": "<16 hex>",
 *     "staged": { "secure_key": "<base64>", "mkvp": "<16 hex>" },
 *     "kms": { ... } }
 * Parsing is strict; fields this version does not know are kept as they are.
 */
#ifndef SECUREKEY_LUKS2_TOKEN_H
#define SECUREKEY_LUKS2_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "apqn.h"
#include "blob.h"

#define SK_TOKEN_TYPE "securekey"
#define SK_TOKEN_VERSION 1
#define SK_TOKEN_MAX_KEYSLOT 31

struct sk_token_key {
	unsigned char *blob;
	size_t blob_len;
	unsigned char mkvp[SK_MKVP_LEN];
};

#define SK_TOKEN_KMS_MAX_SERVERS 8
#define SK_TOKEN_KMS_TEXT_MAX 300

/* Where the KMS keeps a copy of the volume key. */
struct sk_token_kms {
	size_t n_servers; /* the first is the primary */
	char servers[SK_TOKEN_KMS_MAX_SERVERS][SK_TOKEN_KMS_TEXT_MAX];
	char key_id[SK_TOKEN_KMS_TEXT_MAX];
	char name[SK_TOKEN_KMS_TEXT_MAX];
};

struct sk_token {
	json_object *json; /* the whole token; owns unknown fields */
	int keyslot;
	struct sk_key_spec key;
	struct sk_apqn_list apqns;
	struct sk_token_key current;
	bool has_staged;
	struct sk_token_key staged;
	bool has_kms;
	struct sk_token_kms kms;
};

/* Parse and validate; logs what is wrong, naming the field. -EINVAL. */
int sk_token_parse(const char *json_text, struct sk_token *token);
/* A new token for @keyslot holding @blob (under the master key it names). */
int sk_token_create(int keyslot, const struct sk_apqn_list *apqns, const unsigned char *blob,
		    size_t blob_len, struct sk_token *token);
void sk_token_free(struct sk_token *token);

int sk_token_set_current(struct sk_token *token, const unsigned char *blob, size_t blob_len);
int sk_token_set_staged(struct sk_token *token, const unsigned char *blob, size_t blob_len);
void sk_token_drop_staged(struct sk_token *token);
int sk_token_set_kms(struct sk_token *token, const struct sk_token_kms *kms);

/* Compact JSON text, owned by @token until the next change. */
const char *sk_token_json(struct sk_token *token);

#endif
