#include "config.h"

#include "conf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "secfile.h"

#define STDIO_BUFFER 4096

static const char *skip_blanks(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

const char *sk_config_pin_value(const char *line)
{
	const char *p = skip_blanks(line);

	if (strncmp(p, "pin", 3))
		return NULL;
	p = skip_blanks(p + 3);
	return *p == '=' ? skip_blanks(p + 1) : NULL;
}

ssize_t sk_config_next_line(FILE *f, struct sk_secret *buf)
{
	char *text = (char *)buf->data;
	size_t n = 0;
	int c;

	while ((c = getc(f)) != EOF) {
		if (n < buf->len - 1)
			text[n] = (char)c;
		n++;
		if (c == '\n')
			break;
	}
	text[n < buf->len - 1 ? n : buf->len - 1] = '\0';
	return n || c != EOF ? (ssize_t)n : -1;
}

FILE *sk_config_open_locked(const char *path, struct sk_secret **buffer)
{
	FILE *f;

	*buffer = sk_secret_new(STDIO_BUFFER);
	if (!*buffer)
		return NULL;
	f = fopen(path, "re");
	if (f && setvbuf(f, (char *)(*buffer)->data, _IOFBF, STDIO_BUFFER)) {
		fclose(f);
		f = NULL;
		errno = ENOMEM;
	}
	if (!f) {
		int saved = errno;

		sk_secret_free(*buffer);
		*buffer = NULL;
		errno = saved;
	}
	return f;
}

/* The value without its line end and trailing blanks, as a secret. */
static int copy_pin(const char *value, size_t max, const char *path, struct sk_secret **pin)
{
	size_t len = strcspn(value, "\r\n");

	while (len && (value[len - 1] == ' ' || value[len - 1] == '\t'))
		len--;
	if (!len || len > max) {
		sk_err("%s: [hsm] pin is empty or longer than %zu bytes; fix the line", path, max);
		return -EINVAL;
	}
	*pin = sk_secret_dup(value, len);
	return *pin ? 0 : -ENOMEM;
}

static int find_pin(FILE *f, const char *path, size_t max, struct sk_secret *line,
		    struct sk_secret **pin)
{
	const char *text = (const char *)line->data;
	bool in_hsm = false;
	ssize_t n;

	while ((n = sk_config_next_line(f, line)) >= 0) {
		const char *p = skip_blanks(text), *value = sk_config_pin_value(text);

		/* a line too long for the buffer was refused when the file was loaded */
		if ((size_t)n >= line->len - 1)
			continue;
		if (*p == '[')
			in_hsm = !strncmp(p, "[hsm]", 5);
		else if (in_hsm && value)
			return copy_pin(value, max, path, pin);
	}
	sk_err("%s has no pin in its [hsm] section any more; add it again or use pin_file", path);
	return -ENOENT;
}

int sk_config_read_pin(const char *path, size_t max, struct sk_secret **pin)
{
	struct sk_secret *buffer = NULL, *line = sk_secret_new(SK_CONFIG_LINE_BYTES);
	FILE *f = line ? sk_config_open_locked(path, &buffer) : NULL;
	int r;

	if (!f) {
		r = line ? -errno : -ENOMEM;
		if (line)
			sk_err("cannot read the PKCS#11 PIN from configuration %s: %s; check the "
			       "file, or set SECUREKEY_CONF to the one in use",
			       path, strerror(errno));
		sk_secret_free(line);
		return r;
	}
	r = sk_secfile_check(fileno(f), path, "configuration holding the PKCS#11 PIN");
	if (!r)
		r = find_pin(f, path, max, line, pin);
	fclose(f);
	sk_secret_free(buffer);
	sk_secret_free(line);
	return r;
}
