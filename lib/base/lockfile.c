#include "config.h"

#include "lockfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define DEFAULT_LOCK_TIMEOUT_MS 30000u
#define POLL_MIN_US 1000
#define POLL_MAX_US 50000

unsigned sk_lock_timeout_ms(void)
{
	const char *env = getenv("SECUREKEY_LOCK_TIMEOUT");
	char *end;
	double seconds;

	if (!env || !*env)
		return DEFAULT_LOCK_TIMEOUT_MS;
	seconds = strtod(env, &end);
	if (*end || !(seconds >= 0 && seconds <= 86400)) /* also refuses NaN */
		return DEFAULT_LOCK_TIMEOUT_MS;
	return (unsigned)(seconds * 1000);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * flock has no timeout, so poll with LOCK_NB and a growing back-off; the
 * holders keep the lock for milliseconds, contention is short.
 */
static int wait_for_lock(int fd, int op, unsigned timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	useconds_t pause = POLL_MIN_US;
	/* Per-process jitter so that waiting processes do not retry in step. */
	unsigned jitter = (unsigned)getpid() * 2654435761u;

	for (;;) {
		if (flock(fd, op | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return -errno;
		if (now_ms() >= deadline)
			return -EBUSY;
		jitter = jitter * 1103515245u + 12345u;
		usleep(pause + (useconds_t)(jitter % POLL_MIN_US));
		if (pause < POLL_MAX_US)
			pause *= 2;
	}
}

/*
 * Readers never need write access: boot unlocks before / is remounted
 * read-write, and some roots are immutable. flock works on a file opened
 * read-only, so a shared lock opens an existing lock file that way. Where
 * there is none and the file system is read-only, no writer can change what
 * it guards either: the reader holds the directory open instead, unlocked.
 */
static int open_lock_file(const char *path, bool exclusive)
{
	const char *slash;
	char *dir;
	int fd;

	if (!exclusive) {
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd >= 0 || errno != ENOENT)
			return fd;
	}
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd >= 0 || exclusive || errno != EROFS)
		return fd;
	slash = strrchr(path, '/');
	dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
	if (!dir) {
		errno = ENOMEM;
		return -1;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (fd >= 0)
		sk_dbg("%s: read-only file system, read without a lock", path);
	return fd;
}

int sk_lock_acquire(const char *path, bool exclusive, const char *what)
{
	unsigned timeout_ms = sk_lock_timeout_ms();
	int fd, r;

	fd = open_lock_file(path, exclusive);
	if (fd < 0) {
		r = -errno;
		sk_err("cannot open lock file %s: %s", path, strerror(errno));
		return r;
	}
	r = wait_for_lock(fd, exclusive ? LOCK_EX : LOCK_SH, timeout_ms);
	if (r == -EBUSY) {
		sk_err("%s is locked by another process (lock file %s); gave up after %u.%03u s, "
		       "try again when it has finished",
		       what, path, timeout_ms / 1000, timeout_ms % 1000);
	} else if (r < 0) {
		sk_err("cannot lock %s (%s): %s", what, path, strerror(-r));
	}
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

void sk_lock_release(int fd)
{
	if (fd >= 0)
		close(fd);
}
