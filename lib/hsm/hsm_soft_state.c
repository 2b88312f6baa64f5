#include "config.h"

#include "hsm_soft_state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "log.h"
#include "paths.h"
#include "secfile.h"

/*
 * File layout, version 1:
 *   magic[8] "SKSOFTHS" | version u32 BE | apqn text[8] |
 *   3 × (state u8 | parts u8 | reserved[6] | mkvp[8] | key[32]) | sha256[32]
 */
#define STATE_MAGIC "SKSOFTHS"
#define STATE_VERSION 1
#define OFF_VERSION 8
#define OFF_APQN 12
#define OFF_REGS 20
#define REG_SIZE (8 + SK_MKVP_LEN + SK_MK_LEN)
#define OFF_SUM (OFF_REGS + SK_REG_COUNT * REG_SIZE)
#define STATE_SIZE (OFF_SUM + 32)
#define STATE_SUFFIX ".mk"
/*
 * A change of several APQNs is one commit: every new state file is written
 * as AA.DDDD.mk.new and synced, then the COMMIT_MARKER file is created (the
 * commit point), then the .new files are renamed over the old ones and the
 * marker removed. While the marker exists, readers take the .new files; the
 * next writer finishes the renames. .new files without a marker are an
 * uncommitted change and are dropped. So a crash or a failed rename never
 * leaves APQNs of one set on different master keys.
 */
#define PENDING_SUFFIX ".new"
#define COMMIT_MARKER "commit"

unsigned char *sk_soft_key(struct sk_soft_apqn *apqn, enum sk_mk_register reg)
{
	return apqn->keys->data + (size_t)reg * SK_MK_LEN;
}

static char *state_path(const char *dir, const struct sk_apqn *apqn)
{
	char text[SK_APQN_TEXT_LEN + 1], name[32];

	sk_apqn_format(apqn, text);
	snprintf(name, sizeof(name), "%s" STATE_SUFFIX, text);
	return sk_path_join(dir, name);
}

int sk_soft_state_new(const struct sk_apqn *apqn, struct sk_soft_apqn *state)
{
	memset(state, 0, sizeof(*state));
	state->apqn = *apqn;
	state->keys = sk_secret_new(SK_REG_COUNT * SK_MK_LEN);
	return state->keys ? 0 : -ENOMEM;
}

void sk_soft_state_free(struct sk_soft_apqn *state)
{
	sk_secret_free(state->keys);
	state->keys = NULL;
}

static char *pending_path(const char *dir, const struct sk_apqn *apqn)
{
	char *path = state_path(dir, apqn), *pending = NULL;

	if (path && asprintf(&pending, "%s" PENDING_SUFFIX, path) < 0)
		pending = NULL;
	free(path);
	return pending;
}

static bool exists(const char *path)
{
	return path && access(path, F_OK) == 0;
}

static bool committing(const char *dir)
{
	char *marker = sk_path_join(dir, COMMIT_MARKER);
	bool found = exists(marker);

	free(marker);
	return found;
}

/* The file that holds @apqn's state now: the committed .new one while a commit is open. */
static char *current_path(const char *dir, const struct sk_apqn *apqn)
{
	char *pending;

	if (committing(dir)) {
		pending = pending_path(dir, apqn);
		if (exists(pending))
			return pending;
		free(pending);
	}
	return state_path(dir, apqn);
}

bool sk_soft_state_exists(const char *dir, const struct sk_apqn *apqn)
{
	char *path = current_path(dir, apqn);
	bool found = exists(path);

	free(path);
	return found;
}

static int checksum(const unsigned char *buf, unsigned char sum[32])
{
	return EVP_Digest(buf, OFF_SUM, sum, NULL, EVP_sha256(), NULL) == 1 ? 0 : -EIO;
}

static void serialize(struct sk_soft_apqn *state, unsigned char *buf)
{
	char text[SK_APQN_TEXT_LEN + 1];

	memset(buf, 0, STATE_SIZE);
	memcpy(buf, STATE_MAGIC, 8);
	buf[OFF_VERSION + 3] = STATE_VERSION;
	sk_apqn_format(&state->apqn, text);
	memcpy(buf + OFF_APQN, text, SK_APQN_TEXT_LEN);
	for (int r = 0; r < SK_REG_COUNT; r++) {
		unsigned char *p = buf + OFF_REGS + r * REG_SIZE;

		p[0] = (unsigned char)state->reg[r].state;
		p[1] = (unsigned char)state->reg[r].parts;
		memcpy(p + 8, state->reg[r].mkvp, SK_MKVP_LEN);
		memcpy(p + 8 + SK_MKVP_LEN, sk_soft_key(state, (enum sk_mk_register)r), SK_MK_LEN);
	}
	checksum(buf, buf + OFF_SUM);
}

static bool state_allowed(enum sk_mk_register reg, unsigned state, unsigned parts)
{
	if (reg != SK_REG_NEW)
		return (state == SK_MK_EMPTY || state == SK_MK_VALID) && parts == 0;
	switch (state) {
	case SK_MK_EMPTY:
		return parts == 0;
	case SK_MK_PARTIAL:
		return parts >= 1 && parts < SK_MK_MIN_PARTS;
	case SK_MK_FULL_UNCOMMITTED:
	case SK_MK_COMMITTED:
		/* no parts: generated inside the HSM ('hsm generate-new') */
		return parts == 0 || (parts >= SK_MK_MIN_PARTS && parts <= SK_MK_MAX_PARTS);
	default:
		return false;
	}
}

static bool has_full_key(enum sk_mk_state state)
{
	return state == SK_MK_VALID || state == SK_MK_FULL_UNCOMMITTED || state == SK_MK_COMMITTED;
}

/* Cross-checks what the checksum cannot: each MKVP belongs to its key. */
static const char *deserialize(const unsigned char *buf, const struct sk_apqn *apqn,
			       struct sk_soft_apqn *state)
{
	char text[SK_APQN_TEXT_LEN + 1];
	unsigned char sum[32], mkvp[SK_MKVP_LEN];

	if (memcmp(buf, STATE_MAGIC, 8))
		return "not a soft HSM state file (bad magic)";
	if (checksum(buf, sum) < 0 || CRYPTO_memcmp(sum, buf + OFF_SUM, 32))
		return "checksum mismatch";
	if (buf[OFF_VERSION] || buf[OFF_VERSION + 1] || buf[OFF_VERSION + 2] ||
	    buf[OFF_VERSION + 3] != STATE_VERSION)
		return "unsupported format version";
	sk_apqn_format(apqn, text);
	if (memcmp(buf + OFF_APQN, text, SK_APQN_TEXT_LEN + 1))
		return "it belongs to another APQN";
	for (int r = 0; r < SK_REG_COUNT; r++) {
		const unsigned char *p = buf + OFF_REGS + r * REG_SIZE;
		enum sk_mk_register reg = (enum sk_mk_register)r;

		if (!state_allowed(reg, p[0], p[1]))
			return "invalid register state";
		state->reg[r].state = (enum sk_mk_state)p[0];
		state->reg[r].parts = p[1];
		memcpy(state->reg[r].mkvp, p + 8, SK_MKVP_LEN);
		memcpy(sk_soft_key(state, reg), p + 8 + SK_MKVP_LEN, SK_MK_LEN);
		if (has_full_key(state->reg[r].state) &&
		    (sk_mkvp_compute(sk_soft_key(state, reg), mkvp) < 0 ||
		     !sk_mkvp_equal(mkvp, state->reg[r].mkvp)))
			return "a master key does not match its verification pattern";
	}
	return NULL;
}

static int read_state_file(const char *path, struct sk_secret *buf)
{
	ssize_t got;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT)
		return -ENOENT;
	if (fd < 0) {
		r = -errno;
		sk_err("cannot open HSM state file %s: %s", path, strerror(errno));
		return r;
	}
	r = sk_secfile_check(fd, path, "HSM state file");
	if (!r) {
		got = read(fd, buf->data, buf->len);
		if (got != STATE_SIZE) {
			sk_err("HSM state file %s is corrupt (size %zd, expected %d); restore it from "
			       "a backup",
			       path, got, STATE_SIZE);
			r = -EUCLEAN;
		}
	}
	close(fd);
	return r;
}

int sk_soft_state_load(const char *dir, const struct sk_apqn *apqn, struct sk_soft_apqn *state)
{
	char text[SK_APQN_TEXT_LEN + 1];
	char *path = current_path(dir, apqn);
	struct sk_secret *buf = sk_secret_new(STATE_SIZE + 1);
	const char *bad = NULL;
	int r = path && buf ? 0 : -ENOMEM;

	if (!r)
		r = sk_soft_state_new(apqn, state);
	if (!r)
		r = read_state_file(path, buf);
	if (r == -ENOENT) {
		sk_apqn_format(apqn, text);
		sk_err("APQN %s is unknown to the soft HSM in %s; initialize it with "
		       "'securekey hsm init --apqns %s'",
		       text, dir, text);
	}
	if (!r)
		bad = deserialize(buf->data, apqn, state);
	if (bad) {
		sk_err("HSM state file %s is corrupt (%s); restore it from a backup", path, bad);
		r = -EUCLEAN;
	}
	if (r)
		sk_soft_state_free(state);
	sk_secret_free(buf);
	free(path);
	return r;
}

static int write_pending(const char *dir, struct sk_soft_apqn *state)
{
	struct sk_secret *buf = sk_secret_new(STATE_SIZE);
	char *pending = pending_path(dir, &state->apqn);
	int r = buf && pending ? 0 : -ENOMEM;

	if (!r) {
		serialize(state, buf->data);
		unlink(pending);
		r = sk_secfile_create(pending, buf->data, STATE_SIZE);
	}
	sk_secret_free(buf);
	free(pending);
	return r;
}

static int is_pending(const struct dirent *e)
{
	size_t n = strlen(e->d_name), suffix_len = strlen(STATE_SUFFIX PENDING_SUFFIX);

	return n > suffix_len && !strcmp(e->d_name + n - suffix_len, STATE_SUFFIX PENDING_SUFFIX);
}

static int settle_one(const char *dir, const char *name, bool drop)
{
	char *pending = sk_path_join(dir, name);
	char *path = pending ? strndup(pending, strlen(pending) - strlen(PENDING_SUFFIX)) : NULL;
	int r = 0;

	if (!path)
		r = -ENOMEM;
	else if (drop ? unlink(pending) < 0 : rename(pending, path) < 0) {
		r = -errno;
		sk_err("cannot %s %s: %s", drop ? "remove" : "rename into place", pending,
		       strerror(errno));
	}
	free(path);
	free(pending);
	return r;
}

/* Rename every .new file of @dir over its state file, or (@drop) remove it. */
static int settle_pending(const char *dir, bool drop)
{
	struct dirent **names;
	int n = scandir(dir, &names, is_pending, alphasort), r = n < 0 ? -errno : 0;

	for (int i = 0; i < n; i++) {
		if (!r)
			r = settle_one(dir, names[i]->d_name, drop);
		free(names[i]);
	}
	if (n >= 0)
		free(names);
	return r;
}

/* The renames reach the disk before the marker goes: a crash between redoes them. */
static int finish_commit(const char *dir, const char *marker)
{
	int r = settle_pending(dir, false);

	if (!r)
		r = sk_fsync_dir(dir);
	if (!r && unlink(marker) < 0) {
		r = -errno;
		sk_err("cannot remove %s: %s", marker, strerror(errno));
	}
	return r ? r : sk_fsync_dir(dir);
}

int sk_soft_state_settle(const char *dir)
{
	char *marker = sk_path_join(dir, COMMIT_MARKER);
	int r;

	if (!marker)
		return -ENOMEM;
	r = exists(marker) ? finish_commit(dir, marker) : settle_pending(dir, true);
	free(marker);
	return r;
}

/* A commit that failed before its marker was on disk is undone; so is its marker. */
static void drop_commit(const char *dir)
{
	char *marker = sk_path_join(dir, COMMIT_MARKER);

	if (marker)
		unlink(marker);
	settle_pending(dir, true);
	free(marker);
}

static int commit(const char *dir)
{
	char *marker = sk_path_join(dir, COMMIT_MARKER);
	int r = marker ? sk_secfile_create(marker, "", 0) : -ENOMEM;

	free(marker);
	return r;
}

int sk_soft_state_save(const char *dir, struct sk_soft_apqn *states, size_t n)
{
	int r = 0;

	for (size_t i = 0; i < n && !r; i++)
		r = write_pending(dir, &states[i]);
	if (!r)
		r = commit(dir);
	if (r) {
		drop_commit(dir);
		return r;
	}
	/* Committed: a failure from here on is finished by the next writer. */
	if (sk_soft_state_settle(dir) < 0)
		sk_warn("the change of the soft HSM in %s is committed and in effect; the next "
			"change of it finishes replacing its state files",
			dir);
	return 0;
}

/* The APQN a directory entry holds the state of; .new files count during a commit. */
static bool state_entry(const char *name, bool open_commit, struct sk_apqn *apqn)
{
	char text[SK_APQN_TEXT_LEN + 1];
	const char *suffix = name + strnlen(name, SK_APQN_TEXT_LEN);

	if (strcmp(suffix, STATE_SUFFIX) &&
	    !(open_commit && !strcmp(suffix, STATE_SUFFIX PENDING_SUFFIX)))
		return false;
	memcpy(text, name, SK_APQN_TEXT_LEN);
	text[SK_APQN_TEXT_LEN] = '\0';
	return sk_apqn_parse(text, apqn) == 0;
}

int sk_soft_state_list(const char *dir, struct sk_apqn_list *list)
{
	bool open_commit = committing(dir);
	DIR *d = opendir(dir);
	struct dirent *e;

	list->count = 0;
	if (!d) {
		sk_err("cannot read soft HSM directory %s: %s", dir, strerror(errno));
		return -errno;
	}
	while ((e = readdir(d))) {
		struct sk_apqn apqn;

		if (state_entry(e->d_name, open_commit, &apqn) && !sk_apqn_list_has(list, &apqn) &&
		    list->count < SK_APQN_MAX)
			list->items[list->count++] = apqn;
	}
	closedir(d);
	sk_apqn_list_sort(list);
	return 0;
}

int sk_soft_dir_check(const char *dir, bool create)
{
	struct stat st;

	if (create && mkdir(dir, 0700) < 0 && errno != EEXIST) {
		sk_err("cannot create soft HSM directory %s: %s", dir, strerror(errno));
		return -errno;
	}
	if (lstat(dir, &st) < 0) {
		int r = -errno;

		if (errno == ENOENT)
			sk_err("soft HSM directory %s does not exist; create it with "
			       "'securekey hsm init --apqns AA.DDDD'",
			       dir);
		else
			sk_err("cannot access soft HSM directory %s: %s", dir, strerror(errno));
		return r;
	}
	if (!S_ISDIR(st.st_mode)) {
		sk_err("soft HSM directory %s is not a directory", dir);
		return -ENOTDIR;
	}
	return sk_check_owner_mode(&st, dir, "soft HSM directory", SK_OWNER_CALLER, 022, "0700");
}
