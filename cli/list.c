/* securekey list: the inventory of LUKS2 devices with a securekey token. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "cli.h"
#include "device.h"
#include "inventory.h"
#include "keystate.h"
#include "log.h"

static const char usage[] =
	"Usage: securekey list [--all | PATH...] [--apqns AA.DDDD[,...]] [--json]\n"
	"\n"
	"List LUKS2 devices that have a securekey token: the known volumes (those\n"
	"enrolled on this host) by default, every block device libblkid finds with\n"
	"--all, or the given devices and image files. For each: UUID, path, APQNs,\n"
	"the register whose master key enciphers the secure key, whether a staged\n"
	"key exists, whether the volume key is bound to a KMS, and the next step of\n"
	"a master-key change. A known volume is found by its LUKS UUID (at its\n"
	"recorded path, else on a block device); one found nowhere is listed as\n"
	"'not found' and makes the exit status 1. Reads only; works at every stage\n"
	"of a rotation.\n"
	"\n"
	"Options:\n"
	"  --all             probe every block device (libblkid)\n"
	"  -a, --apqns LIST  only devices bound to one of these APQNs\n"
	"  --json            print JSON\n" CLI_COMMON_HELP;

enum { OPT_LIST_ALL = 0x400 };

struct list_args {
	bool all, json;
	struct sk_apqn_list filter;
	bool filtered;
};

static bool wanted(const struct list_args *a, const struct sk_apqn_list *apqns)
{
	return !a->filtered || sk_apqn_list_overlap(apqns, &a->filter);
}

static json_object *device_row(struct sk_device *dev)
{
	json_object *row = json_object_new_object();
	struct sk_hsm *hsm = NULL;
	struct sk_key_state st;
	int r = cli_open_hsm_for(&dev->token.apqns, &hsm);

	if (!r)
		r = sk_key_state_get(hsm, &dev->token, &st);
	json_object_object_add(row, "uuid", json_object_new_string(dev->uuid));
	json_object_object_add(row, "path", json_object_new_string(dev->path));
	json_object_object_add(row, "apqns",
			       json_object_new_string(cli_apqns_text_of(&dev->token.apqns)));
	json_object_object_add(row, "register",
			       json_object_new_string(r < 0		 ? "unknown"
						      : st.current_found ? sk_register_name(st.current_reg)
									 : "none"));
	json_object_object_add(row, "staged", json_object_new_boolean(dev->token.has_staged));
	json_object_object_add(row, "kms", json_object_new_boolean(dev->token.has_kms));
	json_object_object_add(row, "next_step",
			       json_object_new_string(r < 0 ? "unknown" : sk_key_state_next_name(&st)));
	json_object_object_add(row, "missing", json_object_new_boolean(false));
	sk_hsm_close(hsm);
	return row;
}

/*
 * A row for @path, NULL when it is not listed; *failed when it cannot be
 * read. @uuid: the known volume that was found there, which it must still be.
 */
static json_object *probe(const struct list_args *a, const char *path, const char *uuid,
			  bool quiet, bool *failed)
{
	struct sk_device *dev = NULL;
	json_object *row = NULL;
	int r = sk_device_open(path, false, false, &dev);

	if (r < 0) {
		*failed = !quiet;
	} else if (uuid && strcmp(uuid, dev->uuid)) {
		sk_err("%s holds LUKS UUID %s now, not the known volume %s; run it again", path,
		       dev->uuid, uuid);
		*failed = true;
	} else if (dev->token_id < 0 && !quiet) {
		sk_err("%s has no securekey token", path);
		*failed = true;
	} else if (dev->token_id >= 0 && wanted(a, &dev->token.apqns)) {
		row = device_row(dev);
	}
	sk_device_close(dev);
	return row;
}

/* A known volume found nowhere: its recorded path and APQNs, its state unknown. */
static json_object *missing_row(const struct sk_known_volume *vol)
{
	json_object *row = json_object_new_object();

	sk_err("%s (UUID %s): not found: %s", vol->recorded, vol->uuid, vol->missing);
	json_object_object_add(row, "uuid", json_object_new_string(vol->uuid));
	json_object_object_add(row, "path", json_object_new_string(vol->recorded));
	json_object_object_add(row, "apqns",
			       json_object_new_string(cli_apqns_text_of(&vol->apqns)));
	json_object_object_add(row, "register", json_object_new_string("unknown"));
	json_object_object_add(row, "staged", NULL);
	json_object_object_add(row, "kms", NULL);
	json_object_object_add(row, "next_step", json_object_new_string("not found"));
	json_object_object_add(row, "missing", json_object_new_boolean(true));
	return row;
}

/* Rows for the known volumes, found by UUID; -errno when they cannot be listed. */
static int add_known(const struct list_args *a, json_object *rows, bool *failed)
{
	struct sk_known_volume *vols = NULL;
	size_t count = 0;
	int r = sk_inventory_list(NULL, &vols, &count);

	for (size_t i = 0; !r && i < count; i++) {
		json_object *row = NULL;

		if (vols[i].path)
			row = probe(a, vols[i].path, vols[i].uuid, false, failed);
		else if (!a->filtered || sk_inventory_bound_to(&vols[i], &a->filter)) {
			row = missing_row(&vols[i]);
			*failed = true;
		}
		if (row)
			json_object_array_add(rows, row);
	}
	sk_inventory_list_free(vols, count);
	return r;
}

/* "yes"/"no" (@yes, @no) for a boolean field, "?" when unknown (a volume not found). */
static const char *yes_no(json_object *field, const char *yes, const char *no)
{
	return !field ? "?" : json_object_get_boolean(field) ? yes : no;
}

static void print_table(json_object *rows)
{
	printf("%-36s  %-8s  %-6s  %-5s  %-21s  %s\n", "UUID", "REGISTER", "STAGED", "KMS",
	       "NEXT STEP", "PATH (APQNS)");
	for (size_t i = 0; i < json_object_array_length(rows); i++) {
		json_object *row = json_object_array_get_idx(rows, i);
#define FIELD(name) json_object_object_get(row, name)
		printf("%-36s  %-8s  %-6s  %-5s  %-21s  %s (%s)\n",
		       json_object_get_string(FIELD("uuid")),
		       json_object_get_string(FIELD("register")),
		       yes_no(FIELD("staged"), "yes", "no"), yes_no(FIELD("kms"), "bound", "-"),
		       json_object_get_string(FIELD("next_step")),
		       json_object_get_string(FIELD("path")), json_object_get_string(FIELD("apqns")));
#undef FIELD
	}
}

static int parse(int argc, char **argv, struct list_args *a, int *code)
{
	static const struct option options[] = {
		CLI_COMMON_OPTIONS,
		{ "all", no_argument, NULL, OPT_LIST_ALL },
		{ "apqns", required_argument, NULL, 'a' }, /* zkey list's -a */
		{ "json", no_argument, NULL, OPT_JSON },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = cli_getopt(argc, argv, options, usage, code)) >= 0) {
		if (c == OPT_LIST_ALL)
			a->all = true;
		else if (c == OPT_JSON)
			a->json = true;
		else if (sk_apqn_list_parse(optarg, &a->filter) < 0)
			return *code = cli_usage_error("--apqns: '%s' is not a list of AA.DDDD", optarg);
		else
			a->filtered = true;
	}
	if (c == -2)
		return *code ? *code : -1;
	if (a->all && optind < argc)
		return *code = cli_usage_error("list: give --all or paths, not both");
	return 0;
}

int cmd_list(int argc, char **argv)
{
	struct list_args a = { 0 };
	json_object *rows;
	char **paths = NULL;
	size_t count = 0;
	bool failed = false, given;
	int code = 0, r = parse(argc, argv, &a, &code);

	if (r)
		return r < 0 ? 0 : code;
	given = optind < argc;
	r = a.all ? sk_inventory_scan(&paths, &count) : 0;
	rows = json_object_new_array();
	if (!r && !a.all && !given)
		r = add_known(&a, rows, &failed);
	if (r < 0) {
		json_object_put(rows);
		return EXIT_REFUSED;
	}
	for (int i = optind; i < argc; i++) {
		json_object *row = probe(&a, argv[i], NULL, false, &failed);

		if (row)
			json_object_array_add(rows, row);
	}
	for (size_t i = 0; i < count; i++) {
		json_object *row = probe(&a, paths[i], NULL, true, &failed);

		if (row)
			json_object_array_add(rows, row);
	}
	if (a.json)
		puts(json_object_to_json_string_ext(rows, JSON_C_TO_STRING_PRETTY |
								  JSON_C_TO_STRING_NOSLASHESCAPE));
	else
		print_table(rows);
	json_object_put(rows);
	sk_inventory_free(paths, count);
	return failed ? EXIT_REFUSED : 0;
}
