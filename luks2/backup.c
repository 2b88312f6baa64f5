#include "config.h"

#define _GNU_SOURCE 1
#include "backup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#include "binhdr.h"
#include "device.h"
#include "log.h"
#include "paths.h"
#include "secfile.h"

#define KEYSLOTS_ID_LEN 16
#define COPY_CHUNK (1024 * 1024)

static unsigned keep_count = SK_BACKUP_KEEP_DEFAULT;

void sk_backup_set_keep(unsigned keep)
{
	keep_count = keep ? keep : SK_BACKUP_KEEP_DEFAULT;
}

static char *uuid_dir(const char *uuid, bool create)
{
	char *root = sk_path_join(sk_path_state_dir(), "backup");
	char *dir = root ? sk_path_join(root, uuid) : NULL;

	if (create && dir && (sk_path_make_state_subdir(root) < 0 || sk_path_make_dir(dir) < 0)) {
		free(dir);
		dir = NULL;
	}
	free(root);
	return dir;
}

/* Both metadata copies of the header at @fd, as they are; @bin gets its binary header. */
static int read_header(int fd, unsigned char bin[SK_LUKS2_BIN_HDR_LEN], unsigned char **meta,
		       size_t *hdr_size)
{
	size_t size;

	if (pread(fd, bin, SK_LUKS2_BIN_HDR_LEN, 0) != SK_LUKS2_BIN_HDR_LEN)
		return -EIO;
	size = sk_luks2_bin_hdr_size(bin);
	if (!size)
		return -EINVAL;
	*meta = malloc(2 * size);
	if (!*meta)
		return -ENOMEM;
	if (pread(fd, *meta, 2 * size, 0) != (ssize_t)(2 * size)) {
		free(*meta);
		*meta = NULL;
		return -EIO;
	}
	*hdr_size = size;
	return 0;
}

/* Both metadata copies of the header at @fd, whose primary must be at @seqid. */
static int read_metadata(int fd, uint64_t seqid, unsigned char **meta, size_t *hdr_size)
{
	unsigned char bin[SK_LUKS2_BIN_HDR_LEN];
	int r = read_header(fd, bin, meta, hdr_size);

	if (!r && sk_luks2_bin_seqid(bin) != seqid) {
		free(*meta);
		*meta = NULL;
		r = -EAGAIN;
	}
	return r;
}

/* The JSON of the primary copy, else of the secondary. */
static json_object *metadata_json(const unsigned char *meta, size_t hdr_size)
{
	for (size_t copy = 0; copy < 2; copy++) {
		const char *text = (const char *)meta + copy * hdr_size + SK_LUKS2_BIN_HDR_LEN;
		size_t len = strnlen(text, hdr_size - SK_LUKS2_BIN_HDR_LEN);
		json_tokener *tok = json_tokener_new();
		json_object *jobj = tok ? json_tokener_parse_ex(tok, text, (int)len) : NULL;

		json_tokener_free(tok);
		if (jobj && json_object_is_type(jobj, json_type_object))
			return jobj;
		json_object_put(jobj);
	}
	return NULL;
}

/* A decimal string member of @obj ("offset", "size", "keyslots_size"). */
static bool json_u64(json_object *obj, const char *key, uint64_t *value)
{
	json_object *member;
	const char *text;
	char *end;

	if (!json_object_object_get_ex(obj, key, &member) ||
	    !json_object_is_type(member, json_type_string))
		return false;
	text = json_object_get_string(member);
	errno = 0;
	*value = strtoull(text, &end, 10);
	return !errno && end != text && !*end;
}

/* What names a keyslot set: its JSON and the area size, hashed. */
static int keyslots_id(json_object *jobj, char id[KEYSLOTS_ID_LEN + 1], uint64_t *area_size)
{
	json_object *config, *keyslots;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned md_len;
	char *text = NULL;
	int r;

	if (!json_object_object_get_ex(jobj, "config", &config) ||
	    !json_u64(config, "keyslots_size", area_size) ||
	    !json_object_object_get_ex(jobj, "keyslots", &keyslots))
		return -EINVAL;
	if (asprintf(&text, "%" PRIu64 "\n%s", *area_size,
		     json_object_to_json_string_ext(keyslots, JSON_C_TO_STRING_PLAIN)) < 0)
		return -ENOMEM;
	r = EVP_Digest(text, strlen(text), md, &md_len, EVP_sha256(), NULL) ? 0 : -EINVAL;
	free(text);
	for (int i = 0; !r && i < KEYSLOTS_ID_LEN / 2; i++)
		sprintf(id + 2 * i, "%02x", md[i]);
	return r;
}

static char *area_path(const char *dir, const char id[KEYSLOTS_ID_LEN + 1])
{
	char *path;

	return asprintf(&path, "%s/keyslots-%s.area", dir, id) < 0 ? NULL : path;
}

/* Copy @len bytes at @from in @in to @to in @out. */
static int copy_range(int in, off_t from, int out, off_t to, uint64_t len)
{
	unsigned char *buf = malloc(COPY_CHUNK);
	int r = buf ? 0 : -ENOMEM;

	while (!r && len) {
		size_t n = len < COPY_CHUNK ? (size_t)len : COPY_CHUNK;
		ssize_t got = pread(in, buf, n, from);

		if (got != (ssize_t)n)
			r = got < 0 ? -errno : -EIO;
		else if (pwrite(out, buf, n, to) != (ssize_t)n)
			r = errno ? -errno : -EIO;
		from += n;
		to += n;
		len -= n;
	}
	free(buf);
	return r;
}

/* The keyslot areas of @jobj, copied from the device to their place in the snapshot. */
static int copy_keyslot_areas(int dev_fd, int out, json_object *jobj, size_t hdr_size,
			      uint64_t area_size)
{
	json_object *keyslots, *area;
	uint64_t offset, size, start = 2 * (uint64_t)hdr_size;
	int r = 0;

	if (!json_object_object_get_ex(jobj, "keyslots", &keyslots))
		return -EINVAL;
	json_object_object_foreach(keyslots, slot, keyslot)
	{
		(void)slot;
		if (r || !json_object_object_get_ex(keyslot, "area", &area))
			continue;
		/* A hostile header could name any range: only the keyslot area is read. */
		if (!json_u64(area, "offset", &offset) || !json_u64(area, "size", &size) ||
		    offset < start || size > area_size || offset - start > area_size - size)
			return -EINVAL;
		r = copy_range(dev_fd, (off_t)offset, out, (off_t)(offset - start), size);
	}
	return r;
}

/* Snapshot the keyslot area of this keyslot set, unless one is there already. */
static int snapshot_keyslots(int dev_fd, const char *dir, json_object *jobj, size_t hdr_size)
{
	char id[KEYSLOTS_ID_LEN + 1], *final = NULL, *tmp = NULL;
	uint64_t area_size;
	struct stat st;
	int r = keyslots_id(jobj, id, &area_size), fd = -1;

	if (!r && !(final = area_path(dir, id)))
		r = -ENOMEM;
	if (r || (!stat(final, &st) && (uint64_t)st.st_size == area_size)) {
		free(final);
		return r;
	}
	if (asprintf(&tmp, "%s/.keyslots-%s.XXXXXX", dir, id) < 0) {
		free(final);
		return -ENOMEM;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	r = fd < 0 ? -errno : 0;
	if (!r && (fchmod(fd, 0600) < 0 || ftruncate(fd, (off_t)area_size) < 0))
		r = -errno;
	if (!r)
		r = copy_keyslot_areas(dev_fd, fd, jobj, hdr_size, area_size);
	if (!r && fsync(fd) < 0)
		r = -errno;
	if (!r && rename(tmp, final) < 0)
		r = -errno;
	if (fd >= 0)
		close(fd);
	if (r && fd >= 0)
		unlink(tmp);
	free(tmp);
	free(final);
	return r;
}

static int write_hdr_file(const char *path, const unsigned char *meta, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	int r = fd < 0 ? -errno : sk_write_full(fd, meta, len);

	if (!r && fsync(fd) < 0)
		r = -errno;
	if (fd >= 0)
		close(fd);
	return r;
}

static char *new_hdr_path(const char *dir, uint64_t seqid)
{
	char stamp[32], *path;
	time_t now = time(NULL);

	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", gmtime(&now));
	if (asprintf(&path, "%s/%s-%020" PRIu64 "-%ld.hdr", dir, stamp, seqid, (long)getpid()) < 0)
		return NULL;
	return path;
}

static int take(struct sk_device *dev, const char *dir, const char *path)
{
	unsigned char *meta = NULL;
	size_t hdr_size = 0;
	json_object *jobj = NULL;
	int fd = open(dev->path, O_RDONLY | O_CLOEXEC), r;

	r = fd < 0 ? -errno : read_metadata(fd, dev->seqid, &meta, &hdr_size);
	if (!r && !(jobj = metadata_json(meta, hdr_size)))
		r = -EINVAL;
	if (!r)
		r = snapshot_keyslots(fd, dir, jobj, hdr_size);
	if (!r)
		r = write_hdr_file(path, meta, 2 * hdr_size);
	if (!r)
		r = sk_fsync_dir(dir);
	json_object_put(jobj);
	free(meta);
	if (fd >= 0)
		close(fd);
	return r;
}

static const char *take_failure(int r)
{
	if (r == -EAGAIN)
		return "the header changed while it was read";
	if (r == -EINVAL)
		return "its metadata is not a LUKS2 header securekey can read";
	return strerror(-r);
}

int sk_backup_take(struct sk_device *dev, char **path_out)
{
	char *dir = uuid_dir(dev->uuid, true);
	char *path = dir ? new_hdr_path(dir, dev->seqid) : NULL;
	int r = path ? take(dev, dir, path) : -EIO;

	if (r < 0 && path) {
		sk_err("cannot back up the LUKS2 header of %s to %s: %s; nothing was written",
		       dev->path, path, take_failure(r));
		unlink(path);
		(void)rmdir(dir); /* made for this backup, unless older ones are there */
	}
	free(dir);
	if (r < 0) {
		free(path);
		return r;
	}
	*path_out = path;
	return 0;
}

void sk_backup_drop(const char *path)
{
	char *copy = strdup(path);

	unlink(path);
	if (copy)
		(void)rmdir(dirname(copy)); /* empty only when this was its first backup */
	free(copy);
}

static bool has_suffix(const char *name, const char *suffix)
{
	size_t n = strlen(name), s = strlen(suffix);

	return n > s && !strcmp(name + n - s, suffix);
}

static int is_backup_name(const struct dirent *e)
{
	return e->d_name[0] != '.' && (has_suffix(e->d_name, ".hdr") || has_suffix(e->d_name, ".luks2"));
}

static int is_area_name(const struct dirent *e)
{
	return !strncmp(e->d_name, "keyslots-", 9) && has_suffix(e->d_name, ".area");
}

static int name_order(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static void free_dirents(struct dirent **names, int n)
{
	for (int i = 0; i < n; i++)
		free(names[i]);
	if (n >= 0)
		free(names);
}

/* The LUKS2 JSON metadata of the backup at @path; NULL when it cannot be read. */
static json_object *backup_json(const char *path)
{
	unsigned char *meta = NULL, bin[SK_LUKS2_BIN_HDR_LEN];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	json_object *jobj = NULL;
	size_t size = 0;

	if (fd >= 0 && !read_header(fd, bin, &meta, &size))
		jobj = metadata_json(meta, size);
	free(meta);
	if (fd >= 0)
		close(fd);
	return jobj;
}

/* The keyslot snapshot name a .hdr backup uses; NULL when it cannot be read. */
static char *area_name_of(const char *path)
{
	char id[KEYSLOTS_ID_LEN + 1], *name = NULL;
	json_object *jobj = backup_json(path);
	uint64_t area_size;

	if (jobj && !keyslots_id(jobj, id, &area_size) &&
	    asprintf(&name, "keyslots-%s.area", id) < 0)
		name = NULL;
	json_object_put(jobj);
	return name;
}

static bool name_in(const char *name, char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (names[i] && !strcmp(names[i], name))
			return true;
	return false;
}

/* Snapshots no kept backup uses go; only worth a look when there are two or more. */
static void prune_areas(const char *dir, struct dirent **kept, int n_kept)
{
	struct dirent **areas;
	int n_areas = scandir(dir, &areas, is_area_name, name_order);
	char **used = n_areas > 1 ? calloc((size_t)n_kept + 1, sizeof(*used)) : NULL;

	for (int i = 0; used && i < n_kept; i++) {
		char *path = has_suffix(kept[i]->d_name, ".hdr") ? sk_path_join(dir, kept[i]->d_name)
								 : NULL;

		used[i] = path ? area_name_of(path) : NULL;
		free(path);
	}
	for (int i = 0; used && i < n_areas; i++) {
		char *path = name_in(areas[i]->d_name, used, (size_t)n_kept)
				     ? NULL
				     : sk_path_join(dir, areas[i]->d_name);

		if (path)
			unlink(path);
		free(path);
	}
	for (int i = 0; used && i < n_kept; i++)
		free(used[i]);
	free(used);
	free_dirents(areas, n_areas);
}

void sk_backup_prune(const char *uuid)
{
	char *dir = uuid_dir(uuid, false);
	struct dirent **names;
	int n = dir ? scandir(dir, &names, is_backup_name, name_order) : -1;
	int drop = n - (int)keep_count;

	for (int i = 0; i < drop; i++) {
		char *path = sk_path_join(dir, names[i]->d_name);

		if (path)
			unlink(path);
		free(path);
	}
	if (n > 0)
		prune_areas(dir, names + (drop > 0 ? drop : 0), drop > 0 ? n - drop : n);
	free_dirents(names, n);
	free(dir);
}

static char *written_path(const char *uuid)
{
	char *dir = uuid_dir(uuid, false), *path = dir ? sk_path_join(dir, "written") : NULL;

	free(dir);
	return path;
}

/* Replace @path with @text, unsynced: a lost record only makes restore ask for --force. */
static int write_record(const char *path, const char *text)
{
	char *tmp = NULL;
	int fd = -1, r = asprintf(&tmp, "%s.XXXXXX", path) < 0 ? -ENOMEM : 0;

	if (!r && (fd = mkostemp(tmp, O_CLOEXEC)) < 0)
		r = -errno;
	if (!r)
		r = sk_write_full(fd, text, strlen(text));
	if (fd >= 0)
		close(fd);
	if (!r && rename(tmp, path) < 0)
		r = -errno;
	if (r && fd >= 0)
		unlink(tmp);
	free(tmp);
	return r;
}

void sk_backup_note_written(const char *uuid, uint64_t seqid)
{
	char *path = written_path(uuid), text[32];

	snprintf(text, sizeof(text), "%" PRIu64 "\n", seqid);
	if (path && write_record(path, text) < 0)
		sk_dbg("cannot record the seqid of %s in %s", uuid, path);
	free(path);
}

int sk_backup_last_written(const char *uuid, uint64_t *seqid)
{
	char *path = written_path(uuid), *end;
	unsigned char *data = NULL;
	size_t len;
	int r = path ? sk_file_read(path, 32, &data, &len) : -ENOMEM;

	if (!r) {
		errno = 0;
		*seqid = strtoull((const char *)data, &end, 10);
		r = errno || end == (char *)data || *end != '\n' ? -EINVAL : 0;
	}
	free(data);
	free(path);
	return r;
}

static bool parse_backup_name(const char *name, uint64_t *seqid)
{
	const char *dash = strchr(name, '-');
	char *end;

	if (!dash)
		return false;
	errno = 0;
	*seqid = strtoull(dash + 1, &end, 10);
	return !errno && end != dash + 1 && *end == '-';
}

/* What restore reads must be as safe as what the writes made. */
static int check_dirs(const char *dir)
{
	char *root = sk_path_join(sk_path_state_dir(), "backup");
	int r = root ? sk_path_check_state_subdir(root) : -ENOMEM;

	if (!r)
		r = sk_path_check_dir(dir, "state directory", "0700");
	free(root);
	return r == -ENOENT ? 0 : r;
}

int sk_backup_list(const char *uuid, struct sk_backup **list, size_t *count)
{
	char *dir = uuid_dir(uuid, false);
	struct dirent **names;
	int checked = dir ? check_dirs(dir) : -ENOMEM;
	int n = !checked ? scandir(dir, &names, is_backup_name, name_order) : -1;
	struct sk_backup *out = n > 0 ? calloc((size_t)n, sizeof(*out)) : NULL;
	size_t used = 0;
	int r = 0;

	if (checked)
		r = checked;
	else if (n < 0)
		r = errno == ENOENT ? 0 : -errno;
	else if (n > 0 && !out)
		r = -ENOMEM;
	for (int i = 0; !r && i < n; i++) {
		struct sk_backup *b = &out[used];

		if (!parse_backup_name(names[i]->d_name, &b->seqid))
			continue;
		b->path = sk_path_join(dir, names[i]->d_name);
		if (!b->path) {
			r = -ENOMEM;
			break;
		}
		b->name = strrchr(b->path, '/') + 1;
		b->whole = has_suffix(b->name, ".luks2");
		used++;
	}
	free_dirents(names, n);
	free(dir);
	if (r) {
		sk_backup_list_free(out, used);
		return r;
	}
	*list = out;
	*count = used;
	return 0;
}

void sk_backup_list_free(struct sk_backup *list, size_t count)
{
	for (size_t i = 0; list && i < count; i++)
		free(list[i].path);
	free(list);
}

/* Whether the backup at @path has a securekey token (one that cannot be read: no). */
static bool backup_holds_token(const char *path)
{
	json_object *jobj = backup_json(path), *tokens, *type;
	bool found = false;

	if (jobj && json_object_object_get_ex(jobj, "tokens", &tokens)) {
		json_object_object_foreach(tokens, id, token)
		{
			(void)id;
			found |= json_object_object_get_ex(token, "type", &type) &&
				 !strcmp(json_object_get_string(type), SK_TOKEN_TYPE);
		}
	}
	json_object_put(jobj);
	return found;
}

int sk_backup_count_token(const char *uuid, size_t *with_token, size_t *total)
{
	struct sk_backup *list = NULL;
	size_t n = 0;
	int r = sk_backup_list(uuid, &list, &n);

	*with_token = 0;
	*total = n;
	for (size_t i = 0; !r && i < n; i++)
		*with_token += backup_holds_token(list[i].path);
	sk_backup_list_free(list, n);
	return r;
}

/* The names securekey writes in a backup directory, temporary files included. */
static bool is_ours(const char *name)
{
	return has_suffix(name, ".hdr") || has_suffix(name, ".luks2") ||
	       (!strncmp(name, "keyslots-", 9) && has_suffix(name, ".area")) ||
	       !strncmp(name, ".keyslots-", 10) || !strcmp(name, "written") ||
	       !strncmp(name, "written.", 8);
}

/* Unlink securekey's files in the directory @d; *kept counts the others. */
static int unlink_ours(DIR *d, size_t *kept)
{
	struct dirent *e;
	int removed = 0;

	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (!is_ours(e->d_name))
			(*kept)++;
		else if (unlinkat(dirfd(d), e->d_name, 0) < 0)
			return -errno;
		else
			removed++;
	}
	return removed;
}

/* The directory @path, not through a link; NULL with errno set. */
static DIR *open_dir_nofollow(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;

	if (fd >= 0 && !d) {
		int saved = errno;

		close(fd);
		errno = saved;
	}
	return d;
}

int sk_backup_purge(const char *uuid)
{
	char *dir = uuid_dir(uuid, false);
	int r = dir ? check_dirs(dir) : -ENOMEM; /* it says why not */
	size_t kept = 0;
	DIR *d;

	if (r) {
		free(dir);
		return r;
	}
	/* Checked: owned by root or the caller, writable by no one else. */
	d = open_dir_nofollow(dir);
	if (!d && errno != ENOENT)
		r = -errno;
	if (d) {
		r = unlink_ours(d, &kept);
		if (r >= 0)
			(void)fsync(dirfd(d));
		closedir(d);
	}
	if (r < 0)
		sk_err("cannot delete the header backups in %s: %s", dir, strerror(-r));
	else if (kept)
		sk_warn("%s holds %zu file%s securekey did not write; kept", dir, kept,
			kept == 1 ? "" : "s");
	else if (r > 0 && rmdir(dir) < 0)
		sk_dbg("cannot remove %s: %s", dir, strerror(errno));
	free(dir);
	return r;
}

/* The data of the sparse snapshot @area into @out after @start: holes stay holes. */
static int copy_sparse(int area, int out, off_t start, off_t size)
{
	off_t data = 0, hole;
	int r = 0;

	while (!r && (data = lseek(area, data, SEEK_DATA)) >= 0 && data < size) {
		hole = lseek(area, data, SEEK_HOLE);
		if (hole < 0 || hole > size)
			hole = size;
		r = copy_range(area, data, out, start + data, (uint64_t)(hole - data));
		data = hole;
	}
	return r ? r : data < 0 && errno != ENXIO ? -errno : 0;
}

static int open_area(const char *uuid, json_object *jobj, uint64_t *area_size, char **path)
{
	char id[KEYSLOTS_ID_LEN + 1], *dir = uuid_dir(uuid, false);
	struct stat st;
	int fd = -1, r = keyslots_id(jobj, id, area_size);

	if (!r && !(*path = dir ? area_path(dir, id) : NULL))
		r = -ENOMEM;
	if (!r && (fd = open(*path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		r = -errno;
	if (!r && (fstat(fd, &st) < 0 || (uint64_t)st.st_size != *area_size))
		r = -EINVAL;
	free(dir);
	if (r && fd >= 0)
		close(fd);
	return r ? r : fd;
}

static int assemble_hdr(const char *uuid, const struct sk_backup *b, int out)
{
	unsigned char bin[SK_LUKS2_BIN_HDR_LEN], *meta = NULL;
	json_object *jobj = NULL;
	char *area = NULL;
	uint64_t area_size = 0;
	struct stat st;
	size_t size = 0;
	int fd = open(b->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), area_fd = -1, r = 0;

	if (fd < 0 || fstat(fd, &st) < 0 || read_header(fd, bin, &meta, &size) ||
	    (uint64_t)st.st_size != 2 * (uint64_t)size || !(jobj = metadata_json(meta, size))) {
		sk_err("header backup %s is truncated or damaged; choose another one "
		       "(securekey-cryptsetup restore DEVICE --list)",
		       b->path);
		r = -EINVAL;
	}
	if (!r && (area_fd = open_area(uuid, jobj, &area_size, &area)) < 0) {
		sk_err("the keyslot area snapshot %s that header backup %s needs is %s; choose "
		       "another backup (securekey-cryptsetup restore DEVICE --list)",
		       area ? area : "(none)", b->name,
		       area_fd == -ENOENT ? "missing" : "damaged or truncated");
		r = area_fd;
	}
	if (!r && (ftruncate(out, (off_t)(2 * size + area_size)) < 0 ||
		   pwrite(out, meta, 2 * size, 0) != (ssize_t)(2 * size)))
		r = errno ? -errno : -EIO;
	if (!r)
		r = copy_sparse(area_fd, out, (off_t)(2 * size), (off_t)area_size);
	if (area_fd >= 0)
		close(area_fd);
	if (fd >= 0)
		close(fd);
	json_object_put(jobj);
	free(meta);
	free(area);
	return r;
}

/* A whole-header file is copied too: libcryptsetup would repair a damaged copy in it. */
static int copy_whole(const struct sk_backup *b, int out)
{
	struct stat st;
	int fd = open(b->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), r = 0;

	if (fd < 0 || fstat(fd, &st) < 0) {
		r = -errno;
		sk_err("cannot open header backup %s: %s", b->path, strerror(errno));
	}
	if (!r && ftruncate(out, st.st_size) < 0)
		r = -errno;
	if (!r)
		r = copy_sparse(fd, out, 0, st.st_size);
	if (fd >= 0)
		close(fd);
	return r;
}

int sk_backup_assemble(const char *uuid, const struct sk_backup *b, int *fd_out)
{
	int fd = memfd_create("securekey-restore", MFD_CLOEXEC), r;

	if (fd < 0) {
		sk_err("cannot assemble header backup %s: %s", b->name, strerror(errno));
		return -errno;
	}
	r = b->whole ? copy_whole(b, fd) : assemble_hdr(uuid, b, fd);
	if (r < 0) {
		close(fd);
		return r;
	}
	*fd_out = fd;
	return 0;
}

int sk_backup_metadata_digest(int fd, unsigned char digest[SK_BACKUP_DIGEST_LEN])
{
	unsigned char bin[SK_LUKS2_BIN_HDR_LEN], *meta = NULL;
	size_t size = 0;
	int r = read_header(fd, bin, &meta, &size);

	if (!r && !EVP_Digest(meta, 2 * size, digest, NULL, EVP_sha256(), NULL))
		r = -EINVAL;
	free(meta);
	return r;
}

/* Bytes on disk for @len bytes of file data: whole blocks. */
static uint64_t blocks_of(uint64_t len, uint64_t block)
{
	return (len + block - 1) / block * block;
}

/* Sum of the keyslot areas the snapshot of @jobj would hold. */
static uint64_t keyslot_bytes(json_object *jobj)
{
	json_object *keyslots, *area;
	uint64_t sum = 0, size;

	if (!json_object_object_get_ex(jobj, "keyslots", &keyslots))
		return 0;
	json_object_object_foreach(keyslots, slot, keyslot)
	{
		(void)slot;
		if (json_object_object_get_ex(keyslot, "area", &area) && json_u64(area, "size", &size))
			sum += size;
	}
	return sum;
}

/* How many backups of @dir there are. */
static int count_backups(const char *dir)
{
	struct dirent **names;
	int n = dir ? scandir(dir, &names, is_backup_name, name_order) : -1;

	free_dirents(names, n);
	return n < 0 ? 0 : n;
}

/*
 * What one more backup of the device at @path keeps on disk: its .hdr
 * while fewer than [backup] keep are there (else pruning frees one), and
 * a keyslot snapshot when its keyslot set has none.
 */
static uint64_t backup_need(const char *path, uint64_t block, uint64_t *largest_hdr)
{
	unsigned char bin[SK_LUKS2_BIN_HDR_LEN], *meta = NULL;
	char uuid[40], id[KEYSLOTS_ID_LEN + 1], *dir, *area = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	json_object *jobj = NULL;
	uint64_t need = blocks_of(2 * SK_LUKS2_HDR_SIZE_MIN, block), area_size;
	bool full;
	size_t size = 0;

	if (fd >= 0 && !read_header(fd, bin, &meta, &size))
		jobj = metadata_json(meta, size);
	if (jobj) {
		snprintf(uuid, sizeof(uuid), "%.36s", (const char *)bin + SK_LUKS2_UUID_OFFSET);
		/* A hostile header's UUID must not name a path. */
		dir = sk_device_uuid_ok(uuid) ? uuid_dir(uuid, false) : NULL;
		full = count_backups(dir) >= (int)keep_count;
		need = full ? 0 : blocks_of(2 * size, block);
		if (blocks_of(2 * size, block) > *largest_hdr)
			*largest_hdr = blocks_of(2 * size, block);
		if (!keyslots_id(jobj, id, &area_size) && dir && (area = area_path(dir, id)) &&
		    access(area, F_OK) < 0)
			need += blocks_of(keyslot_bytes(jobj), block);
		free(area);
		free(dir);
	}
	json_object_put(jobj);
	free(meta);
	if (fd >= 0)
		close(fd);
	return need;
}

/* The state directory, or the nearest directory above it that exists. */
static int state_fs(struct statvfs *fs, char **where)
{
	char *path = strdup(sk_path_state_dir());

	while (path && statvfs(path, fs) < 0) {
		char *up = strdup(dirname(path));

		if (up && !strcmp(up, path)) {
			free(up);
			up = NULL;
		}
		free(path);
		path = up;
	}
	*where = path;
	return path ? 0 : -errno ? -errno : -ENOENT;
}

static void human_size(uint64_t bytes, char *out, size_t len)
{
	if (bytes >= 10ULL << 30)
		snprintf(out, len, "%" PRIu64 " GiB", bytes >> 30);
	else if (bytes >= 10ULL << 20)
		snprintf(out, len, "%" PRIu64 " MiB", bytes >> 20);
	else
		snprintf(out, len, "%" PRIu64 " KiB", (bytes + 1023) >> 10);
}

int sk_backup_check_space(char *const *paths, size_t count)
{
	struct statvfs fs;
	char *where = NULL, need_text[32], free_text[32];
	uint64_t need = 0, avail, largest_hdr = 0;
	int r = state_fs(&fs, &where);

	if (r < 0) {
		sk_err("cannot find the file system of the state directory %s: %s",
		       sk_path_state_dir(), strerror(-r));
		return r;
	}
	for (size_t i = 0; i < count; i++)
		need += backup_need(paths[i], fs.f_frsize ? fs.f_frsize : 4096, &largest_hdr);
	/* One .hdr of slack: a full directory holds one more between write and prune. */
	need += largest_hdr;
	avail = (uint64_t)fs.f_bavail * fs.f_frsize;
	if (avail < need) {
		human_size(need, need_text, sizeof(need_text));
		human_size(avail, free_text, sizeof(free_text));
		sk_err("the header backups of %zu devices need %s in %s, which has %s free; nothing "
		       "was changed: free space there, or lower [backup] keep in %s",
		       count, need_text, where, free_text, "securekey.conf");
		r = -ENOSPC;
	}
	free(where);
	return r;
}

void sk_backup_from_path(const char *path, struct sk_backup *b)
{
	const char *slash = strrchr(path, '/');

	b->path = (char *)path;
	b->name = slash ? slash + 1 : path;
	b->seqid = 0;
	b->whole = !has_suffix(b->name, ".hdr");
}

int sk_backup_uuid_of(const char *path, char uuid[40])
{
	unsigned char bin[SK_LUKS2_BIN_HDR_LEN];
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	bool ok = fd >= 0 && pread(fd, bin, sizeof(bin), 0) == (ssize_t)sizeof(bin) &&
		  sk_luks2_bin_hdr_size(bin);

	if (fd >= 0)
		close(fd);
	if (ok)
		snprintf(uuid, 40, "%.36s", (const char *)bin + SK_LUKS2_UUID_OFFSET);
	if (!ok || !sk_device_uuid_ok(uuid)) {
		sk_err("%s is not a header backup with a LUKS UUID", path);
		return -EINVAL;
	}
	return 0;
}

int sk_backup_save_raw(const char *device, const char *uuid, size_t len)
{
	char *dir = uuid_dir(uuid, true), stamp[32], *path = NULL;
	int in = open(device, O_RDONLY | O_CLOEXEC), out = -1, r = 0;
	time_t now = time(NULL);

	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", gmtime(&now));
	if (!dir || asprintf(&path, "%s/%s-unloadable-%ld.raw", dir, stamp, (long)getpid()) < 0)
		r = -ENOMEM;
	if (!r && (in < 0 || (out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
					   0600)) < 0))
		r = -errno;
	if (!r)
		r = copy_range(in, 0, out, 0, len);
	if (!r && (fsync(out) < 0 || sk_fsync_dir(dir) < 0))
		r = -errno;
	if (r < 0)
		sk_err("cannot save the first %zu bytes of %s to %s: %s; nothing was written", len,
		       device, path ? path : dir ? dir : "the backup directory", strerror(-r));
	if (r < 0 && out >= 0)
		unlink(path);
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	free(path);
	free(dir);
	return r;
}
