/*
 * lib/base/secfile.c and lib/base/journal.c against files planted where
 * they write: a link at a temporary or journal name must never be followed,
 * and what it points to must keep every byte.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atf-c.h>

#include "journal.h"
#include "secfile.h"

#include "helpers.h"

SK_TEST_LSAN_SUPPRESSIONS

#define PRECIOUS "precious\nlast line without newline"

static void write_victim(const char *path)
{
	FILE *f = fopen(path, "w");

	ATF_REQUIRE(f);
	ATF_REQUIRE(fputs(PRECIOUS, f) >= 0);
	ATF_REQUIRE(fclose(f) == 0);
}

static void check_content(const char *path, const char *want)
{
	unsigned char *data;
	size_t len;

	helper_read_file(path, &data, &len);
	ATF_CHECK_MSG(len == strlen(want) && !memcmp(data, want, len), "%s was changed", path);
	free(data);
}

/* The name the temporary file of @path had before: "<path>.tmp.<pid>". */
static void old_temp_name(char *buf, size_t size, const char *path)
{
	snprintf(buf, size, "%s.tmp.%ld", path, (long)getpid());
}

ATF_TC_WITHOUT_HEAD(replace_ignores_planted_hardlink);
ATF_TC_BODY(replace_ignores_planted_hardlink, tc)
{
	char planted[64];
	struct stat before, after;

	write_victim("victim");
	ATF_REQUIRE(chmod("victim", 0644) == 0 && stat("victim", &before) == 0);
	old_temp_name(planted, sizeof(planted), "state");
	ATF_REQUIRE(link("victim", planted) == 0);
	ATF_CHECK_EQ(sk_file_replace("state", "new", 3), 0);
	check_content("victim", PRECIOUS);
	check_content("state", "new");
	ATF_REQUIRE(stat("victim", &after) == 0);
	ATF_CHECK_EQ(after.st_mode, before.st_mode);
	ATF_CHECK_EQ(after.st_nlink, 2);
}

ATF_TC_WITHOUT_HEAD(replace_ignores_planted_symlink);
ATF_TC_BODY(replace_ignores_planted_symlink, tc)
{
	char planted[64];
	struct stat st;

	write_victim("victim");
	old_temp_name(planted, sizeof(planted), "conf");
	ATF_REQUIRE(symlink("victim", planted) == 0);
	ATF_CHECK_EQ(sk_file_replace_mode("conf", "x = 1\n", 6, 0644), 0);
	check_content("victim", PRECIOUS);
	check_content("conf", "x = 1\n");
	ATF_REQUIRE(lstat(planted, &st) == 0);
	ATF_CHECK_MSG(S_ISLNK(st.st_mode), "the planted link was replaced");
	ATF_REQUIRE(stat("conf", &st) == 0);
	ATF_CHECK_EQ(st.st_mode & 07777, 0644);
}

/* A replace leaves no temporary file behind, also when the rename fails. */
ATF_TC_WITHOUT_HEAD(replace_leaves_no_temp);
ATF_TC_BODY(replace_leaves_no_temp, tc)
{
	struct stat st;

	helper_mkdir("d");
	ATF_CHECK_EQ(sk_file_replace("d/f", "a", 1), 0);
	ATF_CHECK_EQ(sk_file_replace("d/f", "bb", 2), 0);
	check_content("d/f", "bb");
	ATF_REQUIRE(mkdir("d/isdir", 0700) == 0);
	ATF_CHECK(sk_file_replace("d/isdir", "c", 1) < 0);
	ATF_CHECK_EQ(rmdir("d/isdir"), 0);
	ATF_CHECK_EQ(unlink("d/f"), 0);
	ATF_CHECK_MSG(rmdir("d") == 0, "files left in d: %s", strerror(errno));
	ATF_CHECK(stat("d", &st) < 0);
}

ATF_TC_WITHOUT_HEAD(journal_refuses_symlink);
ATF_TC_BODY(journal_refuses_symlink, tc)
{
	struct sk_journal *j = NULL;

	write_victim("victim");
	ATF_REQUIRE(symlink("victim", "r.journal") == 0);
	ATF_CHECK(sk_journal_open("r.journal", &j) < 0);
	sk_journal_close(j);
	check_content("victim", PRECIOUS);
	/* a dangling link: O_CREAT alone would create its target */
	j = NULL;
	ATF_REQUIRE(symlink("created", "new.journal") == 0);
	ATF_CHECK(sk_journal_open("new.journal", &j) < 0);
	sk_journal_close(j);
	ATF_CHECK_MSG(access("created", F_OK) < 0, "the journal was created through a link");
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, replace_ignores_planted_hardlink);
	ATF_TP_ADD_TC(tp, replace_ignores_planted_symlink);
	ATF_TP_ADD_TC(tp, replace_leaves_no_temp);
	ATF_TP_ADD_TC(tp, journal_refuses_symlink);
	return atf_no_error();
}
