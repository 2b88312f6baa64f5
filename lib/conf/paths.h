/* Where state lives; every path can be moved for tests (see doc/design.md). */
#ifndef SECUREKEY_PATHS_H
#define SECUREKEY_PATHS_H

#define SK_DEFAULT_STATE_DIR "/var/lib/securekey"

/* SECUREKEY_STATE_DIR or the default. */
const char *sk_path_state_dir(void);
/* @override, else SECUREKEY_HSM_DIR, else <state>/hsm; malloc'd. */
char *sk_path_hsm_dir(const char *override);
/* The same, with the configuration's [hsm] dir between the variable and the default. */
char *sk_path_hsm_dir_or(const char *override, const char *configured);
#define SK_DEFAULT_RUN_DIR "/run/securekey"

/* SECUREKEY_RUN_DIR or the default: per-device lock files. */
const char *sk_path_run_dir(void);

/*
 * What later runs act on lives in these directories, so each must be owned
 * by root or the caller and not be writable by group or others (links are
 * followed: the target counts). The "make" functions create a missing one
 * (0700) and check one that exists; every refusal is one logged line naming
 * the chown or chmod that fixes it.
 */

/* The run directory: lock files. */
int sk_path_make_run_dir(void);
/* @dir in the state directory (a header backup's); the error is logged. */
int sk_path_make_dir(const char *dir);
/* The state directory, then @dir in it (known volumes, backups, rotation journals). */
int sk_path_make_state_subdir(const char *dir);
/* For readers: the same checks, where the two exist; missing ones hold nothing (0). */
int sk_path_check_state_subdir(const char *dir);
/*
 * Check an existing directory @dir (@what names it, 'chmod @fix_mode'
 * fixes its mode): 0, -EACCES, or -errno of stat (-ENOENT is not logged).
 */
int sk_path_check_dir(const char *dir, const char *what, const char *fix_mode);

/* "<dir>/<name>", malloc'd, NULL on allocation failure. */
char *sk_path_join(const char *dir, const char *name);

#endif
