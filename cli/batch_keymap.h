/*
 * --key-file-map FILE of 'securekey reencipher' and 'securekey rotate': the
 * passphrase file of each device, for batches over volumes whose
 * passphrases differ. One line a device, "DEVICE KEYFILE", DEVICE a path or
 * a LUKS UUID (bare or as UUID=...); blank lines and lines whose first
 * non-blank character is '#' are skipped; relative paths are taken from the
 * map's directory (a map moves with its keys). The map and every key file it
 * names must be regular files owned by root or the caller with no group or
 * other permissions. The parent checks them all before any device is
 * touched; a worker reads a key file only for the device it works on.
 */
#ifndef SECUREKEY_CLI_BATCH_KEYMAP_H
#define SECUREKEY_CLI_BATCH_KEYMAP_H

#include <stddef.h>

#include "secmem.h"

struct cli_keymap_entry {
	char *uuid;     /* lower case, or NULL for a path */
	char *device;   /* a path (relative ones joined to the map's directory), or NULL */
	char *real;     /* the device's realpath, NULL when it does not resolve now */
	char *key_file; /* the same */
};

struct cli_keymap {
	const char *path; /* NULL: no map */
	struct cli_keymap_entry *entries;
	size_t count;
};

/* Read and check the map at map->path and each key file it names. */
int cli_keymap_load(struct cli_keymap *map);

/* The key file of the device at @path with LUKS UUID @uuid (may be ""), or NULL. */
const char *cli_keymap_lookup(const struct cli_keymap *map, const char *path, const char *uuid);

/* Read @key_file (checked again) into locked memory. */
int cli_keymap_read(const char *key_file, struct sk_secret **pass);

void cli_keymap_free(struct cli_keymap *map);

#endif
