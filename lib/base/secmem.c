#include "config.h"

#include "secmem.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "log.h"

static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sk_secret *live_head;

static void live_add(struct sk_secret *s)
{
	pthread_mutex_lock(&live_lock);
	s->next = live_head;
	if (live_head)
		live_head->prev = s;
	live_head = s;
	pthread_mutex_unlock(&live_lock);
}

static void live_remove(struct sk_secret *s)
{
	pthread_mutex_lock(&live_lock);
	if (s->prev)
		s->prev->next = s->next;
	else
		live_head = s->next;
	if (s->next)
		s->next->prev = s->prev;
	pthread_mutex_unlock(&live_lock);
}

static size_t round_to_pages(size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	return (len + page - 1) / page * page;
}

/*
 * The descriptor lives in the same locked mapping as the data, so one mmap
 * per secret; secrets are few and small, page granularity is fine.
 */
struct sk_secret *sk_secret_new(size_t len)
{
	size_t map_len = round_to_pages(sizeof(struct sk_secret) + len);
	struct sk_secret *s;
	void *map;

	if (len == 0) {
		sk_err("internal error: empty secret requested");
		return NULL;
	}
	map = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED) {
		sk_err("cannot allocate memory for a secret: %s", strerror(errno));
		return NULL;
	}
	if (mlock(map, map_len) < 0) {
		int err = errno;

		munmap(map, map_len);
		sk_err("cannot lock memory for a secret (%s); raise the memlock limit (ulimit -l)",
		       strerror(err));
		return NULL;
	}
	/* Best effort: old kernels lack MADV_DONTDUMP; cores are also disabled per process. */
	(void)madvise(map, map_len, MADV_DONTDUMP);

	s = map;
	memset(s, 0, sizeof(*s));
	s->data = (unsigned char *)(s + 1);
	s->len = len;
	s->map_len = map_len;
	live_add(s);
	return s;
}

struct sk_secret *sk_secret_dup(const void *src, size_t len)
{
	struct sk_secret *s = sk_secret_new(len);

	if (s)
		memcpy(s->data, src, len);
	return s;
}

void sk_secret_free(struct sk_secret *secret)
{
	size_t map_len;

	if (!secret)
		return;
	live_remove(secret);
	map_len = secret->map_len;
	OPENSSL_cleanse(secret, map_len);
	munlock(secret, map_len);
	munmap(secret, map_len);
}

bool sk_secret_equal(const struct sk_secret *a, const struct sk_secret *b)
{
	if (!a || !b || a->len != b->len)
		return false;
	return CRYPTO_memcmp(a->data, b->data, a->len) == 0;
}

void sk_secret_foreach(void (*visit)(const struct sk_secret *s, void *ctx), void *ctx)
{
	pthread_mutex_lock(&live_lock);
	for (struct sk_secret *s = live_head; s; s = s->next)
		visit(s, ctx);
	pthread_mutex_unlock(&live_lock);
}

int sk_secmem_after_fork(void)
{
	int r = 0;

	pthread_mutex_lock(&live_lock);
	for (struct sk_secret *s = live_head; s && !r; s = s->next)
		if (mlock(s, s->map_len) < 0)
			r = -errno;
	pthread_mutex_unlock(&live_lock);
	return r;
}

void sk_secmem_harden_process(void)
{
	struct rlimit no_core = { 0, 0 };

	(void)setrlimit(RLIMIT_CORE, &no_core);
	/*
	 * OpenSSL's own secure heap (locked, never dumped) for the private
	 * parts of the KMS identity key once it is parsed; without it they
	 * would sit in the ordinary heap. Not fatal when mlock is refused.
	 */
	if (!CRYPTO_secure_malloc_initialized())
		(void)CRYPTO_secure_malloc_init(64 * 1024, 32);
}
