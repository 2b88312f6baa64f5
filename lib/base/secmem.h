/* Secret memory: locked, excluded from core dumps, wiped on free. */
#ifndef SECUREKEY_SECMEM_H
#define SECUREKEY_SECMEM_H

#include <stdbool.h>
#include <stddef.h>

struct sk_secret {
	unsigned char *data;
	size_t len;
	/* private: mapping size and the registry of live secrets (see log.c) */
	size_t map_len;
	struct sk_secret *prev, *next;
};

/* A zero-filled secret of @len bytes (len > 0), or NULL with an error logged. */
struct sk_secret *sk_secret_new(size_t len);
/* A new secret holding a copy of @len bytes at @src. */
struct sk_secret *sk_secret_dup(const void *src, size_t len);
/* Wipe, unlock and unmap; NULL is fine. */
void sk_secret_free(struct sk_secret *secret);
/* Constant-time equality of two secrets (false when lengths differ). */
bool sk_secret_equal(const struct sk_secret *a, const struct sk_secret *b);

/* Calls @visit for every live secret; used by the log guard only. */
void sk_secret_foreach(void (*visit)(const struct sk_secret *s, void *ctx), void *ctx);

/*
 * In a child after fork(): memory locks are not inherited, and the first
 * write to a secret's page (the registry links live in it) would make an
 * unlocked copy; lock every live secret again. Returns 0 or -errno.
 */
int sk_secmem_after_fork(void);

/* Process-wide hardening for tools that handle secrets: no core dumps. */
void sk_secmem_harden_process(void);

#endif
