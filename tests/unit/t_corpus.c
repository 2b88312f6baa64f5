/*
 * Seed corpora of the token, blob and config fuzz targets, replayed through
 * the targets' own bodies (tests/fuzz/fuzz_*_body.c), so that the regular
 * build and the sanitizer build run every corpus file exactly as libFuzzer
 * does. Each corpus must hold inputs the parser accepts as well as inputs
 * it refuses, or the replay would exercise one side only.
 */
#include "config.h"

#include <dirent.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <atf-c.h>

#include "blob.h"
#include "conf.h"
#include "fuzz_blob_body.h"
#include "fuzz_config_body.h"
#include "fuzz_token_body.h"
#include "token.h"

#include "helpers.h"

SK_TEST_LSAN_SUPPRESSIONS

#ifndef SK_TEST_SRCDIR
#error "SK_TEST_SRCDIR must name the source tree (see tests/Makefile.am)"
#endif
#define CORPUS_DIR SK_TEST_SRCDIR "/tests/fuzz/corpus/"

/* A minimum that make_corpus.py stays well above. */
#define MIN_FILES 20

/* Whether the parser takes one corpus file; a fuzz target's body. */
typedef bool (*accepts_fn)(const unsigned char *data, size_t len);
typedef const char *(*body_fn)(const uint8_t *data, size_t size);

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The regular files' names in @dir, sorted, NULL-terminated. */
static char **list_files(const char *dir, size_t *count)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0;

	ATF_REQUIRE_MSG(d != NULL, "cannot open %s", dir);
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		names = realloc(names, (n + 2) * sizeof(*names));
		ATF_REQUIRE(names != NULL);
		names[n] = strdup(e->d_name);
		ATF_REQUIRE(names[n] != NULL);
		n++;
	}
	closedir(d);
	if (names) {
		qsort(names, n, sizeof(*names), by_name);
		names[n] = NULL;
	}
	*count = n;
	return names;
}

/*
 * Every file of corpus @name through @body; @accepts says whether the
 * parser takes it. Returns how many it took.
 */
static size_t replay(const char *name, body_fn body, accepts_fn accepts)
{
	char dir[PATH_MAX], path[PATH_MAX * 2];
	size_t count, accepted = 0;
	char **names;

	snprintf(dir, sizeof(dir), "%s%s", CORPUS_DIR, name);
	names = list_files(dir, &count);
	ATF_REQUIRE_MSG(count >= MIN_FILES, "only %zu files in %s", count, dir);
	for (size_t i = 0; i < count; i++) {
		unsigned char *data;
		const char *bad;
		size_t len;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		helper_read_file(path, &data, &len);
		capture_start(); /* the parsers log their refusals */
		bad = body(data, len);
		ATF_CHECK_MSG(bad == NULL, "%s/%s: %s", name, names[i], bad);
		if (accepts(data, len))
			accepted++;
		free(data);
		free(names[i]);
	}
	free(names);
	ATF_CHECK_MSG(accepted >= 5 && accepted < count, "%s: the parser accepts %zu of %zu files",
		      name, accepted, count);
	return accepted;
}

static bool token_accepts(const unsigned char *data, size_t len)
{
	struct sk_token token;
	char *text = malloc(len + 1);
	int r;

	ATF_REQUIRE(text != NULL);
	memcpy(text, data, len);
	text[len] = '\0';
	r = sk_token_parse(text, &token);
	free(text);
	if (r == 0)
		sk_token_free(&token);
	return r == 0;
}

static bool blob_accepts(const unsigned char *data, size_t len)
{
	struct sk_blob_header hdr;

	return sk_blob_parse(data, len, &hdr) == 0;
}

static size_t blobs_opened;

/* Also counts the blobs that unwrap under the fuzz master key. */
static bool blob_opens(const unsigned char *data, size_t len)
{
	struct sk_secret *key = NULL;

	if (!blob_accepts(data, len))
		return false;
	if (sk_blob_open(sk_fuzz_blob_mk, data, len, &key) == 0)
		blobs_opened++;
	sk_secret_free(key);
	return true;
}

static bool config_accepts(const unsigned char *data, size_t len)
{
	static struct sk_config cfg; /* a few PATH_MAX buffers */

	return sk_fuzz_config_load(data, len, &cfg) == 0;
}

ATF_TC_WITHOUT_HEAD(token_corpus_replay);
ATF_TC_BODY(token_corpus_replay, tc)
{
	replay("token", sk_fuzz_token, token_accepts);
}

ATF_TC_WITHOUT_HEAD(blob_corpus_replay);
ATF_TC_BODY(blob_corpus_replay, tc)
{
	replay("blob", sk_fuzz_blob, blob_opens);
	/* so that unwrap and re-seal are replayed too, not only the parser */
	ATF_CHECK_MSG(blobs_opened >= 3, "only %zu corpus blobs unwrap under the fuzz master key",
		      blobs_opened);
}

ATF_TC_WITHOUT_HEAD(config_corpus_replay);
ATF_TC_BODY(config_corpus_replay, tc)
{
	replay("config", sk_fuzz_config, config_accepts);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, token_corpus_replay);
	ATF_TP_ADD_TC(tp, blob_corpus_replay);
	ATF_TP_ADD_TC(tp, config_corpus_replay);
	return atf_no_error();
}
