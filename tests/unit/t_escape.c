/* lib/base/escape.c: what reaches a log line or a terminal from a LUKS2 header. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <atf-c.h>

#include "escape.h"
#include "log.h"

#include "helpers.h"

SK_TEST_LSAN_SUPPRESSIONS

static const char *esc(const char *src, unsigned flags)
{
	static char out[SK_ESCAPE_SIZE(256)];

	sk_escape(out, sizeof(out), src, flags);
	return out;
}

ATF_TC_WITHOUT_HEAD(controls);
ATF_TC_BODY(controls, tc)
{
	ATF_CHECK_STREQ(esc("key\n<0>EMERGENCY", 0), "key\\n<0>EMERGENCY");
	ATF_CHECK_STREQ(esc("a\rb\tc\bd\x07" "e\x1b[2J\x7f", 0),
			"a\\rb\\tc\\x08d\\x07e\\x1b[2J\\x7f");
	ATF_CHECK_STREQ(esc("\x1b]0;title\x07", 0), "\\x1b]0;title\\x07");
	ATF_CHECK_STREQ(esc("two\nlines\n", SK_ESCAPE_KEEP_NEWLINE), "two\nlines\n");
	ATF_CHECK_STREQ(esc("cr\r\n", SK_ESCAPE_KEEP_NEWLINE), "cr\\r\n");
}

ATF_TC_WITHOUT_HEAD(utf8);
ATF_TC_BODY(utf8, tc)
{
	/* printable UTF-8 and backslashes pass */
	ATF_CHECK_STREQ(esc("/dev/disk/by-label/d\xc3\xa9j\xc3\xa0 \xe2\x82\xac \xf0\x9f\x94\x91", 0),
			"/dev/disk/by-label/d\xc3\xa9j\xc3\xa0 \xe2\x82\xac \xf0\x9f\x94\x91");
	ATF_CHECK_STREQ(esc("a\\nb\\x1b", 0), "a\\nb\\x1b");
	/* C1 controls: U+0085 (NEL), U+009B (CSI), U+009F; U+00A0 is printable */
	ATF_CHECK_STREQ(esc("\xc2\x85\xc2\x9b" "2J\xc2\x9f\xc2\xa0", 0),
			"\\xc2\\x85\\xc2\\x9b2J\\xc2\\x9f\xc2\xa0");
	/* not UTF-8: a lone C1 byte, a cut sequence, overlong forms, surrogates, beyond U+10FFFF */
	ATF_CHECK_STREQ(esc("\x9b" "2J", 0), "\\x9b2J");
	ATF_CHECK_STREQ(esc("\xc3", 0), "\\xc3");
	ATF_CHECK_STREQ(esc("\xe2\x82", 0), "\\xe2\\x82");
	ATF_CHECK_STREQ(esc("\xc0\x8a\xc1\xbf", 0), "\\xc0\\x8a\\xc1\\xbf");
	ATF_CHECK_STREQ(esc("\xe0\x80\x8a", 0), "\\xe0\\x80\\x8a");
	ATF_CHECK_STREQ(esc("\xf0\x80\x80\x8a", 0), "\\xf0\\x80\\x80\\x8a");
	ATF_CHECK_STREQ(esc("\xed\xa0\x80", 0), "\\xed\\xa0\\x80");
	ATF_CHECK_STREQ(esc("\xf4\x90\x80\x80\xf5\xff", 0), "\\xf4\\x90\\x80\\x80\\xf5\\xff");
	ATF_CHECK_STREQ(esc("\xed\x9f\xbf\xf4\x8f\xbf\xbf", 0), "\xed\x9f\xbf\xf4\x8f\xbf\xbf");
}

ATF_TC_WITHOUT_HEAD(idempotent);
ATF_TC_BODY(idempotent, tc)
{
	const char *inputs[] = { "k\n<0>x\x1b[2J\xc2\x9b\xff\\", "plain", "\xe2\x82\xac\t" };
	char once[SK_ESCAPE_SIZE(64)], twice[SK_ESCAPE_SIZE(SK_ESCAPE_SIZE(64))];

	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		sk_escape(once, sizeof(once), inputs[i], 0);
		sk_escape(twice, sizeof(twice), once, 0);
		ATF_CHECK_STREQ(once, twice);
	}
}

ATF_TC_WITHOUT_HEAD(truncation);
ATF_TC_BODY(truncation, tc)
{
	char out[7];

	/* an escape or a character that does not fit is left out whole */
	ATF_CHECK_EQ(sk_escape(out, sizeof(out), "abcde\n", 0), 5);
	ATF_CHECK_STREQ(out, "abcde");
	ATF_CHECK_EQ(sk_escape(out, sizeof(out), "abcd\xe2\x82\xac", 0), 4);
	ATF_CHECK_STREQ(out, "abcd");
	ATF_CHECK_EQ(sk_escape(out, sizeof(out), "ab\x1b" "cd", 0), 6);
	ATF_CHECK_STREQ(out, "ab\\x1b");
	ATF_CHECK_EQ(sk_escape(out, 1, "abc", 0), 0);
	ATF_CHECK_STREQ(out, "");
}

ATF_TC_WITHOUT_HEAD(json);
ATF_TC_BODY(json, tc)
{
	char *out = sk_escape_json("{\"k\":\"a\x7f\xc2\x85\xc2\xa0\xe2\x82\xac\\u0007\"}");

	ATF_REQUIRE(out);
	ATF_CHECK_STREQ(out, "{\"k\":\"a\\u007f\\u0085\xc2\xa0\xe2\x82\xac\\u0007\"}");
	free(out);
}

/* sk_log: whatever a message holds, a sink receives one line without controls. */
static char last[4096];

static void capture(enum sk_log_level level, const char *msg, void *ctx)
{
	(void)level;
	(void)ctx;
	strncpy(last, msg, sizeof(last) - 1);
}

ATF_TC_WITHOUT_HEAD(log_escapes);
ATF_TC_BODY(log_escapes, tc)
{
	sk_log_set_sink(capture, NULL);
	sk_err("volume key %s from %s", "k\n<0>EMERGENCY", "\x1b[2J\xc2\x9b");
	ATF_CHECK_STREQ(last, "volume key k\\n<0>EMERGENCY from \\x1b[2J\\xc2\\x9b");
	sk_log_set_sink(NULL, NULL);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, controls);
	ATF_TP_ADD_TC(tp, utf8);
	ATF_TP_ADD_TC(tp, idempotent);
	ATF_TP_ADD_TC(tp, truncation);
	ATF_TP_ADD_TC(tp, json);
	ATF_TP_ADD_TC(tp, log_escapes);
	return atf_no_error();
}
