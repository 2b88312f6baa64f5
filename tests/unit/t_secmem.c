/* Secret memory (locked, zeroed, wiped) and the log guard that relies on it. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <atf-c.h>
#include <openssl/rand.h>

#include "log.h"
#include "secmem.h"

#include "helpers.h"

SK_TEST_LSAN_SUPPRESSIONS

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZE_ADDRESS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZE_ADDRESS 1
#endif
#endif
#ifndef SANITIZE_ADDRESS
#define SANITIZE_ADDRESS 0
#endif

/* The sink keeps every message, so tests can tell "dropped" from "withheld". */
static char last_msg[2048];
static enum sk_log_level last_level;
static int messages;

static void capture(enum sk_log_level level, const char *msg, void *ctx)
{
	(void)ctx;
	messages++;
	last_level = level;
	snprintf(last_msg, sizeof(last_msg), "%s", msg);
}

static void sink_start(void)
{
	last_msg[0] = '\0';
	messages = 0;
	sk_log_set_sink(capture, NULL);
}

/* VmLck of this process in kB, from /proc/self/status. */
static long locked_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;

	ATF_REQUIRE(f != NULL);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmLck: %ld kB", &kb) == 1)
			break;
	fclose(f);
	ATF_REQUIRE_MSG(kb >= 0, "no VmLck line in /proc/self/status");
	return kb;
}

static bool all_zero(const unsigned char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

static void to_hex(const unsigned char *p, size_t len, bool upper, char *out)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 0xf];
	}
	out[2 * len] = '\0';
}

/* Log @msg (as data, not as a format) and return what the sink received. */
static const char *log_through_guard(const char *msg)
{
	sink_start();
	sk_err("%s", msg);
	ATF_REQUIRE_EQ(messages, 1);
	ATF_REQUIRE_EQ(last_level, SK_LOG_ERROR);
	return last_msg;
}

static void require_withheld(const char *msg, const char *what)
{
	/* Never echo @msg: it holds key material. */
	ATF_REQUIRE_MSG(!strcmp(log_through_guard(msg), SK_LOG_WITHHELD),
			"a message with %s was not withheld", what);
}

ATF_TC_WITHOUT_HEAD(new_is_zeroed_with_length);
ATF_TC_BODY(new_is_zeroed_with_length, tc)
{
	static const size_t lens[] = { 1, 32, 64, 100, 4096, 10000 };

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		struct sk_secret *s = sk_secret_new(lens[i]);

		ATF_REQUIRE_MSG(s != NULL, "sk_secret_new(%zu) failed", lens[i]);
		ATF_REQUIRE_EQ(s->len, lens[i]);
		ATF_REQUIRE(s->data != NULL);
		ATF_REQUIRE_MSG(all_zero(s->data, s->len), "%zu bytes not zeroed", lens[i]);
		memset(s->data, 0xa5, s->len); /* the whole length is writable */
		sk_secret_free(s);
	}
}

ATF_TC_WITHOUT_HEAD(new_zero_length_refused);
ATF_TC_BODY(new_zero_length_refused, tc)
{
	sink_start();
	ATF_REQUIRE(sk_secret_new(0) == NULL);
	ATF_REQUIRE_EQ(messages, 1);
	ATF_REQUIRE_EQ(last_level, SK_LOG_ERROR);
}

ATF_TC_WITHOUT_HEAD(new_is_locked_and_free_unlocks);
ATF_TC_BODY(new_is_locked_and_free_unlocks, tc)
{
	long page_kb = sysconf(_SC_PAGESIZE) / 1024;
	long before, during, during_big, after;
	struct sk_secret *s, *big;

	if (SANITIZE_ADDRESS)
		atf_tc_skip("AddressSanitizer intercepts mlock(2) and makes it a no-op");
	before = locked_kb();
	s = sk_secret_new(64);
	ATF_REQUIRE(s != NULL);
	during = locked_kb();
	ATF_REQUIRE_MSG(during >= before + page_kb, "VmLck %ld kB -> %ld kB after a new secret",
			before, during);
	big = sk_secret_new(3 * (size_t)sysconf(_SC_PAGESIZE));
	ATF_REQUIRE(big != NULL);
	during_big = locked_kb();
	ATF_REQUIRE_MSG(during_big >= during + 3 * page_kb,
			"VmLck %ld kB -> %ld kB after a 3-page secret", during, during_big);
	sk_secret_free(big);
	sk_secret_free(s);
	after = locked_kb();
	ATF_REQUIRE_EQ_MSG(after, before, "VmLck %ld kB before, %ld kB after free", before, after);
}

ATF_TC_WITHOUT_HEAD(dup_copies);
ATF_TC_BODY(dup_copies, tc)
{
	unsigned char src[48];
	struct sk_secret *s;

	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (unsigned char)(0xc3 ^ i);
	s = sk_secret_dup(src, sizeof(src));
	ATF_REQUIRE(s != NULL);
	ATF_REQUIRE_EQ(s->len, sizeof(src));
	ATF_REQUIRE(s->data != src);
	ATF_REQUIRE(memcmp(s->data, src, sizeof(src)) == 0);
	src[0] ^= 0xff; /* a copy, not an alias */
	ATF_REQUIRE(s->data[0] != src[0]);
	sk_secret_free(s);
}

ATF_TC_WITHOUT_HEAD(secret_equal);
ATF_TC_BODY(secret_equal, tc)
{
	struct sk_secret *a = random_secret(64), *b = sk_secret_dup(a->data, a->len);
	struct sk_secret *prefix = sk_secret_dup(a->data, 32);

	ATF_REQUIRE(b != NULL && prefix != NULL);
	ATF_REQUIRE(sk_secret_equal(a, b));
	ATF_REQUIRE(sk_secret_equal(b, a));
	ATF_REQUIRE(sk_secret_equal(a, a));
	/* a difference in any byte */
	for (size_t i = 0; i < a->len; i++) {
		b->data[i] ^= 0x01;
		ATF_REQUIRE_MSG(!sk_secret_equal(a, b), "difference in byte %zu not seen", i);
		b->data[i] ^= 0x01;
	}
	/* equal bytes as far as the shorter goes, yet different lengths */
	ATF_REQUIRE(!sk_secret_equal(a, prefix));
	ATF_REQUIRE(!sk_secret_equal(prefix, a));
	/* NULL is never equal, not even to NULL */
	ATF_REQUIRE(!sk_secret_equal(a, NULL));
	ATF_REQUIRE(!sk_secret_equal(NULL, a));
	ATF_REQUIRE(!sk_secret_equal(NULL, NULL));
	sk_secret_free(a);
	sk_secret_free(b);
	sk_secret_free(prefix);
}

ATF_TC_WITHOUT_HEAD(free_null_is_fine);
ATF_TC_BODY(free_null_is_fine, tc)
{
	sk_secret_free(NULL);
}

static void count_visit(const struct sk_secret *s, void *ctx)
{
	const struct sk_secret **want = ctx;

	if (s == want[0])
		want[1] = s;
}

ATF_TC_WITHOUT_HEAD(foreach_sees_live_secrets_only);
ATF_TC_BODY(foreach_sees_live_secrets_only, tc)
{
	struct sk_secret *a = random_secret(32), *b = random_secret(16), *c = random_secret(8);
	const struct sk_secret *probe[2];

	probe[0] = b;
	probe[1] = NULL;
	sk_secret_foreach(count_visit, probe);
	ATF_REQUIRE(probe[1] == b);
	sk_secret_free(b);
	probe[1] = NULL;
	sk_secret_foreach(count_visit, probe); /* b's address, no longer live */
	ATF_REQUIRE(probe[1] == NULL);
	probe[0] = a;
	sk_secret_foreach(count_visit, probe);
	ATF_REQUIRE(probe[1] == a);
	probe[0] = c;
	probe[1] = NULL;
	sk_secret_foreach(count_visit, probe);
	ATF_REQUIRE(probe[1] == c);
	sk_secret_free(a);
	sk_secret_free(c);
}

ATF_TC_WITHOUT_HEAD(guard_withholds_raw_bytes);
ATF_TC_BODY(guard_withholds_raw_bytes, tc)
{
	static const char raw[] = "Kq7!vZ#pL2@xW9$mN4%bR6^tY8&cF1*h"; /* 32 non-NUL bytes */
	struct sk_secret *s = sk_secret_dup(raw, 32);
	char msg[128];

	ATF_REQUIRE(s != NULL);
	snprintf(msg, sizeof(msg), "volume key is %.32s, oops", raw);
	require_withheld(msg, "a secret's raw bytes");
	snprintf(msg, sizeof(msg), "%.32s", raw);
	require_withheld(msg, "only a secret's raw bytes");
	sk_secret_free(s);
}

ATF_TC_WITHOUT_HEAD(guard_withholds_hex_any_case);
ATF_TC_BODY(guard_withholds_hex_any_case, tc)
{
	/* a 32-byte master key, and a 64-byte aes-xts-512 volume key */
	struct sk_secret *mk = random_secret(32), *vk = random_secret(64);
	char hex[129], msg[200];

	to_hex(mk->data, mk->len, false, hex);
	snprintf(msg, sizeof(msg), "debug: mk=%s (from part file)", hex);
	require_withheld(msg, "a 32-byte secret in lower-case hex");
	to_hex(mk->data, mk->len, true, hex);
	snprintf(msg, sizeof(msg), "KEY=%s", hex);
	require_withheld(msg, "a 32-byte secret in upper-case hex");
	to_hex(vk->data, vk->len, false, hex);
	snprintf(msg, sizeof(msg), "vk %s", hex);
	require_withheld(msg, "a 64-byte secret in lower-case hex");
	to_hex(vk->data, vk->len, true, hex);
	require_withheld(hex, "a 64-byte secret in upper-case hex");
	sk_secret_free(mk);
	sk_secret_free(vk);
}

/*
 * The soft HSM keeps the three master keys of an APQN in one 96-byte
 * secret: any 32-byte run of it (one key, wherever it starts) is caught,
 * raw or in hex.
 */
ATF_TC_WITHOUT_HEAD(guard_withholds_key_inside_larger_secret);
ATF_TC_BODY(guard_withholds_key_inside_larger_secret, tc)
{
	struct sk_secret *keys = random_secret(96);
	char hex[65], msg[100];

	for (size_t off = 0; off + 32 <= keys->len; off++) {
		to_hex(keys->data + off, 32, off % 2 == 1, hex);
		snprintf(msg, sizeof(msg), "key %s", hex);
		ATF_REQUIRE_MSG(!strcmp(log_through_guard(msg), SK_LOG_WITHHELD),
				"hex of the 32 bytes at offset %zu was not withheld", off);
		memcpy(msg, "raw ", 4);
		memcpy(msg + 4, keys->data + off, 32);
		msg[36] = '\0';
		/* a NUL inside the run would end the message early; skip those */
		if (memchr(keys->data + off, 0, 32) == NULL)
			ATF_REQUIRE_MSG(!strcmp(log_through_guard(msg), SK_LOG_WITHHELD),
					"the raw 32 bytes at offset %zu were not withheld", off);
	}
	sk_secret_free(keys);
}

ATF_TC_WITHOUT_HEAD(guard_passes_ordinary_message);
ATF_TC_BODY(guard_passes_ordinary_message, tc)
{
	static const char text[] = "secure key needs master key MKVP 712b947199b23dc7, which no "
				   "register of APQNs 01.0001 holds";
	struct sk_secret *s = random_secret(32);

	ATF_REQUIRE_STREQ(log_through_guard(text), text);
	sink_start();
	sk_warn("%d parts, %s", 3, "full-uncommitted");
	ATF_REQUIRE_EQ(messages, 1);
	ATF_REQUIRE_EQ(last_level, SK_LOG_WARN);
	ATF_REQUIRE_STREQ(last_msg, "3 parts, full-uncommitted");
	sk_secret_free(s);
}

ATF_TC_WITHOUT_HEAD(guard_forgets_freed_secret);
ATF_TC_BODY(guard_forgets_freed_secret, tc)
{
	struct sk_secret *s = random_secret(32);
	char hex[65], msg[100];

	to_hex(s->data, s->len, false, hex);
	snprintf(msg, sizeof(msg), "value %s", hex);
	require_withheld(msg, "a live secret in hex");
	sk_secret_free(s);
	/* The bytes are no longer a secret anywhere in this process. */
	ATF_REQUIRE_MSG(!strcmp(log_through_guard(msg), msg),
			"message still withheld after the secret was freed");
}

ATF_TC_WITHOUT_HEAD(log_level_filters);
ATF_TC_BODY(log_level_filters, tc)
{
	/* default: up to INFO */
	ATF_REQUIRE_EQ(sk_log_get_level(), SK_LOG_INFO);
	sink_start();
	sk_info("i");
	sk_verbose("v");
	ATF_REQUIRE_EQ(messages, 1);
	ATF_REQUIRE_EQ(last_level, SK_LOG_INFO);

	sink_start();
	sk_log_set_level(SK_LOG_WARN);
	ATF_REQUIRE_EQ(sk_log_get_level(), SK_LOG_WARN);
	sk_err("e");
	sk_warn("w");
	sk_info("i");
	sk_verbose("v");
	sk_dbg("d");
	ATF_REQUIRE_EQ(messages, 2);
	ATF_REQUIRE_STREQ(last_msg, "w");

	sink_start();
	sk_log_set_level(SK_LOG_ERROR);
	sk_warn("w");
	sk_info("i");
	ATF_REQUIRE_EQ(messages, 0);
	sk_err("e");
	ATF_REQUIRE_EQ(messages, 1);
	ATF_REQUIRE_EQ(last_level, SK_LOG_ERROR);

	sink_start();
	sk_log_set_level(SK_LOG_DEBUG);
	ATF_REQUIRE_EQ(sk_log_get_level(), SK_LOG_DEBUG);
	sk_dbg("d");
	ATF_REQUIRE_EQ(messages, 1);
	ATF_REQUIRE_EQ(last_level, SK_LOG_DEBUG);
	ATF_REQUIRE_STREQ(last_msg, "d");
	sk_verbose("v");
	ATF_REQUIRE_EQ(messages, 2);
	ATF_REQUIRE_EQ(last_level, SK_LOG_VERBOSE);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, new_is_zeroed_with_length);
	ATF_TP_ADD_TC(tp, new_zero_length_refused);
	ATF_TP_ADD_TC(tp, new_is_locked_and_free_unlocks);
	ATF_TP_ADD_TC(tp, dup_copies);
	ATF_TP_ADD_TC(tp, secret_equal);
	ATF_TP_ADD_TC(tp, free_null_is_fine);
	ATF_TP_ADD_TC(tp, foreach_sees_live_secrets_only);
	ATF_TP_ADD_TC(tp, guard_withholds_raw_bytes);
	ATF_TP_ADD_TC(tp, guard_withholds_hex_any_case);
	ATF_TP_ADD_TC(tp, guard_withholds_key_inside_larger_secret);
	ATF_TP_ADD_TC(tp, guard_passes_ordinary_message);
	ATF_TP_ADD_TC(tp, guard_forgets_freed_secret);
	ATF_TP_ADD_TC(tp, log_level_filters);
	return atf_no_error();
}
