/*
 * An append-only journal of text lines, each on disk (fdatasync) before
 * append returns, so a process killed at any moment leaves every line it
 * reported done. A line cut short by a crash is dropped when the journal is
 * read or opened again.
 */
#ifndef SECUREKEY_JOURNAL_H
#define SECUREKEY_JOURNAL_H

#include <stddef.h>

struct sk_journal;

/*
 * Open @path for appending, creating it (0600, directory fsync'd) if
 * missing; a symbolic link there is refused.
 */
int sk_journal_open(const char *path, struct sk_journal **journal);
/* Append one line (no newline in it); on disk when this returns 0. */
int sk_journal_append(struct sk_journal *journal, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void sk_journal_close(struct sk_journal *journal);

/* The complete lines of @path, without newlines; free with sk_journal_free_lines. */
int sk_journal_read(const char *path, char ***lines, size_t *count);
void sk_journal_free_lines(char **lines, size_t count);

#endif
