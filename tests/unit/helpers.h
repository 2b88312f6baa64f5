/*
 * Shared helpers of the soft-HSM unit tests: a test HSM directory, file
 * snapshots to prove that a refusal changed nothing, a log sink that keeps
 * the last error, and key parts.
 *
 * ATF runs every test case in its own empty temporary directory, so the HSM
 * lives in the relative directory HSM_DIR.
 */
#ifndef SECUREKEY_TESTS_HELPERS_H
#define SECUREKEY_TESTS_HELPERS_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <sys/types.h>

#include <atf-c.h>

#include "hsm.h"
#include "secmem.h"

#define HSM_DIR "hsm"

/*
 * libatf-c never frees the test-case list it builds for "-l" (allocated in
 * atf_tp_get_tcs and the atf maps and lists under it), so LeakSanitizer
 * would turn kyua's listing of every test program into "broken". Every test
 * program expands this once at file scope (not helpers.c: it is linked from
 * a static archive, which only pulls it in where a helper is called); only those atf functions are
 * suppressed, leaks in the library and the tests are still reported. The
 * hooks are plain functions that only a sanitizer runtime ever calls.
 */
#define SK_TEST_LSAN_SUPPRESSIONS                                                             \
	const char *__lsan_default_suppressions(void);                                        \
	const char *__lsan_default_suppressions(void)                                         \
	{                                                                                     \
		return "leak:atf_tp_get_tcs\n"                                                \
		       "leak:atf_map_init_charpp\n"                                           \
		       "leak:atf_map_insert\n"                                                \
		       "leak:atf_list_init\n"                                                 \
		       "leak:atf_list_append\n";                                              \
	}                                                                                     \
	/* and without the "Suppressions used" report, kyua calls stderr broken */          \
	const char *__lsan_default_options(void);                                             \
	const char *__lsan_default_options(void)                                              \
	{                                                                                     \
		return "print_suppressions=0";                                                \
	}

/* Create @dir with mode 0700 (it must not exist yet). */
void helper_mkdir(const char *dir);

/* The whole file @path in a malloc'd buffer of exactly its size (fails the test). */
void helper_read_file(const char *path, unsigned char **data, size_t *len);

/* Every entry of a directory: name, mode, owner and (for files) content. */
struct snapshot_entry {
	char *name;
	mode_t mode;
	uid_t uid;
	unsigned char *data;
	size_t len;
};

struct snapshot {
	mode_t dir_mode;
	size_t count;
	struct snapshot_entry *entries; /* sorted by name */
};

void snapshot_take(const char *dir, struct snapshot *snap);
void snapshot_free(struct snapshot *snap);
/* Fails the test, naming the first difference (never the content). */
void snapshot_require_equal(const struct snapshot *before, const struct snapshot *after,
			    const char *what);

/* Log sink: keeps the last error message and counts errors. */
void capture_start(void);
const char *capture_last_error(void);
int capture_errors(void);

/* A random 32-byte key part in secret memory. */
struct sk_secret *random_secret(size_t len);
/* A random volume key of @spec's size. */
struct sk_secret *random_key(const struct sk_key_spec *spec);
struct sk_secret *random_part(void);
/* XOR of @n parts into a fresh 32-byte secret. */
struct sk_secret *xor_parts(struct sk_secret *const *parts, size_t n);
/* MKVP of the master key @mk. */
void mkvp_of(const struct sk_secret *mk, unsigned char mkvp[SK_MKVP_LEN]);
/* MKVP of the XOR of @n parts. */
void mkvp_of_parts(struct sk_secret *const *parts, size_t n, unsigned char mkvp[SK_MKVP_LEN]);
/* Write @part to a new 0600 file @path (32 bytes, nothing else). */
void write_part(const char *path, const struct sk_secret *part);

/* Open the soft HSM in HSM_DIR for the APQNs in @csv ("" for all). */
struct sk_hsm *hsm_open(const char *csv);
/* sk_hsm_status of @csv; fails the test on error. */
void hsm_status(const char *csv, struct sk_hsm_status *status);

/* Path of the state file of APQN @apqn ("01.0001") in HSM_DIR; static buffer. */
const char *state_file(const char *apqn);

/*
 * Evaluate @expr between two snapshots of HSM_DIR: it must return @err,
 * log an error that contains @needle, and leave every file as it was.
 */
#define REQUIRE_REFUSED(expr, err, needle)                                                    \
	do {                                                                                  \
		struct snapshot before_, after_;                                              \
		int r_;                                                                       \
                                                                                              \
		snapshot_take(HSM_DIR, &before_);                                             \
		capture_start();                                                              \
		r_ = (expr);                                                                  \
		ATF_REQUIRE_EQ_MSG(r_, (err), "%s returned %d (%s), expected %d", #expr, r_,  \
				   strerror(-r_), (err));                                     \
		ATF_REQUIRE_MSG(capture_errors() > 0, "%s was refused without a message",     \
				#expr);                                                       \
		ATF_REQUIRE_MSG(strstr(capture_last_error(), (needle)) != NULL,               \
				"%s: message lacks '%s': %s", #expr, (needle),                \
				capture_last_error());                                        \
		snapshot_take(HSM_DIR, &after_);                                              \
		snapshot_require_equal(&before_, &after_, #expr);                             \
		snapshot_free(&before_);                                                      \
		snapshot_free(&after_);                                                       \
	} while (0)

#endif
