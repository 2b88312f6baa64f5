/* Files that hold secrets: 0600, owned by the caller, written atomically. */
#ifndef SECUREKEY_SECFILE_H
#define SECUREKEY_SECFILE_H

#include <stddef.h>
#include <sys/types.h>

#include "secmem.h"

#include <sys/stat.h>

/* Who may own a file or directory that securekey relies on. */
enum sk_owner_rule {
	SK_OWNER_CALLER,         /* secrets and the soft HSM: the caller alone */
	SK_OWNER_ROOT_OR_CALLER, /* configuration, code and state: root too */
};

/*
 * Refuse what @st describes (the @what at @path) unless @rule allows its
 * owner and it has none of the @forbidden mode bits. The one line logged
 * names the chown, or the 'chmod @fix_mode', that fixes it.
 */
int sk_check_owner_mode(const struct stat *st, const char *path, const char *what,
			enum sk_owner_rule rule, mode_t forbidden, const char *fix_mode);

/*
 * Refuse @fd (opened from @path) unless it is a regular file owned by the
 * caller with no group or other permission bits; the message says how to fix it.
 */
int sk_secfile_check(int fd, const char *path, const char *what);

/*
 * What root may have written for the caller (a key file, a secure key file):
 * a regular file owned by root or the caller, no group or other permissions.
 */
int sk_private_file_check(int fd, const char *path, const char *what);

/*
 * What chooses or is code run as root (securekey.conf, a PKCS#11 module):
 * @fd, or @path (links followed) when @fd is -1, must be a regular file
 * owned by root or the caller and not writable by group or others.
 */
int sk_trusted_file_check(int fd, const char *path, const char *what);

/*
 * Read a secret of exactly @len bytes from @path ("-" is stdin, which is not
 * permission-checked) into locked memory. @what names it in messages.
 */
int sk_secfile_read(const char *path, size_t len, const char *what, struct sk_secret **out);

/* A one-line secret (a PIN) of 1 to @max bytes; one trailing newline is dropped. */
int sk_secfile_read_line(const char *path, size_t max, const char *what, struct sk_secret **out);

/* Write all @len bytes to @fd (retrying short writes and EINTR); -errno. */
int sk_write_full(int fd, const void *data, size_t len);

/* Create @path (must not exist) with mode 0600 and write @len bytes, fsync'd. */
int sk_secfile_create(const char *path, const void *data, size_t len);

/*
 * Replace @path atomically: write a 0600 temp file beside it, fsync, rename,
 * fsync the directory. Readers see the old or the new content, never a mix.
 */
int sk_file_replace(const char *path, const void *data, size_t len);
/* The same for a file that is not secret, with @mode. */
int sk_file_replace_mode(const char *path, const void *data, size_t len, mode_t mode);

/* Read a whole non-secret file of at most @max bytes (malloc'd). */
int sk_file_read(const char *path, size_t max, unsigned char **data, size_t *len);
/*
 * The same for the @what at @path that others must not read or swap (a
 * secure key file): a regular file, 0600, owned by root or the caller.
 */
int sk_file_read_private(const char *path, size_t max, const char *what, unsigned char **data,
			 size_t *len);

int sk_fsync_dir(const char *dir);
/* fsync the directory holding @path. */
int sk_fsync_dir_of(const char *path);

#endif
