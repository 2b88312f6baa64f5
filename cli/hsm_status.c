#include "config.h"

#include <stdio.h>

#include <json-c/json.h>

#include "cli.h"

static const char usage[] =
	"Usage: securekey hsm status [--apqns AA.DDDD[,...]] [--json] [--repair]\n"
	"\n"
	"Show the state, key-part count and MKVP of the OLD, CURRENT and NEW\n"
	"master-key registers of each APQN (all APQNs of the HSM by default), and\n"
	"whether the APQNs agree; for a PKCS#11 token also its module, label and\n"
	"serial, and a change that was cut short. Never shows key material.\n"
	"\n"
	"Options:\n"
	"  --apqns LIST      only these APQNs\n"
	"  --json            print JSON\n"
	"  --repair          first finish a change that was cut short (an 'hsm set'\n"
	"                    on a PKCS#11 token: NEW becomes CURRENT)\n" CLI_COMMON_HELP;

/* Agreement for display: same state, parts and MKVP on every APQN. */
static bool register_agrees(const struct sk_hsm_status *st, enum sk_mk_register reg)
{
	const struct sk_register_status *first = &st->apqns[0].reg[reg];

	for (size_t i = 1; i < st->count; i++) {
		const struct sk_register_status *r = &st->apqns[i].reg[reg];

		if (r->state != first->state || r->parts != first->parts ||
		    r->has_mkvp != first->has_mkvp ||
		    (r->has_mkvp && !sk_mkvp_equal(r->mkvp, first->mkvp)))
			return false;
	}
	return true;
}

static json_object *register_json(const struct sk_register_status *reg)
{
	json_object *obj = json_object_new_object();
	char hex[SK_MKVP_HEX_LEN + 1];

	json_object_object_add(obj, "state", json_object_new_string(sk_mk_state_name(reg->state)));
	json_object_object_add(obj, "parts", json_object_new_int((int)reg->parts));
	sk_mkvp_to_hex(reg->mkvp, hex);
	json_object_object_add(obj, "mkvp", reg->has_mkvp ? json_object_new_string(hex) : NULL);
	return obj;
}

/* The OAEP hash of each RSA key pair ("SHA-256", "SHA-1"), null for the other registers. */
static json_object *oaep_json(const struct sk_hsm_token_info *t)
{
	json_object *obj = json_object_new_object();

	for (int r = 0; r < SK_REG_COUNT; r++)
		json_object_object_add(obj, sk_register_name((enum sk_mk_register)r),
				       t->oaep_hash[r][0] ? json_object_new_string(t->oaep_hash[r])
							  : NULL);
	return obj;
}

/* "CURRENT SHA-256, NEW SHA-1": the RSA key pairs' OAEP hashes; false when there are none. */
static bool oaep_text(const struct sk_hsm_token_info *t, char *out, size_t size)
{
	size_t used = 0;

	out[0] = '\0';
	for (int r = 0; r < SK_REG_COUNT && used < size; r++)
		if (t->oaep_hash[r][0])
			used += (size_t)snprintf(out + used, size - used, "%s%s %s",
						 used ? ", " : "",
						 sk_register_name((enum sk_mk_register)r),
						 t->oaep_hash[r]);
	return out[0];
}

static json_object *token_json(const struct sk_hsm_token_info *t)
{
	json_object *obj;

	if (!t->present)
		return NULL;
	obj = json_object_new_object();
	json_object_object_add(obj, "module", json_object_new_string(t->module));
	json_object_object_add(obj, "label", json_object_new_string(t->label));
	json_object_object_add(obj, "serial", json_object_new_string(t->serial));
	json_object_object_add(obj, "model", json_object_new_string(t->model));
	json_object_object_add(obj, "cipher", json_object_new_string(t->cipher));
	json_object_object_add(obj, "kind_from", json_object_new_string(t->kind_configured
									    ? "securekey.conf"
									    : "mechanisms"));
	json_object_object_add(obj, "oaep_hash", oaep_json(t));
	return obj;
}

static void print_json(const struct sk_hsm *hsm, const struct sk_hsm_status *st)
{
	json_object *root = json_object_new_object();
	json_object *apqns = json_object_new_array(), *agree = json_object_new_object();
	char text[SK_APQN_TEXT_LEN + 1];

	json_object_object_add(root, "backend", json_object_new_string(st->backend));
	json_object_object_add(root, "location", json_object_new_string(sk_hsm_location(hsm)));
	/* what master keys are on a token; the soft HSM has AES-256 keys in files */
	json_object_object_add(root, "kind", json_object_new_string(st->token.present
									   ? st->token.kind
									   : "soft"));
	for (size_t i = 0; i < st->count; i++) {
		json_object *apqn = json_object_new_object(), *regs = json_object_new_object();

		sk_apqn_format(&st->apqns[i].apqn, text);
		json_object_object_add(apqn, "apqn", json_object_new_string(text));
		for (int r = 0; r < SK_REG_COUNT; r++)
			json_object_object_add(regs, sk_register_name((enum sk_mk_register)r),
					       register_json(&st->apqns[i].reg[r]));
		json_object_object_add(apqn, "registers", regs);
		json_object_array_add(apqns, apqn);
	}
	json_object_object_add(root, "apqns", apqns);
	for (int r = 0; r < SK_REG_COUNT; r++)
		json_object_object_add(agree, sk_register_name((enum sk_mk_register)r),
				       json_object_new_boolean(
					       register_agrees(st, (enum sk_mk_register)r)));
	json_object_object_add(root, "agree", agree);
	json_object_object_add(root, "token", token_json(&st->token));
	json_object_object_add(root, "repair",
			       st->repair[0] ? json_object_new_string(st->repair) : NULL);
	puts(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
}

static void print_register(const char *apqn, enum sk_mk_register reg,
			   const struct sk_register_status *st)
{
	char hex[SK_MKVP_HEX_LEN + 1] = "-", parts[24] = "-";

	if (st->has_mkvp)
		sk_mkvp_to_hex(st->mkvp, hex);
	if (reg == SK_REG_NEW && st->parts)
		snprintf(parts, sizeof(parts), "%u/%d", st->parts, SK_MK_MAX_PARTS);
	printf("%-8s %-8s %-17s %-5s %s\n", apqn, sk_register_name(reg),
	       sk_mk_state_name(st->state), parts, hex);
}

static void print_table(const struct sk_hsm *hsm, const struct sk_hsm_status *st)
{
	char text[SK_APQN_TEXT_LEN + 1], oaep[64];

	printf("HSM: %s backend, %s\n", st->backend, sk_hsm_location(hsm));
	if (st->token.present)
		printf("Token: '%s', serial %s, %s\nModule: %s\nKind: %s (%s)\nCipher: %s\n",
		       st->token.label, st->token.serial, st->token.model, st->token.module,
		       st->token.kind,
		       st->token.kind_configured ? "master_key_kind in securekey.conf"
						 : "chosen from the token's mechanisms",
		       st->token.cipher);
	if (st->token.present && oaep_text(&st->token, oaep, sizeof(oaep)))
		printf("OAEP hash: %s\n", oaep);
	printf("\n");
	printf("%-8s %-8s %-17s %-5s %s\n", "APQN", "REGISTER", "STATE", "PARTS", "MKVP");
	for (size_t i = 0; i < st->count; i++) {
		sk_apqn_format(&st->apqns[i].apqn, text);
		for (int r = 0; r < SK_REG_COUNT; r++)
			print_register(text, (enum sk_mk_register)r, &st->apqns[i].reg[r]);
	}
	printf("\n");
	for (int r = 0; r < SK_REG_COUNT; r++)
		printf("%-8s %s\n", sk_register_name((enum sk_mk_register)r),
		       register_agrees(st, (enum sk_mk_register)r)
			       ? "all APQNs agree"
			       : "APQNs DISAGREE: they do not form one set for this register");
	if (st->repair[0])
		printf("\nNeeds repair: %s.\n", st->repair);
}

static int repair(struct sk_hsm *hsm)
{
	int r = sk_hsm_repair(hsm, NULL);

	if (r > 0)
		printf("Repaired the change that was cut short on %s.\n\n", sk_hsm_location(hsm));
	else if (!r)
		printf("Nothing to repair on %s.\n\n", sk_hsm_location(hsm));
	return r < 0 ? r : 0;
}

int cmd_hsm_status(int argc, char **argv)
{
	static const struct option options[] = {
		CLI_COMMON_OPTIONS,
		{ "apqns", required_argument, NULL, OPT_APQNS },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "repair", no_argument, NULL, OPT_REPAIR },
		{ NULL, 0, NULL, 0 },
	};
	struct sk_hsm_status st;
	struct sk_hsm *hsm = NULL;
	const char *apqns = NULL;
	bool json = false, fix = false;
	int c, code = 0, r;

	while ((c = cli_getopt(argc, argv, options, usage, &code)) >= 0) {
		if (c == OPT_APQNS)
			apqns = optarg;
		else if (c == OPT_REPAIR)
			fix = true;
		else
			json = true;
	}
	if (c == -2)
		return code;
	if (!cli_no_arguments_left(argc, argv))
		return EXIT_USAGE;
	if (fix && json)
		return cli_usage_error("status: --repair prints text; run it without --json");
	r = cli_open_hsm(apqns, &hsm);
	if (!r && fix)
		r = repair(hsm);
	if (!r)
		r = sk_hsm_status(hsm, &st);
	if (!r && json)
		print_json(hsm, &st);
	else if (!r)
		print_table(hsm, &st);
	sk_hsm_close(hsm);
	return cli_exit_code(r);
}
