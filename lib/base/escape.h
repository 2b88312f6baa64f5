/*
 * Text that is not ours (a LUKS2 header is input whoever holds the disk can
 * replace) made safe for a log line or a terminal: C-style escapes for what
 * a terminal, the journal or the kernel log would act on, so a message stays
 * one line and carries no escape sequence.
 *
 * Escaped: newline, carriage return and tab as \n \r \t; the other C0
 * control bytes (below 0x20) and DEL (0x7f) as \xNN; the C1 controls
 * U+0080..U+009F (a terminal takes U+009B for CSI) as the \xNN of their two
 * UTF-8 bytes; every byte that is not part of valid UTF-8 (overlong forms,
 * surrogates and code points beyond U+10FFFF included) as \xNN. Everything
 * else passes as it is: printable UTF-8, so device paths and names stay
 * readable, and the backslash, so escaping twice changes nothing (a message
 * that passed sk_log may be escaped again by a sink). A literal "\n" in the
 * input is therefore shown as it is: the escapes are for reading, not for
 * decoding.
 */
#ifndef SECUREKEY_ESCAPE_H
#define SECUREKEY_ESCAPE_H

#include <stddef.h>

/* Bytes that always hold the escaped form of @n bytes, with the NUL. */
#define SK_ESCAPE_SIZE(n) (4 * (n) + 1)

/* Newlines pass as they are: text of several lines (libcryptsetup's). */
#define SK_ESCAPE_KEEP_NEWLINE 1u

/*
 * The escaped form of @src into @dst (@size > 0), NUL-terminated. When it
 * does not fit, it ends before the first escape or UTF-8 character that
 * does not fit whole. Returns the length written.
 */
size_t sk_escape(char *dst, size_t size, const char *src, unsigned flags);

/*
 * JSON text as json-c writes it (UTF-8; it escapes the C0 controls itself)
 * with DEL and the C1 controls written \u00XX as well, which is the same
 * JSON; malloc'd, NULL on allocation failure.
 */
char *sk_escape_json(const char *json);

#endif
