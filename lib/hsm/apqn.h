/* APQN "AA.DDDD": adapter and domain of one HSM queue, in hex. */
#ifndef SECUREKEY_APQN_H
#define SECUREKEY_APQN_H

#include <stdbool.h>
#include <stddef.h>

#define SK_APQN_TEXT_LEN 7
#define SK_APQN_MAX 16

struct sk_apqn {
	unsigned adapter; /* 0x00..0xff */
	unsigned domain;  /* 0x0000..0xffff */
};

struct sk_apqn_list {
	size_t count;
	struct sk_apqn items[SK_APQN_MAX];
};

/* Exactly two hex digits, a dot, four hex digits; -EINVAL otherwise. */
int sk_apqn_parse(const char *text, struct sk_apqn *apqn);
void sk_apqn_format(const struct sk_apqn *apqn, char text[SK_APQN_TEXT_LEN + 1]);
bool sk_apqn_equal(const struct sk_apqn *a, const struct sk_apqn *b);

/*
 * Comma-separated APQNs; logs which entry is wrong (malformed, duplicate,
 * more than SK_APQN_MAX) and returns -EINVAL.
 */
int sk_apqn_list_parse(const char *csv, struct sk_apqn_list *list);
/* "01.0001,02.0001" into @buf of @size bytes (truncated if too small). */
void sk_apqn_list_format(const struct sk_apqn_list *list, char *buf, size_t size);
/* The same APQNs in the same order. */
bool sk_apqn_list_equal(const struct sk_apqn_list *a, const struct sk_apqn_list *b);
/* Sort by adapter, then domain. */
void sk_apqn_list_sort(struct sk_apqn_list *list);
/* True when @apqn is in @list. */
bool sk_apqn_list_has(const struct sk_apqn_list *list, const struct sk_apqn *apqn);
/* True when the two lists share an APQN. */
bool sk_apqn_list_overlap(const struct sk_apqn_list *a, const struct sk_apqn_list *b);

#endif
