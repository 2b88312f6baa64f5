/* Passphrases for the gate: from a key file or the terminal, into locked memory. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli.h"
#include "log.h"
#include "secfile.h"
#include "ttyprompt.h"

#define PASSPHRASE_MAX 512

static int read_key_file(const struct cli_key_file *source, bool checked,
			 struct sk_secret **pass)
{
	struct sk_secret *buf = sk_secret_new(CLI_KEYFILE_MAX);
	bool is_stdin = !strcmp(source->path, "-");
	size_t want = source->size ? source->size : CLI_KEYFILE_MAX, got = 0;
	int fd = is_stdin ? STDIN_FILENO : open(source->path, O_RDONLY | O_CLOEXEC);
	int r = buf && fd >= 0 ? 0 : -errno;
	bool refused = false;

	if (fd < 0)
		sk_err("cannot open key file %s: %s", source->path, strerror(errno));
	/* Only the files of a key file map are checked: --key-file never was. */
	if (!r && checked && !is_stdin)
		refused = (r = sk_private_file_check(fd, source->path, "key file")) < 0;
	if (!r && source->offset && lseek(fd, (off_t)source->offset, SEEK_SET) < 0)
		r = -errno;
	while (!r && got < want) {
		ssize_t n = read(fd, buf->data + got, want - got);

		if (n < 0 && errno != EINTR)
			r = -errno;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (r && fd >= 0 && !refused)
		sk_err("cannot read key file %s: %s", source->path, strerror(-r));
	if (!r && !got) {
		sk_err("key file %s is empty", source->path);
		r = -EINVAL;
	}
	if (!r)
		r = (*pass = sk_secret_dup(buf->data, got)) ? 0 : -ENOMEM;
	if (fd >= 0 && !is_stdin)
		close(fd);
	sk_secret_free(buf);
	return r;
}

/* One line from the terminal with echo off. */
static int prompt(const char *what, struct sk_secret **pass)
{
	char *text = NULL;
	int r;

	if (asprintf(&text, "Enter passphrase for %s", what) < 0)
		return -ENOMEM;
	r = sk_tty_read_secret(text, PASSPHRASE_MAX, pass);
	free(text);
	if (r == -ENOTTY)
		sk_err("no terminal to ask for the passphrase of %s; use --key-file", what);
	return r;
}

int cli_read_passphrase(const struct cli_key_file *source, const char *what,
			struct sk_secret **pass)
{
	return source->path ? read_key_file(source, false, pass) : prompt(what, pass);
}

int cli_read_private_key_file(const char *path, struct sk_secret **pass)
{
	const struct cli_key_file source = { .path = path };

	return read_key_file(&source, true, pass);
}
