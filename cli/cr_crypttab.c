#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cr.h"
#include "escape.h"
#include "inventory.h"
#include "log.h"

/* Where 'make install' puts the keyscript (udev/Makefile.am). */
#ifndef SK_KEYSCRIPT
#define SK_KEYSCRIPT "/usr/lib/securekey/keyscript"
#endif

/* A device-mapper name holds at most 127 bytes (DM_NAME_LEN). */
#define NAME_MAX_LEN 127

static const char usage[] =
	"Usage: securekey-cryptsetup crypttab [DEVICE...] [OPTIONS]\n"
	"\n"
	"Print the /etc/crypttab lines that unlock DEVICE by its securekey token at\n"
	"boot (without DEVICE: every known volume), as 'zkey crypttab' does. Each\n"
	"device gets a line for initramfs-tools (Debian's cryptroot: the securekey\n"
	"keyscript) and one for systemd-cryptsetup (dracut, systemd: the token\n"
	"plugin), the second commented out. The volume is named luks-UUID and found\n"
	"by UUID=. When a device has no securekey token (or a known volume is not\n"
	"found), nothing is printed.\n"
	"\n"
	"Options:\n"
	"  --name NAME       the volume name instead of luks-UUID (one DEVICE only)\n"
	"  --systemd         the systemd-cryptsetup line active, the keyscript one\n"
	"                    commented out\n" CLI_COMMON_HELP;

struct crypttab_args {
	const char *name;
	bool systemd;
};

static void handle(int c, const char *arg, void *ctx)
{
	struct crypttab_args *a = ctx;

	if (c == OPT_NAME)
		a->name = arg;
	else if (c == OPT_SYSTEMD)
		a->systemd = true;
}

/* A crypttab field and a device-mapper name: no blank, no '/', no control byte. */
static bool name_ok(const char *name)
{
	size_t len = strlen(name);

	if (!len || len > NAME_MAX_LEN || name[0] == '#' || !strcmp(name, ".") ||
	    !strcmp(name, ".."))
		return false;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		if (*p <= ' ' || *p == '/' || *p == 0x7f)
			return false;
	return true;
}

/*
 * The lines of @dev, into @out. The device path goes into a comment only,
 * escaped: it must not end the comment line.
 */
static int print_lines(FILE *out, const struct sk_device *dev, const char *name, bool systemd)
{
	size_t size = SK_ESCAPE_SIZE(strlen(dev->path));
	char *path = malloc(size), luks_name[48];

	if (!path)
		return -ENOMEM;
	sk_escape(path, size, dev->path, 0);
	if (!name) {
		snprintf(luks_name, sizeof(luks_name), "luks-%s", dev->uuid);
		name = luks_name;
	}
	fprintf(out, "# %s: initramfs-tools (cryptroot) unlocks it with the securekey keyscript\n",
		path);
	if (dev->token.has_kms)
		fprintf(out, "# (bound to a KMS: give the initramfs a network, e.g. ip=dhcp)\n");
	fprintf(out, "%s%s\tUUID=%s\tnone\tluks,keyscript=%s,initramfs\n", systemd ? "#" : "",
		name, dev->uuid, SK_KEYSCRIPT);
	fprintf(out, "# %s: systemd-cryptsetup (dracut, systemd) unlocks it with the token plugin\n",
		path);
	fprintf(out, "%s%s\tUUID=%s\tnone\tluks,token-timeout=60\n", systemd ? "" : "#", name,
		dev->uuid);
	free(path);
	return 0;
}

static int device_lines(FILE *out, const char *path, const struct crypttab_args *a)
{
	struct sk_device *dev = NULL;
	int r = sk_device_open(path, false, true, &dev);

	if (!r)
		r = print_lines(out, dev, a->name, a->systemd);
	sk_device_close(dev);
	return r;
}

/* The known volumes' paths; one not found is named with its fixes. */
static int known_paths(char ***paths, size_t *n)
{
	struct sk_known_volume *vols = NULL;
	size_t count = 0;
	int r = sk_inventory_list(NULL, &vols, &count);

	*n = 0;
	*paths = r ? NULL : calloc(count + 1, sizeof(**paths));
	if (!r && !*paths)
		r = -ENOMEM;
	for (size_t i = 0; !r && i < count; i++) {
		if (!vols[i].path) {
			sk_err("known volume %s (LUKS UUID %s) is not found: %s", vols[i].recorded,
			       vols[i].uuid, vols[i].missing);
			r = -ENOENT;
		} else if (!((*paths)[(*n)++] = strdup(vols[i].path))) {
			r = -ENOMEM;
		}
	}
	sk_inventory_list_free(vols, count);
	return r;
}

/* All lines are made before any is printed: a redirect never gets a partial set. */
static int crypttab_lines(char **devices, size_t n, const struct crypttab_args *a)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	int r = out ? 0 : -errno;

	for (size_t i = 0; !r && i < n; i++)
		r = device_lines(out, devices[i], a);
	if (out)
		fclose(out);
	if (!r)
		fputs(text, stdout);
	free(text);
	return r;
}

int cr_crypttab(int argc, char **argv)
{
	static const struct option options[] = {
		CLI_COMMON_OPTIONS,
		{ "name", required_argument, NULL, OPT_NAME },
		{ "systemd", no_argument, NULL, OPT_SYSTEMD },
		{ NULL, 0, NULL, 0 },
	};
	struct crypttab_args a = { NULL, false };
	char **args, **known = NULL;
	size_t n = 0;
	int r = cr_parse(argc, argv, options, usage, -1, handle, &a, &args);

	if (r)
		return r < 0 ? 0 : r;
	while (args[n])
		n++;
	if (a.name && n != 1)
		return cli_usage_error("crypttab: --name names one DEVICE");
	if (a.name && !name_ok(a.name))
		return cli_usage_error("crypttab: '%s' is not a volume name (no blanks or '/', at "
				       "most %d bytes)",
				       a.name, NAME_MAX_LEN);
	if (!n && !(r = known_paths(&known, &n)))
		args = known;
	if (!r && !n)
		sk_warn("no known volumes (enroll records them); name the devices");
	if (!r)
		r = crypttab_lines(args, n, &a);
	for (size_t i = 0; known && known[i]; i++)
		free(known[i]);
	free(known);
	return cli_exit_code(r);
}
