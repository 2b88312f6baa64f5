/* What the operator sees of a batch: progress, JSON lines, the summary. */
#ifndef SECUREKEY_CLI_BATCH_REPORT_H
#define SECUREKEY_CLI_BATCH_REPORT_H

#include "batch_run.h"

void cli_batch_report_start(struct cli_batch *b);
/* An sk_batch_done: count, print the JSON line or redraw the progress. */
void cli_batch_report_item(const struct sk_batch_item *item, size_t done, void *ctx);
void cli_batch_report_end(struct cli_batch *b);

#endif
