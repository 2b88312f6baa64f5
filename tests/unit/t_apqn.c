/* APQN text "AA.DDDD" and comma-separated APQN lists. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <atf-c.h>

#include "apqn.h"
#include "log.h"

#include "helpers.h"

SK_TEST_LSAN_SUPPRESSIONS


static void require_apqn(const char *text, unsigned adapter, unsigned domain)
{
	struct sk_apqn apqn = { 0xdead, 0xbeef };

	ATF_REQUIRE_EQ_MSG(sk_apqn_parse(text, &apqn), 0, "'%s' was refused", text);
	ATF_REQUIRE_EQ_MSG(apqn.adapter, adapter, "'%s': adapter %#x", text, apqn.adapter);
	ATF_REQUIRE_EQ_MSG(apqn.domain, domain, "'%s': domain %#x", text, apqn.domain);
}

static void require_list_refused(const char *csv, const char *needle)
{
	const char *shown = csv ? csv : "(NULL)";
	struct sk_apqn_list list;

	capture_start();
	ATF_REQUIRE_EQ_MSG(sk_apqn_list_parse(csv, &list), -EINVAL, "'%s' was accepted", shown);
	ATF_REQUIRE_MSG(capture_errors() >= 1, "'%s' refused without a message", shown);
	ATF_REQUIRE_MSG(strstr(capture_last_error(), needle), "message for '%s' lacks '%s': %s", shown,
			needle, capture_last_error());
}

ATF_TC_WITHOUT_HEAD(parse_valid);
ATF_TC_BODY(parse_valid, tc)
{
	require_apqn("01.0001", 0x01, 0x0001);
	require_apqn("ff.ffff", 0xff, 0xffff);
	require_apqn("00.0000", 0x00, 0x0000);
	require_apqn("08.002f", 0x08, 0x002f);
	/* upper and mixed case */
	require_apqn("0A.00FF", 0x0a, 0x00ff);
	require_apqn("FF.FFFF", 0xff, 0xffff);
	require_apqn("aB.cDeF", 0xab, 0xcdef);
}

ATF_TC_WITHOUT_HEAD(parse_malformed);
ATF_TC_BODY(parse_malformed, tc)
{
	static const char *const bad[] = {
		"1.0001",  "01.001",  "01-0001",  "01.00010", "zz.0001", "",
		" 01.0001", "01.0001 ", "001.0001", "01.000g", "01,0001", "010001",
		"0x.0001", "+1.0001", "01.+001",  "01..001",  "01.0001\n",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sk_apqn apqn = { 0x11, 0x2222 };

		ATF_REQUIRE_EQ_MSG(sk_apqn_parse(bad[i], &apqn), -EINVAL, "entry %zu ('%s') parsed",
				   i, bad[i]);
		ATF_REQUIRE_EQ_MSG(apqn.adapter, 0x11u, "entry %zu changed the output", i);
		ATF_REQUIRE_EQ_MSG(apqn.domain, 0x2222u, "entry %zu changed the output", i);
	}
	ATF_REQUIRE_EQ(sk_apqn_parse(NULL, &(struct sk_apqn){ 0, 0 }), -EINVAL);
}

ATF_TC_WITHOUT_HEAD(format_and_equal);
ATF_TC_BODY(format_and_equal, tc)
{
	static const char *const texts[] = { "01.0001", "ff.ffff", "08.002f", "7e.8000" };
	char text[SK_APQN_TEXT_LEN + 1];

	sk_apqn_format(&(struct sk_apqn){ 0x01, 0x0001 }, text);
	ATF_REQUIRE_STREQ(text, "01.0001");
	sk_apqn_format(&(struct sk_apqn){ 0xff, 0xffff }, text);
	ATF_REQUIRE_STREQ(text, "ff.ffff");
	sk_apqn_format(&(struct sk_apqn){ 0x0a, 0x00ff }, text);
	ATF_REQUIRE_STREQ(text, "0a.00ff");
	sk_apqn_format(&(struct sk_apqn){ 0, 0 }, text);
	ATF_REQUIRE_STREQ(text, "00.0000");

	/* parse(format(x)) == x and format(parse(t)) == t for canonical t */
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct sk_apqn apqn;

		ATF_REQUIRE_EQ(sk_apqn_parse(texts[i], &apqn), 0);
		sk_apqn_format(&apqn, text);
		ATF_REQUIRE_STREQ(text, texts[i]);
	}

	ATF_REQUIRE(sk_apqn_equal(&(struct sk_apqn){ 1, 1 }, &(struct sk_apqn){ 1, 1 }));
	ATF_REQUIRE(!sk_apqn_equal(&(struct sk_apqn){ 1, 1 }, &(struct sk_apqn){ 1, 2 }));
	ATF_REQUIRE(!sk_apqn_equal(&(struct sk_apqn){ 1, 1 }, &(struct sk_apqn){ 2, 1 }));
}

ATF_TC_WITHOUT_HEAD(list_parse_two);
ATF_TC_BODY(list_parse_two, tc)
{
	struct sk_apqn_list list;

	ATF_REQUIRE_EQ(sk_apqn_list_parse("01.0001,02.00FF", &list), 0);
	ATF_REQUIRE_EQ(list.count, (size_t)2);
	ATF_REQUIRE(sk_apqn_equal(&list.items[0], &(struct sk_apqn){ 0x01, 0x0001 }));
	ATF_REQUIRE(sk_apqn_equal(&list.items[1], &(struct sk_apqn){ 0x02, 0x00ff }));

	ATF_REQUIRE_EQ(sk_apqn_list_parse("08.002f", &list), 0);
	ATF_REQUIRE_EQ(list.count, (size_t)1);
	ATF_REQUIRE(sk_apqn_equal(&list.items[0], &(struct sk_apqn){ 0x08, 0x002f }));
}

ATF_TC_WITHOUT_HEAD(list_parse_refuses_duplicates);
ATF_TC_BODY(list_parse_refuses_duplicates, tc)
{
	require_list_refused("01.0001,01.0001", "twice");
	require_list_refused("01.0001,02.0001,01.0001", "twice");
	/* The same APQN written in another case is still the same APQN. */
	require_list_refused("0a.00ff,0A.00FF", "twice");
}

ATF_TC_WITHOUT_HEAD(list_parse_refuses_empty_entries);
ATF_TC_BODY(list_parse_refuses_empty_entries, tc)
{
	require_list_refused(",01.0001", "empty");
	require_list_refused("01.0001,", "empty");
	require_list_refused("01.0001,,02.0001", "empty");
	require_list_refused(",", "empty");
	require_list_refused("", "no APQN");
	require_list_refused(NULL, "no APQN");
}

ATF_TC_WITHOUT_HEAD(list_parse_refuses_malformed_entry);
ATF_TC_BODY(list_parse_refuses_malformed_entry, tc)
{
	require_list_refused("01.0001,2.0001", "'2.0001' is not an APQN");
	require_list_refused("01.0001, 02.0001", "' 02.0001' is not an APQN");
	require_list_refused("01.0001;02.0001", "is not an APQN");
}

ATF_TC_WITHOUT_HEAD(list_parse_max_entries);
ATF_TC_BODY(list_parse_max_entries, tc)
{
	char csv[(SK_APQN_TEXT_LEN + 1) * (SK_APQN_MAX + 1) + 1];
	struct sk_apqn_list list;
	size_t used = 0;

	for (int i = 0; i < SK_APQN_MAX; i++)
		used += (size_t)snprintf(csv + used, sizeof(csv) - used, "%s%02x.0001",
					 i ? "," : "", i + 1);
	ATF_REQUIRE_EQ(sk_apqn_list_parse(csv, &list), 0);
	ATF_REQUIRE_EQ(list.count, (size_t)SK_APQN_MAX);
	ATF_REQUIRE_EQ(list.items[SK_APQN_MAX - 1].adapter, (unsigned)SK_APQN_MAX);

	snprintf(csv + used, sizeof(csv) - used, ",%02x.0001", SK_APQN_MAX + 1);
	require_list_refused(csv, "too many");
}

ATF_TC_WITHOUT_HEAD(list_format);
ATF_TC_BODY(list_format, tc)
{
	struct sk_apqn_list list;
	char buf[64];

	ATF_REQUIRE_EQ(sk_apqn_list_parse("01.0001,0A.00FF,ff.ffff", &list), 0);
	sk_apqn_list_format(&list, buf, sizeof(buf));
	ATF_REQUIRE_STREQ(buf, "01.0001,0a.00ff,ff.ffff");

	list.count = 1;
	sk_apqn_list_format(&list, buf, sizeof(buf));
	ATF_REQUIRE_STREQ(buf, "01.0001");

	list.count = 0;
	memset(buf, 'x', sizeof(buf));
	sk_apqn_list_format(&list, buf, sizeof(buf));
	ATF_REQUIRE_STREQ(buf, "");

	/* too small a buffer: truncated, terminated, nothing written past @size */
	ATF_REQUIRE_EQ(sk_apqn_list_parse("01.0001,02.0001,03.0001", &list), 0);
	memset(buf, 'x', sizeof(buf));
	sk_apqn_list_format(&list, buf, 10);
	ATF_REQUIRE_STREQ(buf, "01.0001,0");
	ATF_REQUIRE_EQ(buf[10], 'x');
	sk_apqn_list_format(&list, buf, 1);
	ATF_REQUIRE_STREQ(buf, "");
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, parse_valid);
	ATF_TP_ADD_TC(tp, parse_malformed);
	ATF_TP_ADD_TC(tp, format_and_equal);
	ATF_TP_ADD_TC(tp, list_parse_two);
	ATF_TP_ADD_TC(tp, list_parse_refuses_duplicates);
	ATF_TP_ADD_TC(tp, list_parse_refuses_empty_entries);
	ATF_TP_ADD_TC(tp, list_parse_refuses_malformed_entry);
	ATF_TP_ADD_TC(tp, list_parse_max_entries);
	ATF_TP_ADD_TC(tp, list_format);
	return atf_no_error();
}
