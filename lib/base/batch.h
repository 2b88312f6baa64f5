/*
 * Run one piece of work per device over many devices in parallel worker
 * processes. Processes rather than threads: libcryptsetup keeps global
 * state (log callback, memory-lock count), and a worker that crashes on one
 * device must not take the rest of the batch with it. Each result travels
 * to the parent as one fixed-size record in one pipe write (atomic below
 * PIPE_BUF), so results of parallel workers never interleave.
 */
#ifndef SECUREKEY_BATCH_H
#define SECUREKEY_BATCH_H

#include <stdbool.h>
#include <stddef.h>

enum sk_batch_outcome {
	SK_BATCH_PENDING, /* not reported yet */
	SK_BATCH_OK,
	SK_BATCH_SKIPPED, /* nothing to do, or not this step: detail says why */
	SK_BATCH_FAILED,
	SK_BATCH_IGNORED, /* not selected (no securekey token, other APQNs): not shown */
};

#define SK_BATCH_DETAIL_MAX 400
#define SK_BATCH_UUID_MAX 40

struct sk_batch_item {
	const char *path;
	enum sk_batch_outcome outcome;
	char uuid[SK_BATCH_UUID_MAX];
	char detail[SK_BATCH_DETAIL_MAX];
	/* Skipped although it has a step to take (no passphrase for it): not done. */
	bool unfinished;
};

/*
 * Runs in a worker for one item: sets outcome, uuid and detail. When it
 * fails without a detail, the first error it logged becomes the detail.
 */
typedef void (*sk_batch_work)(struct sk_batch_item *item, void *ctx);
/* Runs in the parent for each result, in the order they arrive. */
typedef void (*sk_batch_done)(const struct sk_batch_item *item, size_t done, void *ctx);

/*
 * Run @work on each of @items with up to @jobs workers. Items whose worker
 * died are failed with the signal named. Returns 0, or a negative errno
 * when the batch could not start.
 */
int sk_batch_run(struct sk_batch_item *items, size_t count, unsigned jobs, sk_batch_work work,
		 void *work_ctx, sk_batch_done done, void *done_ctx);

const char *sk_batch_outcome_name(enum sk_batch_outcome outcome);

#endif
