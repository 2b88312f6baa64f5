#include "config.h"

#include "apqn.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static bool all_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

int sk_apqn_parse(const char *text, struct sk_apqn *apqn)
{
	if (!text || strlen(text) != SK_APQN_TEXT_LEN || text[2] != '.' || !all_hex(text, 2) ||
	    !all_hex(text + 3, 4))
		return -EINVAL;
	apqn->adapter = (unsigned)strtoul(text, NULL, 16);
	apqn->domain = (unsigned)strtoul(text + 3, NULL, 16);
	return 0;
}

void sk_apqn_format(const struct sk_apqn *apqn, char text[SK_APQN_TEXT_LEN + 1])
{
	snprintf(text, SK_APQN_TEXT_LEN + 1, "%02x.%04x", apqn->adapter & 0xff,
		 apqn->domain & 0xffff);
}

bool sk_apqn_equal(const struct sk_apqn *a, const struct sk_apqn *b)
{
	return a->adapter == b->adapter && a->domain == b->domain;
}

bool sk_apqn_list_has(const struct sk_apqn_list *list, const struct sk_apqn *apqn)
{
	for (size_t i = 0; i < list->count; i++)
		if (sk_apqn_equal(&list->items[i], apqn))
			return true;
	return false;
}

bool sk_apqn_list_overlap(const struct sk_apqn_list *a, const struct sk_apqn_list *b)
{
	for (size_t i = 0; i < a->count; i++)
		if (sk_apqn_list_has(b, &a->items[i]))
			return true;
	return false;
}

bool sk_apqn_list_equal(const struct sk_apqn_list *a, const struct sk_apqn_list *b)
{
	if (a->count != b->count)
		return false;
	for (size_t i = 0; i < a->count; i++)
		if (!sk_apqn_equal(&a->items[i], &b->items[i]))
			return false;
	return true;
}

static int list_add(struct sk_apqn_list *list, const char *item)
{
	struct sk_apqn apqn;

	if (sk_apqn_parse(item, &apqn) < 0) {
		sk_err("'%s' is not an APQN: write adapter.domain in hex, e.g. 01.0001", item);
		return -EINVAL;
	}
	if (sk_apqn_list_has(list, &apqn)) {
		sk_err("APQN %s is listed twice", item);
		return -EINVAL;
	}
	if (list->count == SK_APQN_MAX) {
		sk_err("too many APQNs: at most %d are supported", SK_APQN_MAX);
		return -EINVAL;
	}
	list->items[list->count++] = apqn;
	return 0;
}

int sk_apqn_list_parse(const char *csv, struct sk_apqn_list *list)
{
	char *copy, *item, *save = NULL;
	int r = 0;

	list->count = 0;
	if (!csv || !*csv) {
		sk_err("no APQN given: use --apqns AA.DDDD[,AA.DDDD...]");
		return -EINVAL;
	}
	copy = strdup(csv);
	if (!copy)
		return -ENOMEM;
	if (csv[0] == ',' || csv[strlen(csv) - 1] == ',' || strstr(csv, ",,")) {
		sk_err("'%s' has an empty APQN entry", csv);
		r = -EINVAL;
	}
	for (item = strtok_r(copy, ",", &save); item && !r; item = strtok_r(NULL, ",", &save))
		r = list_add(list, item);
	free(copy);
	return r;
}

void sk_apqn_list_format(const struct sk_apqn_list *list, char *buf, size_t size)
{
	size_t used = 0;

	if (size)
		buf[0] = '\0';
	for (size_t i = 0; i < list->count && used < size; i++) {
		char text[SK_APQN_TEXT_LEN + 1];
		int n;

		sk_apqn_format(&list->items[i], text);
		n = snprintf(buf + used, size - used, "%s%s", i ? "," : "", text);
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

static int compare_apqn(const void *a, const void *b)
{
	const struct sk_apqn *x = a, *y = b;

	if (x->adapter != y->adapter)
		return x->adapter < y->adapter ? -1 : 1;
	return x->domain < y->domain ? -1 : x->domain > y->domain;
}

void sk_apqn_list_sort(struct sk_apqn_list *list)
{
	qsort(list->items, list->count, sizeof(list->items[0]), compare_apqn);
}
