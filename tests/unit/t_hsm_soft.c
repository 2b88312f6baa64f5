/*
 * The soft HSM through lib/hsm/hsm.h: master key registers and their state
 * machine, wrap/unwrap/rewrap by register, state-file protection, locking.
 * Every refusal is checked to leave the HSM directory byte-identical.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atf-c.h>
#include <openssl/rand.h>

#include "helpers.h"

SK_TEST_LSAN_SUPPRESSIONS
#include "hsm.h"
#include "lockfile.h"
#include "log.h"
#include "mkvp.h"
#include "secfile.h"
#include "secmem.h"

#define TWO "01.0001,02.0001"
#define A1 "01.0001"
#define A2 "02.0001"

/* Successful operations on the APQNs in @csv; each fails the test otherwise. */
static void do_init(const char *csv, struct sk_secret *const *parts, size_t n)
{
	struct sk_hsm *hsm = hsm_open(csv);
	int r = sk_hsm_init(hsm, parts, n, NULL);

	ATF_REQUIRE_EQ_MSG(r, 0, "init of %s with %zu parts returned %d: %s", csv, n, r,
			   capture_last_error());
	sk_hsm_close(hsm);
}

static void do_load(const char *csv, const struct sk_secret *part)
{
	struct sk_hsm *hsm = hsm_open(csv);
	int r = sk_hsm_load_part(hsm, part, NULL);

	ATF_REQUIRE_EQ_MSG(r, 0, "load-part on %s returned %d", csv, r);
	sk_hsm_close(hsm);
}

static void do_commit(const char *csv)
{
	struct sk_hsm *hsm = hsm_open(csv);
	int r = sk_hsm_commit(hsm, NULL);

	ATF_REQUIRE_EQ_MSG(r, 0, "commit on %s returned %d", csv, r);
	sk_hsm_close(hsm);
}

static void do_set(const char *csv)
{
	struct sk_hsm *hsm = hsm_open(csv);
	int r = sk_hsm_set(hsm, NULL);

	ATF_REQUIRE_EQ_MSG(r, 0, "set on %s returned %d", csv, r);
	sk_hsm_close(hsm);
}

static void do_clear_new(const char *csv)
{
	struct sk_hsm *hsm = hsm_open(csv);
	int r = sk_hsm_clear_new(hsm, NULL);

	ATF_REQUIRE_EQ_MSG(r, 0, "clear-new on %s returned %d", csv, r);
	sk_hsm_close(hsm);
}

/* Load two fresh random parts into NEW and commit; returns NEW's MKVP. */
static void stage_new(const char *csv, unsigned char mkvp[SK_MKVP_LEN])
{
	struct sk_secret *parts[2] = { random_part(), random_part() };

	do_load(csv, parts[0]);
	do_load(csv, parts[1]);
	do_commit(csv);
	mkvp_of_parts(parts, 2, mkvp);
	sk_secret_free(parts[0]);
	sk_secret_free(parts[1]);
}

static void current_mkvp(const char *csv, unsigned char mkvp[SK_MKVP_LEN])
{
	struct sk_hsm *hsm = hsm_open(csv);

	ATF_REQUIRE_EQ(sk_hsm_mkvp(hsm, SK_REG_CURRENT, mkvp), 0);
	sk_hsm_close(hsm);
}

/* Register @reg of every APQN in @st is in @state with @parts and @mkvp (NULL: none). */
static void require_reg(const struct sk_hsm_status *st, enum sk_mk_register reg,
			enum sk_mk_state state, unsigned parts, const unsigned char *mkvp)
{
	ATF_REQUIRE(st->count > 0);
	for (size_t i = 0; i < st->count; i++) {
		const struct sk_register_status *r = &st->apqns[i].reg[reg];

		ATF_REQUIRE_EQ_MSG(r->state, state, "APQN %zu %s: state %s, expected %s", i,
				   sk_register_name(reg), sk_mk_state_name(r->state),
				   sk_mk_state_name(state));
		ATF_REQUIRE_EQ_MSG(r->parts, parts, "APQN %zu %s: %u parts, expected %u", i,
				   sk_register_name(reg), r->parts, parts);
		ATF_REQUIRE_EQ_MSG(r->has_mkvp, mkvp != NULL, "APQN %zu %s: has_mkvp %d", i,
				   sk_register_name(reg), r->has_mkvp);
		if (mkvp)
			ATF_REQUIRE_MSG(sk_mkvp_equal(r->mkvp, mkvp), "APQN %zu %s: other MKVP", i,
					sk_register_name(reg));
	}
}

static void require_new(const char *csv, enum sk_mk_state state, unsigned parts,
			const unsigned char *mkvp)
{
	struct sk_hsm_status st;

	hsm_status(csv, &st);
	require_reg(&st, SK_REG_NEW, state, parts, mkvp);
}

static void free_parts(struct sk_secret **parts, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sk_secret_free(parts[i]);
}

static struct sk_key_spec xts512(void)
{
	struct sk_key_spec spec;

	ATF_REQUIRE_EQ(sk_key_spec_parse("aes-xts-512", &spec), 0);
	return spec;
}

/* Unwrap @blob on @csv: it must give @key from register @want. */
static void require_unwraps(const char *csv, const unsigned char *blob, size_t len,
			    const struct sk_secret *key, enum sk_mk_register want)
{
	struct sk_hsm *hsm = hsm_open(csv);
	enum sk_mk_register reg = (enum sk_mk_register)-1;
	struct sk_secret *back = NULL;
	int r = sk_hsm_unwrap(hsm, blob, len, &back, &reg);

	ATF_REQUIRE_EQ_MSG(r, 0, "unwrap returned %d: %s", r, capture_last_error());
	ATF_REQUIRE_EQ_MSG(reg, want, "unwrapped under %s, expected %s", sk_register_name(reg),
			   sk_register_name(want));
	ATF_REQUIRE_MSG(sk_secret_equal(back, key), "unwrapped key differs");
	sk_secret_free(back);
	sk_hsm_close(hsm);
}

/* Flip the bits in @mask of byte @off of @path, in place. */
static void flip_byte(const char *path, off_t off, unsigned char mask)
{
	unsigned char c;
	int fd = open(path, O_RDWR);

	ATF_REQUIRE_MSG(fd >= 0, "open %s: %s", path, strerror(errno));
	ATF_REQUIRE_EQ(pread(fd, &c, 1, off), 1);
	c ^= mask;
	ATF_REQUIRE_EQ(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

static off_t file_size(const char *path)
{
	struct stat st;

	ATF_REQUIRE_MSG(stat(path, &st) == 0, "stat %s: %s", path, strerror(errno));
	return st.st_size;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- init ---------------------------------------------------------------- */

ATF_TC_WITHOUT_HEAD(init_random_two_apqns);
ATF_TC_BODY(init_random_two_apqns, tc)
{
	unsigned char mkvp[SK_MKVP_LEN];
	struct sk_hsm_status st;
	struct stat dir;
	struct sk_hsm *hsm;

	do_init(TWO, NULL, 0);
	ATF_REQUIRE(stat(HSM_DIR, &dir) == 0);
	ATF_REQUIRE_EQ_MSG(dir.st_mode & 07777, 0700u, "init created the directory %04o",
			   (unsigned)(dir.st_mode & 07777));

	hsm = hsm_open(TWO);
	ATF_REQUIRE_EQ(sk_hsm_status(hsm, &st), 0);
	ATF_REQUIRE_STREQ(st.backend, "soft");
	ATF_REQUIRE_EQ(st.count, (size_t)2);
	ATF_REQUIRE(sk_apqn_equal(&st.apqns[0].apqn, &(struct sk_apqn){ 1, 1 }));
	ATF_REQUIRE(sk_apqn_equal(&st.apqns[1].apqn, &(struct sk_apqn){ 2, 1 }));
	ATF_REQUIRE(st.apqns[0].reg[SK_REG_CURRENT].has_mkvp);
	memcpy(mkvp, st.apqns[0].reg[SK_REG_CURRENT].mkvp, SK_MKVP_LEN);
	require_reg(&st, SK_REG_CURRENT, SK_MK_VALID, 0, mkvp);
	require_reg(&st, SK_REG_OLD, SK_MK_EMPTY, 0, NULL);
	require_reg(&st, SK_REG_NEW, SK_MK_EMPTY, 0, NULL);
	ATF_REQUIRE(sk_hsm_status_agree(&st, SK_REG_CURRENT));
	ATF_REQUIRE(!sk_hsm_status_agree(&st, SK_REG_OLD));
	ATF_REQUIRE(!sk_hsm_status_agree(&st, SK_REG_NEW));
	{
		unsigned char got[SK_MKVP_LEN];

		ATF_REQUIRE_EQ(sk_hsm_mkvp(hsm, SK_REG_CURRENT, got), 0);
		ATF_REQUIRE(sk_mkvp_equal(got, mkvp));
		REQUIRE_REFUSED(sk_hsm_mkvp(hsm, SK_REG_NEW, got), -ENOKEY, "NEW register");
		REQUIRE_REFUSED(sk_hsm_mkvp(hsm, SK_REG_OLD, got), -ENOKEY, "OLD register");
	}
	sk_hsm_close(hsm);

	/* A second random init elsewhere gives another master key. */
	do_init("03.0001", NULL, 0);
	hsm_status("03.0001", &st);
	ATF_REQUIRE(!sk_mkvp_equal(st.apqns[0].reg[SK_REG_CURRENT].mkvp, mkvp));
}

ATF_TC_WITHOUT_HEAD(init_from_two_or_three_parts_is_xor);
ATF_TC_BODY(init_from_two_or_three_parts_is_xor, tc)
{
	struct sk_secret *parts[3] = { random_part(), random_part(), random_part() };
	unsigned char want[SK_MKVP_LEN];
	struct sk_hsm_status st;

	do_init(TWO, parts, 2);
	mkvp_of_parts(parts, 2, want);
	hsm_status(TWO, &st);
	require_reg(&st, SK_REG_CURRENT, SK_MK_VALID, 0, want);

	do_init("03.0001,04.0001", parts, 3);
	mkvp_of_parts(parts, 3, want);
	hsm_status("03.0001,04.0001", &st);
	require_reg(&st, SK_REG_CURRENT, SK_MK_VALID, 0, want);
	free_parts(parts, 3);
}

ATF_TC_WITHOUT_HEAD(init_refuses_bad_part_count_or_cancelling_parts);
ATF_TC_BODY(init_refuses_bad_part_count_or_cancelling_parts, tc)
{
	struct sk_secret *parts[4] = { random_part(), random_part(), random_part(),
				       random_part() };
	struct sk_secret *twice[2] = { parts[0], parts[0] };
	struct sk_hsm *hsm;

	do_init("09.0009", NULL, 0); /* the directory and its lock file exist */
	hsm = hsm_open(TWO);
	REQUIRE_REFUSED(sk_hsm_init(hsm, parts, 1, NULL), -EINVAL, "2 or 3 key parts");
	REQUIRE_REFUSED(sk_hsm_init(hsm, parts, 4, NULL), -EINVAL, "2 or 3 key parts");
	REQUIRE_REFUSED(sk_hsm_init(hsm, twice, 2, NULL), -EINVAL, "cancel each other out");
	ATF_REQUIRE(access(state_file(A1), F_OK) < 0);
	ATF_REQUIRE(access(state_file(A2), F_OK) < 0);
	sk_hsm_close(hsm);
	free_parts(parts, 4);
}

/* Key parts are 32 bytes; load-part checks it, init must as well. */
ATF_TC_WITHOUT_HEAD(init_refuses_short_parts);
ATF_TC_BODY(init_refuses_short_parts, tc)
{
	struct sk_secret *parts[2] = { sk_secret_new(16), sk_secret_new(16) };
	struct sk_hsm *hsm;
	int r;

	ATF_REQUIRE(parts[0] && parts[1]);
	ATF_REQUIRE_EQ(RAND_bytes(parts[0]->data, 16), 1);
	ATF_REQUIRE_EQ(RAND_bytes(parts[1]->data, 16), 1);
	do_init("09.0009", NULL, 0);
	hsm = hsm_open(A1);
	capture_start();
	r = sk_hsm_init(hsm, parts, 2, NULL);
	ATF_CHECK_EQ_MSG(r, -EINVAL, "init with two 16-byte parts returned %d", r);
	ATF_CHECK_MSG(access(state_file(A1), F_OK) < 0, "an APQN was initialized");
	sk_hsm_close(hsm);
	free_parts(parts, 2);
}

ATF_TC_WITHOUT_HEAD(init_refuses_existing_apqn);
ATF_TC_BODY(init_refuses_existing_apqn, tc)
{
	struct sk_hsm *hsm;

	do_init(A1, NULL, 0);
	hsm = hsm_open(A1);
	REQUIRE_REFUSED(sk_hsm_init(hsm, NULL, 0, NULL), -EEXIST, "already initialized");
	sk_hsm_close(hsm);
	/* Part of a set: nothing of the set is created. */
	hsm = hsm_open("02.0001,01.0001");
	REQUIRE_REFUSED(sk_hsm_init(hsm, NULL, 0, NULL), -EEXIST, "APQN 01.0001 is already");
	sk_hsm_close(hsm);
	ATF_REQUIRE(access(state_file(A2), F_OK) < 0);
}

/* ---- open ---------------------------------------------------------------- */

ATF_TC_WITHOUT_HEAD(open_without_apqns_takes_all);
ATF_TC_BODY(open_without_apqns_takes_all, tc)
{
	const struct sk_apqn_list *list;
	struct sk_hsm *hsm = NULL;
	char text[64];

	capture_start();
	ATF_REQUIRE(sk_hsm_open(HSM_DIR, NULL, &hsm) < 0); /* no directory yet */
	ATF_REQUIRE(hsm == NULL);
	do_init("0b.0002", NULL, 0);
	do_init("0a.0001,0b.0001", NULL, 0);
	hsm = hsm_open("");
	list = sk_hsm_apqns(hsm);
	sk_apqn_list_format(list, text, sizeof(text));
	ATF_REQUIRE_STREQ(text, "0a.0001,0b.0001,0b.0002");
	ATF_REQUIRE_STREQ(sk_hsm_location(hsm), HSM_DIR);
	sk_hsm_close(hsm);
}

ATF_TC_WITHOUT_HEAD(unknown_apqn_refused);
ATF_TC_BODY(unknown_apqn_refused, tc)
{
	struct sk_secret *part = random_part();
	struct sk_hsm_status st;
	struct sk_hsm *hsm;

	do_init(A1, NULL, 0);
	hsm = hsm_open("01.0001,03.0001");
	REQUIRE_REFUSED(sk_hsm_status(hsm, &st), -ENOENT, "APQN 03.0001 is unknown");
	REQUIRE_REFUSED(sk_hsm_load_part(hsm, part, NULL), -ENOENT, "APQN 03.0001 is unknown");
	REQUIRE_REFUSED(sk_hsm_clear_new(hsm, NULL), -ENOENT, "APQN 03.0001 is unknown");
	sk_hsm_close(hsm);
	sk_secret_free(part);
}

/* ---- load-part, commit, set, clear-new ---------------------------------- */

ATF_TC_WITHOUT_HEAD(load_part_one_partial_two_full);
ATF_TC_BODY(load_part_one_partial_two_full, tc)
{
	struct sk_secret *parts[2] = { random_part(), random_part() };
	unsigned char want[SK_MKVP_LEN], mkvp[SK_MKVP_LEN];
	struct sk_hsm *hsm;

	do_init(TWO, NULL, 0);
	do_load(TWO, parts[0]);
	require_new(TWO, SK_MK_PARTIAL, 1, NULL);
	hsm = hsm_open(TWO);
	REQUIRE_REFUSED(sk_hsm_mkvp(hsm, SK_REG_NEW, mkvp), -ENOKEY, "is partial");
	sk_hsm_close(hsm);

	do_load(TWO, parts[1]);
	mkvp_of_parts(parts, 2, want);
	require_new(TWO, SK_MK_FULL_UNCOMMITTED, 2, want);
	/* the MKVP shows in status, but an uncommitted NEW is not usable yet */
	hsm = hsm_open(TWO);
	REQUIRE_REFUSED(sk_hsm_mkvp(hsm, SK_REG_NEW, mkvp), -ENOKEY, "is full-uncommitted");
	sk_hsm_close(hsm);
	free_parts(parts, 2);
}

ATF_TC_WITHOUT_HEAD(load_part_three_then_fourth_refused);
ATF_TC_BODY(load_part_three_then_fourth_refused, tc)
{
	struct sk_secret *parts[4] = { random_part(), random_part(), random_part(),
				       random_part() };
	unsigned char want[SK_MKVP_LEN];
	struct sk_hsm *hsm;

	do_init(TWO, NULL, 0);
	for (int i = 0; i < 3; i++)
		do_load(TWO, parts[i]);
	mkvp_of_parts(parts, 3, want);
	require_new(TWO, SK_MK_FULL_UNCOMMITTED, 3, want);
	hsm = hsm_open(TWO);
	REQUIRE_REFUSED(sk_hsm_load_part(hsm, parts[3], NULL), -EPERM, "already holds 3 key parts");
	sk_hsm_close(hsm);
	require_new(TWO, SK_MK_FULL_UNCOMMITTED, 3, want);
	free_parts(parts, 4);
}

ATF_TC_WITHOUT_HEAD(load_part_twice_refused);
ATF_TC_BODY(load_part_twice_refused, tc)
{
	struct sk_secret *part = random_part(), *other = random_part();
	struct sk_secret *short_part = sk_secret_new(16);
	struct sk_hsm *hsm;

	do_init(TWO, NULL, 0);
	do_load(TWO, part);
	hsm = hsm_open(TWO);
	REQUIRE_REFUSED(sk_hsm_load_part(hsm, part, NULL), -EINVAL, "cancel each other out");
	require_new(TWO, SK_MK_PARTIAL, 1, NULL);
	ATF_REQUIRE(short_part != NULL);
	REQUIRE_REFUSED(sk_hsm_load_part(hsm, short_part, NULL), -EINVAL, "32 bytes");
	/* A third part that cancels the first two is refused as well. */
	ATF_REQUIRE_EQ(sk_hsm_load_part(hsm, other, NULL), 0);
	{
		struct sk_secret *both[2] = { part, other }, *cancel = xor_parts(both, 2);

		REQUIRE_REFUSED(sk_hsm_load_part(hsm, cancel, NULL), -EINVAL, "cancel each other out");
		sk_secret_free(cancel);
	}
	sk_hsm_close(hsm);
	sk_secret_free(part);
	sk_secret_free(other);
	sk_secret_free(short_part);
}

ATF_TC_WITHOUT_HEAD(load_part_from_part_file);
ATF_TC_BODY(load_part_from_part_file, tc)
{
	struct sk_secret *parts[2] = { random_part(), random_part() }, *read[2] = { NULL, NULL };
	unsigned char want[SK_MKVP_LEN];

	do_init(A1, NULL, 0);
	write_part("part1", parts[0]);
	write_part("part2", parts[1]);
	ATF_REQUIRE_EQ(file_size("part1"), (off_t)SK_MK_PART_LEN);
	ATF_REQUIRE_EQ(sk_secfile_read("part1", SK_MK_PART_LEN, "key part", &read[0]), 0);
	ATF_REQUIRE_EQ(sk_secfile_read("part2", SK_MK_PART_LEN, "key part", &read[1]), 0);
	ATF_REQUIRE(sk_secret_equal(read[0], parts[0]));
	do_load(A1, read[0]);
	do_load(A1, read[1]);
	mkvp_of_parts(parts, 2, want);
	require_new(A1, SK_MK_FULL_UNCOMMITTED, 2, want);
	free_parts(parts, 2);
	free_parts(read, 2);
}

ATF_TC_WITHOUT_HEAD(commit_needs_two_parts_and_happens_once);
ATF_TC_BODY(commit_needs_two_parts_and_happens_once, tc)
{
	struct sk_secret *parts[3] = { random_part(), random_part(), random_part() };
	unsigned char want[SK_MKVP_LEN], got[SK_MKVP_LEN];
	struct sk_hsm *hsm;

	do_init(TWO, NULL, 0);
	hsm = hsm_open(TWO);
	REQUIRE_REFUSED(sk_hsm_commit(hsm, NULL), -EPERM, "holds 0 key parts");
	ATF_REQUIRE_EQ(sk_hsm_load_part(hsm, parts[0], NULL), 0);
	REQUIRE_REFUSED(sk_hsm_commit(hsm, NULL), -EPERM, "holds 1 key part;");
	require_new(TWO, SK_MK_PARTIAL, 1, NULL);
	ATF_REQUIRE_EQ(sk_hsm_load_part(hsm, parts[1], NULL), 0);
	ATF_REQUIRE_EQ(sk_hsm_commit(hsm, NULL), 0);
	mkvp_of_parts(parts, 2, want);
	require_new(TWO, SK_MK_COMMITTED, 2, want);
	ATF_REQUIRE_EQ(sk_hsm_mkvp(hsm, SK_REG_NEW, got), 0);
	ATF_REQUIRE(sk_mkvp_equal(got, want));
	/* committed: no second commit, no further part */
	REQUIRE_REFUSED(sk_hsm_commit(hsm, NULL), -EPERM, "already committed");
	REQUIRE_REFUSED(sk_hsm_load_part(hsm, parts[2], NULL), -EPERM, "is committed");
	sk_hsm_close(hsm);
	require_new(TWO, SK_MK_COMMITTED, 2, want);
	free_parts(parts, 3);
}

ATF_TC_WITHOUT_HEAD(commit_new_equal_to_current_refused);
ATF_TC_BODY(commit_new_equal_to_current_refused, tc)
{
	struct sk_secret *parts[2] = { random_part(), random_part() };
	struct sk_hsm *hsm;

	do_init(TWO, parts, 2);
	do_load(TWO, parts[1]);
	do_load(TWO, parts[0]);
	hsm = hsm_open(TWO);
	REQUIRE_REFUSED(sk_hsm_commit(hsm, NULL), -EPERM, "equals the CURRENT one");
	sk_hsm_close(hsm);
	free_parts(parts, 2);
}

ATF_TC_WITHOUT_HEAD(set_needs_committed_new);
ATF_TC_BODY(set_needs_committed_new, tc)
{
	struct sk_secret *parts[2] = { random_part(), random_part() };
	struct sk_hsm *hsm;

	do_init(TWO, NULL, 0);
	hsm = hsm_open(TWO);
	REQUIRE_REFUSED(sk_hsm_set(hsm, NULL), -ENOKEY, "NEW register of APQN 01.0001 is empty");
	ATF_REQUIRE_EQ(sk_hsm_load_part(hsm, parts[0], NULL), 0);
	REQUIRE_REFUSED(sk_hsm_set(hsm, NULL), -ENOKEY, "is partial");
	ATF_REQUIRE_EQ(sk_hsm_load_part(hsm, parts[1], NULL), 0);
	REQUIRE_REFUSED(sk_hsm_set(hsm, NULL), -ENOKEY, "is full-uncommitted");
	sk_hsm_close(hsm);
	free_parts(parts, 2);
}

ATF_TC_WITHOUT_HEAD(commit_then_set_moves_registers);
ATF_TC_BODY(commit_then_set_moves_registers, tc)
{
	unsigned char cur[SK_MKVP_LEN], new[SK_MKVP_LEN], newer[SK_MKVP_LEN];
	struct sk_hsm_status st;

	do_init(TWO, NULL, 0);
	current_mkvp(TWO, cur);
	stage_new(TWO, new);
	hsm_status(TWO, &st);
	require_reg(&st, SK_REG_NEW, SK_MK_COMMITTED, 2, new);
	ATF_REQUIRE(sk_hsm_status_agree(&st, SK_REG_NEW));
	do_set(TWO);
	hsm_status(TWO, &st);
	require_reg(&st, SK_REG_OLD, SK_MK_VALID, 0, cur);
	require_reg(&st, SK_REG_CURRENT, SK_MK_VALID, 0, new);
	require_reg(&st, SK_REG_NEW, SK_MK_EMPTY, 0, NULL);
	ATF_REQUIRE(sk_hsm_status_agree(&st, SK_REG_OLD));

	/* Again: the first master key is gone for good. */
	stage_new(TWO, newer);
	do_set(TWO);
	hsm_status(TWO, &st);
	require_reg(&st, SK_REG_OLD, SK_MK_VALID, 0, new);
	require_reg(&st, SK_REG_CURRENT, SK_MK_VALID, 0, newer);
	require_reg(&st, SK_REG_NEW, SK_MK_EMPTY, 0, NULL);
}

ATF_TC_WITHOUT_HEAD(clear_new_from_every_state);
ATF_TC_BODY(clear_new_from_every_state, tc)
{
	struct sk_secret *parts[3] = { random_part(), random_part(), random_part() };
	unsigned char cur[SK_MKVP_LEN], mkvp[SK_MKVP_LEN];
	struct sk_hsm_status st;
	struct snapshot before, after;

	do_init(TWO, NULL, 0);
	current_mkvp(TWO, cur);
	/* empty: nothing to do, nothing written */
	snapshot_take(HSM_DIR, &before);
	do_clear_new(TWO);
	snapshot_take(HSM_DIR, &after);
	snapshot_require_equal(&before, &after, "clear-new of an empty NEW");
	snapshot_free(&before);
	snapshot_free(&after);
	require_new(TWO, SK_MK_EMPTY, 0, NULL);
	/* partial, full with 2 and with 3 parts */
	for (size_t n = 1; n <= 3; n++) {
		const unsigned char *want = NULL;

		for (size_t i = 0; i < n; i++)
			do_load(TWO, parts[i]);
		if (n >= SK_MK_MIN_PARTS) {
			mkvp_of_parts(parts, n, mkvp);
			want = mkvp;
		}
		require_new(TWO, n == 1 ? SK_MK_PARTIAL : SK_MK_FULL_UNCOMMITTED, (unsigned)n,
			    want);
		do_clear_new(TWO);
		require_new(TWO, SK_MK_EMPTY, 0, NULL);
	}
	/* committed */
	stage_new(TWO, mkvp);
	require_new(TWO, SK_MK_COMMITTED, 2, mkvp);
	do_clear_new(TWO);
	hsm_status(TWO, &st);
	require_reg(&st, SK_REG_NEW, SK_MK_EMPTY, 0, NULL);
	require_reg(&st, SK_REG_CURRENT, SK_MK_VALID, 0, cur);
	require_reg(&st, SK_REG_OLD, SK_MK_EMPTY, 0, NULL);
	/* and the same parts load again from scratch */
	do_load(TWO, parts[0]);
	require_new(TWO, SK_MK_PARTIAL, 1, NULL);
	free_parts(parts, 3);
}

/* ---- sets that disagree -------------------------------------------------- */

ATF_TC_WITHOUT_HEAD(different_current_refused);
ATF_TC_BODY(different_current_refused, tc)
{
	struct sk_key_spec spec = xts512();
	struct sk_secret *part = random_part(), *key = random_key(&spec), *back = NULL;
	unsigned char *blob = NULL, *out = NULL, mkvp[SK_MKVP_LEN];
	size_t blob_len = 0, out_len = 0;
	enum sk_mk_register reg;
	struct sk_hsm *one, *hsm;

	do_init(A1, NULL, 0);
	do_init(A2, NULL, 0);
	one = hsm_open(A1);
	ATF_REQUIRE_EQ(sk_hsm_wrap(one, SK_REG_CURRENT, &spec, key, &blob, &blob_len), 0);
	sk_hsm_close(one);

	hsm = hsm_open(TWO);
	REQUIRE_REFUSED(sk_hsm_load_part(hsm, part, NULL), -EUCLEAN, "different CURRENT master keys");
	REQUIRE_REFUSED(sk_hsm_commit(hsm, NULL), -EUCLEAN, "different CURRENT master keys");
	REQUIRE_REFUSED(sk_hsm_set(hsm, NULL), -EUCLEAN, "different CURRENT master keys");
	REQUIRE_REFUSED(sk_hsm_wrap(hsm, SK_REG_CURRENT, &spec, key, &out, &out_len), -EUCLEAN,
			"different CURRENT master keys");
	REQUIRE_REFUSED(sk_hsm_unwrap(hsm, blob, blob_len, &back, &reg), -EUCLEAN,
			"different CURRENT master keys");
	REQUIRE_REFUSED(sk_hsm_mkvp(hsm, SK_REG_CURRENT, mkvp), -EUCLEAN,
			"different CURRENT master keys");
	ATF_REQUIRE(out == NULL && back == NULL);
	sk_hsm_close(hsm);
	sk_secret_free(part);
	sk_secret_free(key);
	free(blob);
}

ATF_TC_WITHOUT_HEAD(different_new_refused_until_cleared);
ATF_TC_BODY(different_new_refused_until_cleared, tc)
{
	struct sk_secret *parts[2] = { random_part(), random_part() };
	unsigned char want[SK_MKVP_LEN];
	struct sk_hsm *hsm;

	do_init(TWO, NULL, 0);
	do_load(A1, parts[0]); /* only one APQN of the set got the part */
	hsm = hsm_open(TWO);
	REQUIRE_REFUSED(sk_hsm_load_part(hsm, parts[1], NULL), -EUCLEAN, "NEW registers");
	REQUIRE_REFUSED(sk_hsm_commit(hsm, NULL), -EUCLEAN, "NEW registers");
	REQUIRE_REFUSED(sk_hsm_set(hsm, NULL), -EUCLEAN, "NEW registers");
	/* clear-new is how an operator starts over: it works on a disagreeing set */
	ATF_REQUIRE_EQ(sk_hsm_clear_new(hsm, NULL), 0);
	sk_hsm_close(hsm);
	do_load(TWO, parts[0]);
	do_load(TWO, parts[1]);
	mkvp_of_parts(parts, 2, want);
	require_new(TWO, SK_MK_FULL_UNCOMMITTED, 2, want);
	free_parts(parts, 2);
}

/* ---- wrap, unwrap, rewrap ------------------------------------------------ */

ATF_TC_WITHOUT_HEAD(wrap_current_unwraps_as_current);
ATF_TC_BODY(wrap_current_unwraps_as_current, tc)
{
	static const char *const names[] = { "aes-xts-512", "aes-xts-256", "aes-256", "aes-192",
					     "aes-128" };
	unsigned char cur[SK_MKVP_LEN];
	struct sk_hsm *hsm;

	do_init(TWO, NULL, 0);
	current_mkvp(TWO, cur);
	hsm = hsm_open(TWO);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct sk_blob_header hdr;
		struct sk_key_spec spec;
		struct sk_secret *key;
		unsigned char *blob = NULL;
		size_t len = 0;

		ATF_REQUIRE_EQ(sk_key_spec_parse(names[i], &spec), 0);
		key = random_key(&spec);
		ATF_REQUIRE_EQ(sk_hsm_wrap(hsm, SK_REG_CURRENT, &spec, key, &blob, &len), 0);
		ATF_REQUIRE_EQ(len, sk_blob_len(&spec));
		ATF_REQUIRE_EQ(sk_blob_parse(blob, len, &hdr), 0);
		ATF_REQUIRE_MSG(sk_mkvp_equal(hdr.mkvp, cur), "%s: blob names another MKVP",
				names[i]);
		require_unwraps(TWO, blob, len, key, SK_REG_CURRENT);
		require_unwraps(A2, blob, len, key, SK_REG_CURRENT); /* any APQN of the set */
		sk_secret_free(key);
		free(blob);
	}
	sk_hsm_close(hsm);
}

ATF_TC_WITHOUT_HEAD(wrap_refuses_old_and_uncommitted_new);
ATF_TC_BODY(wrap_refuses_old_and_uncommitted_new, tc)
{
	struct sk_key_spec spec = xts512();
	struct sk_secret *key = random_key(&spec);
	struct sk_secret *parts[2] = { random_part(), random_part() };
	unsigned char *blob = NULL;
	size_t len = 0;
	struct sk_hsm *hsm;

	do_init(TWO, NULL, 0);
	hsm = hsm_open(TWO);
	REQUIRE_REFUSED(sk_hsm_wrap(hsm, SK_REG_OLD, &spec, key, &blob, &len), -EINVAL, "OLD");
	REQUIRE_REFUSED(sk_hsm_wrap(hsm, SK_REG_NEW, &spec, key, &blob, &len), -ENOKEY,
			"NEW register");
	ATF_REQUIRE_EQ(sk_hsm_load_part(hsm, parts[0], NULL), 0);
	ATF_REQUIRE_EQ(sk_hsm_load_part(hsm, parts[1], NULL), 0);
	REQUIRE_REFUSED(sk_hsm_wrap(hsm, SK_REG_NEW, &spec, key, &blob, &len), -ENOKEY,
			"full-uncommitted");
	ATF_REQUIRE(blob == NULL);
	sk_hsm_close(hsm);
	sk_secret_free(key);
	free_parts(parts, 2);
}

ATF_TC_WITHOUT_HEAD(wrap_new_after_commit_unwraps_as_new);
ATF_TC_BODY(wrap_new_after_commit_unwraps_as_new, tc)
{
	struct sk_key_spec spec = xts512();
	struct sk_secret *key = random_key(&spec);
	unsigned char new[SK_MKVP_LEN], *blob = NULL, *cur_blob = NULL, *staged = NULL;
	size_t len = 0, cur_len = 0, staged_len = 0;
	struct sk_blob_header hdr;
	struct sk_hsm *hsm;

	do_init(TWO, NULL, 0);
	hsm = hsm_open(TWO);
	ATF_REQUIRE_EQ(sk_hsm_wrap(hsm, SK_REG_CURRENT, &spec, key, &cur_blob, &cur_len), 0);
	stage_new(TWO, new);
	ATF_REQUIRE_EQ(sk_hsm_wrap(hsm, SK_REG_NEW, &spec, key, &blob, &len), 0);
	ATF_REQUIRE_EQ(sk_blob_parse(blob, len, &hdr), 0);
	ATF_REQUIRE(sk_mkvp_equal(hdr.mkvp, new));
	require_unwraps(TWO, blob, len, key, SK_REG_NEW);
	/* A staged re-encipher: CURRENT -> NEW, same key. */
	ATF_REQUIRE_EQ(sk_hsm_rewrap(hsm, cur_blob, cur_len, SK_REG_CURRENT, SK_REG_NEW, &staged,
				     &staged_len),
		       0);
	require_unwraps(TWO, staged, staged_len, key, SK_REG_NEW);
	/* After set, the staged blob is under CURRENT. */
	do_set(TWO);
	require_unwraps(TWO, staged, staged_len, key, SK_REG_CURRENT);
	require_unwraps(TWO, cur_blob, cur_len, key, SK_REG_OLD);
	sk_hsm_close(hsm);
	sk_secret_free(key);
	free(blob);
	free(cur_blob);
	free(staged);
}

ATF_TC_WITHOUT_HEAD(old_blob_unwraps_as_old_and_rewraps);
ATF_TC_BODY(old_blob_unwraps_as_old_and_rewraps, tc)
{
	struct sk_key_spec spec = xts512();
	struct sk_secret *key = random_key(&spec);
	unsigned char new[SK_MKVP_LEN], *blob = NULL, *out = NULL, *bad = NULL;
	size_t len = 0, out_len = 0, bad_len = 0;
	struct sk_blob_header hdr;
	struct sk_hsm *hsm;

	do_init(TWO, NULL, 0);
	hsm = hsm_open(TWO);
	ATF_REQUIRE_EQ(sk_hsm_wrap(hsm, SK_REG_CURRENT, &spec, key, &blob, &len), 0);
	stage_new(TWO, new);
	do_set(TWO);
	require_unwraps(TWO, blob, len, key, SK_REG_OLD);
	ATF_REQUIRE_EQ(sk_hsm_rewrap(hsm, blob, len, SK_REG_OLD, SK_REG_CURRENT, &out, &out_len),
		       0);
	ATF_REQUIRE_EQ(out_len, len);
	ATF_REQUIRE_EQ(sk_blob_parse(out, out_len, &hdr), 0);
	ATF_REQUIRE(sk_mkvp_equal(hdr.mkvp, new));
	ATF_REQUIRE_EQ(hdr.key.bits, 512u);
	require_unwraps(TWO, out, out_len, key, SK_REG_CURRENT);
	/* The rewrapped blob is under CURRENT, not OLD: rewrap(OLD->...) refuses it. */
	REQUIRE_REFUSED(sk_hsm_rewrap(hsm, out, out_len, SK_REG_OLD, SK_REG_CURRENT, &bad,
				      &bad_len),
			-EINVAL, "enciphered with the CURRENT master key");
	REQUIRE_REFUSED(sk_hsm_rewrap(hsm, blob, len, SK_REG_OLD, SK_REG_OLD, &bad, &bad_len),
			-EINVAL, "never enciphered with the OLD");
	ATF_REQUIRE(bad == NULL);
	sk_hsm_close(hsm);
	sk_secret_free(key);
	free(blob);
	free(out);
}

ATF_TC_WITHOUT_HEAD(blob_fails_after_second_set);
ATF_TC_BODY(blob_fails_after_second_set, tc)
{
	struct sk_key_spec spec = xts512();
	struct sk_secret *key = random_key(&spec), *back = NULL;
	unsigned char first[SK_MKVP_LEN], new[SK_MKVP_LEN], *blob = NULL, *out = NULL;
	char hex[SK_MKVP_HEX_LEN + 1];
	size_t len = 0, out_len = 0;
	enum sk_mk_register reg;
	struct sk_hsm *hsm;

	do_init(TWO, NULL, 0);
	current_mkvp(TWO, first);
	sk_mkvp_to_hex(first, hex);
	hsm = hsm_open(TWO);
	ATF_REQUIRE_EQ(sk_hsm_wrap(hsm, SK_REG_CURRENT, &spec, key, &blob, &len), 0);
	stage_new(TWO, new);
	do_set(TWO);
	stage_new(TWO, new);
	do_set(TWO);
	REQUIRE_REFUSED(sk_hsm_unwrap(hsm, blob, len, &back, &reg), -ENOKEY, hex);
	ATF_REQUIRE(back == NULL);
	REQUIRE_REFUSED(sk_hsm_rewrap(hsm, blob, len, SK_REG_OLD, SK_REG_CURRENT, &out, &out_len),
			-ENOKEY, hex);
	ATF_REQUIRE(out == NULL);
	sk_hsm_close(hsm);
	sk_secret_free(key);
	free(blob);
}

ATF_TC_WITHOUT_HEAD(unwrap_altered_blob_fails);
ATF_TC_BODY(unwrap_altered_blob_fails, tc)
{
	struct sk_key_spec spec = xts512();
	struct sk_secret *key = random_key(&spec), *back = NULL;
	unsigned char *blob = NULL;
	char hex[SK_MKVP_HEX_LEN + 1];
	size_t len = 0;
	enum sk_mk_register reg;
	struct sk_hsm *hsm;

	do_init(TWO, NULL, 0);
	hsm = hsm_open(TWO);
	ATF_REQUIRE_EQ(sk_hsm_wrap(hsm, SK_REG_CURRENT, &spec, key, &blob, &len), 0);
	/* a ciphertext bit: authentication fails under the right master key */
	sk_mkvp_to_hex(blob + 8, hex);
	blob[SK_BLOB_HEADER_LEN + 3] ^= 0x10;
	REQUIRE_REFUSED(sk_hsm_unwrap(hsm, blob, len, &back, &reg), -EKEYREJECTED, hex);
	blob[SK_BLOB_HEADER_LEN + 3] ^= 0x10;
	/* an MKVP bit: no register holds the master key it names now */
	blob[8] ^= 0x01;
	sk_mkvp_to_hex(blob + 8, hex);
	REQUIRE_REFUSED(sk_hsm_unwrap(hsm, blob, len, &back, &reg), -ENOKEY, hex);
	blob[8] ^= 0x01;
	/* truncated */
	REQUIRE_REFUSED(sk_hsm_unwrap(hsm, blob, len - 1, &back, &reg), -EINVAL, "corrupt");
	ATF_REQUIRE(back == NULL);
	require_unwraps(TWO, blob, len, key, SK_REG_CURRENT);
	sk_hsm_close(hsm);
	sk_secret_free(key);
	free(blob);
}

/* ---- state files and directory ------------------------------------------- */

ATF_TC_WITHOUT_HEAD(state_files_are_0600);
ATF_TC_BODY(state_files_are_0600, tc)
{
	unsigned char mkvp[SK_MKVP_LEN];
	struct snapshot snap;

	umask(0);
	do_init(TWO, NULL, 0);
	stage_new(TWO, mkvp);
	do_set(TWO);
	snapshot_take(HSM_DIR, &snap);
	ATF_REQUIRE_EQ(snap.dir_mode & 07777, 0700u);
	for (size_t i = 0; i < snap.count; i++)
		ATF_REQUIRE_EQ_MSG(snap.entries[i].mode & 07777, 0600u, "%s has mode %04o",
				   snap.entries[i].name, (unsigned)(snap.entries[i].mode & 07777));
	/* the two state files and the lock file, no temp files left over */
	ATF_REQUIRE_EQ(snap.count, (size_t)3);
	ATF_REQUIRE_STREQ(snap.entries[0].name, ".lock");
	ATF_REQUIRE_STREQ(snap.entries[1].name, "01.0001.mk");
	ATF_REQUIRE_STREQ(snap.entries[2].name, "02.0001.mk");
	snapshot_free(&snap);
}

ATF_TC_WITHOUT_HEAD(state_file_mode_0644_refused);
ATF_TC_BODY(state_file_mode_0644_refused, tc)
{
	struct sk_secret *part = random_part();
	struct sk_hsm_status st;
	struct sk_hsm *hsm;

	do_init(TWO, NULL, 0);
	ATF_REQUIRE(chmod(state_file(A2), 0644) == 0);
	hsm = hsm_open(TWO);
	REQUIRE_REFUSED(sk_hsm_status(hsm, &st), -EACCES, "chmod 0600");
	REQUIRE_REFUSED(sk_hsm_load_part(hsm, part, NULL), -EACCES, "chmod 0600");
	REQUIRE_REFUSED(sk_hsm_clear_new(hsm, NULL), -EACCES, "chmod 0600");
	ATF_REQUIRE(chmod(state_file(A2), 0640) == 0);
	REQUIRE_REFUSED(sk_hsm_load_part(hsm, part, NULL), -EACCES, "chmod 0600");
	ATF_REQUIRE(chmod(state_file(A2), 0600) == 0);
	ATF_REQUIRE_EQ(sk_hsm_load_part(hsm, part, NULL), 0);
	sk_hsm_close(hsm);
	sk_secret_free(part);
}

ATF_TC_WITHOUT_HEAD(state_file_other_owner_refused);
ATF_TC_BODY(state_file_other_owner_refused, tc)
{
	struct sk_secret *part = random_part();
	struct sk_hsm_status st;
	struct sk_hsm *hsm;

	if (geteuid() != 0)
		atf_tc_skip("needs root to chown a file");
	do_init(TWO, NULL, 0);
	ATF_REQUIRE(chown(state_file(A1), 65534, (gid_t)-1) == 0);
	hsm = hsm_open(TWO);
	REQUIRE_REFUSED(sk_hsm_status(hsm, &st), -EACCES, "chown");
	REQUIRE_REFUSED(sk_hsm_load_part(hsm, part, NULL), -EACCES, "chown");
	ATF_REQUIRE(chown(state_file(A1), 0, (gid_t)-1) == 0);
	ATF_REQUIRE_EQ(sk_hsm_status(hsm, &st), 0);
	sk_hsm_close(hsm);
	sk_secret_free(part);
}

/* Any byte of a state file, flipped, makes the file corrupt. */
ATF_TC_WITHOUT_HEAD(state_file_corrupt_refused);
ATF_TC_BODY(state_file_corrupt_refused, tc)
{
	struct sk_secret *part = random_part();
	unsigned char mkvp[SK_MKVP_LEN];
	struct sk_hsm_status st;
	struct sk_hsm *hsm;
	off_t size;

	do_init(TWO, NULL, 0);
	stage_new(TWO, mkvp); /* all three kinds of register content present */
	do_set(TWO);
	do_load(TWO, part);
	size = file_size(state_file(A1));
	ATF_REQUIRE(size > 0);
	hsm = hsm_open(TWO);
	for (off_t off = 0; off < size; off++) {
		flip_byte(state_file(A1), off, 0x01);
		if (off % 2)
			REQUIRE_REFUSED(sk_hsm_status(hsm, &st), -EUCLEAN, "corrupt");
		else
			REQUIRE_REFUSED(sk_hsm_load_part(hsm, part, NULL), -EUCLEAN, "corrupt");
		flip_byte(state_file(A1), off, 0x01);
	}
	ATF_REQUIRE_EQ(sk_hsm_status(hsm, &st), 0);
	require_reg(&st, SK_REG_NEW, SK_MK_PARTIAL, 1, NULL);
	sk_hsm_close(hsm);
	sk_secret_free(part);
}

ATF_TC_WITHOUT_HEAD(state_file_wrong_size_or_apqn_refused);
ATF_TC_BODY(state_file_wrong_size_or_apqn_refused, tc)
{
	struct sk_hsm_status st;
	unsigned char *data;
	struct sk_hsm *hsm;
	off_t size;
	int fd;

	do_init(A1, NULL, 0);
	size = file_size(state_file(A1));
	hsm = hsm_open(A1);
	ATF_REQUIRE(truncate(state_file(A1), size - 1) == 0);
	REQUIRE_REFUSED(sk_hsm_status(hsm, &st), -EUCLEAN, "corrupt");
	ATF_REQUIRE(truncate(state_file(A1), size + 1) == 0);
	REQUIRE_REFUSED(sk_hsm_status(hsm, &st), -EUCLEAN, "corrupt");
	ATF_REQUIRE(truncate(state_file(A1), 0) == 0);
	REQUIRE_REFUSED(sk_hsm_status(hsm, &st), -EUCLEAN, "corrupt");
	sk_hsm_close(hsm);

	/* A valid state file under another APQN's name. */
	do_init("03.0001", NULL, 0);
	data = malloc((size_t)size);
	ATF_REQUIRE(data != NULL);
	fd = open(state_file("03.0001"), O_RDONLY);
	ATF_REQUIRE(fd >= 0 && read(fd, data, (size_t)size) == (ssize_t)size);
	close(fd);
	fd = open(state_file(A2), O_WRONLY | O_CREAT | O_EXCL, 0600);
	ATF_REQUIRE(fd >= 0 && write(fd, data, (size_t)size) == (ssize_t)size);
	close(fd);
	free(data);
	hsm = hsm_open(A2);
	REQUIRE_REFUSED(sk_hsm_status(hsm, &st), -EUCLEAN, "another APQN");
	sk_hsm_close(hsm);
}

ATF_TC_WITHOUT_HEAD(hsm_dir_writable_by_others_refused);
ATF_TC_BODY(hsm_dir_writable_by_others_refused, tc)
{
	static const mode_t modes[] = { 0770, 0720, 0702, 0777 };
	struct sk_secret *part = random_part();
	struct sk_hsm_status st;
	struct sk_hsm *hsm;

	do_init(TWO, NULL, 0);
	hsm = hsm_open(TWO);
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		ATF_REQUIRE(chmod(HSM_DIR, modes[i]) == 0);
		REQUIRE_REFUSED(sk_hsm_load_part(hsm, part, NULL), -EACCES, "chmod 0700");
		REQUIRE_REFUSED(sk_hsm_status(hsm, &st), -EACCES, "chmod 0700");
		REQUIRE_REFUSED(sk_hsm_init(hsm, NULL, 0, NULL), -EACCES, "chmod 0700");
	}
	ATF_REQUIRE(chmod(HSM_DIR, 0700) == 0);
	ATF_REQUIRE_EQ(sk_hsm_load_part(hsm, part, NULL), 0);
	sk_hsm_close(hsm);
	sk_secret_free(part);
}

/* ---- locking ------------------------------------------------------------ */

ATF_TC_WITHOUT_HEAD(locked_hsm_refuses_with_ebusy);
ATF_TC_BODY(locked_hsm_refuses_with_ebusy, tc)
{
	struct sk_secret *part = random_part();
	struct sk_hsm_status st;
	struct sk_hsm *hsm;
	double t0, waited;
	int fd;

	do_init(TWO, NULL, 0);
	ATF_REQUIRE(setenv("SECUREKEY_LOCK_TIMEOUT", "1", 1) == 0);
	hsm = hsm_open(TWO);
	fd = open(HSM_DIR "/.lock", O_RDWR);
	ATF_REQUIRE_MSG(fd >= 0, "no lock file: %s", strerror(errno));
	ATF_REQUIRE(flock(fd, LOCK_EX) == 0);

	t0 = now_s();
	REQUIRE_REFUSED(sk_hsm_load_part(hsm, part, NULL), -EBUSY, "locked");
	waited = now_s() - t0;
	ATF_REQUIRE_MSG(waited >= 0.9 && waited < 10, "waited %.2f s for a 1 s timeout", waited);
	REQUIRE_REFUSED(sk_hsm_clear_new(hsm, NULL), -EBUSY, "locked");
	REQUIRE_REFUSED(sk_hsm_status(hsm, &st), -EBUSY, "locked"); /* readers wait too */

	/* A reader's shared lock lets status through but holds off changes. */
	ATF_REQUIRE(flock(fd, LOCK_SH) == 0);
	ATF_REQUIRE_EQ(sk_hsm_status(hsm, &st), 0);
	REQUIRE_REFUSED(sk_hsm_load_part(hsm, part, NULL), -EBUSY, "locked");

	ATF_REQUIRE(flock(fd, LOCK_UN) == 0);
	ATF_REQUIRE_EQ(sk_hsm_load_part(hsm, part, NULL), 0);
	/* and the operation let go of its lock */
	ATF_REQUIRE(flock(fd, LOCK_EX | LOCK_NB) == 0);
	close(fd);
	sk_hsm_close(hsm);
	sk_secret_free(part);
}

ATF_TC_WITHOUT_HEAD(lock_timeout_from_environment);
ATF_TC_BODY(lock_timeout_from_environment, tc)
{
	static const struct {
		const char *value;
		unsigned ms;
	} cases[] = {
		{ "1", 1000 }, { "0.25", 250 }, { "0", 0 }, { "86400", 86400000 },
		{ "", 30000 }, { "-1", 30000 }, { "abc", 30000 }, { "1s", 30000 },
		{ "86401", 30000 }, { "inf", 30000 },
	};

	ATF_REQUIRE(unsetenv("SECUREKEY_LOCK_TIMEOUT") == 0);
	ATF_REQUIRE_EQ(sk_lock_timeout_ms(), 30000u);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ATF_REQUIRE(setenv("SECUREKEY_LOCK_TIMEOUT", cases[i].value, 1) == 0);
		ATF_REQUIRE_EQ_MSG(sk_lock_timeout_ms(), cases[i].ms, "SECUREKEY_LOCK_TIMEOUT='%s'",
				   cases[i].value);
	}
	/* NaN must not pass the range check: (unsigned)(NaN * 1000) is undefined. */
	ATF_REQUIRE(setenv("SECUREKEY_LOCK_TIMEOUT", "nan", 1) == 0);
	ATF_CHECK_EQ_MSG(sk_lock_timeout_ms(), 30000u, "SECUREKEY_LOCK_TIMEOUT=nan gave %u ms",
			 sk_lock_timeout_ms());
}

/* Child: wait for the start signal, load @part, exit 0 on success. */
_Noreturn static void child_load_part(int start_fd, const struct sk_secret *part)
{
	struct sk_apqn_list list;
	struct sk_hsm *hsm = NULL;
	char c;
	int r;

	sk_log_set_sink(NULL, NULL);
	if (read(start_fd, &c, 1) < 0)
		_exit(3);
	r = sk_apqn_list_parse(TWO, &list);
	if (!r)
		r = sk_hsm_open(HSM_DIR, &list, &hsm);
	if (!r)
		r = sk_hsm_load_part(hsm, part, NULL);
	sk_hsm_close(hsm);
	_exit(r ? 1 : 0);
}

ATF_TC_WITHOUT_HEAD(concurrent_load_parts_none_lost);
ATF_TC_BODY(concurrent_load_parts_none_lost, tc)
{
	do_init(TWO, NULL, 0);
	for (int round = 0; round < 20; round++) {
		struct sk_secret *parts[3] = { random_part(), random_part(), random_part() };
		unsigned char want[SK_MKVP_LEN];
		pid_t pids[3];
		int start[2];

		ATF_REQUIRE(pipe(start) == 0);
		for (int i = 0; i < 3; i++) {
			pids[i] = fork();
			ATF_REQUIRE(pids[i] >= 0);
			if (pids[i] == 0) {
				close(start[1]);
				child_load_part(start[0], parts[i]);
			}
		}
		/* Closing the pipe releases all three children at once. */
		close(start[0]);
		close(start[1]);
		for (int i = 0; i < 3; i++) {
			int status;

			ATF_REQUIRE(waitpid(pids[i], &status, 0) == pids[i]);
			ATF_REQUIRE_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
					"round %d: child %d failed (status %#x)", round, i, status);
		}
		mkvp_of_parts(parts, 3, want);
		require_new(TWO, SK_MK_FULL_UNCOMMITTED, 3, want);
		do_clear_new(TWO);
		require_new(TWO, SK_MK_EMPTY, 0, NULL);
		free_parts(parts, 3);
	}
}

/* ---- names ---------------------------------------------------------------- */

ATF_TC_WITHOUT_HEAD(register_and_state_names);
ATF_TC_BODY(register_and_state_names, tc)
{
	static const char *const texts[] = { "old", "CURRENT", "New" };
	enum sk_mk_register reg;

	for (int i = 0; i < SK_REG_COUNT; i++) {
		ATF_REQUIRE_EQ(sk_register_parse(texts[i], &reg), 0);
		ATF_REQUIRE_EQ((int)reg, i);
		ATF_REQUIRE_EQ(sk_register_parse(sk_register_name(reg), &reg), 0);
		ATF_REQUIRE_EQ((int)reg, i);
	}
	ATF_REQUIRE_STREQ(sk_register_name(SK_REG_OLD), "OLD");
	ATF_REQUIRE_STREQ(sk_register_name(SK_REG_CURRENT), "CURRENT");
	ATF_REQUIRE_STREQ(sk_register_name(SK_REG_NEW), "NEW");
	ATF_REQUIRE_EQ(sk_register_parse("older", &reg), -EINVAL);
	ATF_REQUIRE_EQ(sk_register_parse("", &reg), -EINVAL);
	ATF_REQUIRE_EQ(sk_register_parse(NULL, &reg), -EINVAL);
	ATF_REQUIRE_STREQ(sk_mk_state_name(SK_MK_EMPTY), "empty");
	ATF_REQUIRE_STREQ(sk_mk_state_name(SK_MK_VALID), "valid");
	ATF_REQUIRE_STREQ(sk_mk_state_name(SK_MK_PARTIAL), "partial");
	ATF_REQUIRE_STREQ(sk_mk_state_name(SK_MK_FULL_UNCOMMITTED), "full-uncommitted");
	ATF_REQUIRE_STREQ(sk_mk_state_name(SK_MK_COMMITTED), "committed");
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, init_random_two_apqns);
	ATF_TP_ADD_TC(tp, init_from_two_or_three_parts_is_xor);
	ATF_TP_ADD_TC(tp, init_refuses_bad_part_count_or_cancelling_parts);
	ATF_TP_ADD_TC(tp, init_refuses_short_parts);
	ATF_TP_ADD_TC(tp, init_refuses_existing_apqn);
	ATF_TP_ADD_TC(tp, open_without_apqns_takes_all);
	ATF_TP_ADD_TC(tp, unknown_apqn_refused);
	ATF_TP_ADD_TC(tp, load_part_one_partial_two_full);
	ATF_TP_ADD_TC(tp, load_part_three_then_fourth_refused);
	ATF_TP_ADD_TC(tp, load_part_twice_refused);
	ATF_TP_ADD_TC(tp, load_part_from_part_file);
	ATF_TP_ADD_TC(tp, commit_needs_two_parts_and_happens_once);
	ATF_TP_ADD_TC(tp, commit_new_equal_to_current_refused);
	ATF_TP_ADD_TC(tp, set_needs_committed_new);
	ATF_TP_ADD_TC(tp, commit_then_set_moves_registers);
	ATF_TP_ADD_TC(tp, clear_new_from_every_state);
	ATF_TP_ADD_TC(tp, different_current_refused);
	ATF_TP_ADD_TC(tp, different_new_refused_until_cleared);
	ATF_TP_ADD_TC(tp, wrap_current_unwraps_as_current);
	ATF_TP_ADD_TC(tp, wrap_refuses_old_and_uncommitted_new);
	ATF_TP_ADD_TC(tp, wrap_new_after_commit_unwraps_as_new);
	ATF_TP_ADD_TC(tp, old_blob_unwraps_as_old_and_rewraps);
	ATF_TP_ADD_TC(tp, blob_fails_after_second_set);
	ATF_TP_ADD_TC(tp, unwrap_altered_blob_fails);
	ATF_TP_ADD_TC(tp, state_files_are_0600);
	ATF_TP_ADD_TC(tp, state_file_mode_0644_refused);
	ATF_TP_ADD_TC(tp, state_file_other_owner_refused);
	ATF_TP_ADD_TC(tp, state_file_corrupt_refused);
	ATF_TP_ADD_TC(tp, state_file_wrong_size_or_apqn_refused);
	ATF_TP_ADD_TC(tp, hsm_dir_writable_by_others_refused);
	ATF_TP_ADD_TC(tp, locked_hsm_refuses_with_ebusy);
	ATF_TP_ADD_TC(tp, lock_timeout_from_environment);
	ATF_TP_ADD_TC(tp, concurrent_load_parts_none_lost);
	ATF_TP_ADD_TC(tp, register_and_state_names);
	return atf_no_error();
}
