/*
 * securekey rotate: the whole master-key change of an APQN set as one
 * command (seeds 000 and 002): stage every known volume bound to the set to
 * the committed NEW master key, set NEW on every APQN, complete every
 * volume. Each step is journaled before the next begins, so --resume after
 * a crash or a failed device picks up where the registers and tokens say.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "batch_run.h"
#include "conf.h"
#include "identity.h"
#include "lockfile.h"
#include "log.h"
#include "paths.h"
#include "rotate_journal.h"

static const char usage[] =
	"Usage: securekey rotate --apqns AA.DDDD[,...] [--resume] [--dry-run]\n"
	"                        [--auth=token | --key-file FILE] [--jobs N] [--json]\n"
	"\n"
	"Change the master key of an APQN set in one command, once the NEW master\n"
	"key is committed with one MKVP on every APQN: stage every known volume\n"
	"bound to the set to the NEW master key, set NEW on every APQN (CURRENT\n"
	"becomes OLD), then complete every volume. A journal under\n"
	"/var/lib/securekey/rotate/ records each step. A device that fails is\n"
	"reported and the others go on; its key stays under a register that still\n"
	"works, and --resume finishes it after the cause is fixed, as it finishes a\n"
	"rotation that was interrupted. Running it again after success does nothing.\n"
	"\n"
	"Options:\n"
	"  -a, --apqns LIST  the APQN set whose master key changes (required)\n"
	"  --resume          finish the unfinished rotation of the set\n"
	"  --dry-run         print the plan and each volume's next step; change nothing\n"
	CLI_BATCH_HELP CLI_COMMON_HELP;

enum phase { PHASE_NOTHING, PHASE_STAGE, PHASE_SET, PHASE_COMPLETE };

struct rotate {
	struct cli_batch batch;
	bool resume, dry_run;
	struct sk_hsm_status status;
	struct rotation *open, *ended;
	struct rotation rot;
	struct sk_journal *journal;
	const char *step; /* "stage" or "complete": the journal's word for results */
	bool journal_failed;
};

/* A line for the operator; with --json, a {"message": ...} object among the device lines. */
static void __attribute__((format(printf, 2, 3))) say(const struct rotate *rt, const char *fmt, ...)
{
	char *text = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (rt->batch.json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "message", json_object_new_string(text));
		puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							       JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
	} else {
		puts(text);
	}
	fflush(stdout);
	free(text);
}

static const char *hex(const unsigned char mkvp[SK_MKVP_LEN])
{
	static char text[2][SK_MKVP_HEX_LEN + 1];
	static int which;

	which ^= 1;
	sk_mkvp_to_hex(mkvp, text[which]);
	return text[which];
}

static const char *apqns_text(const struct rotate *rt)
{
	return cli_apqns_text_of(&rt->rot.apqns);
}

static bool reg_holds(const struct sk_apqn_status *a, enum sk_mk_register reg,
		      const unsigned char mkvp[SK_MKVP_LEN])
{
	const struct sk_register_status *s = &a->reg[reg];

	return s->has_mkvp && sk_mkvp_equal(s->mkvp, mkvp) &&
	       (reg == SK_REG_NEW ? s->state == SK_MK_COMMITTED : s->state == SK_MK_VALID);
}

/* Where the registers stand for a rotation from rot.from to rot.to. */
static int registers_phase(const struct rotate *rt, enum phase *phase)
{
	size_t staged = 0, set = 0;

	for (size_t i = 0; i < rt->status.count; i++) {
		const struct sk_apqn_status *a = &rt->status.apqns[i];

		staged += reg_holds(a, SK_REG_NEW, rt->rot.to) && reg_holds(a, SK_REG_CURRENT, rt->rot.from);
		set += reg_holds(a, SK_REG_CURRENT, rt->rot.to);
	}
	if (staged + set != rt->status.count) {
		sk_err("the master-key registers of APQNs %s fit neither side of the rotation from "
		       "MKVP %s to MKVP %s (see 'securekey hsm status'); nothing was changed",
		       apqns_text(rt), hex(rt->rot.from), hex(rt->rot.to));
		return -EPERM;
	}
	*phase = !set ? PHASE_STAGE : staged ? PHASE_SET : PHASE_COMPLETE;
	return 0;
}

/* A new rotation: NEW committed with one MKVP, CURRENT agreeing. */
static int plan_new(struct rotate *rt, enum phase *phase)
{
	const struct sk_apqn_status *first = &rt->status.apqns[0];

	if (rt->ended && !sk_hsm_status_agree(&rt->status, SK_REG_NEW) &&
	    reg_holds(first, SK_REG_CURRENT, rt->ended->to) && sk_hsm_status_agree(&rt->status, SK_REG_CURRENT)) {
		say(rt, "The rotation of APQNs %s to MKVP %s (begun %s) is complete; nothing to do.",
		       cli_apqns_text_of(&rt->ended->apqns), hex(rt->ended->to), rt->ended->begun);
		*phase = PHASE_NOTHING;
		return 0;
	}
	if (rt->resume) {
		sk_err("no unfinished rotation of APQNs %s to resume", apqns_text(rt));
		return -ENOENT;
	}
	if (!sk_hsm_status_agree(&rt->status, SK_REG_NEW) ||
	    !sk_hsm_status_agree(&rt->status, SK_REG_CURRENT)) {
		sk_err("APQNs %s need a committed NEW master key with one MKVP on every APQN, and one "
		       "CURRENT master key; load and commit it first ('securekey hsm load-part', "
		       "'securekey hsm commit') and check with 'securekey hsm status'",
		       apqns_text(rt));
		return -EPERM;
	}
	memcpy(rt->rot.from, first->reg[SK_REG_CURRENT].mkvp, SK_MKVP_LEN);
	memcpy(rt->rot.to, first->reg[SK_REG_NEW].mkvp, SK_MKVP_LEN);
	*phase = PHASE_STAGE;
	return 0;
}

/* In a child process (cli_isolated): the registers of the set's APQNs into @out. */
static int read_status(void *ctx, void *out)
{
	const struct rotate *rt = ctx;
	struct sk_hsm *hsm = NULL;
	int r = cli_open_hsm_for(&rt->rot.apqns, &hsm);

	if (!r)
		r = sk_hsm_status(hsm, out);
	sk_hsm_close(hsm);
	return r;
}

static int plan(struct rotate *rt, enum phase *phase)
{
	int r = cli_isolated(read_status, rt, &rt->status, sizeof(rt->status));

	if (!r)
		r = rotation_find(&rt->rot.apqns, &rt->open, &rt->ended);
	if (r)
		return r;
	if (!rt->open)
		return plan_new(rt, phase);
	if (!rt->resume && !rt->dry_run) {
		sk_err("the rotation of APQNs %s to MKVP %s begun %s is not finished (journal %s); "
		       "finish it with 'securekey rotate --apqns %s --resume'",
		       apqns_text(rt), hex(rt->open->to), rt->open->begun, rt->open->path,
		       apqns_text(rt));
		return -EBUSY;
	}
	rt->rot = *rt->open;
	return registers_phase(rt, phase);
}

static void journal_result(const struct sk_batch_item *item, void *ctx)
{
	struct rotate *rt = ctx;

	if (rt->journal && item->outcome != SK_BATCH_IGNORED &&
	    sk_journal_append(rt->journal, "%s\t%s\t%s\t%s\t%s", rt->step,
			      sk_batch_outcome_name(item->outcome), item->uuid[0] ? item->uuid : "-",
			      item->path, item->detail) < 0)
		rt->journal_failed = true;
}

/* Run one batch pass over the known volumes of the set. */
static int pass(struct rotate *rt, const char *step, const char *title)
{
	int r;

	cli_batch_clear_devices(&rt->batch);
	rt->step = step;
	rt->batch.phase = title;
	rt->batch.pass = step;
	r = cli_batch_select_known(&rt->batch);
	if (!r)
		r = cli_batch_run(&rt->batch);
	if (!r)
		cli_batch_summary(&rt->batch);
	if (!r && rt->journal_failed)
		r = -EIO;
	return r;
}

/* Set NEW on the APQNs where it is still NEW (all of them, unless a set was cut short). */
/* In a child process (cli_isolated): 'hsm set' on the APQNs @ctx. */
static int set_on(void *ctx, void *out)
{
	struct sk_apqn_status after;
	struct sk_hsm *hsm = NULL;
	int r = cli_open_hsm_for(ctx, &hsm);

	(void)out;
	if (!r)
		r = sk_hsm_set(hsm, &after);
	sk_hsm_close(hsm);
	return r;
}

static int set_new(struct rotate *rt)
{
	struct sk_apqn_list unset = { 0 };
	/* Those the key file map had no passphrase for were not staged either. */
	size_t not_staged = rt->batch.failed + rt->batch.unfinished;
	int r;

	for (size_t i = 0; i < rt->status.count; i++)
		if (reg_holds(&rt->status.apqns[i], SK_REG_NEW, rt->rot.to))
			unset.items[unset.count++] = rt->status.apqns[i].apqn;
	/* Every volume failed (a wrong passphrase, say): setting would help none. */
	if (not_staged && !rt->batch.ok && rt->batch.skipped == rt->batch.unfinished) {
		sk_err("no volume of APQNs %s could be staged, so the NEW master key is not set; fix "
		       "the cause (see above) and run 'securekey rotate --apqns %s --resume'",
		       apqns_text(rt), apqns_text(rt));
		return -EIO;
	}
	if (not_staged)
		sk_warn("setting the NEW master key although %zu volume%s could not be staged: "
			"their keys stay under the OLD master key until 'securekey rotate --apqns "
			"%s --resume' re-enciphers them",
			not_staged, not_staged == 1 ? "" : "s", apqns_text(rt));
	r = cli_isolated(set_on, &unset, NULL, 0);
	if (!r) {
		say(rt, "NEW master key set on APQNs %s: CURRENT is now MKVP %s, OLD is MKVP %s.",
		       cli_apqns_text_of(&unset), hex(rt->rot.to), hex(rt->rot.from));
		r = sk_journal_append(rt->journal, "set\t%s", rotation_now());
	}
	return r;
}

/* The identity key's next step; NONE also when it waits for the set. */
static enum sk_next_step identity_next(struct sk_hsm *hsm, const struct sk_config *cfg)
{
	struct sk_token token = { 0 };
	struct sk_key_state st = { .next = SK_NEXT_IN_PLACE };

	/* Unreadable: let sk_identity_reencipher say why. */
	if (sk_identity_read(cfg->identity_key, &cfg->apqns, &token) == 0)
		(void)sk_key_state_get(hsm, &token, &st);
	sk_token_free(&token);
	return st.next == SK_NEXT_WAIT_SET ? SK_NEXT_NONE : st.next;
}

/* In a child process (cli_isolated): the identity key's steps; what was done into @out. */
static int identity_reencipher(void *ctx, void *out)
{
	const struct sk_config *cfg = ctx;
	struct sk_hsm *hsm = NULL;
	int r = cli_open_hsm_for(&cfg->apqns, &hsm);

	/* In place first when it was left under OLD, as for a volume. */
	for (int i = 0; !r && i < 2 && identity_next(hsm, cfg) != SK_NEXT_NONE; i++)
		r = sk_identity_reencipher(hsm, cfg->identity_key, &cfg->apqns,
					   SK_REENCIPHER_AUTO, out);
	sk_hsm_close(hsm);
	return r;
}

/*
 * The KMS identity key, when its APQNs are in the set: it cannot be fetched
 * from the KMS again, so it moves with the volumes (a failure fails the pass).
 */
static int identity_steps(struct rotate *rt, const char *step)
{
	const struct sk_config *cfg = cli_config();
	enum sk_next_step done = SK_NEXT_NONE;
	int r;

	if (!cfg)
		return -EINVAL;
	if (!sk_config_has_kms(cfg) || !sk_apqn_list_overlap(&cfg->apqns, &rt->rot.apqns))
		return 0;
	r = cli_isolated(identity_reencipher, (void *)cfg, &done, sizeof(done));
	if (!r)
		say(rt, "KMS identity key %s: %s.", cfg->identity_key,
		       done == SK_NEXT_NONE ? "nothing to do" : "re-enciphered");
	else
		rt->batch.failed++;
	if (sk_journal_append(rt->journal, "%s\t%s\t-\t%s\tKMS identity key", step,
			      r ? "failed" : "ok", cfg->identity_key) < 0)
		return -EIO;
	return 0;
}

static int finish(struct rotate *rt)
{
	size_t left = rt->batch.failed + rt->batch.unfinished;

	if (left) {
		sk_err("%zu volume%s of APQNs %s %s not completed (see above); fix the cause and run "
		       "'securekey rotate --apqns %s --resume'",
		       left, left == 1 ? "" : "s", apqns_text(rt), left == 1 ? "is" : "are",
		       apqns_text(rt));
		return -EIO;
	}
	say(rt, "Rotation of APQNs %s complete: every volume is under the CURRENT master key "
		"(MKVP %s).",
	       apqns_text(rt), hex(rt->rot.to));
	return sk_journal_append(rt->journal, "end\t%s", rotation_now());
}

static int dry_run(struct rotate *rt, enum phase phase)
{
	/* The plan names the devices the key file map has no passphrase for. */
	int r = cli_batch_authorize(&rt->batch);

	if (r)
		return r;
	say(rt, "Plan for APQNs %s, MKVP %s -> %s%s:", apqns_text(rt), hex(rt->rot.from),
	       hex(rt->rot.to), rt->open ? " (resumed)" : "");
	if (phase == PHASE_STAGE)
		say(rt, "  1. stage every volume below to the NEW master key\n"
			"  2. set the NEW master key on every APQN\n"
			"  3. complete every volume");
	else
		say(rt, "  %sthen complete every volume",
		       phase == PHASE_SET ? "finish setting the NEW master key, " : "");
	r = pass(rt, "plan", NULL);
	/* A device the plan cannot read (or has no passphrase for) will fail the rotation too. */
	return r ? r : cli_batch_result(&rt->batch);
}

/* The map by its full path, so that --resume finds it from any directory. */
static int record_key_file_map(struct rotate *rt)
{
	char *real = realpath(rt->batch.keymap.path, NULL);
	int r;

	if (!real)
		return -errno;
	r = sk_journal_append(rt->journal, "key-file-map\t%s", real);
	free(real);
	return r;
}

/* --resume without a passphrase option: the key file map the rotation last had. */
static void adopt_key_file_map(struct rotate *rt)
{
	const struct cli_batch *b = &rt->batch;

	if (!rt->open || !rt->open->key_file_map[0] || b->keymap.path || b->key_file.path ||
	    b->token_auth)
		return;
	rt->batch.keymap.path = rt->open->key_file_map;
	say(rt, "Using the key file map %s of this rotation.", rt->batch.keymap.path);
}

static int rotate(struct rotate *rt, enum phase phase)
{
	int r = cli_batch_authorize(&rt->batch);

	if (!r)
		r = rt->open ? rotation_continue(&rt->rot, &rt->journal)
			     : rotation_begin(&rt->rot, &rt->journal);
	if (!r && rt->batch.keymap.path)
		r = record_key_file_map(rt);
	if (!r && phase == PHASE_STAGE)
		r = pass(rt, "stage", "Staging to the NEW master key");
	if (!r && phase == PHASE_STAGE)
		r = identity_steps(rt, "stage");
	if (!r && phase != PHASE_COMPLETE)
		r = set_new(rt);
	if (!r)
		r = pass(rt, "complete", "Completing");
	if (!r)
		r = identity_steps(rt, "complete");
	if (!r)
		r = finish(rt);
	return r;
}

static int parse(int argc, char **argv, struct rotate *rt)
{
	static const struct option options[] = {
		CLI_COMMON_OPTIONS,
		CLI_BATCH_OPTIONS,
		{ "resume", no_argument, NULL, OPT_BATCH_RESUME },
		{ "dry-run", no_argument, NULL, OPT_BATCH_DRY_RUN },
		{ NULL, 0, NULL, 0 },
	};
	int c, code = 0;

	while ((c = cli_getopt(argc, argv, options, usage, &code)) >= 0 && !code) {
		if (c == OPT_BATCH_RESUME)
			rt->resume = true;
		else if (c == OPT_BATCH_DRY_RUN)
			rt->dry_run = rt->batch.dry_run = true;
		else
			cli_batch_option(&rt->batch, c, optarg, &code);
	}
	if (c == -2 || code)
		return code ? code : -1;
	if (!cli_no_arguments_left(argc, argv))
		return EXIT_USAGE;
	if (cli_batch_check_options(&rt->batch))
		return EXIT_USAGE;
	if (!rt->batch.filtered)
		return cli_usage_error("rotate: --apqns is required");
	rt->rot.apqns = rt->batch.filter;
	return 0;
}

static int lock_rotation(void)
{
	char *path = sk_path_join(sk_path_run_dir(), "rotate.lock");
	int fd = path && sk_path_make_run_dir() == 0
			 ? sk_lock_acquire(path, true, "the master-key rotation")
			 : -ENOMEM;

	free(path);
	return fd;
}

int cmd_rotate(int argc, char **argv)
{
	struct rotate rt = { .batch = { .jobs = (unsigned)sysconf(_SC_NPROCESSORS_ONLN),
					 .settle = true } };
	enum phase phase = PHASE_NOTHING;
	int lock_fd = -1, r = parse(argc, argv, &rt);

	if (r)
		return r < 0 ? 0 : r;
	rt.batch.on_result = journal_result;
	rt.batch.on_result_ctx = &rt;
	/* A dry run reads only; the lock would make it wait for a running rotation. */
	if (!rt.dry_run)
		r = lock_fd = lock_rotation();
	/* The HSM only in child processes, as in the workers (cli_isolated). */
	if (r >= 0)
		r = plan(&rt, &phase);
	if (!r)
		adopt_key_file_map(&rt);
	if (!r && phase != PHASE_NOTHING)
		r = rt.dry_run ? dry_run(&rt, phase) : rotate(&rt, phase);
	sk_journal_close(rt.journal);
	cli_batch_free(&rt.batch);
	free(rt.open);
	free(rt.ended);
	if (lock_fd >= 0)
		sk_lock_release(lock_fd);
	return cli_exit_code(r);
}
