#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "cr.h"
#include "escape.h"
#include "keyslot.h"
#include "log.h"

static const char usage[] =
	"Usage: securekey-cryptsetup validate DEVICE [--json]\n"
	"\n"
	"Check the securekey token of DEVICE and show its key type, APQNs, the MKVP\n"
	"of the secure key and of a staged one, the register that holds each, and\n"
	"the next step of a master-key change. Each key that a register holds is\n"
	"unwrapped and checked against the device's volume key, and the token's\n"
	"keyslot must open with it. Exits 1 when the token cannot unlock here: no\n"
	"register holds the master key of its keys, or a key does not unwrap or does\n"
	"not hold the volume key (the report, or --json, is printed all the same).\n"
	"Changes nothing, needs no passphrase.\n"
	"\n"
	"Options:\n"
	"  --json            print the result as JSON: one object also when DEVICE has\n"
	"                    no securekey token (\"token\": null, \"next_step\": \"enroll\")\n"
	"                    or cannot be checked (\"error\": the message on stderr)\n" CLI_COMMON_HELP;

/* A key is checked only when a register holds its master key. */
enum check { UNCHECKED, VALID, INVALID };

struct checks {
	enum check current, staged;
};

/* The derived passphrase of @vk must open the token's own keyslot. */
static int check_keyslot(struct sk_device *dev, const struct sk_secret *vk)
{
	int r = sk_keyslot_open_derived(dev->cd, dev->token.keyslot, vk);

	if (r < 0)
		sk_err("%s: keyslot %d of the securekey token does not open with the secure key; "
		       "remove the token and enroll again",
		       dev->path, dev->token.keyslot);
	return r < 0 ? r : 0;
}

/*
 * A token can parse and name a register's MKVP and still not unlock: an
 * altered ciphertext or tag, a key of another device, a keyslot that is
 * gone. Check what the plugin would do.
 */
static enum check check_key(struct sk_device *dev, struct sk_hsm *hsm,
			    const struct sk_token_key *key, const char *what, bool keyslot)
{
	struct sk_secret *vk = NULL;
	int r = sk_hsm_unwrap(hsm, key->blob, key->blob_len, &vk, NULL);

	if (r < 0)
		sk_err("%s: the %s does not unwrap (see above)", dev->path, what);
	if (!r && crypt_volume_key_verify(dev->cd, (const char *)vk->data, vk->len) < 0) {
		sk_err("%s: the %s does not hold the volume key of this device", dev->path, what);
		r = -EPERM;
	}
	if (!r && keyslot)
		r = check_keyslot(dev, vk);
	sk_secret_free(vk);
	return r < 0 ? INVALID : VALID;
}

static void check_keys(struct sk_device *dev, struct sk_hsm *hsm, const struct sk_key_state *st,
		       struct checks *c)
{
	c->current = c->staged = UNCHECKED;
	if (st->current_found)
		c->current = check_key(dev, hsm, &dev->token.current, "secure key", true);
	if (st->staged_found)
		c->staged = check_key(dev, hsm, &dev->token.staged, "staged secure key",
				      !st->current_found);
}

static json_object *key_json(const struct sk_token_key *key, bool found, enum sk_mk_register reg,
			     enum check check)
{
	json_object *obj = json_object_new_object();
	char hex[SK_MKVP_HEX_LEN + 1];

	sk_mkvp_to_hex(key->mkvp, hex);
	json_object_object_add(obj, "mkvp", json_object_new_string(hex));
	json_object_object_add(obj, "register",
			       json_object_new_string(cr_register_label(found, reg)));
	json_object_object_add(obj, "valid",
			       check == UNCHECKED ? NULL : json_object_new_boolean(check == VALID));
	return obj;
}

static const char *check_text(enum check check)
{
	return check == VALID ? ", verified" : check == INVALID ? ", INVALID (see above)" : "";
}

static json_object *kms_json(const struct sk_token_kms *kms)
{
	json_object *obj = json_object_new_object(), *servers = json_object_new_array();

	for (size_t i = 0; i < kms->n_servers; i++)
		json_object_array_add(servers, json_object_new_string(kms->servers[i]));
	json_object_object_add(obj, "servers", servers);
	json_object_object_add(obj, "key_id", json_object_new_string(kms->key_id));
	json_object_object_add(obj, "name", json_object_new_string(kms->name));
	return obj;
}

static void put_json(json_object *root)
{
	/* json-c escapes the C0 controls of the header's text; DEL and C1 too. */
	char *json = sk_escape_json(json_object_to_json_string_ext(
		root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));

	if (json)
		puts(json);
	free(json);
	json_object_put(root);
}

static void print_json(struct sk_device *dev, const struct sk_key_state *st,
		       const struct checks *c)
{
	json_object *root = json_object_new_object(), *apqns = json_object_new_array();
	const struct sk_token *t = &dev->token;
	char text[SK_APQN_TEXT_LEN + 1], name[16];

	json_object_object_add(root, "device", json_object_new_string(dev->path));
	json_object_object_add(root, "uuid", json_object_new_string(dev->uuid));
	json_object_object_add(root, "token", json_object_new_int(dev->token_id));
	json_object_object_add(root, "keyslot", json_object_new_int(t->keyslot));
	json_object_object_add(root, "key_type",
			       json_object_new_string(sk_key_spec_name(&t->key, name)));
	for (size_t i = 0; i < t->apqns.count; i++) {
		sk_apqn_format(&t->apqns.items[i], text);
		json_object_array_add(apqns, json_object_new_string(text));
	}
	json_object_object_add(root, "apqns", apqns);
	json_object_object_add(root, "secure_key",
			       key_json(&t->current, st->current_found, st->current_reg, c->current));
	json_object_object_add(root, "staged",
			       t->has_staged ? key_json(&t->staged, st->staged_found, st->staged_reg,
							c->staged)
					     : NULL);
	json_object_object_add(root, "kms", t->has_kms ? kms_json(&t->kms) : NULL);
	json_object_object_add(root, "next_step",
			       json_object_new_string(sk_key_state_next_name(st)));
	put_json(root);
}

/* A LUKS2 device without a securekey token: what to do is enroll it. */
static void print_json_no_token(const struct sk_device *dev)
{
	json_object *root = json_object_new_object();

	json_object_object_add(root, "device", json_object_new_string(dev->path));
	json_object_object_add(root, "uuid", json_object_new_string(dev->uuid));
	json_object_object_add(root, "token", NULL);
	json_object_object_add(root, "next_step", json_object_new_string("enroll"));
	put_json(root);
}

/*
 * With --json, every outcome is one JSON object (scripts never parse the
 * text): a failure before the report carries the first error message, as
 * stderr shows it, which this sink keeps while writing it there as usual.
 */
static char *first_error;

static void keep_first_error(enum sk_log_level level, const char *msg, void *ctx)
{
	(void)ctx;
	if (level == SK_LOG_ERROR && !first_error)
		first_error = strdup(msg);
	fprintf(stderr, "%s\n", msg);
}

static void print_json_error(const char *path, int r)
{
	json_object *root = json_object_new_object();

	json_object_object_add(root, "device", json_object_new_string(path));
	json_object_object_add(root, "error",
			       json_object_new_string(first_error ? first_error : strerror(-r)));
	put_json(root);
}

static const char *where_text(bool found, enum sk_mk_register reg)
{
	static char text[48];

	if (!found)
		return "under no master key register";
	snprintf(text, sizeof(text), "under the %s master key", sk_register_name(reg));
	return text;
}

static void print_text(struct sk_device *dev, const struct sk_key_state *st,
		       const struct checks *c)
{
	const struct sk_token *t = &dev->token;
	char hex[SK_MKVP_HEX_LEN + 1], name[16];

	printf("Device:        %s\nUUID:          %s\nToken:         %d (keyslot %d)\n", dev->path,
	       dev->uuid, dev->token_id, t->keyslot);
	printf("Key type:      %s\nAPQNs:         %s\n", sk_key_spec_name(&t->key, name),
	       cli_apqns_text_of(&t->apqns));
	sk_mkvp_to_hex(t->current.mkvp, hex);
	printf("Secure key:    MKVP %s, %s%s\n", hex,
	       where_text(st->current_found, st->current_reg), check_text(c->current));
	if (t->has_staged) {
		sk_mkvp_to_hex(t->staged.mkvp, hex);
		printf("Staged key:    MKVP %s, %s%s\n", hex,
		       where_text(st->staged_found, st->staged_reg), check_text(c->staged));
	}
	if (t->has_kms) {
		/* Header text, to a terminal: escaped (escape.h). */
		char text[SK_ESCAPE_SIZE(SK_TOKEN_KMS_TEXT_MAX)];
		char name_text[SK_ESCAPE_SIZE(SK_TOKEN_KMS_TEXT_MAX)];

		sk_escape(text, sizeof(text), t->kms.key_id, 0);
		sk_escape(name_text, sizeof(name_text), t->kms.name, 0);
		printf("KMS key:       %s (name %s)\n", text, name_text);
		for (size_t i = 0; i < t->kms.n_servers; i++) {
			sk_escape(text, sizeof(text), t->kms.servers[i], 0);
			printf("KMS server:    %s%s\n", text, i ? "" : " (primary)");
		}
	} else {
		printf("KMS:           none\n");
	}
	printf("Next step:     %s\n", sk_key_state_next_name(st));
}

/*
 * No register holds the master key of either key: the token cannot unlock
 * here (the plugin would need the KMS), which monitoring must see as a
 * failure, as zkey-cryptsetup's validate does.
 */
static int check_usable(struct sk_device *dev, const struct sk_key_state *st)
{
	if (sk_key_state_pick(&dev->token, st, NULL))
		return 0;
	sk_err("%s: the secure key is enciphered with a master key that no register of APQNs "
	       "%s holds: the token cannot unlock the device here",
	       dev->path, cli_apqns_text_of(&dev->token.apqns));
	return -ENOKEY;
}

/* Mid-change: the next step is the officer's commit, not "none". */
static void print_uncommitted(const struct sk_key_state *st)
{
	char advice[512];

	sk_key_state_commit_advice(st, advice, sizeof(advice));
	printf("NEW master key: loaded, not committed: %s,\n"
	       "               then 'securekey-cryptsetup reencipher' with --staged\n", advice);
}

/*
 * The report of a device with a securekey token; *printed once it is out
 * (it is printed even when the token cannot unlock here, which r says).
 */
static int report(struct sk_device *dev, bool *printed)
{
	struct sk_hsm *hsm = NULL;
	struct sk_key_state st;
	struct checks checks;
	int r = cr_open_hsm(&dev->token, &hsm);

	if (!r)
		r = sk_key_state_get(hsm, &dev->token, &st);
	if (!r)
		check_keys(dev, hsm, &st, &checks);
	if (!r && cr.json)
		print_json(dev, &st, &checks);
	else if (!r)
		print_text(dev, &st, &checks);
	*printed = !r;
	if (!r && !cr.json && sk_key_state_waits_commit(&st))
		print_uncommitted(&st);
	if (!r && (checks.current == INVALID || checks.staged == INVALID))
		r = -EINVAL;
	if (!r)
		r = check_usable(dev, &st);
	sk_hsm_close(hsm);
	return r;
}

int cr_validate(int argc, char **argv)
{
	static const struct option options[] = {
		CLI_COMMON_OPTIONS,
		{ "json", no_argument, NULL, OPT_JSON },
		{ NULL, 0, NULL, 0 },
	};
	struct sk_device *dev = NULL;
	bool printed = false;
	char **args;
	int r = cr_parse(argc, argv, options, usage, 1, NULL, NULL, &args);

	if (r)
		return r < 0 ? 0 : r;
	if (cr.json)
		sk_log_set_sink(keep_first_error, NULL);
	/* Opened without needing the token: --json reports a device without one. */
	r = sk_device_open(args[0], false, false, &dev);
	if (!r && dev->token_id < 0) {
		r = sk_device_no_token(dev);
		if (cr.json)
			print_json_no_token(dev);
		printed = true;
	} else if (!r) {
		r = report(dev, &printed);
	}
	if (r < 0 && cr.json && !printed)
		print_json_error(args[0], r);
	sk_log_set_sink(NULL, NULL);
	free(first_error);
	first_error = NULL;
	sk_device_close(dev);
	return cli_exit_code(r);
}
