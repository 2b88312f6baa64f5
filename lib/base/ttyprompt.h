/* Secrets typed at the controlling terminal, echo off, into locked memory. */
#ifndef SECUREKEY_TTYPROMPT_H
#define SECUREKEY_TTYPROMPT_H

#include <stddef.h>

#include "secmem.h"

/*
 * Print "@prompt: " on /dev/tty and read one line of at most @max bytes.
 * -ENOTTY (nothing logged) when there is no terminal; -EINVAL for an empty
 * or overlong line.
 */
int sk_tty_read_secret(const char *prompt, size_t max, struct sk_secret **out);

#endif
