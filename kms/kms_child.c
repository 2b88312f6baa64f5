#include "config.h"

#include "kms.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "secfile.h"

/* Beyond [kms] timeout, for the child's start and the identity key's parse. */
#define CHILD_MARGIN_MS 10000

/*
 * The child: parse the identity key's DER (the parent's, inherited), fetch,
 * write "length | key" to @fd and end without exit handlers. Its exit
 * status is the errno of a failure. It never uses the HSM.
 */
__attribute__((noreturn)) static void child(int fd, const struct sk_config *cfg,
					    struct sk_secret *der, const char *device,
					    const struct sk_token_kms *where)
{
	struct sk_secret *vk = NULL;
	struct sk_kms *kms = NULL;
	uint32_t len;
	/* locks are not inherited: the DER's pages locked again before any write */
	int r = sk_secmem_after_fork();

	if (!r)
		r = sk_kms_open_der(cfg, der, &kms);
	sk_secret_free(der); /* this process's copy; the parent wipes its own */
	if (!r)
		r = sk_kms_fetch(kms, device, where, &vk);
	sk_kms_close(kms);
	if (!r) {
		len = (uint32_t)vk->len;
		if (sk_write_full(fd, &len, sizeof(len)) < 0 || sk_write_full(fd, vk->data, len) < 0)
			r = -EIO;
	}
	sk_secret_free(vk);
	/* what it logged through cryptsetup's stdio (the parent flushed before the fork) */
	fflush(NULL);
	_exit(r < 0 && -r < 256 ? -r : r < 0 ? EIO : 0);
}

/* Read exactly @len bytes before @deadline_ms (CLOCK_MONOTONIC). */
static int read_exact(int fd, void *buf, size_t len, long long deadline_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	unsigned char *at = buf;

	while (len) {
		long long left = deadline_ms - sk_kmip_clock_ms();
		ssize_t n;

		if (left <= 0 || poll(&pfd, 1, (int)left) == 0)
			return -ETIMEDOUT;
		n = read(fd, at, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		at += n;
		len -= (size_t)n;
	}
	return 0;
}

static int read_key(int fd, long long deadline_ms, struct sk_secret **vk)
{
	uint32_t len;
	int r = read_exact(fd, &len, sizeof(len), deadline_ms);

	if (r < 0)
		return r;
	if (len == 0 || len > 512)
		return -EBADMSG;
	*vk = sk_secret_new(len);
	if (!*vk)
		return -ENOMEM;
	r = read_exact(fd, (*vk)->data, len, deadline_ms);
	if (r < 0) {
		sk_secret_free(*vk);
		*vk = NULL;
	}
	return r;
}

/* The child's verdict: its errno, or how it ended. */
static int child_status(pid_t pid, int read_r)
{
	int status;

	if (read_r == -ETIMEDOUT)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (WIFEXITED(status) && WEXITSTATUS(status))
		return -WEXITSTATUS(status);
	if (!WIFEXITED(status)) {
		sk_err("the KMS fetch %s", read_r == -ETIMEDOUT ? "took too long and was stopped"
								: "ended abnormally");
		return read_r < 0 ? read_r : -EIO;
	}
	return read_r;
}

/* Fork the child that fetches with @der; its volume key into @vk. */
static int fetch_in_child(const struct sk_config *cfg, struct sk_secret *der,
			  const char *device, const struct sk_token_kms *where, struct sk_secret **vk)
{
	long long deadline_ms = sk_kmip_clock_ms() + cfg->timeout * 1000LL + CHILD_MARGIN_MS;
	int fds[2], r;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	fflush(NULL); /* or the child would write the parent's pending output again */
	pid = fork();
	if (pid < 0) {
		r = -errno;
		close(fds[0]);
		close(fds[1]);
		return r;
	}
	if (pid == 0) {
		close(fds[0]);
		child(fds[1], cfg, der, device, where);
	}
	close(fds[1]);
	r = read_key(fds[0], deadline_ms, vk);
	close(fds[0]);
	r = child_status(pid, r);
	if (r < 0) {
		sk_secret_free(*vk);
		*vk = NULL;
	}
	return r;
}

/*
 * OpenSSL frees its DER decoder's copies of the identity key, and its TLS
 * buffers, without wiping them, and in cryptsetup's process (the token
 * plugin) its allocator is not ours to change. So the identity key is
 * parsed and used in a child whose memory ends with it; only the volume
 * key comes back, through a pipe, into locked memory.
 *
 * The HSM's part, the identity key's unwrap into its DER, is done here in
 * the parent, before the fork, into locked memory that the child inherits
 * and the parent wipes: a PKCS#11 module cannot be relied on in a child of
 * the process that loaded it (tpm2-pkcs11: TPM_RC_AUTH_FAIL, or D-Bus
 * timeouts since tpm2-abrmd's GDBus thread stays in the parent), and the
 * plugin's process has just used the HSM for the volume's own secure keys.
 */
int sk_kms_fetch_isolated(const struct sk_config *cfg, const char *hsm_dir, const char *device,
			  const struct sk_token_kms *where, struct sk_secret **vk)
{
	struct sk_secret *der = NULL;
	int r;

	*vk = NULL;
	r = sk_kms_unwrap_identity(cfg, hsm_dir, &der);
	if (r == 0)
		r = fetch_in_child(cfg, der, device, where, vk);
	sk_secret_free(der);
	return r;
}
