/* Passphrases for the gate: from a key file or the terminal, into locked memory. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"
#include "log.h"

#define PASSPHRASE_MAX 512

static int read_key_file(const struct cli_key_file *source, struct sk_secret **pass)
{
	struct sk_secret *buf = sk_secret_new(CLI_KEYFILE_MAX);
	bool is_stdin = !strcmp(source->path, "-");
	size_t want = source->size ? source->size : CLI_KEYFILE_MAX, got = 0;
	int fd = is_stdin ? STDIN_FILENO : open(source->path, O_RDONLY | O_CLOEXEC);
	int r = buf && fd >= 0 ? 0 : -errno;

	if (fd < 0)
		sk_err("cannot open key file %s: %s", source->path, strerror(errno));
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
	if (r && fd >= 0)
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
	struct sk_secret *buf = sk_secret_new(PASSPHRASE_MAX + 2);
	struct termios saved, quiet;
	FILE *tty = fopen("/dev/tty", "r+e");
	size_t len;
	int r = 0;

	if (!tty || !buf) {
		sk_err("no terminal to ask for the passphrase of %s; use --key-file", what);
		sk_secret_free(buf);
		if (tty)
			fclose(tty);
		return -ENOTTY;
	}
	fprintf(tty, "Enter passphrase for %s: ", what);
	fflush(tty);
	tcgetattr(fileno(tty), &saved);
	quiet = saved;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
	if (!fgets((char *)buf->data, PASSPHRASE_MAX + 2, tty))
		r = -EINVAL;
	tcsetattr(fileno(tty), TCSAFLUSH, &saved);
	fputc('\n', tty);
	fclose(tty);
	len = r ? 0 : strcspn((char *)buf->data, "\n");
	if (!r && !len)
		r = -EINVAL;
	if (!r)
		r = (*pass = sk_secret_dup(buf->data, len)) ? 0 : -ENOMEM;
	sk_secret_free(buf);
	return r;
}

int cli_read_passphrase(const struct cli_key_file *source, const char *what,
			struct sk_secret **pass)
{
	return source->path ? read_key_file(source, pass) : prompt(what, pass);
}
