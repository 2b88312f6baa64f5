/* Strict base64 (RFC 4648, padded, no whitespace) over OpenSSL's codec. */
#ifndef SECUREKEY_BASE64_H
#define SECUREKEY_BASE64_H

#include <stddef.h>

/* malloc'd NUL-terminated text, or NULL on allocation failure. */
char *sk_base64_encode(const unsigned char *data, size_t len);
/* 0 and a malloc'd buffer, or -EINVAL for anything but canonical base64. */
int sk_base64_decode(const char *text, unsigned char **out, size_t *out_len);

#endif
