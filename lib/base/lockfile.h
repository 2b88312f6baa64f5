/* flock(2) on a lock file, waiting a bounded time. */
#ifndef SECUREKEY_LOCKFILE_H
#define SECUREKEY_LOCKFILE_H

#include <stdbool.h>

/* SECUREKEY_LOCK_TIMEOUT (seconds, may be fractional) or 30 s. */
unsigned sk_lock_timeout_ms(void);

/*
 * Lock @path (created 0600 if missing). @what names the protected object in
 * the message when the wait times out (-EBUSY). Returns the lock fd. A
 * shared lock needs no write access: it opens the file read-only, and on a
 * read-only file system without the file it goes on unlocked.
 */
int sk_lock_acquire(const char *path, bool exclusive, const char *what);
void sk_lock_release(int fd);

#endif
