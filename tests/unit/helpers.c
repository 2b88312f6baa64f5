#include "config.h"

#include "helpers.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "apqn.h"
#include "log.h"
#include "mkvp.h"

void helper_mkdir(const char *dir)
{
	ATF_REQUIRE_MSG(mkdir(dir, 0700) == 0, "mkdir %s: %s", dir, strerror(errno));
	/* mkdir applies the umask; make the mode exact. */
	ATF_REQUIRE(chmod(dir, 0700) == 0);
}

void helper_read_file(const char *path, unsigned char **data, size_t *len)
{
	struct stat st;
	unsigned char *buf;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	ATF_REQUIRE_MSG(fd >= 0, "open %s: %s", path, strerror(errno));
	ATF_REQUIRE(fstat(fd, &st) == 0);
	/* exact size, so ASan sees a read past the end */
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	ATF_REQUIRE(buf != NULL);
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		ATF_REQUIRE_MSG(n > 0, "read %s: %s", path, n < 0 ? strerror(errno) : "short");
		got += (size_t)n;
	}
	close(fd);
	*data = buf;
	*len = got;
}

static int by_name(const void *a, const void *b)
{
	const struct snapshot_entry *x = a, *y = b;

	return strcmp(x->name, y->name);
}

void snapshot_take(const char *dir, struct snapshot *snap)
{
	struct stat st;
	struct dirent *e;
	size_t cap = 0;
	DIR *d;

	memset(snap, 0, sizeof(*snap));
	ATF_REQUIRE_MSG(lstat(dir, &st) == 0, "stat %s: %s", dir, strerror(errno));
	snap->dir_mode = st.st_mode;
	d = opendir(dir);
	ATF_REQUIRE_MSG(d != NULL, "opendir %s: %s", dir, strerror(errno));
	while ((e = readdir(d))) {
		struct snapshot_entry *entry;
		char path[4096];

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (snap->count == cap) {
			cap = cap ? 2 * cap : 16;
			snap->entries = realloc(snap->entries, cap * sizeof(*snap->entries));
			ATF_REQUIRE(snap->entries != NULL);
		}
		entry = &snap->entries[snap->count++];
		memset(entry, 0, sizeof(*entry));
		entry->name = strdup(e->d_name);
		ATF_REQUIRE(entry->name != NULL);
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		ATF_REQUIRE(lstat(path, &st) == 0);
		entry->mode = st.st_mode;
		entry->uid = st.st_uid;
		if (S_ISREG(st.st_mode))
			helper_read_file(path, &entry->data, &entry->len);
	}
	closedir(d);
	if (snap->count)
		qsort(snap->entries, snap->count, sizeof(*snap->entries), by_name);
}

void snapshot_free(struct snapshot *snap)
{
	for (size_t i = 0; i < snap->count; i++) {
		free(snap->entries[i].name);
		free(snap->entries[i].data);
	}
	free(snap->entries);
	memset(snap, 0, sizeof(*snap));
}

void snapshot_require_equal(const struct snapshot *before, const struct snapshot *after,
			    const char *what)
{
	ATF_REQUIRE_EQ_MSG(before->dir_mode, after->dir_mode, "%s changed the directory mode",
			   what);
	for (size_t i = 0; i < before->count || i < after->count; i++) {
		const struct snapshot_entry *b = i < before->count ? &before->entries[i] : NULL;
		const struct snapshot_entry *a = i < after->count ? &after->entries[i] : NULL;

		ATF_REQUIRE_MSG(a && b && !strcmp(a->name, b->name),
				"%s changed the file list: '%s' before, '%s' after", what,
				b ? b->name : "(none)", a ? a->name : "(none)");
		ATF_REQUIRE_MSG(a->mode == b->mode && a->uid == b->uid,
				"%s changed mode or owner of %s", what, a->name);
		ATF_REQUIRE_MSG(a->len == b->len && (!a->len || !memcmp(a->data, b->data, a->len)),
				"%s changed the content of %s", what, a->name);
	}
}

static char last_error[2048];
static int errors;

static void capture(enum sk_log_level level, const char *msg, void *ctx)
{
	(void)ctx;
	if (level != SK_LOG_ERROR)
		return;
	errors++;
	snprintf(last_error, sizeof(last_error), "%s", msg);
}

void capture_start(void)
{
	last_error[0] = '\0';
	errors = 0;
	sk_log_set_sink(capture, NULL);
}

const char *capture_last_error(void)
{
	return last_error;
}

int capture_errors(void)
{
	return errors;
}

struct sk_secret *random_secret(size_t len)
{
	struct sk_secret *s = sk_secret_new(len);

	ATF_REQUIRE(s != NULL);
	ATF_REQUIRE_EQ(RAND_bytes(s->data, (int)len), 1);
	return s;
}

struct sk_secret *random_key(const struct sk_key_spec *spec)
{
	return random_secret(spec->bits / 8);
}

struct sk_secret *random_part(void)
{
	return random_secret(SK_MK_PART_LEN);
}

struct sk_secret *xor_parts(struct sk_secret *const *parts, size_t n)
{
	struct sk_secret *mk = sk_secret_new(SK_MK_LEN);

	ATF_REQUIRE(mk != NULL);
	for (size_t p = 0; p < n; p++)
		for (size_t i = 0; i < SK_MK_LEN; i++)
			mk->data[i] ^= parts[p]->data[i];
	return mk;
}

void mkvp_of(const struct sk_secret *mk, unsigned char mkvp[SK_MKVP_LEN])
{
	ATF_REQUIRE_EQ(mk->len, (size_t)SK_MK_LEN);
	ATF_REQUIRE_EQ(sk_mkvp_compute(mk->data, mkvp), 0);
}

void mkvp_of_parts(struct sk_secret *const *parts, size_t n, unsigned char mkvp[SK_MKVP_LEN])
{
	struct sk_secret *mk = xor_parts(parts, n);

	mkvp_of(mk, mkvp);
	sk_secret_free(mk);
}

void write_part(const char *path, const struct sk_secret *part)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	ATF_REQUIRE_MSG(fd >= 0, "create %s: %s", path, strerror(errno));
	ATF_REQUIRE(fchmod(fd, 0600) == 0);
	ATF_REQUIRE_EQ(write(fd, part->data, part->len), (ssize_t)part->len);
	ATF_REQUIRE(close(fd) == 0);
}

struct sk_hsm *hsm_open(const char *csv)
{
	struct sk_apqn_list list = { .count = 0 };
	struct sk_hsm *hsm = NULL;
	int r;

	if (*csv)
		ATF_REQUIRE_EQ_MSG(sk_apqn_list_parse(csv, &list), 0, "bad APQN list %s", csv);
	r = sk_hsm_open(HSM_DIR, &list, &hsm);
	ATF_REQUIRE_EQ_MSG(r, 0, "sk_hsm_open(%s, %s) returned %d", HSM_DIR, csv, r);
	ATF_REQUIRE(hsm != NULL);
	return hsm;
}

void hsm_status(const char *csv, struct sk_hsm_status *status)
{
	struct sk_hsm *hsm = hsm_open(csv);
	int r = sk_hsm_status(hsm, status);

	ATF_REQUIRE_EQ_MSG(r, 0, "status of %s returned %d", csv, r);
	sk_hsm_close(hsm);
}

const char *state_file(const char *apqn)
{
	static char path[64];

	snprintf(path, sizeof(path), "%s/%s.mk", HSM_DIR, apqn);
	return path;
}
