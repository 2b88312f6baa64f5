/* --key-file-map: a passphrase file per device (see batch_keymap.h). */
#include "config.h"

#include "batch_keymap.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli.h"
#include "log.h"
#include "paths.h"
#include "secfile.h"

/* A line holds a UUID or path and a path: longer ones are not a map's. */
#define MAP_MAX_LINE 8192

static bool is_uuid(const char *s)
{
	static const char shape[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";

	if (strlen(s) != sizeof(shape) - 1)
		return false;
	for (size_t i = 0; shape[i]; i++)
		if (shape[i] == '-' ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

/* Both fields of an entry line; anything more is an error. */
static int split_line(char *line, char **device, char **key_file)
{
	char *rest;

	*device = strtok_r(line, " \t\r\n", &rest);
	*key_file = *device ? strtok_r(NULL, " \t\r\n", &rest) : NULL;
	if (!*device || !*key_file || strtok_r(NULL, " \t\r\n", &rest))
		return -EINVAL;
	return 0;
}

static int check_key_file(const char *map, unsigned line, const char *key_file)
{
	int fd = open(key_file, O_RDONLY | O_CLOEXEC);
	int r;

	if (fd < 0) {
		r = -errno;
		sk_err("key file map %s, line %u: cannot open key file %s: %s", map, line, key_file,
		       strerror(errno));
		return r;
	}
	r = sk_private_file_check(fd, key_file, "key file");
	close(fd);
	return r;
}

/* A relative path is taken from the map's directory @dir, wherever the command runs. */
static char *from_map_dir(const char *dir, const char *path)
{
	return path[0] == '/' ? strdup(path) : sk_path_join(dir, path);
}

static int fill_entry(struct cli_keymap_entry *e, const char *dir, const char *device,
		      const char *key_file)
{
	const char *uuid = !strncmp(device, "UUID=", 5) ? device + 5 : device;

	*e = (struct cli_keymap_entry){ 0 };
	if (is_uuid(uuid)) {
		if (!(e->uuid = strdup(uuid)))
			return -ENOMEM;
		for (char *p = e->uuid; *p; p++)
			*p = (char)tolower((unsigned char)*p);
	} else if (uuid != device) {
		return -EINVAL;
	} else if (!(e->device = from_map_dir(dir, device))) {
		return -ENOMEM;
	} else {
		/* A device that is not there now is matched by its path as written. */
		e->real = realpath(e->device, NULL);
	}
	e->key_file = from_map_dir(dir, key_file);
	return e->key_file ? 0 : -ENOMEM;
}

static void free_entry(struct cli_keymap_entry *e)
{
	free(e->uuid);
	free(e->device);
	free(e->real);
	free(e->key_file);
}

/* The entry already in @map for the device @e names, or NULL. */
static const struct cli_keymap_entry *same_device(const struct cli_keymap *map,
						  const struct cli_keymap_entry *e)
{
	for (size_t i = 0; i < map->count; i++) {
		const struct cli_keymap_entry *o = &map->entries[i];

		if (e->uuid ? o->uuid && !strcmp(o->uuid, e->uuid)
			    : o->device && !strcmp(o->real ? o->real : o->device,
						    e->real ? e->real : e->device))
			return o;
	}
	return NULL;
}

static int add_entry(struct cli_keymap *map, const char *dir, unsigned line, char *text)
{
	struct cli_keymap_entry e, *grown;
	char *device, *key_file;
	int r;

	if (split_line(text, &device, &key_file) < 0) {
		sk_err("key file map %s, line %u: not 'DEVICE-OR-UUID KEYFILE'", map->path, line);
		return -EINVAL;
	}
	r = fill_entry(&e, dir, device, key_file);
	if (r == -EINVAL)
		sk_err("key file map %s, line %u: '%s' is not a LUKS UUID", map->path, line, device);
	if (!r && same_device(map, &e)) {
		sk_err("key file map %s, line %u: %s is named twice; keep one line for it",
		       map->path, line, device);
		r = -EINVAL;
	}
	if (!r)
		r = check_key_file(map->path, line, e.key_file);
	grown = r ? NULL : realloc(map->entries, (map->count + 1) * sizeof(*grown));
	if (!r && !grown)
		r = -ENOMEM;
	if (r) {
		free_entry(&e);
		return r;
	}
	map->entries = grown;
	map->entries[map->count++] = e;
	return 0;
}

static bool is_blank_or_comment(const char *line)
{
	while (isspace((unsigned char)*line))
		line++;
	return !*line || *line == '#';
}

static int parse(struct cli_keymap *map, const char *dir, FILE *f)
{
	char text[MAP_MAX_LINE];
	unsigned line = 0;
	int r = 0;

	while (!r && fgets(text, sizeof(text), f)) {
		line++;
		if (!strchr(text, '\n') && !feof(f)) {
			sk_err("key file map %s, line %u: longer than %d bytes", map->path, line,
			       MAP_MAX_LINE - 2);
			return -EINVAL;
		}
		if (!is_blank_or_comment(text))
			r = add_entry(map, dir, line, text);
	}
	if (!r && ferror(f)) {
		sk_err("cannot read key file map %s: %s", map->path, strerror(errno));
		r = -EIO;
	}
	if (!r && !map->count) {
		sk_err("key file map %s names no device; add lines 'DEVICE-OR-UUID KEYFILE'",
		       map->path);
		r = -EINVAL;
	}
	return r;
}

int cli_keymap_load(struct cli_keymap *map)
{
	int fd = open(map->path, O_RDONLY | O_CLOEXEC);
	char *copy, *dir;
	FILE *f;
	int r;

	if (fd < 0) {
		r = -errno;
		sk_err("cannot open key file map %s: %s", map->path, strerror(errno));
		return r;
	}
	/* It chooses which passphrase opens which device: no one else may change it. */
	r = sk_private_file_check(fd, map->path, "key file map");
	f = r ? NULL : fdopen(fd, "re");
	if (!f) {
		close(fd);
		return r ? r : -errno;
	}
	/* Its directory in full: key files and devices are named by full paths. */
	copy = strdup(map->path);
	dir = copy ? realpath(dirname(copy), NULL) : NULL;
	r = dir ? parse(map, dir, f) : -ENOMEM;
	free(copy);
	free(dir);
	fclose(f);
	if (r)
		cli_keymap_free(map);
	return r;
}

const char *cli_keymap_lookup(const struct cli_keymap *map, const char *path, const char *uuid)
{
	char *real = realpath(path, NULL);
	const char *found = NULL;

	/* By UUID first: it follows the volume wherever it is found. */
	for (size_t i = 0; !found && uuid[0] && i < map->count; i++)
		if (map->entries[i].uuid && !strcasecmp(map->entries[i].uuid, uuid))
			found = map->entries[i].key_file;
	for (size_t i = 0; !found && i < map->count; i++) {
		const struct cli_keymap_entry *e = &map->entries[i];

		if (e->device && ((real && e->real && !strcmp(real, e->real)) ||
				  !strcmp(path, e->device)))
			found = e->key_file;
	}
	free(real);
	return found;
}

int cli_keymap_read(const char *key_file, struct sk_secret **pass)
{
	return cli_read_private_key_file(key_file, pass);
}

void cli_keymap_free(struct cli_keymap *map)
{
	for (size_t i = 0; i < map->count; i++)
		free_entry(&map->entries[i]);
	free(map->entries);
	map->entries = NULL;
	map->count = 0;
}
