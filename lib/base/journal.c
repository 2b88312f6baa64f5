#include "config.h"

#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "secfile.h"

#define LINE_MAX_LEN 4096
#define JOURNAL_MAX (64 * 1024 * 1024)

struct sk_journal {
	int fd;
	char *path;
};

/* Opens without following a link: a journal is never one (see sk_journal_open). */
static FILE *open_read(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;

	if (fd >= 0 && !f)
		close(fd);
	return f;
}

static int read_all(const char *path, char **text, size_t *len)
{
	FILE *f = open_read(path);
	int r = 0;

	*text = NULL;
	*len = 0;
	if (!f)
		return -errno;
	if (fseek(f, 0, SEEK_END) < 0 || ftell(f) < 0 || ftell(f) > JOURNAL_MAX)
		r = -EFBIG;
	else if ((*len = (size_t)ftell(f)), fseek(f, 0, SEEK_SET) < 0)
		r = -errno;
	else if (!(*text = malloc(*len + 1)))
		r = -ENOMEM;
	else if (fread(*text, 1, *len, f) != *len)
		r = -EIO;
	fclose(f);
	if (r) {
		free(*text);
		*text = NULL;
	} else {
		(*text)[*len] = '\0';
	}
	return r;
}

/* The length of @text up to and including its last newline. */
static size_t complete_length(const char *text, size_t len)
{
	while (len && text[len - 1] != '\n')
		len--;
	return len;
}

/* Drop a line cut short by a crash, so the next append starts a line. */
static int drop_torn_line(int fd, const char *path)
{
	char *text;
	size_t len;
	int r = read_all(path, &text, &len);

	if (!r && complete_length(text, len) != len && ftruncate(fd, (off_t)complete_length(text, len)) < 0)
		r = -errno;
	free(text);
	return r;
}

/*
 * Create @path afresh (O_EXCL), else open the journal that is there; never
 * through a link, which would append to whatever it points to.
 */
static int open_append(const char *path, bool *existed)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);

	*existed = fd < 0 && errno == EEXIST;
	if (*existed)
		fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	return fd;
}

int sk_journal_open(const char *path, struct sk_journal **journal)
{
	struct sk_journal *j = calloc(1, sizeof(*j));
	bool existed;
	int r = 0;

	if (!j)
		return -ENOMEM;
	j->fd = open_append(path, &existed);
	j->path = strdup(path);
	if (j->fd < 0 || !j->path)
		r = j->fd < 0 ? -errno : -ENOMEM;
	if (!r && existed)
		r = drop_torn_line(j->fd, path);
	if (!r && !existed)
		r = sk_fsync_dir_of(path);
	if (r) {
		sk_err("cannot open the journal %s: %s", path, strerror(-r));
		sk_journal_close(j);
		return r;
	}
	*journal = j;
	return 0;
}

int sk_journal_append(struct sk_journal *j, const char *fmt, ...)
{
	char line[LINE_MAX_LEN];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 1)
		return -EINVAL;
	line[n++] = '\n';
	/* One write: O_APPEND keeps it whole, and a crash can only cut the last line. */
	if (write(j->fd, line, (size_t)n) != n || fdatasync(j->fd) < 0) {
		int r = errno ? -errno : -EIO;

		sk_err("cannot write the journal %s: %s", j->path, strerror(-r));
		return r;
	}
	return 0;
}

void sk_journal_close(struct sk_journal *j)
{
	if (!j)
		return;
	if (j->fd >= 0)
		close(j->fd);
	free(j->path);
	free(j);
}

int sk_journal_read(const char *path, char ***lines, size_t *count)
{
	char *text, *save = NULL;
	size_t len;
	int r = read_all(path, &text, &len);

	*lines = NULL;
	*count = 0;
	if (r)
		return r;
	text[complete_length(text, len)] = '\0';
	for (char *line = strtok_r(text, "\n", &save); line && !r; line = strtok_r(NULL, "\n", &save)) {
		char **more = realloc(*lines, (*count + 1) * sizeof(**lines));

		if (!more || !(more[*count] = strdup(line)))
			r = -ENOMEM;
		if (more)
			*lines = more;
		if (!r)
			(*count)++;
	}
	free(text);
	if (r)
		sk_journal_free_lines(*lines, *count);
	return r;
}

void sk_journal_free_lines(char **lines, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(lines[i]);
	free(lines);
}
