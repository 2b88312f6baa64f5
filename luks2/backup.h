/*
 * Header backups under <state>/backup/<UUID>/, taken (and synced) before
 * every header write. A token write changes only the LUKS2 metadata, so a
 * backup is NAME.hdr: both metadata copies (binary headers and JSON areas,
 * 2 x 16 KiB with cryptsetup's defaults). The keyslot area (16 MiB by
 * default) changes only with the keyslots; it is kept once per keyslot set
 * as keyslots-HASH.area (HASH over the JSON "keyslots" and the area size,
 * holes where no keyslot is), shared by every .hdr taken with that set.
 * A restore assembles .hdr and .area into one whole header image and puts
 * it back with crypt_header_restore. Whole-header backups written by
 * earlier versions (*.luks2) are listed and restored too.
 *
 * NAME is TIME-SEQID-PID: names sort by time, then by the seqid of the
 * header they hold. <UUID>/written holds the seqid the last securekey write
 * left, so a restore can tell a header changed by others since.
 */
#ifndef SECUREKEY_LUKS2_BACKUP_H
#define SECUREKEY_LUKS2_BACKUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sk_device;

#define SK_BACKUP_KEEP_DEFAULT 5

struct sk_backup {
	char *path;       /* the .hdr (or whole .luks2) file */
	const char *name; /* its base name, in @path */
	uint64_t seqid;   /* of the header it holds */
	bool whole;       /* a whole-header file of an earlier version */
};

/* How many backups per device to keep ([backup] keep); 0: the default. */
void sk_backup_set_keep(unsigned keep);

/* Back up @dev's header (locked, seqid checked); @path_out for sk_backup_drop. */
int sk_backup_take(struct sk_device *dev, char **path_out);
/* Take back a backup whose write was refused: it must not push out a good one. */
void sk_backup_drop(const char *path);
/* Keep the newest backups of @uuid, and the keyslot snapshots they use. */
void sk_backup_prune(const char *uuid);

/*
 * How many backups of @uuid hold a securekey token (their secure key still
 * unwraps while its master key is in a register); @total gets how many
 * there are. An absent directory holds none.
 */
int sk_backup_count_token(const char *uuid, size_t *with_token, size_t *total);
/*
 * Delete every file securekey keeps for @uuid (.hdr, .luks2, keyslot
 * snapshots, the written record, left-over temporary files) and then the
 * directory; files of other names are kept and named. Returns how many
 * files went, or -errno. Unlinking does not scrub the blocks they held.
 */
int sk_backup_purge(const char *uuid);

/* Record the seqid a securekey write of @uuid left (best effort). */
void sk_backup_note_written(const char *uuid, uint64_t seqid);
/* The seqid last recorded, -ENOENT when none is. */
int sk_backup_last_written(const char *uuid, uint64_t *seqid);

/* The backups of @uuid, oldest first; an absent directory is an empty list. */
int sk_backup_list(const char *uuid, struct sk_backup **list, size_t *count);
void sk_backup_list_free(struct sk_backup *list, size_t count);

/*
 * The whole header image @b stands for, in a memory file (@fd, readable
 * at /proc/self/fd/@fd). Errors name the backup: a truncated or damaged
 * .hdr, a missing or short keyslot snapshot.
 */
int sk_backup_assemble(const char *uuid, const struct sk_backup *b, int *fd);

/*
 * A backup named by its path, outside the list: a .hdr, else a whole header
 * (one of an earlier version, or from 'cryptsetup luksHeaderBackup').
 * @b borrows @path.
 */
void sk_backup_from_path(const char *path, struct sk_backup *b);

/* The LUKS UUID in the binary header of the backup file @path (canonical form only). */
int sk_backup_uuid_of(const char *path, char uuid[40]);

/*
 * Before a restore over a header that does not load: the first @len bytes
 * of @device, as they are, into its backup directory (TIME-unloadable-PID.raw).
 */
int sk_backup_save_raw(const char *device, const char *uuid, size_t len);

/*
 * SHA-256 over both metadata copies of the header image @fd: libcryptsetup
 * repairs a damaged copy as it loads, and a change tells that one was.
 */
#define SK_BACKUP_DIGEST_LEN 32
int sk_backup_metadata_digest(int fd, unsigned char digest[SK_BACKUP_DIGEST_LEN]);

/*
 * Before a batch over @paths: refuse, with the numbers, when the state
 * directory has less free space than one backup of each device needs.
 */
int sk_backup_check_space(char *const *paths, size_t count);

#endif
