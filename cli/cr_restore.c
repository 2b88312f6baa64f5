#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backup.h"
#include "cr.h"
#include "gate.h"
#include "keyslot.h"
#include "log.h"
#include "mkvp.h"
#include "paths.h"

static const char usage[] =
	"Usage: securekey-cryptsetup restore DEVICE [--list | --backup FILE] [OPTIONS]\n"
	"\n"
	"Put a header backup that securekey took before one of its writes back on\n"
	"DEVICE: both LUKS2 metadata copies and the keyslot area, in one update\n"
	"under the device lock, after a backup of the header as it is now. Without\n"
	"--backup, the newest backup (the header before the last securekey write).\n"
	"Refuses a backup of another LUKS UUID, a damaged or truncated one, and a\n"
	"device whose header something else changed since the last securekey write\n"
	"(--force restores anyway). Asks for the passphrase of a passphrase keyslot\n"
	"of the backup; it must give this device's volume key, and opens the\n"
	"device's keyslot again once the backup is back.\n"
	"\n"
	"Options:\n"
	"  --list            list the backups of DEVICE, oldest first\n"
	"  --backup FILE     the backup to restore: a name from --list, or a path\n"
	"  --force           restore over a header changed outside securekey\n" CR_PASSPHRASE_HELP
		CLI_COMMON_HELP;

struct restore_args {
	bool list, force;
	const char *backup;
};

static void handle(int c, const char *arg, void *ctx)
{
	struct restore_args *a = ctx;

	if (c == OPT_LIST)
		a->list = true;
	else if (c == OPT_BACKUP)
		a->backup = arg;
	else if (c == OPT_FORCE)
		a->force = true;
}

/* The whole header image of @b, loaded with libcryptsetup: it checks both copies. */
static int load_image(struct sk_device *dev, const struct sk_backup *b, int *fd,
		      struct crypt_device **cd, char image[32])
{
	unsigned char before[SK_BACKUP_DIGEST_LEN], after[SK_BACKUP_DIGEST_LEN];
	int r = sk_backup_assemble(dev->uuid, b, fd);

	if (r < 0)
		return r;
	snprintf(image, 32, "/proc/self/fd/%d", *fd);
	r = sk_backup_metadata_digest(*fd, before);
	if (!r)
		r = crypt_init(cd, image);
	if (!r)
		r = crypt_load(*cd, CRYPT_LUKS2, NULL);
	if (!r && (sk_backup_metadata_digest(*fd, after) || memcmp(before, after, sizeof(after))))
		r = -EINVAL;
	if (r < 0)
		sk_err("header backup %s is damaged: a metadata copy fails libcryptsetup's checks; choose "
		       "another one ('securekey-cryptsetup restore %s --list')",
		       b->path, dev->path);
	else if (!crypt_get_uuid(*cd) || strcmp(crypt_get_uuid(*cd), dev->uuid)) {
		sk_err("header backup %s is of LUKS UUID %s, not of %s (UUID %s); nothing was "
		       "changed",
		       b->path, crypt_get_uuid(*cd) ? crypt_get_uuid(*cd) : "(none)", dev->path,
		       dev->uuid);
		r = -EINVAL;
	}
	return r;
}

static void close_image(int fd, struct crypt_device *cd)
{
	crypt_free(cd);
	if (fd >= 0)
		close(fd);
}

/* The securekey token of the header @cd holds, parsed; false when it has none. */
static bool image_token(struct crypt_device *cd, struct sk_token *token)
{
	const char *type, *json;

	for (int id = 0; id < crypt_token_max(CRYPT_LUKS2); id++) {
		crypt_token_info info = crypt_token_status(cd, id, &type);

		if ((info == CRYPT_TOKEN_EXTERNAL || info == CRYPT_TOKEN_EXTERNAL_UNKNOWN) &&
		    !strcmp(type, SK_TOKEN_TYPE) && crypt_token_json_get(cd, id, &json) >= 0)
			return sk_token_parse(json, token) == 0;
	}
	return false;
}

static void print_token(struct crypt_device *cd)
{
	struct sk_token token = { 0 };
	char current[SK_MKVP_HEX_LEN + 1], staged[SK_MKVP_HEX_LEN + 1];

	if (!image_token(cd, &token)) {
		printf("  no securekey token");
	} else {
		sk_mkvp_to_hex(token.current.mkvp, current);
		printf("  token: secure key MKVP %s", current);
		if (token.has_staged) {
			sk_mkvp_to_hex(token.staged.mkvp, staged);
			printf(", staged %s", staged);
		}
	}
	sk_token_free(&token);
	printf(", keyslots");
	for (int slot = 0; slot < crypt_keyslot_max(CRYPT_LUKS2); slot++)
		if (crypt_keyslot_status(cd, slot) != CRYPT_SLOT_INACTIVE &&
		    crypt_keyslot_status(cd, slot) != CRYPT_SLOT_INVALID)
			printf(" %d", slot);
	printf("\n");
}

static int list_backups(struct sk_device *dev, const struct sk_backup *list, size_t count)
{
	uint64_t written;
	int bad = 0;

	if (!count) {
		printf("%s: no header backups in %s/backup/%s\n", dev->path, sk_path_state_dir(),
		       dev->uuid);
		return 0;
	}
	printf("%s (UUID %s, seqid %llu), backups oldest first:\n", dev->path, dev->uuid,
	       (unsigned long long)dev->seqid);
	for (size_t i = 0; i < count; i++) {
		struct crypt_device *cd = NULL;
		char image[32];
		int fd = -1;

		printf("%s  seqid %llu%s%s\n", list[i].name, (unsigned long long)list[i].seqid,
		       list[i].whole ? ", whole header" : "", i + 1 == count ? " (the default)" : "");
		if (load_image(dev, &list[i], &fd, &cd, image) < 0)
			bad = -EINVAL;
		else
			print_token(cd);
		close_image(fd, cd);
	}
	if (sk_backup_last_written(dev->uuid, &written) < 0 || written != dev->seqid)
		printf("The header changed outside securekey since its last write: a restore "
		       "needs --force.\n");
	return bad;
}

static const struct sk_backup *pick(const struct sk_backup *list, size_t count, const char *want,
				    const char *device, struct sk_backup *outside)
{
	if (!want) {
		if (!count)
			sk_err("%s has no header backups in %s/backup/; nothing was changed", device,
			       sk_path_state_dir());
		return count ? &list[count - 1] : NULL;
	}
	for (size_t i = 0; i < count; i++)
		if (!strcmp(list[i].name, want) || !strcmp(list[i].path, want))
			return &list[i];
	if (!strchr(want, '/')) {
		sk_err("%s has no header backup named %s; see 'securekey-cryptsetup restore %s "
		       "--list'",
		       device, want, device);
		return NULL;
	}
	/* A backup copied elsewhere: a whole header, or a .hdr whose keyslot snapshot is here. */
	sk_backup_from_path(want, outside);
	return outside;
}

/* Only securekey's own writes since the backups may be undone without --force. */
static int check_unchanged(struct sk_device *dev, bool force)
{
	uint64_t written;

	if (!sk_backup_last_written(dev->uuid, &written) && written == dev->seqid)
		return 0;
	if (force) {
		sk_warn("%s: the header changed outside securekey since its last write; "
			"restoring anyway (--force)",
			dev->path);
		return 0;
	}
	sk_err("%s: the header changed outside securekey since its last write (seqid now %llu); "
	       "a restore would undo that change too. Back it up with 'cryptsetup "
	       "luksHeaderBackup' and add --force to restore anyway; nothing was changed",
	       dev->path, (unsigned long long)dev->seqid);
	return -EEXIST;
}

/*
 * The passphrase must open a passphrase keyslot of the backup and give this
 * device's volume key: a backup of another device with a copied UUID fails.
 */
static int gate(struct sk_device *dev, struct crypt_device *image, bool device_loaded,
		struct sk_secret **pass)
{
	const struct cli_key_file source = { .path = cr.key_file,
					     .offset = cr.keyfile_offset,
					     .size = cr.keyfile_size };
	struct sk_device backup = { .cd = image, .path = dev->path, .lock_fd = -1 };
	struct sk_token token = { 0 };
	unsigned tries = cr.key_file ? 1 : cr.tries;
	int token_slot = image_token(image, &token) ? token.keyslot : -1, r = -EPERM;

	sk_token_free(&token);
	for (unsigned i = 0; i < tries && r == -EPERM; i++) {
		struct sk_secret *vk = NULL;

		r = cli_read_passphrase(&source, dev->path, pass);
		if (!r)
			r = sk_gate_passphrase_vk(&backup, token_slot, *pass, &vk);
		if (!r && device_loaded &&
		    crypt_volume_key_verify(dev->cd, (const char *)vk->data, vk->len) < 0) {
			sk_err("%s: the backup does not hold this device's volume key; nothing was "
			       "changed",
			       dev->path);
			r = -EINVAL;
		}
		sk_secret_free(vk);
		if (r) {
			sk_secret_free(*pass);
			*pass = NULL;
		}
	}
	return r;
}

/* Load the restored header and open a keyslot with the passphrase again. */
static int check_restored(struct sk_device *dev, const struct sk_secret *pass)
{
	struct sk_secret *vk = NULL;
	int r;

	crypt_free(dev->cd);
	dev->cd = NULL;
	r = crypt_init(&dev->cd, dev->path);
	if (!r)
		r = crypt_load(dev->cd, CRYPT_LUKS2, NULL);
	if (!r)
		r = sk_keyslot_volume_key(dev->cd, dev->path, pass, &vk);
	sk_secret_free(vk);
	if (r < 0)
		sk_err("%s: the restored header does not open with the passphrase; restore the "
		       "backup taken just before (the newest in --list)",
		       dev->path);
	return r < 0 ? r : 0;
}

static int restore(struct sk_device *dev, const struct sk_backup *b, bool force)
{
	struct crypt_device *cd = NULL;
	struct sk_secret *pass = NULL;
	char image[32];
	int fd = -1, r = load_image(dev, b, &fd, &cd, image);

	if (!r)
		r = check_unchanged(dev, force);
	if (!r)
		r = gate(dev, cd, true, &pass);
	if (!r)
		r = sk_device_restore(dev, image);
	close_image(fd, cd);
	if (!r)
		r = check_restored(dev, pass);
	if (!r)
		printf("%s: restored header backup %s.\n", dev->path, b->name);
	sk_secret_free(pass);
	return r;
}

/* What restore overwrites: both metadata copies and the keyslot area. */
static int header_area(struct crypt_device *image, size_t *len)
{
	uint64_t metadata, keyslots;
	int r = crypt_get_metadata_size(image, &metadata, &keyslots);

	*len = (size_t)(2 * metadata + keyslots);
	return r;
}

/*
 * Neither metadata copy of the device loads: nothing names its UUID but
 * the backup, so the operator names that by path and confirms with
 * --force. What is there is saved as it is before it is overwritten.
 */
static int restore_unloadable(const char *path, const struct restore_args *a)
{
	struct sk_backup b;
	struct sk_device *dev = NULL;
	struct crypt_device *cd = NULL;
	struct sk_secret *pass = NULL;
	char uuid[40], image[32];
	size_t saved = 0;
	int fd = -1, r = sk_backup_uuid_of(a->backup, uuid);

	sk_backup_from_path(a->backup, &b);
	if (!r)
		r = sk_device_open_unloadable(path, uuid, &dev);
	if (!r)
		r = load_image(dev, &b, &fd, &cd, image);
	if (!r)
		r = gate(dev, cd, false, &pass);
	if (!r)
		r = header_area(cd, &saved);
	if (!r)
		r = sk_device_restore_unloadable(dev, image, saved);
	close_image(fd, cd);
	if (!r)
		r = check_restored(dev, pass);
	if (!r)
		printf("%s: restored header backup %s over a header that did not load.\n", path,
		       b.name);
	sk_secret_free(pass);
	sk_device_close(dev);
	return r;
}

/* Whether libcryptsetup loads a LUKS2 header from @path (one good copy is enough). */
static bool header_loads(const char *path)
{
	char uuid[40];

	return sk_device_peek_uuid(path, uuid) == 0;
}

static int unloadable_refused(const char *path)
{
	sk_err("%s: its LUKS2 header does not load (are both metadata copies damaged?); to put a "
	       "backup back over it, name the backup by its path and add --force: "
	       "'securekey-cryptsetup restore %s --backup %s/backup/UUID/NAME --force'",
	       path, path, sk_path_state_dir());
	return -EINVAL;
}

int cr_restore(int argc, char **argv)
{
	static const struct option options[] = {
		CLI_COMMON_OPTIONS,
		CR_PASSPHRASE_OPTIONS,
		{ "list", no_argument, NULL, OPT_LIST },
		{ "backup", required_argument, NULL, OPT_BACKUP },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ NULL, 0, NULL, 0 },
	};
	struct restore_args a = { 0 };
	struct sk_device *dev = NULL;
	struct sk_backup *list = NULL, outside = { 0 };
	const struct sk_backup *chosen;
	size_t count = 0;
	char **args;
	int r = cr_parse(argc, argv, options, usage, 1, handle, &a, &args);

	if (r)
		return r < 0 ? 0 : r;
	if (a.list && (a.backup || a.force))
		return cli_usage_error("%s: --list takes no --backup or --force", argv[0]);
	/* The configuration says how many backups to keep: restore takes one too. */
	if (!cli_config())
		return cli_exit_code(-EINVAL);
	if (!a.list && access(args[0], F_OK) == 0 && !header_loads(args[0])) {
		bool named = a.backup && strchr(a.backup, '/');

		return cli_exit_code(named && a.force ? restore_unloadable(args[0], &a)
						       : unloadable_refused(args[0]));
	}
	r = sk_device_open_header(args[0], !a.list, &dev);
	if (!r)
		r = sk_backup_list(dev->uuid, &list, &count);
	if (!r && a.list)
		r = list_backups(dev, list, count);
	else if (!r) {
		chosen = pick(list, count, a.backup, dev->path, &outside);
		r = chosen ? restore(dev, chosen, a.force) : -ENOENT;
	}
	sk_backup_list_free(list, count);
	sk_device_close(dev);
	return cli_exit_code(r);
}
