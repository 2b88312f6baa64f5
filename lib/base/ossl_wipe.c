#include "config.h"

#include "ossl_wipe.h"

#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

/*
 * OpenSSL frees the buffers of its decoders and TLS records without wiping
 * them: the KMS identity key parsed from DER (d2i_AutoPrivateKey tries one
 * decoder after another, each on a copy of the DER) leaves its private
 * numbers in freed heap. With these hooks every block OpenSSL frees, or
 * moves on realloc, is wiped first.
 */
static void *wipe_malloc(size_t size, const char *file, int line)
{
	(void)file;
	(void)line;
	return malloc(size);
}

static void wipe_free(void *block, const char *file, int line)
{
	(void)file;
	(void)line;
	if (!block)
		return;
	OPENSSL_cleanse(block, malloc_usable_size(block));
	free(block);
}

/* realloc() would free the old block unwiped when it moves it. */
static void *wipe_realloc(void *block, size_t size, const char *file, int line)
{
	size_t old = block ? malloc_usable_size(block) : 0;
	void *moved;

	if (!block)
		return malloc(size);
	if (!size) {
		wipe_free(block, file, line);
		return NULL;
	}
	if (size <= old)
		return block;
	moved = malloc(size);
	if (!moved)
		return NULL;
	memcpy(moved, block, old);
	wipe_free(block, file, line);
	return moved;
}

int sk_ossl_wipe_on_free(void)
{
	return CRYPTO_set_mem_functions(wipe_malloc, wipe_realloc, wipe_free) ? 0 : -EBUSY;
}
