/*
 * A LUKS2 device (block device or image file) as securekey changes it:
 * loaded with libcryptsetup, locked per LUKS UUID, its securekey token
 * found, and every header write checked against the seqid read at load
 * time and preceded by a header backup.
 */
#ifndef SECUREKEY_LUKS2_DEVICE_H
#define SECUREKEY_LUKS2_DEVICE_H

#include <stdbool.h>
#include <stdint.h>

#include <libcryptsetup.h>

#include "token.h"

struct sk_device {
	struct crypt_device *cd;
	char *path;
	char uuid[40];
	int lock_fd;
	uint64_t seqid;
	int token_id; /* the securekey token, or -1 */
	struct sk_token token;
};

/*
 * Load @path as LUKS2. With @for_write the per-UUID lock is taken first
 * (bounded wait). With @need_token a missing securekey token is an error.
 * Two securekey tokens are always refused. Errors name the device.
 */
int sk_device_open(const char *path, bool for_write, bool need_token, struct sk_device **dev);
/* The same, with the token not looked at (restore puts a damaged one right). */
int sk_device_open_header(const char *path, bool for_write, struct sk_device **dev);
/*
 * Say that @dev has no securekey token, with the advice to enroll it, as
 * sk_device_open with @need_token does (validate --json opens without it,
 * to report the device all the same). Returns -ENOENT.
 */
int sk_device_no_token(const struct sk_device *dev);
void sk_device_close(struct sk_device *dev);

/* The LUKS UUID of @path when only its header loads (to name a device that failed). */
int sk_device_peek_uuid(const char *path, char uuid[40]);

/* Read the seqid of the primary binary header (it grows with every write). */
int sk_device_read_seqid(const char *path, uint64_t *seqid);

/*
 * Write @token as the device's securekey token (a new one when the device
 * has none): seqid unchanged since open, header backed up, then one
 * crypt_token_json_set. Returns the token id.
 */
int sk_device_write_token(struct sk_device *dev, struct sk_token *token);

/* Remove the securekey token (same checks and backup). */
int sk_device_remove_token(struct sk_device *dev);

/* Back the header up into <state>/backup/<uuid>/ (see backup.h), pruning old ones. */
int sk_device_backup(struct sk_device *dev);

/*
 * Put the whole header image @image (a path libcryptsetup opens) back on
 * @dev: seqid unchanged since open, the current header backed up, then one
 * crypt_header_restore (both metadata copies and the keyslot area).
 */
int sk_device_restore(struct sk_device *dev, const char *image);

/*
 * For a restore over a header that does not load: lock by @uuid (the
 * backup's) and set up libcryptsetup on @path without loading. Then the
 * first @saved bytes are kept as they were (sk_backup_save_raw) before one
 * crypt_header_restore of @image.
 */
int sk_device_open_unloadable(const char *path, const char *uuid, struct sk_device **dev);
int sk_device_restore_unloadable(struct sk_device *dev, const char *image, size_t saved);

/*
 * After a header write not made by the two above (a keyslot added or
 * destroyed): read the new seqid and record it for restore.
 */
int sk_device_note_written(struct sk_device *dev);

/* The canonical 8-4-4-4-12 hex form, the only UUID that names state files. */
bool sk_device_uuid_ok(const char *uuid);

#endif
