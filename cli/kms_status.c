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
	"identity key stands against the master-key registers. When the identity\n"
	"key cannot be used, the servers are only checked for being up, and the\n"
	"way to a new identity key is shown. Exits non-zero when no KMS is\n"
	"configured, the identity key is unusable, or no server answers.\n"
	"\n"
	"Options:\n"
	"  --json            print JSON; with no KMS configured too, with\n"
	"                    \"configured\": false\n" CLI_COMMON_HELP;

struct identity_report {
	struct sk_key_state state;
	struct sk_token token;
	bool have_token;
	bool usable; /* unwrapped: the session could be opened */
	bool lost;   /* under no register, or no file: a new key is the way out */
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

/*
 * "reachable" and "authenticated" with the KMIP version, or what failed (the
 * error is logged too). Without a session (the identity key is unusable) a
 * TCP connection tells whether the server is up: it is not blamed for the key.
 */
static json_object *probe(struct sk_kms *kms, const struct sk_config *cfg, const char *url)
{
	json_object *obj = json_object_new_object();
	struct sk_kmip_conn *conn = NULL;
	struct sk_kmip_endpoint ep;
	char version[16];
	int r;

	if (kms)
		r = sk_kms_connect(kms, url, &conn);
	else
		r = sk_kmip_parse_url(url, &ep) < 0 ? -EINVAL
						     : sk_kmip_probe(&ep, cfg->timeout * 1000);
	json_object_object_add(obj, "url", json_object_new_string(url));
	json_object_object_add(obj, "reachable", json_object_new_boolean(r == 0));
	json_object_object_add(obj, "authenticated", json_object_new_boolean(kms && r == 0));
	if (kms && r == 0) {
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

/* What a lost (or missing) identity key needs: a new key and certificate, not the old file. */
static const char recovery_fmt[] =
	"  recovery:   the identity key cannot be used here; make a new one (the shredded key\n"
	"              file is not needed):\n"
	"                securekey kms configure --apqns %s --generate-key --csr client.csr\n"
	"                        [--subject /CN=NAME, the subject of the old certificate]\n"
	"              have the KMS administrator sign client.csr for client authentication\n"
	"              (and grant it the old identity's keys), then install it:\n"
	"                securekey kms configure --apqns %s --server URL... --ca CA.pem "
	"--cert SIGNED.pem\n";

static const char *identity_next(const struct identity_report *rep)
{
	if (rep->lost)
		return "new identity key (kms configure --generate-key)";
	return sk_next_step_name(rep->state.next);
}

static json_object *identity_json(const struct sk_config *cfg, const struct identity_report *rep)
{
	json_object *obj = json_object_new_object();

	json_object_object_add(obj, "file", json_object_new_string(cfg->identity_key));
	json_object_object_add(obj, "apqns", json_object_new_string(cli_apqns_text_of(&cfg->apqns)));
	json_object_object_add(obj, "usable", json_object_new_boolean(rep->usable));
	json_object_object_add(obj, "lost", json_object_new_boolean(rep->lost));
	if (rep->have_token) {
		json_object_object_add(obj, "secure_key",
				       key_json(&rep->token.current, rep->state.current_found,
						rep->state.current_reg));
		if (rep->token.has_staged)
			json_object_object_add(obj, "staged",
					       key_json(&rep->token.staged,
							rep->state.staged_found,
							rep->state.staged_reg));
	}
	if (rep->have_token || rep->lost)
		json_object_object_add(obj, "next_step",
				       json_object_new_string(identity_next(rep)));
	return obj;
}

static void print_servers(json_object *servers)
{
	for (size_t i = 0; i < json_object_array_length(servers); i++) {
		json_object *s = json_object_array_get_idx(servers, i);
		json_object *kmip = json_object_object_get(s, "kmip");
		bool up = json_object_get_boolean(json_object_object_get(s, "reachable"));

		printf("%-10s %s: %s%s\n", i ? "Secondary" : "Primary",
		       json_object_get_string(json_object_object_get(s, "url")),
		       kmip  ? "reachable, KMIP "
		       : up  ? "reachable (TCP); not authenticated: the identity key cannot be used"
			     : "NOT reachable",
		       kmip ? json_object_get_string(kmip) : "");
	}
}

static void print_text(json_object *root)
{
	json_object *id = json_object_object_get(root, "identity_key"), *key, *reg;
	const char *apqns = json_object_get_string(json_object_object_get(id, "apqns"));

	printf("Configuration: %s\n", json_object_get_string(json_object_object_get(root, "config")));
	print_servers(json_object_object_get(root, "servers"));
	printf("Identity key: %s (APQNs %s)\n",
	       json_object_get_string(json_object_object_get(id, "file")), apqns);
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
	if (json_object_get_boolean(json_object_object_get(id, "lost")))
		printf(recovery_fmt, apqns, apqns);
}

static void put_json(json_object *root)
{
	puts(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
							  JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
}

static int report(const struct sk_config *cfg, bool json)
{
	json_object *root = json_object_new_object(), *servers = json_object_new_array();
	struct identity_report rep = { 0 };
	struct sk_kms *kms = NULL;
	bool any = false;

	identity_report(cfg, &rep);
	rep.lost = rep.error == -ENOENT ||
		   (rep.have_token && rep.state.next == SK_NEXT_UNREACHABLE);
	if (!rep.error)
		rep.error = sk_kms_open(cfg, cli.hsm_dir, &kms);
	rep.usable = !rep.error;
	json_object_object_add(root, "config", json_object_new_string(cfg->path));
	json_object_object_add(root, "configured", json_object_new_boolean(true));
	for (size_t i = 0; i < cfg->n_servers; i++) {
		json_object *s = probe(kms, cfg, cfg->servers[i]);

		any |= json_object_get_boolean(json_object_object_get(s, "reachable"));
		json_object_array_add(servers, s);
	}
	json_object_object_add(root, "servers", servers);
	json_object_object_add(root, "identity_key", identity_json(cfg, &rep));
	if (json) {
		put_json(root);
	} else {
		print_text(root);
		json_object_put(root);
	}
	sk_kms_close(kms);
	if (rep.have_token)
		sk_token_free(&rep.token);
	return rep.error ? rep.error : any ? 0 : -ECONNREFUSED;
}

/*
 * No KMS configured: the same members as a report, empty, so that scripts
 * read "configured" from JSON instead of parsing the message on stderr.
 */
static void print_unconfigured(const struct sk_config *cfg)
{
	json_object *root = json_object_new_object();

	json_object_object_add(root, "config", json_object_new_string(cfg->path));
	json_object_object_add(root, "configured", json_object_new_boolean(false));
	json_object_object_add(root, "servers", json_object_new_array());
	json_object_object_add(root, "identity_key", NULL);
	put_json(root);
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
	/* A configuration that loads but names no KMS (an unusable one says why, no JSON). */
	if (!cfg && json && cli_config())
		print_unconfigured(cli_config());
	if (!cfg)
		return EXIT_REFUSED;
	return cli_exit_code(report(cfg, json));
}
