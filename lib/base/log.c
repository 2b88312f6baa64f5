#include "config.h"

#include "log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "escape.h"
#include "secmem.h"

/*
 * Secrets are matched in aligned chunks, so any leaked run of 2 * CHUNK
 * bytes (one key out of a buffer of several) is caught. Secrets shorter
 * than GUARD_MIN (none exist today) could match ordinary text by chance.
 */
#define GUARD_CHUNK 16
#define GUARD_MIN 8
#define LOG_LINE_MAX 1024

static enum sk_log_level log_max = SK_LOG_INFO;
static sk_log_sink log_sink;
static void *log_sink_ctx;
static const char *log_subject;

void sk_log_set_level(enum sk_log_level max_level)
{
	log_max = max_level;
}

enum sk_log_level sk_log_get_level(void)
{
	return log_max;
}

void sk_log_set_sink(sk_log_sink sink, void *ctx)
{
	log_sink = sink;
	log_sink_ctx = ctx;
}

void sk_log_set_subject(const char *subject)
{
	log_subject = subject;
}

const char *sk_log_get_subject(void)
{
	return log_subject;
}

static void stderr_sink(enum sk_log_level level, const char *msg, void *ctx)
{
	(void)ctx;
	(void)level;
	fprintf(stderr, "%s\n", msg);
}

struct guard {
	const char *msg;
	size_t msg_len;
	bool leaked;
};

static bool contains_hex_of(const char *msg, const unsigned char *bytes, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	char hex[2 * GUARD_CHUNK + 1];
	bool found;

	for (size_t i = 0; i < len; i++) {
		hex[2 * i] = digits[bytes[i] >> 4];
		hex[2 * i + 1] = digits[bytes[i] & 0xf];
	}
	hex[2 * len] = '\0';
	found = strcasestr(msg, hex) != NULL;
	OPENSSL_cleanse(hex, sizeof(hex));
	return found;
}

static bool leaks_chunk(const struct guard *g, const unsigned char *bytes, size_t len)
{
	return memmem(g->msg, g->msg_len, bytes, len) || contains_hex_of(g->msg, bytes, len);
}

static void guard_visit(const struct sk_secret *s, void *ctx)
{
	struct guard *g = ctx;

	if (g->leaked || s->len < GUARD_MIN)
		return;
	if (s->len <= GUARD_CHUNK) {
		g->leaked = leaks_chunk(g, s->data, s->len);
		return;
	}
	for (size_t off = 0; off + GUARD_CHUNK <= s->len && !g->leaked; off += GUARD_CHUNK)
		g->leaked = leaks_chunk(g, s->data + off, GUARD_CHUNK);
}

/* The message, with the subject in front unless it names it already. */
__attribute__((format(printf, 4, 0))) static void format_line(char *line, size_t size, enum sk_log_level level, const char *fmt,
			va_list ap)
{
	int prefix = 0;

	if (level == SK_LOG_ERROR && log_subject)
		prefix = snprintf(line, size, "%s: ", log_subject);
	if (prefix < 0 || (size_t)prefix >= size)
		prefix = 0;
	vsnprintf(line + prefix, size - prefix, fmt, ap);
	if (prefix && strstr(line + prefix, log_subject))
		memmove(line, line + prefix, strlen(line + prefix) + 1);
}

/*
 * Messages name what the LUKS2 header says (KMS key ids and servers), and
 * the header is input whoever holds the disk can replace: every message is
 * escaped (escape.h) once the guard has looked at it as it was formatted, so
 * no sink receives a line break, a terminal escape sequence or bytes that
 * are not UTF-8 (journald takes "<0>" at the start of a line for an
 * emergency, /dev/kmsg a priority).
 */
void sk_log(enum sk_log_level level, const char *fmt, ...)
{
	char line[LOG_LINE_MAX], shown[SK_ESCAPE_SIZE(LOG_LINE_MAX)];
	struct guard g = { .msg = line };
	va_list ap;

	if (level > log_max)
		return;
	va_start(ap, fmt);
	format_line(line, sizeof(line), level, fmt, ap);
	va_end(ap);

	g.msg_len = strlen(line);
	sk_secret_foreach(guard_visit, &g);
	sk_escape(shown, sizeof(shown), g.leaked ? SK_LOG_WITHHELD : line, 0);
	(log_sink ? log_sink : stderr_sink)(level, shown, log_sink_ctx);
	OPENSSL_cleanse(line, sizeof(line));
	OPENSSL_cleanse(shown, sizeof(shown));
}
