/*
 * libstopshim.so: an LD_PRELOAD helper of tests/cli/t_secrets.sh. It stops
 * (SIGSTOP) the process it is loaded into at a chosen moment, so that the
 * test can read the whole memory of the stopped process from /proc/PID/mem
 * and look for secrets in it.
 *
 * Environment:
 *   SK_STOPSHIM=main     stop when main has returned, before exit runs any
 *                        atexit handler or library destructor (OpenSSL's
 *                        cleanup, libcryptsetup's): what the program's own
 *                        cleanup left (main is wrapped by interposing
 *                        __libc_start_main; a program that calls exit()
 *                        itself is not stopped in this mode);
 *   SK_STOPSHIM=exit     stop at exit, after main returned (or exit() was
 *                        called), after the program's own atexit handlers
 *                        and the library destructors (see below);
 *   SK_STOPSHIM=verify   stop on entry to crypt_volume_key_verify(), while
 *                        the caller (our token handler) holds the volume
 *                        key: the test's negative control;
 *   SK_STOPSHIM_COMM     stop only a process of this name (the shim is also
 *                        inherited by unshare, sh and mount in ./pcs);
 *   SK_STOPSHIM_PIDFILE  where the stopping process writes its pid first.
 *
 * Where the exit stop happens: the atexit handler is registered from this
 * library's constructor, which ld.so runs before the program's and
 * libraries' own initialization registers theirs (OpenSSL's cleanup, the
 * program's), and atexit handlers run in reverse order; a handler that a
 * shared object registers is run at the latest by that object's own
 * destructor (__cxa_finalize), and this object, depending on libc alone, is
 * finalized after everything that depends on other libraries. stdio buffers
 * are flushed after it: the output of the program appears once the test
 * lets it continue (SIGCONT).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct crypt_device;

int crypt_volume_key_verify(struct crypt_device *cd, const char *volume_key, size_t volume_key_size);

static int mode_is(const char *mode)
{
	const char *want = getenv("SK_STOPSHIM"), *comm = getenv("SK_STOPSHIM_COMM");

	if (!want || strcmp(want, mode))
		return 0;
	return !comm || !strcmp(comm, program_invocation_short_name);
}

static void stop_here(void)
{
	const char *pidfile = getenv("SK_STOPSHIM_PIDFILE");
	int saved = errno;

	if (pidfile) {
		char tmp[4096], buf[32];
		int n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid()), fd;

		/* Written whole, then renamed: the test never reads half a pid. */
		snprintf(tmp, sizeof(tmp), "%s.tmp", pidfile);
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd >= 0) {
			if (write(fd, buf, (size_t)n) != n)
				n = -1;
			close(fd);
			if (n > 0)
				rename(tmp, pidfile);
		}
	}
	raise(SIGSTOP);
	errno = saved;
}

static void stop_at_exit(void)
{
	stop_here();
}

__attribute__((constructor)) static void stopshim_init(void)
{
	if (mode_is("exit"))
		atexit(stop_at_exit);
}

typedef int (*main_fn)(int, char **, char **);

int __libc_start_main(main_fn main, int argc, char **argv, void (*init)(void), void (*fini)(void),
		      void (*rtld_fini)(void), void *stack_end);

static main_fn real_main;

static int main_then_stop(int argc, char **argv, char **envp)
{
	int r = real_main(argc, argv, envp);

	if (mode_is("main"))
		stop_here();
	return r;
}

int __libc_start_main(main_fn main, int argc, char **argv, void (*init)(void), void (*fini)(void),
		      void (*rtld_fini)(void), void *stack_end)
{
	int (*next)(main_fn, int, char **, void (*)(void), void (*)(void), void (*)(void), void *);

	*(void **)&next = dlsym(RTLD_NEXT, "__libc_start_main");
	if (!next)
		abort();
	real_main = main;
	return next(main_then_stop, argc, argv, init, fini, rtld_fini, stack_end);
}

int crypt_volume_key_verify(struct crypt_device *cd, const char *volume_key, size_t volume_key_size)
{
	int (*next)(struct crypt_device *, const char *, size_t);

	*(void **)&next = dlsym(RTLD_NEXT, "crypt_volume_key_verify");
	if (!next)
		return -ENOSYS;
	if (mode_is("verify"))
		stop_here();
	return next(cd, volume_key, volume_key_size);
}
