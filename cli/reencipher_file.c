/*
 * securekey reencipher --secure-key-file FILE: a secure key kept in a file
 * (what 'securekey-cryptsetup export' writes) takes the steps of a
 * master-key change as zkey's repository keys do, so that the copy still
 * restores its device afterwards ('securekey-cryptsetup setkey
 * --secure-key-file'). The staged key waits in the .renc file beside it
 * (skeyfile.h). No passphrase: the blob names its master key, and the key
 * is re-enciphered by the HSM without being compared to any device.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "lockfile.h"
#include "log.h"
#include "reencipher_file.h"
#include "skeyfile.h"

struct skfile {
	const char *path;
	char *staged;
	struct sk_token token;
	bool had_staged;
	bool to_new; /* zkey's --in-place of a key under CURRENT: to NEW, no staged copy */
};

int cli_reencipher_file_usage(const struct cli_batch *b, bool all, int npaths)
{
	const char *other = all			   ? "--all"
			    : npaths		   ? "device paths"
			    : b->key_file.path	   ? "--key-file"
			    : b->keymap.path	   ? "--key-file-map"
			    : b->token_auth	   ? "--auth"
			    : b->json		   ? "--json"
						   : NULL;

	if (!other)
		return 0;
	return cli_usage_error("reencipher: give --secure-key-file without %s: it re-enciphers that "
			       "file alone, and needs no passphrase",
			       other);
}

static int no_step(const struct skfile *f, const struct sk_key_state *st)
{
	if (st->next == SK_NEXT_UNREACHABLE) {
		sk_err("%s is enciphered with %s, which no register of APQNs %s holds: it cannot be "
		       "re-enciphered any more; export the device's key again "
		       "('securekey-cryptsetup export DEVICE --out %s')",
		       f->path, cli_blob_mkvp(f->token.current.blob, f->token.current.blob_len),
		       cli_apqns_text_of(&f->token.apqns), f->path);
		return -ENOKEY;
	}
	if (st->current_found && st->current_reg == SK_REG_NEW)
		sk_err("%s is already under the NEW master key; it can be used once 'securekey hsm "
		       "set' makes NEW the CURRENT one",
		       f->path);
	else
		sk_err("%s is already staged to the NEW master key in %s; after 'securekey hsm set', "
		       "run 'securekey reencipher --secure-key-file %s --complete'",
		       f->path, f->staged, f->path);
	return -EPERM;
}

/* The step for @mode; *action SK_NEXT_NONE when there is nothing to do. */
static int choose(struct skfile *f, const struct sk_key_state *st, enum sk_reencipher_mode mode,
		  enum sk_next_step *action)
{
	*action = SK_NEXT_NONE;
	if (st->next == SK_NEXT_UNREACHABLE || st->next == SK_NEXT_WAIT_SET)
		return no_step(f, st);
	if (mode == SK_REENCIPHER_IN_PLACE && st->next == SK_NEXT_STAGED) {
		f->to_new = true;
		*action = SK_NEXT_IN_PLACE;
		return 0;
	}
	return sk_reencipher_choose(f->path, st, mode, action);
}

static int rewrap_to_new(struct sk_hsm *hsm, struct sk_token *token)
{
	unsigned char *blob = NULL;
	size_t len;
	int r = sk_hsm_rewrap(hsm, token->current.blob, token->current.blob_len, SK_REG_CURRENT,
			      SK_REG_NEW, &blob, &len);

	if (!r)
		r = sk_token_set_current(token, blob, len);
	if (!r)
		sk_token_drop_staged(token);
	free(blob);
	return r;
}

static void report(const struct skfile *f, enum sk_next_step action)
{
	const struct sk_token_key *k = action == SK_NEXT_STAGED ? &f->token.staged
								 : &f->token.current;
	const char *mkvp = cli_blob_mkvp(k->blob, k->blob_len);

	if (action == SK_NEXT_NONE)
		printf("%s: under the CURRENT master key (%s): nothing to re-encipher.\n", f->path,
		       mkvp);
	else if (action == SK_NEXT_STAGED)
		printf("%s: staged to the NEW master key (%s) in %s; after 'securekey hsm set', run "
		       "'securekey reencipher --secure-key-file %s --complete'.\n",
		       f->path, mkvp, f->staged, f->path);
	else if (action == SK_NEXT_COMPLETE)
		printf("%s: completed: under the CURRENT master key (%s); %s removed.\n", f->path,
		       mkvp, f->staged);
	else if (f->to_new)
		printf("%s: re-enciphered in place to the NEW master key (%s); it can be used once "
		       "'securekey hsm set' makes NEW the CURRENT one.\n",
		       f->path, mkvp);
	else
		printf("%s: re-enciphered in place to the CURRENT master key (%s).\n", f->path,
		       mkvp);
}

static int read_file(struct skfile *f, struct sk_hsm *hsm)
{
	/* One that holds no secure key: the blob parser said why (the subject names the file). */
	int r = sk_skeyfile_read(f->path, f->staged, sk_hsm_apqns(hsm), &f->token);

	if (!r && f->token.key.type == SK_KEY_IDENTITY) {
		sk_err("%s holds a KMS identity key: re-encipher it with 'securekey kms "
		       "reencipher'",
		       f->path);
		sk_token_free(&f->token);
		r = -EINVAL;
	}
	if (!r)
		f->had_staged = f->token.has_staged;
	return r;
}

/* Read, choose, re-encipher in memory, write back: under the lock, with the HSM open. */
static int reencipher(struct skfile *f, struct sk_hsm *hsm, enum sk_reencipher_mode mode)
{
	enum sk_next_step action = SK_NEXT_NONE;
	struct sk_key_state st;
	int r = read_file(f, hsm);

	if (r)
		return r;
	r = sk_key_state_get(hsm, &f->token, &st);
	if (!r)
		r = choose(f, &st, mode, &action);
	if (!r && f->to_new)
		r = rewrap_to_new(hsm, &f->token);
	else if (!r)
		r = sk_reencipher_apply(hsm, &f->token, action);
	if (!r && action != SK_NEXT_NONE)
		r = sk_skeyfile_write_back(f->path, f->staged, action, f->had_staged, &f->token);
	if (!r)
		report(f, action);
	sk_token_free(&f->token);
	return r;
}

int cli_reencipher_file(const struct cli_batch *b)
{
	struct skfile f = { .path = b->secure_key_file };
	struct sk_hsm *hsm = NULL;
	char what[PATH_MAX + 32];
	int lock, r;

	snprintf(what, sizeof(what), "secure key file %s", f.path);
	f.staged = sk_skeyfile_staged_path(f.path);
	if (!f.staged)
		return -ENOMEM;
	/* Two runs on one file would both write it: one at a time. */
	lock = sk_skeyfile_lock("skeyfile.lock", what);
	r = lock < 0 ? lock : cli_open_hsm_for(&b->filter, &hsm);
	/* The HSM and blob messages name no file: they get it in front. */
	sk_log_set_subject(f.path);
	if (!r)
		r = reencipher(&f, hsm, b->mode);
	sk_log_set_subject(NULL);
	sk_hsm_close(hsm);
	if (lock >= 0)
		sk_lock_release(lock);
	free(f.staged);
	return r;
}
