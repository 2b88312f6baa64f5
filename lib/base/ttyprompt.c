#include "config.h"

#include "ttyprompt.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>

int sk_tty_read_secret(const char *prompt, size_t max, struct sk_secret **out)
{
	FILE *tty = fopen("/dev/tty", "r+e");
	struct sk_secret *buf;
	struct termios saved, quiet;
	size_t len;
	int r = 0;

	if (!tty)
		return -ENOTTY;
	/* room for the newline and the NUL, so an overlong line is seen */
	buf = sk_secret_new(max + 2);
	if (!buf) {
		fclose(tty);
		return -ENOMEM;
	}
	/*
	 * Echo off before the prompt: TCSAFLUSH drops pending input, so an
	 * answer typed (or written by a program) right after the prompt
	 * would otherwise be lost.
	 */
	tcgetattr(fileno(tty), &saved);
	quiet = saved;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
	fprintf(tty, "%s: ", prompt);
	fflush(tty);
	if (!fgets((char *)buf->data, (int)max + 2, tty))
		r = -EINVAL;
	tcsetattr(fileno(tty), TCSAFLUSH, &saved);
	fputc('\n', tty);
	fclose(tty);
	len = r ? 0 : strcspn((char *)buf->data, "\n");
	if (!r && (!len || len > max))
		r = -EINVAL;
	if (!r)
		r = (*out = sk_secret_dup(buf->data, len)) ? 0 : -ENOMEM;
	sk_secret_free(buf);
	return r;
}
