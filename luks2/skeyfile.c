#include "config.h"

#include "skeyfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lockfile.h"
#include "log.h"
#include "paths.h"
#include "secfile.h"

#define SKEY ".skey"
#define RENC ".renc"

char *sk_skeyfile_staged_path(const char *path)
{
	size_t n = strlen(path), s = strlen(SKEY);
	bool skey = n > s && !strcmp(path + n - s, SKEY);
	char *staged;

	if (asprintf(&staged, "%.*s%s", (int)(skey ? n - s : n), path, RENC) < 0)
		return NULL;
	return staged;
}

static int read_blob(const char *path, unsigned char **blob, size_t *len)
{
	/* The largest blob of any key type: which one it is, the blob says. */
	return sk_file_read_private(path, SK_BLOB_IDENTITY_MAX_LEN, "secure key file", blob, len);
}

int sk_skeyfile_read(const char *path, const char *staged, const struct sk_apqn_list *apqns,
		     struct sk_token *token)
{
	unsigned char *blob = NULL;
	size_t len;
	int r = read_blob(path, &blob, &len);

	if (!r)
		r = sk_token_create(0, apqns, blob, len, token);
	free(blob);
	blob = NULL;
	if (r || access(staged, F_OK) < 0)
		return r;
	r = read_blob(staged, &blob, &len);
	if (!r)
		r = sk_token_set_staged(token, blob, len);
	free(blob);
	if (r < 0)
		sk_token_free(token);
	return r;
}

static int remove_staged(const char *staged)
{
	if (unlink(staged) < 0 && errno != ENOENT) {
		sk_err("cannot remove %s: %s", staged, strerror(errno));
		return -errno;
	}
	return sk_fsync_dir_of(staged);
}

int sk_skeyfile_write_back(const char *path, const char *staged, enum sk_next_step action,
			   bool had_staged, const struct sk_token *token)
{
	int r = 0;

	if (action != SK_NEXT_STAGED)
		r = sk_file_replace(path, token->current.blob, token->current.blob_len);
	if (!r && token->has_staged)
		r = sk_file_replace(staged, token->staged.blob, token->staged.blob_len);
	else if (!r && had_staged)
		r = remove_staged(staged);
	return r;
}

int sk_skeyfile_lock(const char *name, const char *what)
{
	char *lock = sk_path_join(sk_path_run_dir(), name);
	int fd;

	if (!lock)
		return -ENOMEM;
	fd = sk_path_make_run_dir() < 0 ? -EIO : sk_lock_acquire(lock, true, what);
	free(lock);
	return fd;
}
