#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "cli.h"
#include "conf.h"
#include "identity.h"
#include "kms.h"
#include "log.h"

static const char usage[] =
	"Usage: securekey kms status [--json]\n"
	"\n"
	"Show the configured KMS servers and whether each accepts a mutually\n"
	"authenticated connection (and with which KMIP version), and where the\n"
	"identity key stands against the master-key registers. Exits non-zero when\n"
	"no KMS is configured, the identity key is unusable, or no server answers.\n"
	"\n"
	"Options:\n"
	"  --json            print JSON\n" CLI_COMMON_HELP;

struct identity_report {
	struct sk_key_state state;
	struct sk_token token;
	bool have_token;
	int error;
};

static void identity_report(const struct sk_config *cfg, struct identity_report *rep)
{
	struct sk_hsm *hsm = NULL;

	rep->error = cli_open_hsm_for(&cfg->apqns, &hsm);
	if (!rep->error)
		rep->error = sk_identity_read(cfg->identity_key, &cfg->apqns, &rep->token);
	if (!rep->error) {
		rep->error = sk_key_state_get(hsm, &rep->token, &rep->state);
		if (rep->error)
			sk_token_free(&rep->token);
		rep->have_token = !rep->error;
	}
	sk_hsm_close(hsm);
}

/* "ok" and the KMIP version, or what failed (the error is logged too). */
static json_object *probe(struct sk_kms *kms, const char *url)
{
	json_object *obj = json_object_new_object();
	struct sk_kmip_conn *conn = NULL;
	char version[16];
	int r = kms ? sk_kms_connect(kms, url, &conn) : -ENOKEY;

	json_object_object_add(obj, "url", json_object_new_string(url));
	json_object_object_add(obj, "reachable", json_object_new_boolean(r == 0));
	if (r == 0) {
		struct sk_kmip_version v = sk_kmip_conn_version(conn);

		snprintf(version, sizeof(version), "%d.%d", v.major, v.minor);
		json_object_object_add(obj, "kmip", json_object_new_string(version));
	}
	sk_kmip_close(conn);
	return obj;
}

static json_object *key_json(const struct sk_token_key *key, bool found, enum sk_mk_register reg)
{
	json_object *obj = json_object_new_object();
	char hex[SK_MKVP_HEX_LEN + 1];

	sk_mkvp_to_hex(key->mkvp, hex);
	json_object_object_add(obj, "mkvp", json_object_new_string(hex));
	json_object_object_add(obj, "register",
			       found ? json_object_new_string(sk_register_name(reg)) : NULL);
	return obj;
}

static json_object *identity_json(const struct sk_config *cfg, const struct identity_report *rep)
{
	json_object *obj = json_object_new_object();

	json_object_object_add(obj, "file", json_object_new_string(cfg->identity_key));
	json_object_object_add(obj, "apqns", json_object_new_string(cli_apqns_text_of(&cfg->apqns)));
	if (!rep->have_token)
		return obj;
	json_object_object_add(obj, "secure_key",
			       key_json(&rep->token.current, rep->state.current_found,
					rep->state.current_reg));
	if (rep->token.has_staged)
		json_object_object_add(obj, "staged",
				       key_json(&rep->token.staged, rep->state.staged_found,
						rep->state.staged_reg));
	json_object_object_add(obj, "next_step",
			       json_object_new_string(sk_next_step_name(rep->state.next)));
	return obj;
}

static void print_text(json_object *root)
{
	json_object *servers = json_object_object_get(root, "servers");
	json_object *id = json_object_object_get(root, "identity_key"), *key, *reg;

	printf("Configuration: %s\n", json_object_get_string(json_object_object_get(root, "config")));
	for (size_t i = 0; i < json_object_array_length(servers); i++) {
		json_object *s = json_object_array_get_idx(servers, i);
		json_object *kmip = json_object_object_get(s, "kmip");

		printf("%-10s %s: %s%s%s\n", i ? "Secondary" : "Primary",
		       json_object_get_string(json_object_object_get(s, "url")),
		       kmip ? "reachable, KMIP " : "NOT reachable", kmip ? json_object_get_string(kmip) : "",
		       "");
	}
	printf("Identity key: %s (APQNs %s)\n",
	       json_object_get_string(json_object_object_get(id, "file")),
	       json_object_get_string(json_object_object_get(id, "apqns")));
	for (int staged = 0; staged < 2; staged++) {
		key = json_object_object_get(id, staged ? "staged" : "secure_key");
		if (!key)
			continue;
		reg = json_object_object_get(key, "register");
		printf("  %-11s MKVP %s, %s\n", staged ? "staged:" : "secure key:",
		       json_object_get_string(json_object_object_get(key, "mkvp")),
		       reg ? json_object_get_string(reg) : "under no register");
	}
	if (json_object_object_get(id, "next_step"))
		printf("  next step:  %s\n",
		       json_object_get_string(json_object_object_get(id, "next_step")));
}

static int report(const struct sk_config *cfg, bool json)
{
	json_object *root = json_object_new_object(), *servers = json_object_new_array();
	struct identity_report rep = { 0 };
	struct sk_kms *kms = NULL;
	bool any = false;

	identity_report(cfg, &rep);
	if (!rep.error)
		rep.error = sk_kms_open(cfg, cli.hsm_dir, &kms);
	json_object_object_add(root, "config", json_object_new_string(cfg->path));
	for (size_t i = 0; i < cfg->n_servers; i++) {
		json_object *s = probe(kms, cfg->servers[i]);

		any |= json_object_get_boolean(json_object_object_get(s, "reachable"));
		json_object_array_add(servers, s);
	}
	json_object_object_add(root, "servers", servers);
	json_object_object_add(root, "identity_key", identity_json(cfg, &rep));
	if (json)
		puts(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
								  JSON_C_TO_STRING_NOSLASHESCAPE));
	else
		print_text(root);
	json_object_put(root);
	sk_kms_close(kms);
	if (rep.have_token)
		sk_token_free(&rep.token);
	return rep.error ? rep.error : any ? 0 : -ECONNREFUSED;
}

int cmd_kms_status(int argc, char **argv)
{
	static const struct option options[] = {
		CLI_COMMON_OPTIONS,
		{ "json", no_argument, NULL, OPT_JSON },
		{ NULL, 0, NULL, 0 },
	};
	const struct sk_config *cfg;
	bool json = false;
	int c, code = 0;

	while ((c = cli_getopt(argc, argv, options, usage, &code)) >= 0)
		json = true;
	if (c == -2)
		return code;
	if (!cli_no_arguments_left(argc, argv))
		return EXIT_USAGE;
	cfg = cli_kms_config();
	if (!cfg)
		return EXIT_REFUSED;
	return cli_exit_code(report(cfg, json));
}
