#include "config.h"

#include "inventory.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
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

/* Whether the entry's recorded "apqns" share one with @apqns; true when it has none readable. */
static bool entry_overlaps(json_object *obj, const struct sk_apqn_list *apqns)
{
	struct sk_apqn_list recorded = { 0 };
	json_object *list;
	size_t n;

	if (!json_object_object_get_ex(obj, "apqns", &list) ||
	    !json_object_is_type(list, json_type_array) ||
	    (n = json_object_array_length(list)) == 0 || n > SK_APQN_MAX)
		return true;
	for (size_t i = 0; i < n; i++) {
		const char *text = json_object_get_string(json_object_array_get_idx(list, i));

		if (!text || sk_apqn_parse(text, &recorded.items[recorded.count++]) < 0)
			return true;
	}
	return sk_apqn_list_overlap(&recorded, apqns);
}

/*
 * The "path" of one entry file, or NULL when it is not ours or (with
 * @apqns) was recorded with none of @apqns.
 */
static char *entry_device(const char *dir, const char *name, const struct sk_apqn_list *apqns)
{
	char *file = sk_path_join(dir, name), *path = NULL;
	json_object *obj = file ? json_object_from_file(file) : NULL, *value;

	if (obj && json_object_object_get_ex(obj, "path", &value) &&
	    json_object_is_type(value, json_type_string)) {
		if (!apqns || entry_overlaps(obj, apqns))
			path = strdup(json_object_get_string(value));
	} else if (file) {
		sk_warn("ignoring %s: not a known-volume entry", file);
	}
	json_object_put(obj);
	free(file);
	return path;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

int sk_inventory_paths(char ***paths, size_t *count)
{
	return sk_inventory_paths_for(NULL, paths, count);
}

int sk_inventory_paths_for(const struct sk_apqn_list *apqns, char ***paths, size_t *count)
{
	char *dir = volumes_dir();
	struct dirent **names = NULL;
	int n, r = 0;

	*paths = NULL;
	*count = 0;
	/* entries name the devices commands act on: none from a directory others may change */
	r = dir ? sk_path_check_state_subdir(dir) : -ENOMEM;
	if (r) {
		free(dir);
		return r;
	}
	n = scandir(dir, &names, NULL, by_name);
	for (int i = 0; i < n; i++) {
		char *path = names[i]->d_name[0] != '.' && !strchr(names[i]->d_name, '.')
				     ? entry_device(dir, names[i]->d_name, apqns)
				     : NULL;

		if (path && !r)
			r = push(paths, count, path);
		free(path);
		free(names[i]);
	}
	free(names);
	free(dir);
	return r;
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
