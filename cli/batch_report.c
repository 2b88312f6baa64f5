/* Batch output: a progress line on a terminal, JSON lines, the summary. */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "batch_report.h"

#define BAR_WIDTH 24
#define REDRAW_NS 100000000LL

static double seconds_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t->tv_sec) + (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

void cli_batch_report_start(struct cli_batch *b)
{
	b->ok = b->skipped = b->failed = b->ignored = b->unfinished = 0;
	b->progress = !b->json && isatty(STDERR_FILENO);
	clock_gettime(CLOCK_MONOTONIC, &b->started);
	b->drawn = (struct timespec){ 0 };
	if (b->phase && !b->json)
		printf("%s: %zu device%s\n", b->phase, b->count, b->count == 1 ? "" : "s");
	fflush(stdout);
}

static void draw_progress(struct cli_batch *b, size_t done, bool force)
{
	struct timespec now;
	double elapsed = seconds_since(&b->started), rate = elapsed > 0 ? (double)done / elapsed : 0;
	double eta = rate > 0 ? (double)(b->count - done) / rate : 0;
	size_t filled = b->count ? done * BAR_WIDTH / b->count : BAR_WIDTH;
	char bar[BAR_WIDTH + 1];

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!force && (now.tv_sec - b->drawn.tv_sec) * 1000000000LL + now.tv_nsec -
				     b->drawn.tv_nsec < REDRAW_NS)
		return;
	b->drawn = now;
	memset(bar, '#', filled);
	memset(bar + filled, '.', BAR_WIDTH - filled);
	bar[BAR_WIDTH] = '\0';
	fprintf(stderr, "\r[%s] %zu/%zu done, %zu failed, %.1f/s, ETA %d:%02d ", bar, done,
		b->count, b->failed, rate, (int)eta / 60, (int)eta % 60);
	fflush(stderr);
}

static void print_json_line(const struct sk_batch_item *item)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "path", json_object_new_string(item->path));
	json_object_object_add(o, "uuid", item->uuid[0] ? json_object_new_string(item->uuid) : NULL);
	json_object_object_add(o, "result",
			       json_object_new_string(sk_batch_outcome_name(item->outcome)));
	json_object_object_add(o, "detail", json_object_new_string(item->detail));
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						       JSON_C_TO_STRING_NOSLASHESCAPE));
	fflush(stdout);
	json_object_put(o);
}

void cli_batch_report_item(const struct sk_batch_item *item, size_t done, void *ctx)
{
	struct cli_batch *b = ctx;

	b->ok += item->outcome == SK_BATCH_OK;
	b->skipped += item->outcome == SK_BATCH_SKIPPED;
	b->failed += item->outcome == SK_BATCH_FAILED;
	b->ignored += item->outcome == SK_BATCH_IGNORED;
	b->unfinished += item->outcome == SK_BATCH_SKIPPED && item->unfinished;
	if (b->on_result)
		b->on_result(item, b->on_result_ctx);
	if (b->json && item->outcome != SK_BATCH_IGNORED)
		print_json_line(item);
	if (b->progress)
		draw_progress(b, done, done == b->count);
}

void cli_batch_report_end(struct cli_batch *b)
{
	if (b->progress && b->count)
		fputc('\n', stderr);
}

static void print_table(const struct cli_batch *b)
{
	printf("%-7s  %-36s  %-28s  %s\n", "RESULT", "UUID", "DEVICE", "DETAIL");
	for (size_t i = 0; i < b->count; i++) {
		const struct sk_batch_item *item = &b->items[i];

		if (item->outcome != SK_BATCH_IGNORED)
			printf("%-7s  %-36s  %-28s  %s\n", sk_batch_outcome_name(item->outcome),
			       item->uuid[0] ? item->uuid : "-", item->path, item->detail);
	}
}

/*
 * The skipped devices the key file map has no passphrase for: their step is
 * not done. Only with a map, so that other runs print what they always did.
 */
static void format_no_passphrase(const struct cli_batch *b, char *text, size_t size)
{
	text[0] = '\0';
	if (b->keymap.path && b->json)
		snprintf(text, size, "\"no_passphrase\":%zu,", b->unfinished);
	else if (b->keymap.path)
		snprintf(text, size, " (%zu without a passphrase)", b->unfinished);
}

void cli_batch_summary(const struct cli_batch *b)
{
	size_t shown = b->count - b->ignored;
	double elapsed = seconds_since(&b->started);
	char no_pass[64];

	format_no_passphrase(b, no_pass, sizeof(no_pass));
	if (b->json) {
		printf("{\"summary\":{%s%s%s\"devices\":%zu,\"ok\":%zu,\"skipped\":%zu,%s"
		       "\"failed\":%zu,\"seconds\":%.3f}}\n",
		       b->pass ? "\"pass\":\"" : "", b->pass ? b->pass : "", b->pass ? "\"," : "",
		       shown, b->ok, b->skipped, no_pass, b->failed, elapsed);
	} else {
		print_table(b);
		printf("%zu device%s: %zu ok, %zu skipped%s, %zu failed (%.1f s)\n", shown,
		       shown == 1 ? "" : "s", b->ok, b->skipped, no_pass, b->failed, elapsed);
	}
	fflush(stdout);
}
