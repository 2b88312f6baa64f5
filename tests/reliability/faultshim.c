/*
 * faultshim: an LD_PRELOAD module for the reliability tests. It counts the
 * calls of write, pwrite, fsync, fdatasync, rename and open that match a
 * filter and, at the Nth one, makes the call fail with an errno, kills the
 * process (SIGKILL, before or after the call), or pauses it until the test
 * removes a marker file. Test code only: never installed.
 *
 * Environment (all optional; without FAULTSHIM_ACTION the shim only counts
 * and logs):
 *   FAULTSHIM_OPS      comma list of write, pwrite, fsync, fdatasync, rename,
 *                      open (open, open64, openat, creat, their _2
 *                      variants and mkstemp, mkostemp); "all" or unset:
 *                      every one
 *   FAULTSHIM_PATH     fnmatch(3) pattern ('*' also matches '/') that the
 *                      call's absolute path must match: the file named by
 *                      open, either name of rename, the file of an fd
 *                      (/proc/self/fd); unset: every path
 *   FAULTSHIM_NTH      N: act at the Nth matching call (1 = the first);
 *                      "N+": at the Nth and every later one. Default 1.
 *   FAULTSHIM_ACTION   ENOSPC, EIO, EROFS, EACCES, ENOMEM or a number: the
 *                      call fails with that errno and does nothing;
 *                      kill: SIGKILL to the process before the call;
 *                      kill-after: SIGKILL right after the call returned;
 *                      killpg, killpg-after: the same to the whole process
 *                      group (workers too), so only for a command started
 *                      in a group of its own (setsid);
 *                      pause: create FAULTSHIM_MARK, wait until it is gone
 *                      (at most FAULTSHIM_PAUSE_MAX seconds, default 30),
 *                      then make the call.
 *   FAULTSHIM_COUNTER  a file that counts the matching calls of every
 *                      process of the run (one byte each, appended
 *                      atomically), so that N counts across the workers of
 *                      a command; unset: each process counts its own.
 *   FAULTSHIM_LOG      a file that gets one line per matching call:
 *                      "COUNT PID OP PATH ACTED".
 *
 * The shim makes its own I/O with raw system calls, so it never counts
 * itself. With AddressSanitizer the ASan runtime must come first:
 * LD_PRELOAD="libasan.so.8 faultshim.so" (tests/cli/devices.sh does that).
 */
#undef _FORTIFY_SOURCE
#define _GNU_SOURCE

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

enum op { OP_WRITE, OP_PWRITE, OP_FSYNC, OP_FDATASYNC, OP_RENAME, OP_OPEN, OP_COUNT };

static const char *const op_names[OP_COUNT] = { "write", "pwrite", "fsync",
						 "fdatasync", "rename", "open" };

enum action { ACT_NONE, ACT_ERRNO, ACT_KILL, ACT_KILL_AFTER, ACT_PAUSE };

static struct {
	bool ready;
	bool ops[OP_COUNT];
	const char *pattern;
	unsigned long nth;
	bool and_later;
	enum action action;
	bool group;
	int err;
	const char *counter;
	const char *log;
	const char *mark;
	unsigned pause_max;
	unsigned long count; /* per process, without FAULTSHIM_COUNTER */
} cfg;

/* The shim's own output: raw system calls, never counted. */
static void raw_write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		long n = syscall(SYS_write, fd, buf, len);

		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

static int raw_open(const char *path, int flags, mode_t mode)
{
	return (int)syscall(SYS_openat, AT_FDCWD, path, flags | O_CLOEXEC, mode);
}

static void complain(const char *what, const char *value)
{
	char msg[512];
	int n = snprintf(msg, sizeof(msg), "faultshim: bad %s '%s'\n", what, value);

	raw_write_all(2, msg, n > 0 && (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1);
}

static int errno_of(const char *name)
{
	static const struct {
		const char *name;
		int value;
	} names[] = { { "ENOSPC", ENOSPC }, { "EIO", EIO },	  { "EROFS", EROFS },
		      { "EACCES", EACCES }, { "ENOMEM", ENOMEM }, { "EDQUOT", EDQUOT },
		      { "EPERM", EPERM },   { "EINTR", EINTR } };
	char *end;
	long n;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(name, names[i].name))
			return names[i].value;
	n = strtol(name, &end, 10);
	return *name && !*end && n > 0 && n < 4096 ? (int)n : 0;
}

static void parse_ops(const char *list)
{
	char buf[256];
	char *save = NULL;

	if (!list || !*list || !strcmp(list, "all")) {
		for (int i = 0; i < OP_COUNT; i++)
			cfg.ops[i] = true;
		return;
	}
	snprintf(buf, sizeof(buf), "%s", list);
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		bool known = false;

		for (int i = 0; i < OP_COUNT; i++)
			if (!strcmp(tok, op_names[i]))
				cfg.ops[i] = known = true;
		if (!known)
			complain("FAULTSHIM_OPS entry", tok);
	}
}

static void parse_action(const char *a)
{
	if (!a || !*a)
		cfg.action = ACT_NONE;
	else if (!strcmp(a, "kill") || !strcmp(a, "killpg"))
		cfg.action = ACT_KILL;
	else if (!strcmp(a, "kill-after") || !strcmp(a, "killpg-after"))
		cfg.action = ACT_KILL_AFTER;
	else if (!strcmp(a, "pause"))
		cfg.action = ACT_PAUSE;
	else if ((cfg.err = errno_of(a)) != 0)
		cfg.action = ACT_ERRNO;
	else
		complain("FAULTSHIM_ACTION", a);
	cfg.group = a && !strncmp(a, "killpg", 6);
}

static void setup(void)
{
	const char *nth = getenv("FAULTSHIM_NTH"), *max = getenv("FAULTSHIM_PAUSE_MAX");
	char *end = NULL;

	if (cfg.ready)
		return;
	parse_ops(getenv("FAULTSHIM_OPS"));
	cfg.pattern = getenv("FAULTSHIM_PATH");
	if (cfg.pattern && !*cfg.pattern)
		cfg.pattern = NULL;
	cfg.nth = 1;
	if (nth && *nth) {
		cfg.nth = strtoul(nth, &end, 10);
		cfg.and_later = *end == '+';
		if (cfg.nth == 0 || (*end && strcmp(end, "+")))
			complain("FAULTSHIM_NTH", nth);
	}
	parse_action(getenv("FAULTSHIM_ACTION"));
	cfg.counter = getenv("FAULTSHIM_COUNTER");
	cfg.log = getenv("FAULTSHIM_LOG");
	cfg.mark = getenv("FAULTSHIM_MARK");
	cfg.pause_max = max && *max ? (unsigned)strtoul(max, NULL, 10) : 30;
	if (cfg.action == ACT_PAUSE && !cfg.mark)
		complain("FAULTSHIM_MARK (pause needs it)", "");
	cfg.ready = true;
}

__attribute__((constructor)) static void faultshim_init(void)
{
	setup();
}

static void *real(const char *name)
{
	void *fn = dlsym(RTLD_NEXT, name);

	if (!fn) {
		complain("symbol (not found by dlsym)", name);
		abort();
	}
	return fn;
}

#define REAL(type, name)                                                                           \
	static type real_fn;                                                                       \
	if (!real_fn)                                                                              \
		real_fn = (type)real(name)

/* The absolute path of @path as seen from @dirfd, in @out. */
static const char *absolute(int dirfd, const char *path, char *out, size_t size)
{
	char base[4096];
	ssize_t n;

	if (!path)
		return "";
	if (path[0] == '/')
		return path;
	if (dirfd == AT_FDCWD) {
		if (!getcwd(base, sizeof(base)))
			return path;
	} else {
		char proc[64];

		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", dirfd);
		n = readlink(proc, base, sizeof(base) - 1);
		if (n < 0)
			return path;
		base[n] = '\0';
	}
	snprintf(out, size, "%s/%s", base, path);
	return out;
}

static const char *path_of_fd(int fd, char *out, size_t size)
{
	char proc[64];
	ssize_t n;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	n = readlink(proc, out, size - 1);
	if (n < 0)
		return "";
	out[n] = '\0';
	return out;
}

static bool path_matches(const char *path)
{
	return !cfg.pattern || fnmatch(cfg.pattern, path, 0) == 0;
}

/* The number of this matching call, counted over every process of the run. */
static unsigned long next_count(void)
{
	unsigned long n;
	int fd;

	if (!cfg.counter)
		return __atomic_add_fetch(&cfg.count, 1, __ATOMIC_SEQ_CST);
	fd = raw_open(cfg.counter, O_WRONLY | O_APPEND | O_CREAT, 0600);
	if (fd < 0)
		return __atomic_add_fetch(&cfg.count, 1, __ATOMIC_SEQ_CST);
	/* O_APPEND: the offset after the write is this call's place, atomically. */
	if (syscall(SYS_write, fd, "x", 1) != 1)
		n = __atomic_add_fetch(&cfg.count, 1, __ATOMIC_SEQ_CST);
	else
		n = (unsigned long)syscall(SYS_lseek, fd, 0, SEEK_CUR);
	syscall(SYS_close, fd);
	return n;
}

static void log_call(unsigned long n, enum op op, const char *path, bool acted)
{
	char line[4200];
	int fd, len;

	if (!cfg.log)
		return;
	len = snprintf(line, sizeof(line), "%lu %ld %s %s %s\n", n, (long)getpid(), op_names[op],
		       path, acted ? "ACT" : "-");
	if (len <= 0)
		return;
	if ((size_t)len >= sizeof(line))
		len = (int)sizeof(line) - 1;
	fd = raw_open(cfg.log, O_WRONLY | O_APPEND | O_CREAT, 0600);
	if (fd >= 0) {
		raw_write_all(fd, line, (size_t)len);
		syscall(SYS_close, fd);
	}
}

static void die(void)
{
	if (cfg.group)
		kill(0, SIGKILL);
	raise(SIGKILL);
	_exit(137);
}

static void pause_here(void)
{
	struct timespec tick = { 0, 10 * 1000 * 1000 };
	unsigned long waited = 0;
	int fd = raw_open(cfg.mark, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd >= 0)
		syscall(SYS_close, fd);
	while (access(cfg.mark, F_OK) == 0 && waited < cfg.pause_max * 100ul) {
		nanosleep(&tick, NULL);
		waited++;
	}
}

/*
 * Before a call: 0 to make it, -1 (errno set) to fail it instead. Sets
 * *kill_after when the process is to die once the call returned.
 */
static int before(enum op op, const char *path, bool *kill_after)
{
	unsigned long n;
	bool act;
	int saved = errno;

	*kill_after = false;
	setup();
	if (!cfg.ops[op] || !path_matches(path))
		return 0;
	n = next_count();
	act = cfg.action != ACT_NONE && (n == cfg.nth || (cfg.and_later && n > cfg.nth));
	log_call(n, op, path, act);
	errno = saved;
	if (!act)
		return 0;
	switch (cfg.action) {
	case ACT_ERRNO:
		errno = cfg.err;
		return -1;
	case ACT_KILL:
		die();
		break;
	case ACT_KILL_AFTER:
		*kill_after = true;
		break;
	case ACT_PAUSE:
		pause_here();
		errno = saved;
		break;
	default:
		break;
	}
	return 0;
}

static void after(bool kill_after)
{
	if (kill_after)
		die();
}

/* Is @op counted at all? Saves the path lookups of the calls that are not. */
static bool wanted(enum op op)
{
	setup();
	return cfg.ops[op];
}

#define FD_CALL(op, fd, call)                                                                      \
	do {                                                                                       \
		char path_[4096];                                                                  \
		bool kill_after_ = false;                                                          \
		if (wanted(op) &&                                                                  \
		    before(op, path_of_fd(fd, path_, sizeof(path_)), &kill_after_) < 0)            \
			return -1;                                                                 \
		ret = call;                                                                        \
		after(kill_after_);                                                                \
	} while (0)

typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);
typedef ssize_t (*pwrite64_fn)(int, const void *, size_t, off64_t);
typedef int (*sync_fn)(int);
typedef int (*rename_fn)(const char *, const char *);
typedef int (*renameat_fn)(int, const char *, int, const char *);
typedef int (*renameat2_fn)(int, const char *, int, const char *, unsigned);
typedef int (*open_fn)(const char *, int, ...);
typedef int (*openat_fn)(int, const char *, int, ...);
typedef int (*open2_fn)(const char *, int);
typedef int (*openat2_fn)(int, const char *, int);
typedef int (*creat_fn)(const char *, mode_t);

ssize_t write(int fd, const void *buf, size_t len)
{
	REAL(write_fn, "write");
	ssize_t ret;

	FD_CALL(OP_WRITE, fd, real_fn(fd, buf, len));
	return ret;
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
	REAL(pwrite_fn, "pwrite");
	ssize_t ret;

	FD_CALL(OP_PWRITE, fd, real_fn(fd, buf, len, off));
	return ret;
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off64_t off)
{
	REAL(pwrite64_fn, "pwrite64");
	ssize_t ret;

	FD_CALL(OP_PWRITE, fd, real_fn(fd, buf, len, off));
	return ret;
}

int fsync(int fd)
{
	REAL(sync_fn, "fsync");
	int ret;

	FD_CALL(OP_FSYNC, fd, real_fn(fd));
	return ret;
}

int fdatasync(int fd)
{
	REAL(sync_fn, "fdatasync");
	int ret;

	FD_CALL(OP_FDATASYNC, fd, real_fn(fd));
	return ret;
}

/* rename matches when either name does. */
static int rename_before(int olddir, const char *oldpath, int newdir, const char *newpath,
			 bool *kill_after)
{
	char a[4200], b[4200];
	const char *from, *to;

	*kill_after = false;
	if (!wanted(OP_RENAME))
		return 0;
	from = absolute(olddir, oldpath, a, sizeof(a));
	to = absolute(newdir, newpath, b, sizeof(b));
	return before(OP_RENAME, path_matches(to) && !path_matches(from) ? to : from, kill_after);
}

int rename(const char *oldpath, const char *newpath)
{
	REAL(rename_fn, "rename");
	bool kill_after;
	int ret;

	if (rename_before(AT_FDCWD, oldpath, AT_FDCWD, newpath, &kill_after) < 0)
		return -1;
	ret = real_fn(oldpath, newpath);
	after(kill_after);
	return ret;
}

int renameat(int olddir, const char *oldpath, int newdir, const char *newpath)
{
	REAL(renameat_fn, "renameat");
	bool kill_after;
	int ret;

	if (rename_before(olddir, oldpath, newdir, newpath, &kill_after) < 0)
		return -1;
	ret = real_fn(olddir, oldpath, newdir, newpath);
	after(kill_after);
	return ret;
}

int renameat2(int olddir, const char *oldpath, int newdir, const char *newpath, unsigned flags)
{
	REAL(renameat2_fn, "renameat2");
	bool kill_after;
	int ret;

	if (rename_before(olddir, oldpath, newdir, newpath, &kill_after) < 0)
		return -1;
	ret = real_fn(olddir, oldpath, newdir, newpath, flags);
	after(kill_after);
	return ret;
}

static int open_before(int dirfd, const char *path, bool *kill_after)
{
	char buf[4200];

	*kill_after = false;
	if (!wanted(OP_OPEN))
		return 0;
	return before(OP_OPEN, absolute(dirfd, path, buf, sizeof(buf)), kill_after);
}

static mode_t mode_arg(int flags, va_list ap)
{
	return flags & (O_CREAT | O_TMPFILE) ? (mode_t)va_arg(ap, int) : 0;
}

#define OPEN_BODY(name, dirfd, call)                                                               \
	bool kill_after;                                                                           \
	int ret;                                                                                   \
	if (open_before(dirfd, path, &kill_after) < 0)                                             \
		return -1;                                                                         \
	ret = call;                                                                                \
	after(kill_after);                                                                         \
	return ret

int open(const char *path, int flags, ...)
{
	REAL(open_fn, "open");
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = mode_arg(flags, ap);
	va_end(ap);
	OPEN_BODY("open", AT_FDCWD, real_fn(path, flags, mode));
}

int open64(const char *path, int flags, ...)
{
	REAL(open_fn, "open64");
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = mode_arg(flags, ap);
	va_end(ap);
	OPEN_BODY("open64", AT_FDCWD, real_fn(path, flags, mode));
}

int openat(int dirfd, const char *path, int flags, ...)
{
	REAL(openat_fn, "openat");
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = mode_arg(flags, ap);
	va_end(ap);
	OPEN_BODY("openat", dirfd, real_fn(dirfd, path, flags, mode));
}

int openat64(int dirfd, const char *path, int flags, ...)
{
	REAL(openat_fn, "openat64");
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = mode_arg(flags, ap);
	va_end(ap);
	OPEN_BODY("openat64", dirfd, real_fn(dirfd, path, flags, mode));
}

int creat(const char *path, mode_t mode)
{
	REAL(creat_fn, "creat");

	OPEN_BODY("creat", AT_FDCWD, real_fn(path, mode));
}

/* The _FORTIFY_SOURCE entry points (libcryptsetup calls __open_2). */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);

int __open_2(const char *path, int flags)
{
	REAL(open2_fn, "__open_2");

	OPEN_BODY("__open_2", AT_FDCWD, real_fn(path, flags));
}

int __open64_2(const char *path, int flags)
{
	REAL(open2_fn, "__open64_2");

	OPEN_BODY("__open64_2", AT_FDCWD, real_fn(path, flags));
}

int __openat_2(int dirfd, const char *path, int flags)
{
	REAL(openat2_fn, "__openat_2");

	OPEN_BODY("__openat_2", dirfd, real_fn(dirfd, path, flags));
}

int __openat64_2(int dirfd, const char *path, int flags)
{
	REAL(openat2_fn, "__openat64_2");

	OPEN_BODY("__openat64_2", dirfd, real_fn(dirfd, path, flags));
}

/*
 * mkstemp and its kin open their file inside glibc (__open, which no
 * preload sees): the template, as the caller passed it, is the path.
 */
typedef int (*mkostemp_fn)(char *, int);
typedef int (*mkstemp_fn)(char *);

int mkostemp(char *path, int flags)
{
	REAL(mkostemp_fn, "mkostemp");

	OPEN_BODY("mkostemp", AT_FDCWD, real_fn(path, flags));
}

int mkostemp64(char *path, int flags)
{
	REAL(mkostemp_fn, "mkostemp64");

	OPEN_BODY("mkostemp64", AT_FDCWD, real_fn(path, flags));
}

int mkstemp(char *path)
{
	REAL(mkstemp_fn, "mkstemp");

	OPEN_BODY("mkstemp", AT_FDCWD, real_fn(path));
}

int mkstemp64(char *path)
{
	REAL(mkstemp_fn, "mkstemp64");

	OPEN_BODY("mkstemp64", AT_FDCWD, real_fn(path));
}
