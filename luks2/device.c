#include "config.h"

#include "device.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup.h"
#include "binhdr.h"
#include "lockfile.h"
#include "log.h"
#include "paths.h"

/*
 * The UUID names lock, backup and known-volume files, and libcryptsetup
 * loads a header with any text there: only the canonical 8-4-4-4-12 hex
 * form is taken, so a hostile header cannot point those paths elsewhere.
 */
bool sk_device_uuid_ok(const char *uuid)
{
	for (int i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? uuid[i] != '-' : !isxdigit((unsigned char)uuid[i]))
			return false;
	}
	return uuid[36] == '\0';
}

/* The UUID of the primary LUKS2 binary header, read raw; false when there is none. */
static bool raw_uuid(const char *path, char uuid[SK_LUKS2_UUID_LEN])
{
	unsigned char hdr[SK_LUKS2_UUID_OFFSET + SK_LUKS2_UUID_LEN];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	bool ok = fd >= 0 && pread(fd, hdr, sizeof(hdr), 0) == (ssize_t)sizeof(hdr) &&
		  sk_luks2_bin_magic_ok(hdr) && hdr[SK_LUKS2_UUID_OFFSET] &&
		  !hdr[SK_LUKS2_UUID_OFFSET + SK_LUKS2_UUID_LEN - 1];

	if (fd >= 0)
		close(fd);
	if (ok)
		memcpy(uuid, hdr + SK_LUKS2_UUID_OFFSET, SK_LUKS2_UUID_LEN);
	return ok && sk_device_uuid_ok(uuid);
}

int sk_device_read_seqid(const char *path, uint64_t *seqid)
{
	unsigned char buf[SK_LUKS2_SEQID_OFFSET + 8];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0) {
		sk_err("cannot open %s: %s", path, strerror(errno));
		return -errno;
	}
	n = pread(fd, buf, sizeof(buf), 0);
	close(fd);
	if (n != (ssize_t)sizeof(buf)) {
		sk_err("cannot read the LUKS2 header of %s", path);
		return -EIO;
	}
	*seqid = sk_luks2_bin_seqid(buf);
	return 0;
}

static int load_luks2(struct sk_device *dev)
{
	struct stat st;
	int r;

	/* crypt_init says "Block device required" for a missing file or a directory. */
	if (stat(dev->path, &st) < 0) {
		r = -errno;
		sk_err("cannot open %s: %s", dev->path, strerror(-r));
		return r;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		sk_err("%s is neither a block device nor an image file", dev->path);
		return -EINVAL;
	}
	r = crypt_init(&dev->cd, dev->path);
	if (r < 0) {
		sk_err("cannot open %s: %s", dev->path, strerror(-r));
		return r;
	}
	r = crypt_load(dev->cd, CRYPT_LUKS, NULL);
	if (r < 0) {
		sk_err("%s is not a LUKS device (or its header is damaged)", dev->path);
		return r;
	}
	if (strcmp(crypt_get_type(dev->cd), CRYPT_LUKS2)) {
		sk_err("%s is a %s device; securekey needs LUKS2 ('cryptsetup convert --type luks2')",
		       dev->path, crypt_get_type(dev->cd));
		return -EINVAL;
	}
	if (!crypt_get_uuid(dev->cd) || !sk_device_uuid_ok(crypt_get_uuid(dev->cd))) {
		sk_err("%s: its LUKS2 UUID is not of the form 8-4-4-4-12 hex digits; set one with "
		       "'cryptsetup luksUUID --uuid'",
		       dev->path);
		return -EINVAL;
	}
	snprintf(dev->uuid, sizeof(dev->uuid), "%s", crypt_get_uuid(dev->cd));
	return 0;
}

static int lock_device(struct sk_device *dev)
{
	const char *run = sk_path_run_dir();
	char *path = NULL, *what = NULL;
	int r = 0;

	if (sk_path_make_run_dir() < 0)
		return -EIO;
	if (asprintf(&path, "%s/%s.lock", run, dev->uuid) < 0 ||
	    asprintf(&what, "LUKS device %s (UUID %s)", dev->path, dev->uuid) < 0)
		r = -ENOMEM;
	if (!r) {
		dev->lock_fd = sk_lock_acquire(path, true, what);
		r = dev->lock_fd < 0 ? dev->lock_fd : 0;
	}
	free(path);
	free(what);
	return r;
}

/* The one securekey token, if any; a second one is an error. */
static int find_token(struct sk_device *dev)
{
	int max = crypt_token_max(CRYPT_LUKS2);
	const char *type, *json;

	dev->token_id = -1;
	for (int id = 0; id < max; id++) {
		crypt_token_info info = crypt_token_status(dev->cd, id, &type);

		if ((info != CRYPT_TOKEN_EXTERNAL && info != CRYPT_TOKEN_EXTERNAL_UNKNOWN) ||
		    strcmp(type, SK_TOKEN_TYPE))
			continue;
		if (dev->token_id >= 0) {
			sk_err("%s has two securekey tokens (%d and %d); remove one with "
			       "'cryptsetup token remove --token-id N'",
			       dev->path, dev->token_id, id);
			return -EINVAL;
		}
		dev->token_id = id;
	}
	if (dev->token_id < 0)
		return -ENOENT;
	if (crypt_token_json_get(dev->cd, dev->token_id, &json) < 0 ||
	    sk_token_parse(json, &dev->token) < 0) {
		sk_err("%s: securekey token %d is invalid (see above); remove it with 'cryptsetup "
		       "token remove --token-id %d %s' and enroll again, or put a header backup "
		       "back with 'securekey-cryptsetup restore %s'",
		       dev->path, dev->token_id, dev->token_id, dev->path, dev->path);
		return -EINVAL;
	}
	return 0;
}

/* Lock by the loaded UUID, then load again: another writer may have finished meanwhile. */
static int relock(struct sk_device *dev)
{
	int r;

	sk_lock_release(dev->lock_fd);
	dev->lock_fd = -1;
	snprintf(dev->uuid, sizeof(dev->uuid), "%s", crypt_get_uuid(dev->cd));
	r = lock_device(dev);
	if (!r) {
		crypt_free(dev->cd);
		dev->cd = NULL;
		r = load_luks2(dev);
	}
	return r;
}

int sk_device_peek_uuid(const char *path, char uuid[40])
{
	struct crypt_device *cd = NULL;
	int r = crypt_init(&cd, path);

	if (!r)
		r = crypt_load(cd, CRYPT_LUKS, NULL);
	if (!r && crypt_get_uuid(cd))
		snprintf(uuid, 40, "%s", crypt_get_uuid(cd));
	crypt_free(cd);
	return r;
}

int sk_device_no_token(const struct sk_device *dev)
{
	sk_err("%s has no securekey token; enroll it with 'securekey-cryptsetup enroll %s'",
	       dev->path, dev->path);
	return -ENOENT;
}

/* What sk_device_open does with the securekey token. */
enum token_mode { TOKEN_NEEDED, TOKEN_OPTIONAL, TOKEN_IGNORED };

static int open_device(const char *path, bool for_write, enum token_mode mode, struct sk_device **out)
{
	struct sk_device *dev = calloc(1, sizeof(*dev));
	char locked[SK_LUKS2_UUID_LEN];
	int r;

	if (!dev)
		return -ENOMEM;
	dev->lock_fd = -1;
	dev->path = strdup(path);
	sk_log_set_subject(dev->path);
	/* Lock before the one load when the UUID can be read raw (batches open thousands). */
	if (dev->path && for_write && raw_uuid(path, locked)) {
		memcpy(dev->uuid, locked, sizeof(locked));
		r = lock_device(dev);
		if (!r)
			r = load_luks2(dev);
		if (!r && strcmp(locked, dev->uuid))
			r = relock(dev);
	} else {
		r = dev->path ? load_luks2(dev) : -ENOMEM;
		if (!r && for_write)
			r = relock(dev);
	}
	if (!r)
		r = sk_device_read_seqid(path, &dev->seqid);
	if (!r && mode != TOKEN_IGNORED) {
		r = find_token(dev);
		if (r == -ENOENT && mode == TOKEN_NEEDED)
			r = sk_device_no_token(dev);
		else if (r == -ENOENT)
			r = 0;
	}
	if (r < 0) {
		sk_device_close(dev);
		return r;
	}
	*out = dev;
	return 0;
}

int sk_device_open(const char *path, bool for_write, bool need_token, struct sk_device **out)
{
	return open_device(path, for_write, need_token ? TOKEN_NEEDED : TOKEN_OPTIONAL, out);
}

int sk_device_open_header(const char *path, bool for_write, struct sk_device **out)
{
	return open_device(path, for_write, TOKEN_IGNORED, out);
}

void sk_device_close(struct sk_device *dev)
{
	if (!dev)
		return;
	if (sk_log_get_subject() == dev->path)
		sk_log_set_subject(NULL);
	sk_token_free(&dev->token);
	crypt_free(dev->cd);
	sk_lock_release(dev->lock_fd);
	free(dev->path);
	free(dev);
}

static int check_seqid(struct sk_device *dev)
{
	uint64_t now;
	int r = sk_device_read_seqid(dev->path, &now);

	if (r < 0)
		return r;
	if (now != dev->seqid) {
		sk_err("the LUKS2 header of %s changed while securekey worked on it (seqid %llu, now "
		       "%llu); nothing was written, run the command again",
		       dev->path, (unsigned long long)dev->seqid, (unsigned long long)now);
		return -EAGAIN;
	}
	return 0;
}

/*
 * libcryptsetup reports a failed write as -EIO whatever the cause; errno
 * still holds the cause just after the call (it only closes and frees
 * since), and "No space left on device" tells the operator what to do.
 */
static int write_errno(int r)
{
	int cause = errno;

	if (r == -EIO && (cause == ENOSPC || cause == EDQUOT || cause == EROFS))
		return -cause;
	return r;
}

/*
 * While securekey writes a header, libcryptsetup's own messages go to the
 * debug log: the failure is reported once, by the caller, naming the device.
 */
static void crypt_log_debug(int level, const char *msg, void *usrptr)
{
	(void)level;
	(void)usrptr;
	sk_dbg("libcryptsetup: %.*s", (int)strcspn(msg, "\n"), msg);
}

static void quiet_libcryptsetup(struct sk_device *dev, bool quiet)
{
	/* A NULL per-device callback falls back to the process-wide one. */
	crypt_set_log_callback(dev->cd, quiet ? crypt_log_debug : NULL, NULL);
}

int sk_device_note_written(struct sk_device *dev)
{
	if (sk_device_read_seqid(dev->path, &dev->seqid) < 0)
		return -EIO;
	sk_backup_note_written(dev->uuid, dev->seqid);
	return 0;
}

int sk_device_backup(struct sk_device *dev)
{
	char *path = NULL;
	int r = sk_backup_take(dev, &path);

	if (!r)
		sk_backup_prune(dev->uuid);
	free(path);
	return r;
}

static const char *write_failure(int r)
{
	if (r == -ENOSPC)
		return "no room for it in the LUKS2 metadata area";
	if (r == -EINVAL)
		return "libcryptsetup refused it (are all 32 token slots in use?)";
	return strerror(-r);
}

/* libcryptsetup's own seqid check refuses a write racing another writer with -EINVAL. */
static bool header_changed(struct sk_device *dev)
{
	uint64_t now;

	return sk_device_read_seqid(dev->path, &now) == 0 && now != dev->seqid;
}

/* @disk_r: @r with the cause of a failed disk write (see write_errno). */
static void report_write_failure(struct sk_device *dev, int r, int disk_r)
{
	if (r == -EINVAL && header_changed(dev))
		sk_err("the LUKS2 header of %s changed while securekey worked on it; nothing was "
		       "written, run the command again", dev->path);
	else
		sk_err("cannot write the securekey token of %s: %s; nothing was changed", dev->path,
		       disk_r != r ? strerror(-disk_r) : write_failure(r));
}

int sk_device_write_token(struct sk_device *dev, struct sk_token *token)
{
	char *backup = NULL;
	int r = check_seqid(dev), disk_r;

	if (!r)
		r = sk_backup_take(dev, &backup);
	if (r < 0)
		return r;
	quiet_libcryptsetup(dev, true);
	r = crypt_token_json_set(dev->cd, dev->token_id >= 0 ? dev->token_id : CRYPT_ANY_TOKEN,
				 sk_token_json(token));
	disk_r = write_errno(r);
	quiet_libcryptsetup(dev, false);
	/* A refused write leaves the backups as they were: drop this one, prune none. */
	if (r < 0) {
		report_write_failure(dev, r, disk_r);
		sk_backup_drop(backup);
	} else {
		sk_backup_prune(dev->uuid);
		dev->token_id = r;
	}
	free(backup);
	if (r < 0)
		return r;
	return sk_device_note_written(dev) < 0 ? -EIO : r;
}

int sk_device_remove_token(struct sk_device *dev)
{
	int r = check_seqid(dev);

	if (!r)
		r = sk_device_backup(dev);
	if (!r) {
		quiet_libcryptsetup(dev, true);
		r = write_errno(crypt_token_json_set(dev->cd, dev->token_id, NULL));
		quiet_libcryptsetup(dev, false);
	}
	if (r < 0)
		sk_err("cannot remove the securekey token of %s: %s", dev->path, strerror(-r));
	return r < 0 ? r : sk_device_note_written(dev);
}

int sk_device_open_unloadable(const char *path, const char *uuid, struct sk_device **out)
{
	struct sk_device *dev = calloc(1, sizeof(*dev));
	int r = dev ? 0 : -ENOMEM;

	if (!r) {
		dev->lock_fd = -1;
		dev->token_id = -1;
		snprintf(dev->uuid, sizeof(dev->uuid), "%s", uuid);
		dev->path = strdup(path);
		r = dev->path ? lock_device(dev) : -ENOMEM;
	}
	if (!r && (r = crypt_init(&dev->cd, path)) < 0)
		sk_err("cannot open %s: %s", path, strerror(-r));
	if (r < 0) {
		sk_device_close(dev);
		return r;
	}
	*out = dev;
	return 0;
}

/* One crypt_header_restore of @image; @where says where the header as it was is kept. */
static int header_restore(struct sk_device *dev, const char *image, const char *where)
{
	int r, disk_r;

	quiet_libcryptsetup(dev, true);
	r = crypt_header_restore(dev->cd, CRYPT_LUKS2, image);
	disk_r = write_errno(r);
	quiet_libcryptsetup(dev, false);
	if (r < 0) {
		sk_err("cannot restore the LUKS2 header of %s: %s; the header as it was is %s in "
		       "%s/backup/%s",
		       dev->path, strerror(-disk_r), where, sk_path_state_dir(), dev->uuid);
		return disk_r;
	}
	return sk_device_note_written(dev);
}

int sk_device_restore_unloadable(struct sk_device *dev, const char *image, size_t saved)
{
	int r = sk_backup_save_raw(dev->path, dev->uuid, saved);

	return r < 0 ? r : header_restore(dev, image, "the newest .raw file");
}

int sk_device_restore(struct sk_device *dev, const char *image)
{
	int r = check_seqid(dev);

	if (!r)
		r = sk_device_backup(dev);
	return r < 0 ? r : header_restore(dev, image, "the newest backup");
}
