/* Master key verification patterns: known answer, hex form, distinctness. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <atf-c.h>

#include "mkvp.h"

#include "helpers.h"

SK_TEST_LSAN_SUPPRESSIONS

/*
 * Computed independently of the library:
 *   /usr/bin/python3 -c "import hashlib; print(hashlib.sha256(
 *     b'securekey-mkvp-v1' + bytes(range(32))).hexdigest()[:16])"
 */
#define KAT_MKVP_RANGE "712b947199b23dc7"
/* Same with an all-zero key: bytes(32). */
#define KAT_MKVP_ZERO "c63c69797d776fef"

static void mk_range(unsigned char mk[SK_MK_LEN])
{
	for (int i = 0; i < SK_MK_LEN; i++)
		mk[i] = (unsigned char)i;
}

ATF_TC_WITHOUT_HEAD(compute_known_answer);
ATF_TC_BODY(compute_known_answer, tc)
{
	unsigned char mk[SK_MK_LEN], mkvp[SK_MKVP_LEN];
	char hex[SK_MKVP_HEX_LEN + 1];

	mk_range(mk);
	ATF_REQUIRE_EQ(sk_mkvp_compute(mk, mkvp), 0);
	sk_mkvp_to_hex(mkvp, hex);
	ATF_REQUIRE_STREQ(hex, KAT_MKVP_RANGE);
	/* deterministic */
	ATF_REQUIRE_EQ(sk_mkvp_compute(mk, mkvp), 0);
	sk_mkvp_to_hex(mkvp, hex);
	ATF_REQUIRE_STREQ(hex, KAT_MKVP_RANGE);

	memset(mk, 0, sizeof(mk));
	ATF_REQUIRE_EQ(sk_mkvp_compute(mk, mkvp), 0);
	sk_mkvp_to_hex(mkvp, hex);
	ATF_REQUIRE_STREQ(hex, KAT_MKVP_ZERO);
}

ATF_TC_WITHOUT_HEAD(different_keys_different_mkvps);
ATF_TC_BODY(different_keys_different_mkvps, tc)
{
	unsigned char mk[SK_MK_LEN], base[SK_MKVP_LEN], other[SK_MKVP_LEN];

	mk_range(mk);
	ATF_REQUIRE_EQ(sk_mkvp_compute(mk, base), 0);
	ATF_REQUIRE(memcmp(base, mk, SK_MKVP_LEN) != 0); /* not the key itself */
	/* Any single flipped bit anywhere in the key changes the MKVP. */
	for (int bit = 0; bit < SK_MK_LEN * 8; bit++) {
		mk[bit / 8] ^= (unsigned char)(1u << (bit % 8));
		ATF_REQUIRE_EQ(sk_mkvp_compute(mk, other), 0);
		ATF_REQUIRE_MSG(!sk_mkvp_equal(base, other), "flipping key bit %d kept the MKVP",
				bit);
		mk[bit / 8] ^= (unsigned char)(1u << (bit % 8));
	}
}

ATF_TC_WITHOUT_HEAD(hex_round_trip);
ATF_TC_BODY(hex_round_trip, tc)
{
	static const unsigned char patterns[][SK_MKVP_LEN] = {
		{ 0x00, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd },
		{ 0xff, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32 },
		{ 0, 0, 0, 0, 0, 0, 0, 0 },
	};
	static const char *const texts[] = { "000123456789abcd", "fffedcba98765432",
					     "0000000000000000" };

	for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
		unsigned char back[SK_MKVP_LEN];
		char hex[SK_MKVP_HEX_LEN + 1];

		memset(hex, 'x', sizeof(hex));
		sk_mkvp_to_hex(patterns[i], hex);
		ATF_REQUIRE_STREQ(hex, texts[i]);
		ATF_REQUIRE_EQ(strlen(hex), (size_t)SK_MKVP_HEX_LEN);
		ATF_REQUIRE_EQ(sk_mkvp_from_hex(hex, back), 0);
		ATF_REQUIRE(sk_mkvp_equal(back, patterns[i]));
	}
}

ATF_TC_WITHOUT_HEAD(from_hex_accepts_upper_case);
ATF_TC_BODY(from_hex_accepts_upper_case, tc)
{
	unsigned char lower[SK_MKVP_LEN], upper[SK_MKVP_LEN], mixed[SK_MKVP_LEN];

	ATF_REQUIRE_EQ(sk_mkvp_from_hex("712b947199b23dc7", lower), 0);
	ATF_REQUIRE_EQ(sk_mkvp_from_hex("712B947199B23DC7", upper), 0);
	ATF_REQUIRE_EQ(sk_mkvp_from_hex("712b947199B23Dc7", mixed), 0);
	ATF_REQUIRE(sk_mkvp_equal(lower, upper));
	ATF_REQUIRE(sk_mkvp_equal(lower, mixed));
}

static void require_hex_rejected(const char *hex, const char *why)
{
	unsigned char mkvp[SK_MKVP_LEN], before[SK_MKVP_LEN];

	memset(mkvp, 0x5a, sizeof(mkvp));
	memcpy(before, mkvp, sizeof(mkvp));
	ATF_REQUIRE_EQ_MSG(sk_mkvp_from_hex(hex, mkvp), -EINVAL, "%s was accepted", why);
	ATF_REQUIRE_MSG(memcmp(mkvp, before, sizeof(mkvp)) == 0, "%s: output was changed", why);
}

ATF_TC_WITHOUT_HEAD(from_hex_rejects_wrong_length);
ATF_TC_BODY(from_hex_rejects_wrong_length, tc)
{
	require_hex_rejected("712b947199b23dc", "15 digits");
	require_hex_rejected("712b947199b23dc70", "17 digits");
	require_hex_rejected("", "empty text");
	require_hex_rejected(NULL, "NULL");
	require_hex_rejected("712b947199b23dc7712b947199b23dc7", "32 digits");
}

ATF_TC_WITHOUT_HEAD(from_hex_rejects_non_hex);
ATF_TC_BODY(from_hex_rejects_non_hex, tc)
{
	require_hex_rejected("712b947199b23dcg", "'g' at the end");
	require_hex_rejected("x12b947199b23dc7", "'x' at the start");
	require_hex_rejected("712b9471 9b23dc7", "a space");
	require_hex_rejected("0x2b947199b23dc7", "a 0x prefix");
	require_hex_rejected("712b-47199b23dc7", "a dash");
	require_hex_rejected("712b947199b23dc\n", "a newline");
}

ATF_TC_WITHOUT_HEAD(equal_compares_all_bytes);
ATF_TC_BODY(equal_compares_all_bytes, tc)
{
	unsigned char a[SK_MKVP_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8 }, b[SK_MKVP_LEN];

	memcpy(b, a, sizeof(a));
	ATF_REQUIRE(sk_mkvp_equal(a, b));
	for (int i = 0; i < SK_MKVP_LEN; i++) {
		b[i] ^= 0x80;
		ATF_REQUIRE_MSG(!sk_mkvp_equal(a, b), "byte %d ignored", i);
		b[i] ^= 0x80;
	}
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, compute_known_answer);
	ATF_TP_ADD_TC(tp, different_keys_different_mkvps);
	ATF_TP_ADD_TC(tp, hex_round_trip);
	ATF_TP_ADD_TC(tp, from_hex_accepts_upper_case);
	ATF_TP_ADD_TC(tp, from_hex_rejects_wrong_length);
	ATF_TP_ADD_TC(tp, from_hex_rejects_non_hex);
	ATF_TP_ADD_TC(tp, equal_compares_all_bytes);
	return atf_no_error();
}
