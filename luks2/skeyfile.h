/*
 * Secure keys kept in files, as 'securekey-cryptsetup export' writes them
 * and zkey keeps them in its repository: the key in FILE and, between a
 * staged re-encipher and its completion, the staged key beside it (zkey's
 * names: NAME.skey and NAME.renc). The pair reads as a token in memory, so
 * that the key state and the re-encipher steps of the volumes (keystate.h,
 * reencipher.h) apply to it unchanged.
 */
#ifndef SECUREKEY_SKEYFILE_H
#define SECUREKEY_SKEYFILE_H

#include <stdbool.h>

#include "keystate.h"
#include "token.h"

/* The staged file of @path: NAME.skey gives NAME.renc, any other name gets .renc added. */
char *sk_skeyfile_staged_path(const char *path);

/*
 * @path and, when it exists, @staged (each a regular file, 0600, owned by
 * root or the caller, holding one secure key) as a token for @apqns.
 */
int sk_skeyfile_read(const char *path, const char *staged, const struct sk_apqn_list *apqns,
		     struct sk_token *token);

/*
 * Write what @action changed to @path and @staged (each replaced
 * atomically): only staging leaves @path as it was, and a staged key that is
 * gone (@had_staged) is removed. @path goes first, so a crash leaves a pair
 * that still works.
 */
int sk_skeyfile_write_back(const char *path, const char *staged, enum sk_next_step action,
			   bool had_staged, const struct sk_token *token);

/* Serialize changes to secure key files: a lock in the run directory named @name. */
int sk_skeyfile_lock(const char *name, const char *what);

#endif
