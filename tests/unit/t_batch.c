/*
 * Worker-process batches (lib/base/batch.c) and the append-only journal
 * (lib/base/journal.c): every item reported once, outcomes and details
 * carried over the pipe, a crashing worker costs only its item, the first
 * logged error becomes the detail; journal lines survive, a torn one is
 * dropped.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <atf-c.h>

#include "batch.h"
#include "journal.h"
#include "log.h"

#include "helpers.h"

SK_TEST_LSAN_SUPPRESSIONS

#define COUNT 40

static void work(struct sk_batch_item *item, void *ctx)
{
	int n = atoi(item->path);

	(void)ctx;
	snprintf(item->uuid, sizeof(item->uuid), "uuid-%d", n);
	if (n % 10 == 3) {
		sk_err("item %d: no such thing", n);
		return; /* failed, detail from the log */
	}
	if (n % 10 == 7) {
		item->outcome = SK_BATCH_SKIPPED;
		snprintf(item->detail, sizeof(item->detail), "skipped %d", n);
		return;
	}
	if (n == 25)
		raise(SIGKILL);
	item->outcome = n % 10 == 9 ? SK_BATCH_IGNORED : SK_BATCH_OK;
	snprintf(item->detail, sizeof(item->detail), "done %d by %ld", n, (long)getpid());
}

struct seen {
	size_t calls, last_done;
	int counted[COUNT];
};

static void done(const struct sk_batch_item *item, size_t count, void *ctx)
{
	struct seen *seen = ctx;

	seen->calls++;
	seen->last_done = count;
	seen->counted[atoi(item->path)]++;
}

ATF_TC_WITHOUT_HEAD(every_item_once);
ATF_TC_BODY(every_item_once, tc)
{
	static char names[COUNT][8];
	struct sk_batch_item items[COUNT];
	struct seen seen = { 0 };

	for (int i = 0; i < COUNT; i++) {
		snprintf(names[i], sizeof(names[i]), "%d", i);
		items[i] = (struct sk_batch_item){ .path = names[i] };
	}
	ATF_REQUIRE_EQ(sk_batch_run(items, COUNT, 4, work, NULL, done, &seen), 0);
	ATF_REQUIRE_EQ(seen.calls, COUNT);
	ATF_REQUIRE_EQ(seen.last_done, COUNT);
	for (int i = 0; i < COUNT; i++) {
		char want[32];

		ATF_REQUIRE_EQ_MSG(seen.counted[i], 1, "item %d reported %d times", i, seen.counted[i]);
		if (i == 25) {
			ATF_REQUIRE_EQ(items[i].outcome, SK_BATCH_FAILED);
			ATF_REQUIRE(strstr(items[i].detail, "worker process died (Killed)"));
			continue;
		}
		snprintf(want, sizeof(want), "uuid-%d", i);
		ATF_REQUIRE_STREQ(items[i].uuid, want);
		if (i % 10 == 3) {
			ATF_REQUIRE_EQ(items[i].outcome, SK_BATCH_FAILED);
			snprintf(want, sizeof(want), "item %d: no such thing", i);
			ATF_REQUIRE_STREQ(items[i].detail, want);
		} else if (i % 10 == 7) {
			ATF_REQUIRE_EQ(items[i].outcome, SK_BATCH_SKIPPED);
		} else {
			ATF_REQUIRE_EQ(items[i].outcome, i % 10 == 9 ? SK_BATCH_IGNORED : SK_BATCH_OK);
			ATF_REQUIRE(!strncmp(items[i].detail, "done ", 5));
		}
	}
}

ATF_TC_WITHOUT_HEAD(more_jobs_than_items);
ATF_TC_BODY(more_jobs_than_items, tc)
{
	struct sk_batch_item items[2] = { { .path = "1" }, { .path = "2" } };
	struct seen seen = { 0 };

	ATF_REQUIRE_EQ(sk_batch_run(items, 2, 64, work, NULL, done, &seen), 0);
	ATF_REQUIRE_EQ(seen.calls, 2);
	ATF_REQUIRE_EQ(items[0].outcome, SK_BATCH_OK);
	ATF_REQUIRE_EQ(sk_batch_run(items, 0, 2, work, NULL, done, &seen), 0);
	ATF_REQUIRE_EQ(seen.calls, 2);
}

ATF_TC_WITHOUT_HEAD(journal_lines);
ATF_TC_BODY(journal_lines, tc)
{
	struct sk_journal *j = NULL;
	char **lines = NULL;
	size_t count = 0;
	int fd;

	ATF_REQUIRE_EQ(sk_journal_open("j", &j), 0);
	ATF_REQUIRE_EQ(sk_journal_append(j, "first\t%d", 1), 0);
	ATF_REQUIRE_EQ(sk_journal_append(j, "second"), 0);
	sk_journal_close(j);
	/* A crash in the middle of a write leaves a line without its newline. */
	fd = open("j", O_WRONLY | O_APPEND);
	ATF_REQUIRE(fd >= 0);
	ATF_REQUIRE_EQ(write(fd, "thi", 3), 3);
	close(fd);
	ATF_REQUIRE_EQ(sk_journal_read("j", &lines, &count), 0);
	ATF_REQUIRE_EQ(count, 2);
	ATF_REQUIRE_STREQ(lines[0], "first\t1");
	ATF_REQUIRE_STREQ(lines[1], "second");
	sk_journal_free_lines(lines, count);
	/* Opened again, the torn line goes and the next one starts clean. */
	ATF_REQUIRE_EQ(sk_journal_open("j", &j), 0);
	ATF_REQUIRE_EQ(sk_journal_append(j, "third"), 0);
	sk_journal_close(j);
	ATF_REQUIRE_EQ(sk_journal_read("j", &lines, &count), 0);
	ATF_REQUIRE_EQ(count, 3);
	ATF_REQUIRE_STREQ(lines[2], "third");
	sk_journal_free_lines(lines, count);
}

ATF_TC_WITHOUT_HEAD(journal_refuses_newline_overflow);
ATF_TC_BODY(journal_refuses_newline_overflow, tc)
{
	static char big[5000];
	struct sk_journal *j = NULL;

	memset(big, 'x', sizeof(big) - 1);
	ATF_REQUIRE_EQ(sk_journal_open("j", &j), 0);
	ATF_REQUIRE(sk_journal_append(j, "%s", big) < 0);
	sk_journal_close(j);
	ATF_REQUIRE_EQ(sk_journal_read("missing", &(char **){ NULL }, &(size_t){ 0 }), -ENOENT);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, every_item_once);
	ATF_TP_ADD_TC(tp, more_jobs_than_items);
	ATF_TP_ADD_TC(tp, journal_lines);
	ATF_TP_ADD_TC(tp, journal_refuses_newline_overflow);
	return atf_no_error();
}
