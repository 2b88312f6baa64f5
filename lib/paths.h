/* Where state lives; every path can be moved for tests (see DESIGN.md). */
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
/* Create the run directory (0700) if it is missing. */
int sk_path_make_run_dir(void);

/* Create @dir (0700) if it is missing; the error is logged. */
int sk_path_make_dir(const char *dir);
/* The state directory, then @dir in it (known volumes, backups, rotation journals). */
int sk_path_make_state_subdir(const char *dir);

/* "<dir>/<name>", malloc'd, NULL on allocation failure. */
char *sk_path_join(const char *dir, const char *name);

#endif
