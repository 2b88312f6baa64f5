/*
 * The journal of a master-key rotation: <state>/rotate/<TO-MKVP>-<APQNS>.journal,
 * one line per event, on disk before the next step starts:
 *
 *   securekey-rotate 1
 *   apqns   01.0001,02.0001
 *   from    <MKVP of CURRENT when the rotation began>
 *   to      <MKVP of NEW>
 *   begin   <time>
 *   key-file-map <path>                                  (with --key-file-map)
 *   stage   <ok|skipped|failed> <uuid> <path> <detail>   (one per device)
 *   set     <time>
 *   complete <ok|skipped|failed> <uuid> <path> <detail>
 *   resume  <time>
 *   end     <time>                                       (every volume completed)
 *
 * Fields are separated by tabs. The devices' tokens, not the journal, say
 * what each device needs next; the journal holds what the registers no
 * longer show (from, to, whether the rotation ended) and the record of it.
 */
#ifndef SECUREKEY_CLI_ROTATE_JOURNAL_H
#define SECUREKEY_CLI_ROTATE_JOURNAL_H

#include <limits.h>
#include <stdbool.h>

#include "apqn.h"
#include "journal.h"
#include "mkvp.h"

struct rotation {
	char path[PATH_MAX];
	struct sk_apqn_list apqns;
	unsigned char from[SK_MKVP_LEN], to[SK_MKVP_LEN];
	char begun[32];
	char key_file_map[PATH_MAX]; /* the last one given, "" for none: --resume takes it */
	bool set, ended;
};

/*
 * The rotations of @apqns on record: *open is the unfinished one (at most one
 * exists), *last_ended the newest that ended. Each is NULL when there is none.
 */
int rotation_find(const struct sk_apqn_list *apqns, struct rotation **open,
		  struct rotation **last_ended);

/* Start the journal of a new rotation (the directory is made 0700). */
int rotation_begin(struct rotation *rot, struct sk_journal **journal);
/* Go on with the journal of @rot. */
int rotation_continue(const struct rotation *rot, struct sk_journal **journal);

/* "2026-11-23T10:00:00Z" now. */
const char *rotation_now(void);

#endif
