/* The rotation journal: where it lives and what its lines say. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "paths.h"
#include "rotate_journal.h"

#define MAGIC "securekey-rotate\t1"
#define SUFFIX ".journal"

const char *rotation_now(void)
{
	static char stamp[32];
	time_t now = time(NULL);

	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	return stamp;
}

/* "01.0001+02.0001" of the sorted set: the same set always names the same journals. */
static void apqns_key(const struct sk_apqn_list *apqns, char *key, size_t size)
{
	struct sk_apqn_list sorted = *apqns;

	sk_apqn_list_sort(&sorted);
	sk_apqn_list_format(&sorted, key, size);
	for (char *p = key; *p; p++)
		if (*p == ',')
			*p = '+';
}

static char *rotate_dir(void)
{
	return sk_path_join(sk_path_state_dir(), "rotate");
}

/* Apply one journal line to @rot; false when it is not a line of ours. */
static bool apply_line(struct rotation *rot, char *line)
{
	char *value = strchr(line, '\t');

	if (!value)
		return false;
	*value++ = '\0';
	if (!strcmp(line, "apqns"))
		return sk_apqn_list_parse(value, &rot->apqns) == 0;
	if (!strcmp(line, "from"))
		return sk_mkvp_from_hex(value, rot->from) == 0;
	if (!strcmp(line, "to"))
		return sk_mkvp_from_hex(value, rot->to) == 0;
	if (!strcmp(line, "begin"))
		snprintf(rot->begun, sizeof(rot->begun), "%s", value);
	if (!strcmp(line, "key-file-map"))
		snprintf(rot->key_file_map, sizeof(rot->key_file_map), "%s", value);
	rot->set |= !strcmp(line, "set");
	rot->ended |= !strcmp(line, "end");
	return true;
}

static int load(const char *path, struct rotation *rot)
{
	char **lines = NULL;
	size_t count = 0;
	int r = sk_journal_read(path, &lines, &count);

	*rot = (struct rotation){ 0 };
	snprintf(rot->path, sizeof(rot->path), "%s", path);
	/* Killed before its header was on disk: no rotation began. */
	if (!r && !count)
		r = -ENODATA;
	if (!r && strcmp(lines[0], MAGIC))
		r = -EINVAL;
	for (size_t i = 1; !r && i < count; i++)
		if (!apply_line(rot, lines[i]))
			r = -EINVAL;
	if (!r && (!rot->apqns.count || !rot->begun[0]))
		r = -ENODATA;
	if (r && r != -ENODATA)
		sk_err("the rotation journal %s cannot be read: %s; move it away if it is not a "
		       "rotation journal",
		       path, strerror(-r));
	sk_journal_free_lines(lines, count);
	return r;
}

static bool is_journal_of(const char *name, const char *key)
{
	size_t n = strlen(name), k = strlen(key), s = strlen(SUFFIX);

	return n == SK_MKVP_HEX_LEN + 1 + k + s && name[SK_MKVP_HEX_LEN] == '-' &&
	       !strncmp(name + SK_MKVP_HEX_LEN + 1, key, k) && !strcmp(name + n - s, SUFFIX);
}

static int consider(const char *dir, const char *name, struct rotation **open,
		    struct rotation **last_ended)
{
	struct rotation *rot = malloc(sizeof(*rot));
	char *path = sk_path_join(dir, name);
	int r = rot && path ? load(path, rot) : -ENOMEM;

	free(path);
	if (r == -ENODATA) {
		free(rot);
		return 0;
	}
	if (!r && !rot->ended && *open) {
		sk_err("two unfinished rotations of APQNs on record: %s and %s; move the stale one "
		       "away",
		       (*open)->path, rot->path);
		r = -EEXIST;
	}
	if (!r && !rot->ended) {
		*open = rot;
		rot = NULL;
	} else if (!r && (!*last_ended || strcmp(rot->begun, (*last_ended)->begun) > 0)) {
		free(*last_ended);
		*last_ended = rot;
		rot = NULL;
	}
	free(rot);
	return r;
}

int rotation_find(const struct sk_apqn_list *apqns, struct rotation **open,
		  struct rotation **last_ended)
{
	char key[SK_APQN_MAX * (SK_APQN_TEXT_LEN + 1) + 1], *dir = rotate_dir();
	/* what a journal says is acted on: only from a directory no one else may change */
	int r = dir ? sk_path_check_state_subdir(dir) : -ENOMEM;
	DIR *d = r ? NULL : opendir(dir);
	struct dirent *e;

	*open = *last_ended = NULL;
	if (!d) {
		if (!r && errno != ENOENT) {
			r = -errno;
			sk_err("cannot read %s: %s", dir, strerror(-r));
		}
		free(dir);
		return r;
	}
	apqns_key(apqns, key, sizeof(key));
	while (!r && (e = readdir(d)))
		if (is_journal_of(e->d_name, key))
			r = consider(dir, e->d_name, open, last_ended);
	closedir(d);
	free(dir);
	if (r) {
		free(*open);
		free(*last_ended);
		*open = *last_ended = NULL;
	}
	return r;
}

int rotation_begin(struct rotation *rot, struct sk_journal **journal)
{
	char key[SK_APQN_MAX * (SK_APQN_TEXT_LEN + 1) + 1], apqns[sizeof(key)];
	char from[SK_MKVP_HEX_LEN + 1], to[SK_MKVP_HEX_LEN + 1], *dir = rotate_dir();
	int r = dir ? sk_path_make_state_subdir(dir) : -ENOMEM;

	apqns_key(&rot->apqns, key, sizeof(key));
	sk_apqn_list_format(&rot->apqns, apqns, sizeof(apqns));
	sk_mkvp_to_hex(rot->from, from);
	sk_mkvp_to_hex(rot->to, to);
	if (!r && snprintf(rot->path, sizeof(rot->path), "%s/%s-%s%s", dir, to, key, SUFFIX) >=
			  (int)sizeof(rot->path))
		r = -ENAMETOOLONG;
	snprintf(rot->begun, sizeof(rot->begun), "%s", rotation_now());
	/* What may be there is a header cut short (see load) or a journal of long ago. */
	if (!r && unlink(rot->path) < 0 && errno != ENOENT)
		r = -errno;
	if (!r)
		r = sk_journal_open(rot->path, journal);
	if (!r)
		r = sk_journal_append(*journal, "%s\napqns\t%s\nfrom\t%s\nto\t%s\nbegin\t%s", MAGIC,
				      apqns, from, to, rot->begun);
	free(dir);
	return r;
}

int rotation_continue(const struct rotation *rot, struct sk_journal **journal)
{
	int r = sk_journal_open(rot->path, journal);

	if (!r)
		r = sk_journal_append(*journal, "resume\t%s", rotation_now());
	return r;
}
