#include "config.h"

#include <stdio.h>

#include <json-c/json.h>

#include "cr.h"

static const char usage[] =
	"Usage: securekey-cryptsetup validate DEVICE [--json]\n"
	"\n"
	"Check the securekey token of DEVICE and show its key type, APQNs, the MKVP\n"
	"of the secure key and of a staged one, the register that holds each, and\n"
	"the next step of a master-key change. Changes nothing, needs no passphrase.\n"
	"\n"
	"Options:\n" CR_COMMON_HELP;

static json_object *key_json(const struct sk_token_key *key, bool found, enum sk_mk_register reg)
{
	json_object *obj = json_object_new_object();
	char hex[SK_MKVP_HEX_LEN + 1];

	sk_mkvp_to_hex(key->mkvp, hex);
	json_object_object_add(obj, "mkvp", json_object_new_string(hex));
	json_object_object_add(obj, "register",
			       json_object_new_string(cr_register_label(found, reg)));
	return obj;
}

static void print_json(struct sk_device *dev, const struct sk_key_state *st)
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
			       key_json(&t->current, st->current_found, st->current_reg));
	json_object_object_add(root, "staged",
			       t->has_staged ? key_json(&t->staged, st->staged_found, st->staged_reg)
					     : NULL);
	json_object_object_add(root, "kms", json_object_new_boolean(t->has_kms));
	json_object_object_add(root, "next_step",
			       json_object_new_string(sk_next_step_name(st->next)));
	puts(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
							  JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
}

static void print_text(struct sk_device *dev, const struct sk_key_state *st)
{
	const struct sk_token *t = &dev->token;
	char hex[SK_MKVP_HEX_LEN + 1], name[16];

	printf("Device:        %s\nUUID:          %s\nToken:         %d (keyslot %d)\n", dev->path,
	       dev->uuid, dev->token_id, t->keyslot);
	printf("Key type:      %s\nAPQNs:         %s\n", sk_key_spec_name(&t->key, name),
	       cli_apqns_text_of(&t->apqns));
	sk_mkvp_to_hex(t->current.mkvp, hex);
	printf("Secure key:    MKVP %s, under the %s master key\n", hex,
	       cr_register_label(st->current_found, st->current_reg));
	if (t->has_staged) {
		sk_mkvp_to_hex(t->staged.mkvp, hex);
		printf("Staged key:    MKVP %s, under the %s master key\n", hex,
		       cr_register_label(st->staged_found, st->staged_reg));
	}
	printf("KMS:           %s\nNext step:     %s\n", t->has_kms ? "bound" : "none",
	       sk_next_step_name(st->next));
}

int cr_validate(int argc, char **argv)
{
	static const struct option options[] = {
		CR_COMMON_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	struct sk_device *dev = NULL;
	struct sk_hsm *hsm = NULL;
	struct sk_key_state st;
	char **args;
	int r = cr_parse(argc, argv, options, usage, 1, NULL, NULL, &args);

	if (r)
		return r < 0 ? 0 : r;
	r = sk_device_open(args[0], false, true, &dev);
	if (!r)
		r = cr_open_hsm(&dev->token, &hsm);
	if (!r)
		r = sk_key_state_get(hsm, &dev->token, &st);
	if (!r && cr.json)
		print_json(dev, &st);
	else if (!r)
		print_text(dev, &st);
	sk_hsm_close(hsm);
	sk_device_close(dev);
	return cli_exit_code(r);
}
