#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <blkid.h>

#include "device.h"
#include "inventory.h"
#include "paths.h"
#include "udev.h"

/* The crypttab files of the host and of the initramfs (see udev.h). */
#define DEFAULT_CRYPTTABS "/etc/crypttab:/cryptroot/crypttab"

/* The same block device (or, for tests, the same image file). */
static bool same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	if (stat(a, &sa) < 0 || stat(b, &sb) < 0)
		return false;
	if (S_ISBLK(sa.st_mode) && S_ISBLK(sb.st_mode))
		return sa.st_rdev == sb.st_rdev;
	return S_ISREG(sa.st_mode) && S_ISREG(sb.st_mode) && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

/*
 * A value of the device's partition entry (PART_ENTRY_UUID, PART_ENTRY_NAME),
 * probed with libblkid: the /dev/disk/by-part* links udev makes for this
 * very event do not exist yet while its rules run.
 */
static bool part_entry_is(const char *device, const char *name, const char *want)
{
	blkid_probe pr = blkid_new_probe_from_filename(device);
	const char *value = NULL;
	bool same = false;

	if (!pr)
		return false;
	blkid_probe_enable_superblocks(pr, 0);
	blkid_probe_enable_partitions(pr, 1);
	blkid_probe_set_partitions_flags(pr, BLKID_PARTS_ENTRY_DETAILS);
	if (blkid_do_safeprobe(pr) == 0 && blkid_probe_lookup_value(pr, name, &value, NULL) == 0)
		same = !strcasecmp(value, want);
	blkid_free_probe(pr);
	return same;
}

/* Whether the crypttab source field @source names @dev (opened from @device). */
static bool names_device(const char *source, const struct sk_device *dev, const char *device)
{
	const char *label;

	if (!strncmp(source, "UUID=", 5))
		return !strcasecmp(source + 5, dev->uuid);
	if (!strncmp(source, "LABEL=", 6)) {
		label = crypt_get_label(dev->cd);
		return label && *label && !strcmp(source + 6, label);
	}
	if (!strncmp(source, "PARTUUID=", 9))
		return part_entry_is(device, "PART_ENTRY_UUID", source + 9);
	if (!strncmp(source, "PARTLABEL=", 10))
		return part_entry_is(device, "PART_ENTRY_NAME", source + 10);
	return strchr(source, '/') && same_file(source, device);
}

/* The line of crypttab @path that names the device, 0 when none does. */
static unsigned crypttab_line(const char *path, const struct sk_device *dev, const char *device)
{
	FILE *f = fopen(path, "re");
	char line[4096], *save, *name, *source;
	unsigned n = 0, found = 0;

	if (!f)
		return 0;
	/* NAME SOURCE [KEY [OPTIONS]], '#' comments */
	while (!found && fgets(line, sizeof(line), f)) {
		n++;
		name = strtok_r(line, " \t\n", &save);
		if (!name || name[0] == '#')
			continue;
		source = strtok_r(NULL, " \t\n", &save);
		if (source && names_device(source, dev, device))
			found = n;
	}
	fclose(f);
	return found;
}

bool udev_known(const struct sk_device *dev, const char *device, char *why, size_t why_size)
{
	const char *env = getenv("SECUREKEY_CRYPTTAB");
	char *list = strdup(env && *env ? env : DEFAULT_CRYPTTABS), *save = NULL, *path;
	unsigned line = 0;

	if (sk_inventory_has(dev->uuid)) {
		snprintf(why, why_size, "a known volume (%s/volumes/%s)", sk_path_state_dir(),
			 dev->uuid);
		free(list);
		return true;
	}
	for (path = list ? strtok_r(list, ":", &save) : NULL; path;
	     path = strtok_r(NULL, ":", &save)) {
		line = crypttab_line(path, dev, device);
		if (line)
			break;
	}
	if (line)
		snprintf(why, why_size, "named by %s, line %u", path, line);
	else
		snprintf(why, why_size,
			 "neither a known volume (%s/volumes/%s) nor named in crypttab (%s)",
			 sk_path_state_dir(), dev->uuid, env && *env ? env : DEFAULT_CRYPTTABS);
	free(list);
	return line > 0;
}
