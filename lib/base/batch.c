#include "config.h"

#include "batch.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "secfile.h"
#include "secmem.h"

#define MAX_JOBS 256

/* What a worker sends for one item. */
struct record {
	size_t index;
	enum sk_batch_outcome outcome;
	char uuid[SK_BATCH_UUID_MAX];
	char detail[SK_BATCH_DETAIL_MAX];
	bool unfinished;
};
_Static_assert(sizeof(struct record) <= PIPE_BUF, "a record must be written atomically");

/* Shared between the parent and its workers (MAP_SHARED). */
struct shared {
	atomic_size_t next;
	atomic_int claimed[]; /* 1 once a worker took the item */
};

struct worker {
	struct sk_batch_item *items;
	size_t count;
	struct shared *shared;
	int out;
	sk_batch_work work;
	void *ctx;
	char first_error[SK_BATCH_DETAIL_MAX];
};

static const char *const outcome_names[] = {
	[SK_BATCH_PENDING] = "pending", [SK_BATCH_OK] = "ok",
	[SK_BATCH_SKIPPED] = "skipped", [SK_BATCH_FAILED] = "failed",
	[SK_BATCH_IGNORED] = "ignored",
};

const char *sk_batch_outcome_name(enum sk_batch_outcome outcome)
{
	return outcome_names[outcome];
}

/* The report names the device in a column of its own: no "DEVICE: " in front. */
static const char *without_subject(const char *msg)
{
	const char *subject = sk_log_get_subject();
	size_t n = subject ? strlen(subject) : 0;

	if (n && !strncmp(msg, subject, n) && !strncmp(msg + n, ": ", 2))
		return msg + n + 2;
	return msg;
}

/* In a worker, errors are kept for the summary instead of being printed. */
static void keep_first_error(enum sk_log_level level, const char *msg, void *ctx)
{
	struct worker *w = ctx;

	if (level == SK_LOG_ERROR && !w->first_error[0])
		snprintf(w->first_error, sizeof(w->first_error), "%s", without_subject(msg));
	else if (level >= SK_LOG_DEBUG && sk_log_get_level() >= level)
		fprintf(stderr, "%s\n", msg);
}

static int send_record(int fd, const struct record *rec)
{
	return sk_write_full(fd, rec, sizeof(*rec));
}

static void run_item(struct worker *w, size_t index)
{
	struct sk_batch_item *item = &w->items[index];
	struct record rec = { .index = index };

	w->first_error[0] = '\0';
	item->outcome = SK_BATCH_FAILED;
	w->work(item, w->ctx);
	if (item->outcome == SK_BATCH_FAILED && !item->detail[0])
		snprintf(item->detail, sizeof(item->detail), "%s",
			 w->first_error[0] ? w->first_error : "failed");
	rec.outcome = item->outcome;
	rec.unfinished = item->unfinished;
	memcpy(rec.uuid, item->uuid, sizeof(rec.uuid));
	memcpy(rec.detail, item->detail, sizeof(rec.detail));
	rec.uuid[sizeof(rec.uuid) - 1] = rec.detail[sizeof(rec.detail) - 1] = '\0';
	if (send_record(w->out, &rec) < 0)
		_exit(2);
}

static _Noreturn void worker_main(struct worker *w, pid_t parent)
{
	size_t index;

	/* A killed parent (kill -9 of the command) must not leave workers writing. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(3);
	/* The passphrase read by the parent must not end up in an unlocked copy. */
	if (sk_secmem_after_fork() < 0) {
		sk_err("a worker process cannot lock its memory; raise the memlock limit (ulimit -l)");
		_exit(4);
	}
	sk_log_set_sink(keep_first_error, w);
	while ((index = atomic_fetch_add(&w->shared->next, 1)) < w->count) {
		atomic_store(&w->shared->claimed[index], 1);
		run_item(w, index);
	}
	/* _exit: the parent owns stdio buffers and atexit cleanup. */
	_exit(0);
}

static int read_record(int fd, struct record *rec)
{
	char *p = (char *)rec;
	size_t got = 0;

	while (got < sizeof(*rec)) {
		ssize_t n = read(fd, p + got, sizeof(*rec) - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n == 0 ? 0 : -errno;
		got += (size_t)n;
	}
	return 1;
}

static void accept_record(struct sk_batch_item *items, size_t count, const struct record *rec)
{
	struct sk_batch_item *item;

	if (rec->index >= count || rec->outcome == SK_BATCH_PENDING ||
	    rec->outcome > SK_BATCH_IGNORED)
		return;
	item = &items[rec->index];
	item->outcome = rec->outcome;
	item->unfinished = rec->unfinished;
	memcpy(item->uuid, rec->uuid, sizeof(item->uuid));
	memcpy(item->detail, rec->detail, sizeof(item->detail));
}

/* Items a dead worker had taken, or that no worker lived to take. */
static void fail_unreported(struct sk_batch_item *items, size_t count, const struct shared *sh,
			    int last_signal, sk_batch_done done, void *done_ctx, size_t *finished)
{
	for (size_t i = 0; i < count; i++) {
		if (items[i].outcome != SK_BATCH_PENDING)
			continue;
		items[i].outcome = SK_BATCH_FAILED;
		if (atomic_load(&sh->claimed[i]))
			snprintf(items[i].detail, sizeof(items[i].detail),
				 "the worker process died (%s) while working on it; check the device "
				 "with 'securekey-cryptsetup validate', then run again",
				 last_signal ? strsignal(last_signal) : "exit status");
		else
			snprintf(items[i].detail, sizeof(items[i].detail),
				 "not processed: every worker process died");
		done(&items[i], ++*finished, done_ctx);
	}
}

static int start_workers(struct worker *w, unsigned jobs, int in, pid_t *pids, unsigned *started)
{
	pid_t parent = getpid();

	fflush(NULL);
	for (*started = 0; *started < jobs; (*started)++) {
		pid_t pid = fork();

		if (pid < 0) {
			sk_err("cannot start a worker process: %s", strerror(errno));
			return *started ? 0 : -errno;
		}
		if (pid == 0) {
			close(in);
			worker_main(w, parent);
		}
		pids[*started] = pid;
	}
	return 0;
}

static int wait_workers(const pid_t *pids, unsigned started)
{
	int last_signal = 0, status;

	for (unsigned i = 0; i < started; i++) {
		while (waitpid(pids[i], &status, 0) < 0 && errno == EINTR)
			;
		if (WIFSIGNALED(status))
			last_signal = WTERMSIG(status);
	}
	return last_signal;
}

int sk_batch_run(struct sk_batch_item *items, size_t count, unsigned jobs, sk_batch_work work,
		 void *work_ctx, sk_batch_done done, void *done_ctx)
{
	size_t shared_size = sizeof(struct shared) + count * sizeof(atomic_int), finished = 0;
	struct worker w = { .items = items, .count = count, .work = work, .ctx = work_ctx };
	pid_t pids[MAX_JOBS];
	unsigned started = 0;
	struct record rec;
	int fds[2], r;

	for (size_t i = 0; i < count; i++) {
		items[i].outcome = SK_BATCH_PENDING;
		items[i].unfinished = false;
	}
	if (!count)
		return 0;
	jobs = jobs < 1 ? 1 : jobs > MAX_JOBS ? MAX_JOBS : jobs;
	if (jobs > count)
		jobs = (unsigned)count;
	w.shared = mmap(NULL, shared_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (w.shared == MAP_FAILED)
		return -errno;
	if (pipe2(fds, O_CLOEXEC) < 0) {
		r = -errno;
		munmap(w.shared, shared_size);
		return r;
	}
	w.out = fds[1];
	r = start_workers(&w, jobs, fds[0], pids, &started);
	close(fds[1]);
	while (started && (r = read_record(fds[0], &rec)) > 0) {
		accept_record(items, count, &rec);
		if (rec.index < count)
			done(&items[rec.index], ++finished, done_ctx);
	}
	close(fds[0]);
	fail_unreported(items, count, w.shared, wait_workers(pids, started), done, done_ctx,
			&finished);
	munmap(w.shared, shared_size);
	return started ? 0 : r;
}
