#include "config.h"

#include "secfile.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

static int check_owner(const struct stat *st, const char *path, const char *what,
		       enum sk_owner_rule rule)
{
	uid_t me = geteuid();

	if (st->st_uid == me || (rule == SK_OWNER_ROOT_OR_CALLER && st->st_uid == 0))
		return 0;
	if (rule == SK_OWNER_ROOT_OR_CALLER && me == 0)
		sk_err("%s %s is owned by uid %u, not by root; fix with: chown root %s", what, path,
		       (unsigned)st->st_uid, path);
	else
		sk_err("%s %s is owned by uid %u, not by %syou (uid %u); fix with: chown %u %s",
		       what, path, (unsigned)st->st_uid,
		       rule == SK_OWNER_ROOT_OR_CALLER ? "root or " : "", (unsigned)me,
		       (unsigned)me, path);
	return -EACCES;
}

int sk_check_owner_mode(const struct stat *st, const char *path, const char *what,
			enum sk_owner_rule rule, mode_t forbidden, const char *fix_mode)
{
	int r = check_owner(st, path, what, rule);

	if (!r && (st->st_mode & forbidden)) {
		sk_err("%s %s has mode %04o and may be %s by others; fix with: chmod %s %s", what,
		       path, (unsigned)(st->st_mode & 07777), forbidden & 044 ? "read" : "changed",
		       fix_mode, path);
		r = -EACCES;
	}
	return r;
}

/* fstat @fd, or stat @path when @fd is -1; a regular file only. */
static int stat_regular(int fd, const char *path, const char *what, struct stat *st)
{
	if ((fd >= 0 ? fstat(fd, st) : stat(path, st)) < 0) {
		sk_err("cannot stat %s %s: %s", what, path, strerror(errno));
		return -errno;
	}
	if (!S_ISREG(st->st_mode)) {
		sk_err("%s %s is not a regular file", what, path);
		return -EINVAL;
	}
	return 0;
}

int sk_secfile_check(int fd, const char *path, const char *what)
{
	struct stat st;
	int r = stat_regular(fd, path, what, &st);

	return r ? r : sk_check_owner_mode(&st, path, what, SK_OWNER_CALLER, 077, "0600");
}

int sk_private_file_check(int fd, const char *path, const char *what)
{
	struct stat st;
	int r = stat_regular(fd, path, what, &st);

	return r ? r : sk_check_owner_mode(&st, path, what, SK_OWNER_ROOT_OR_CALLER, 077, "0600");
}

int sk_trusted_file_check(int fd, const char *path, const char *what)
{
	struct stat st;
	int r = stat_regular(fd, path, what, &st);

	return r ? r : sk_check_owner_mode(&st, path, what, SK_OWNER_ROOT_OR_CALLER, 022, "go-w");
}

/* Reads up to @len + 1 bytes so that a longer file is detected. */
static ssize_t read_full(int fd, unsigned char *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/* Open @path (or stdin) and read at most @max + 1 bytes of it into *@buf. */
static int read_secret(const char *path, size_t max, const char *what, struct sk_secret **buf,
		       size_t *got)
{
	bool is_stdin = !strcmp(path, "-");
	ssize_t n;
	int fd, r = 0;

	*buf = NULL;
	fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		r = -errno;
		sk_err("cannot open %s %s: %s", what, path, strerror(errno));
		return r;
	}
	if (!is_stdin)
		r = sk_secfile_check(fd, path, what);
	*buf = r ? NULL : sk_secret_new(max + 1);
	if (!r && !*buf)
		r = -ENOMEM;
	if (!r) {
		n = read_full(fd, (*buf)->data, max + 1);
		if (n < 0) {
			r = -errno;
			sk_err("cannot read %s %s: %s", what, path, strerror(errno));
		}
		*got = n < 0 ? 0 : (size_t)n;
	}
	if (r) {
		sk_secret_free(*buf);
		*buf = NULL;
	}
	if (!is_stdin)
		close(fd);
	return r;
}

int sk_secfile_read(const char *path, size_t len, const char *what, struct sk_secret **out)
{
	struct sk_secret *buf = NULL;
	size_t got = 0;
	int r = read_secret(path, len, what, &buf, &got);

	if (!r && got != len) {
		r = -EINVAL;
		sk_err("%s %s must hold exactly %zu bytes, it holds %s%zu", what,
		       strcmp(path, "-") ? path : "(stdin)", len, got > len ? "more than " : "",
		       got > len ? len : got);
	}
	if (!r && !(*out = sk_secret_dup(buf->data, len)))
		r = -ENOMEM;
	sk_secret_free(buf);
	return r;
}

int sk_secfile_read_line(const char *path, size_t max, const char *what, struct sk_secret **out)
{
	struct sk_secret *buf = NULL;
	size_t got = 0;
	int r = read_secret(path, max + 1, what, &buf, &got);

	if (!r && got && buf->data[got - 1] == '\n')
		got--;
	if (!r && (!got || got > max || memchr(buf->data, '\n', got))) {
		r = -EINVAL;
		sk_err("%s %s must hold one line of 1 to %zu bytes", what, path, max);
	}
	if (!r && !(*out = sk_secret_dup(buf->data, got)))
		r = -ENOMEM;
	sk_secret_free(buf);
	return r;
}

int sk_write_full(int fd, const void *data, size_t len)
{
	const unsigned char *p = data;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int write_and_sync(int fd, const char *path, const void *data, size_t len)
{
	int r = sk_write_full(fd, data, len);

	if (!r && fsync(fd) < 0)
		r = -errno;
	if (r)
		sk_err("cannot write %s: %s", path, strerror(-r));
	return r;
}

int sk_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r = 0;

	if (fd < 0 || fsync(fd) < 0)
		r = -errno;
	if (fd >= 0)
		close(fd);
	if (r)
		sk_err("cannot sync directory %s: %s", dir, strerror(-r));
	return r;
}

int sk_fsync_dir_of(const char *path)
{
	char *copy = strdup(path);
	int r;

	if (!copy)
		return -ENOMEM;
	r = sk_fsync_dir(dirname(copy));
	free(copy);
	return r;
}

int sk_secfile_create(const char *path, const void *data, size_t len)
{
	int fd, r;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		r = -errno;
		sk_err("cannot create %s: %s%s", path, strerror(errno),
		       errno == EEXIST ? " (remove it or choose another name)" : "");
		return r;
	}
	r = write_and_sync(fd, path, data, len);
	close(fd);
	if (r)
		unlink(path);
	return r ? r : sk_fsync_dir_of(path);
}

int sk_file_replace(const char *path, const void *data, size_t len)
{
	return sk_file_replace_mode(path, data, len, 0600);
}

int sk_file_replace_mode(const char *path, const void *data, size_t len, mode_t mode)
{
	char *tmp;
	int fd, r;

	/*
	 * A random name made with O_EXCL: one that others could guess might
	 * be a link they planted, and writing through it would change what it
	 * points to.
	 */
	if (asprintf(&tmp, "%s.tmp.XXXXXX", path) < 0)
		return -ENOMEM;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		sk_err("cannot create a temporary file beside %s: %s", path, strerror(errno));
		free(tmp);
		return r;
	}
	r = fchmod(fd, mode) < 0 ? -errno : 0; /* not narrowed by the umask */
	if (!r)
		r = write_and_sync(fd, tmp, data, len);
	close(fd);
	if (!r && rename(tmp, path) < 0) {
		r = -errno;
		sk_err("cannot rename %s to %s: %s", tmp, path, strerror(errno));
	}
	if (r)
		unlink(tmp);
	free(tmp);
	return r ? r : sk_fsync_dir_of(path);
}

/* Read all of @fd (opened from @path), at most @max bytes, and close it. */
static int read_fd(int fd, const char *path, size_t max, unsigned char **data, size_t *len)
{
	unsigned char *buf = malloc(max + 1);
	ssize_t got = buf ? read_full(fd, buf, max + 1) : -1;
	int r = got < 0 ? -errno : 0;

	close(fd);
	if (r)
		sk_err("cannot read %s: %s", path, strerror(-r));
	else if ((size_t)got > max) {
		sk_err("%s is too large (more than %zu bytes)", path, max);
		r = -EFBIG;
	}
	if (r) {
		free(buf);
		return r;
	}
	*data = buf;
	*len = (size_t)got;
	return 0;
}

static int open_read(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		sk_err("cannot open %s: %s", path, strerror(errno));
	return fd < 0 ? -errno : fd;
}

int sk_file_read(const char *path, size_t max, unsigned char **data, size_t *len)
{
	int fd = open_read(path);

	return fd < 0 ? fd : read_fd(fd, path, max, data, len);
}

int sk_file_read_private(const char *path, size_t max, const char *what, unsigned char **data,
			 size_t *len)
{
	int fd = open_read(path), r = fd < 0 ? fd : sk_private_file_check(fd, path, what);

	if (r) {
		if (fd >= 0)
			close(fd);
		return r;
	}
	return read_fd(fd, path, max, data, len);
}
