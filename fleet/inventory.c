#include "config.h"

#include "inventory.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <blkid/blkid.h>
#include <json-c/json.h>

#include "log.h"
#include "paths.h"
#include "secfile.h"

static char *volumes_dir(void)
{
	return sk_path_join(sk_path_state_dir(), "volumes");
}

static char *entry_path(const char *uuid)
{
	char *dir = volumes_dir(), *path = dir ? sk_path_join(dir, uuid) : NULL;

	free(dir);
	return path;
}

static int make_dirs(void)
{
	char *dir = volumes_dir();
	int r = dir ? sk_path_make_state_subdir(dir) : -ENOMEM;

	free(dir);
	return r;
}

int sk_inventory_check(void)
{
	char *dir = volumes_dir();
	int r = dir ? sk_path_check_state_subdir(dir) : -ENOMEM;

	free(dir);
	return r;
}

int sk_inventory_add(const char *uuid, const char *path, const struct sk_apqn_list *apqns)
{
	json_object *obj = json_object_new_object(), *list = json_object_new_array();
	char real[PATH_MAX], text[SK_APQN_TEXT_LEN + 1], *file = entry_path(uuid);
	const char *json;
	int r = make_dirs();

	for (size_t i = 0; i < apqns->count; i++) {
		sk_apqn_format(&apqns->items[i], text);
		json_object_array_add(list, json_object_new_string(text));
	}
	json_object_object_add(obj, "uuid", json_object_new_string(uuid));
	json_object_object_add(obj, "path", json_object_new_string(realpath(path, real) ? real : path));
	json_object_object_add(obj, "apqns", list);
	json = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN);
	if (!r)
		r = file ? sk_file_replace(file, json, strlen(json)) : -ENOMEM;
	json_object_put(obj);
	free(file);
	return r;
}

bool sk_inventory_has(const char *uuid)
{
	char *file = entry_path(uuid);
	bool known = file && access(file, F_OK) == 0;

	free(file);
	return known;
}

int sk_inventory_remove(const char *uuid)
{
	char *file = entry_path(uuid);
	int r = 0;

	if (!file)
		return -ENOMEM;
	if (unlink(file) < 0 && errno != ENOENT) {
		r = -errno;
		sk_err("cannot remove %s: %s", file, strerror(errno));
	}
	free(file);
	return r;
}

/* The entry's recorded "apqns" into @apqns; false (and @apqns empty) when unreadable. */
static bool entry_apqns(json_object *obj, struct sk_apqn_list *apqns)
{
	json_object *list;
	size_t n;

	*apqns = (struct sk_apqn_list){ 0 };
	if (!json_object_object_get_ex(obj, "apqns", &list) ||
	    !json_object_is_type(list, json_type_array) ||
	    (n = json_object_array_length(list)) == 0 || n > SK_APQN_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		const char *text = json_object_get_string(json_object_array_get_idx(list, i));

		if (!text || sk_apqn_parse(text, &apqns->items[apqns->count++]) < 0) {
			*apqns = (struct sk_apqn_list){ 0 };
			return false;
		}
	}
	return true;
}

bool sk_inventory_bound_to(const struct sk_known_volume *vol, const struct sk_apqn_list *apqns)
{
	return !vol->apqns.count || sk_apqn_list_overlap(&vol->apqns, apqns);
}

/* The recorded "path" of the entry file @file, or NULL when it is not ours. */
static char *entry_read(const char *file, struct sk_apqn_list *apqns)
{
	json_object *obj = json_object_from_file(file), *value;
	char *path = NULL;

	if (obj && json_object_object_get_ex(obj, "path", &value) &&
	    json_object_is_type(value, json_type_string)) {
		path = strdup(json_object_get_string(value));
		if (apqns)
			(void)entry_apqns(obj, apqns);
	} else {
		sk_warn("ignoring %s: not a known-volume entry", file);
	}
	json_object_put(obj);
	return path;
}

/*
 * The LUKS UUID libblkid reads at @path (image files too): 1 with @uuid
 * set, 0 when there is no LUKS header, -errno when @path cannot be opened.
 */
static int probe_uuid(const char *path, char uuid[40])
{
	blkid_probe pr = blkid_new_probe_from_filename(path);
	const char *type, *value;
	int r = 0;

	if (!pr)
		return errno ? -errno : -EIO;
	if (blkid_do_safeprobe(pr) == 0 && !blkid_probe_lookup_value(pr, "TYPE", &type, NULL) &&
	    !strcmp(type, "crypto_LUKS") && !blkid_probe_lookup_value(pr, "UUID", &value, NULL)) {
		snprintf(uuid, 40, "%s", value);
		r = 1;
	}
	blkid_free_probe(pr);
	return r;
}

/*
 * The block device with LUKS UUID @uuid: libblkid takes the udev link
 * /dev/disk/by-uuid/ first, else probes every block device once per @cache.
 * What it names is probed again, since a file system may share the UUID.
 */
static char *find_block_device(blkid_cache *cache, const char *uuid)
{
	char seen[40], *dev;

	if (!*cache && blkid_get_cache(cache, "/dev/null") < 0)
		return NULL;
	dev = blkid_evaluate_tag("UUID", uuid, cache);
	if (dev && (probe_uuid(dev, seen) != 1 || strcmp(seen, uuid))) {
		free(dev);
		dev = NULL;
	}
	return dev;
}

/* Why @vol is not at its recorded path (@at, @seen from probe_uuid), and the fixes. */
static char *describe_missing(const struct sk_known_volume *vol, int at, const char *seen)
{
	char there[128] = "", apqns[SK_APQN_MAX * (SK_APQN_TEXT_LEN + 1)] = "LIST", *text = NULL;
	char *file = entry_path(vol->uuid);

	if (at == 1)
		snprintf(there, sizeof(there), " holds LUKS UUID %s", seen);
	else if (at == 0)
		snprintf(there, sizeof(there), " holds no LUKS header");
	else if (at != -ENOENT)
		snprintf(there, sizeof(there), " cannot be read (%s)", strerror(-at));
	if (vol->apqns.count)
		sk_apqn_list_format(&vol->apqns, apqns, sizeof(apqns));
	if (file && asprintf(&text,
			     "%s%s%s, and no block device has its UUID; if it moved, record its new "
			     "path with 'securekey-cryptsetup enroll NEWPATH --apqns %s'; if it is "
			     "gone, delete %s",
			     at == -ENOENT ? "nothing is at " : "", vol->recorded, there, apqns,
			     file) < 0)
		text = NULL;
	free(file);
	return text;
}

/* Where @vol is now (vol->path), else why not (vol->missing); -ENOMEM. */
static int locate(struct sk_known_volume *vol, blkid_cache *cache)
{
	char seen[40] = "";
	int at = probe_uuid(vol->recorded, seen);

	if (at == 1 && !strcmp(seen, vol->uuid))
		vol->path = strdup(vol->recorded);
	else
		vol->path = find_block_device(cache, vol->uuid);
	if (!vol->path)
		vol->missing = describe_missing(vol, at, seen);
	return vol->path || vol->missing ? 0 : -ENOMEM;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/* Append the entry @name of @dir to @vols unless it is not ours or (with @apqns) bound elsewhere. */
static int add_entry(const char *dir, const char *name, const struct sk_apqn_list *apqns,
		     struct sk_known_volume **vols, size_t *count)
{
	char *file = sk_path_join(dir, name);
	struct sk_known_volume vol = { 0 }, *grown;

	if (!file)
		return -ENOMEM;
	if (strlen(name) >= sizeof(vol.uuid))
		sk_warn("ignoring %s: not a known-volume entry", file);
	else
		vol.recorded = entry_read(file, &vol.apqns);
	free(file);
	if (!vol.recorded || (apqns && !sk_inventory_bound_to(&vol, apqns))) {
		free(vol.recorded);
		return 0;
	}
	snprintf(vol.uuid, sizeof(vol.uuid), "%s", name);
	grown = realloc(*vols, (*count + 1) * sizeof(**vols));
	if (!grown) {
		free(vol.recorded);
		return -ENOMEM;
	}
	*vols = grown;
	grown[(*count)++] = vol;
	return 0;
}

int sk_inventory_list(const struct sk_apqn_list *apqns, struct sk_known_volume **vols,
		      size_t *count)
{
	char *dir = volumes_dir();
	struct dirent **names = NULL;
	blkid_cache cache = NULL;
	int n, r = 0;

	*vols = NULL;
	*count = 0;
	/* entries name the devices commands act on: none from a directory others may change */
	r = dir ? sk_path_check_state_subdir(dir) : -ENOMEM;
	if (r) {
		free(dir);
		return r;
	}
	n = scandir(dir, &names, NULL, by_name);
	for (int i = 0; i < n; i++) {
		if (!r && names[i]->d_name[0] != '.' && !strchr(names[i]->d_name, '.'))
			r = add_entry(dir, names[i]->d_name, apqns, vols, count);
		free(names[i]);
	}
	for (size_t i = 0; !r && i < *count; i++)
		r = locate(&(*vols)[i], &cache);
	blkid_put_cache(cache);
	free(names);
	free(dir);
	return r;
}

void sk_inventory_list_free(struct sk_known_volume *vols, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		free(vols[i].recorded);
		free(vols[i].path);
		free(vols[i].missing);
	}
	free(vols);
}

char *sk_inventory_recorded_elsewhere(const char *uuid, const char *path)
{
	char *file = entry_path(uuid), *recorded = NULL, *real = realpath(path, NULL);

	if (file && access(file, F_OK) == 0)
		recorded = entry_read(file, NULL);
	if (recorded && !strcmp(recorded, real ? real : path)) {
		free(recorded);
		recorded = NULL;
	}
	free(real);
	free(file);
	return recorded;
}

static int push(char ***paths, size_t *count, const char *path)
{
	char **grown = realloc(*paths, (*count + 1) * sizeof(**paths));

	if (!grown)
		return -ENOMEM;
	*paths = grown;
	grown[*count] = strdup(path);
	if (!grown[*count])
		return -ENOMEM;
	(*count)++;
	return 0;
}

int sk_inventory_scan(char ***paths, size_t *count)
{
	blkid_cache cache = NULL;
	blkid_dev_iterate iter;
	blkid_dev dev;
	int r = 0;

	*paths = NULL;
	*count = 0;
	if (blkid_get_cache(&cache, "/dev/null") < 0 || blkid_probe_all(cache) < 0) {
		sk_err("libblkid cannot probe the block devices");
		blkid_put_cache(cache);
		return -EIO;
	}
	iter = blkid_dev_iterate_begin(cache);
	blkid_dev_set_search(iter, "TYPE", "crypto_LUKS");
	while (!r && blkid_dev_next(iter, &dev) == 0) {
		dev = blkid_verify(cache, dev);
		if (dev)
			r = push(paths, count, blkid_dev_devname(dev));
	}
	blkid_dev_iterate_end(iter);
	blkid_put_cache(cache);
	return r;
}

void sk_inventory_free(char **paths, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(paths[i]);
	free(paths);
}
