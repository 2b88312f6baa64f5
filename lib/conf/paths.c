#include "config.h"

#include "paths.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>

#include "log.h"
#include "secfile.h"

static const char *env_or(const char *name, const char *fallback)
{
	const char *value = getenv(name);

	return value && *value ? value : fallback;
}

const char *sk_path_state_dir(void)
{
	return env_or("SECUREKEY_STATE_DIR", SK_DEFAULT_STATE_DIR);
}

const char *sk_path_run_dir(void)
{
	return env_or("SECUREKEY_RUN_DIR", SK_DEFAULT_RUN_DIR);
}

int sk_path_check_dir(const char *dir, const char *what, const char *fix_mode)
{
	struct stat st;

	if (stat(dir, &st) < 0) {
		int r = -errno;

		if (errno != ENOENT)
			sk_err("cannot access %s %s: %s", what, dir, strerror(errno));
		return r;
	}
	if (!S_ISDIR(st.st_mode)) {
		sk_err("%s %s is not a directory", what, dir);
		return -ENOTDIR;
	}
	return sk_check_owner_mode(&st, dir, what, SK_OWNER_ROOT_OR_CALLER, 022, fix_mode);
}

/* Create @dir 0700, or check the one that is there: it may not be ours to trust. */
static int make_checked_dir(const char *dir, const char *what)
{
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		int r = -errno;

		sk_err("cannot create %s %s: %s", what, dir, strerror(errno));
		return r;
	}
	return sk_path_check_dir(dir, what, "0700");
}

int sk_path_make_run_dir(void)
{
	return make_checked_dir(sk_path_run_dir(), "lock directory");
}

int sk_path_make_dir(const char *dir)
{
	return make_checked_dir(dir, "state directory");
}

int sk_path_make_state_subdir(const char *dir)
{
	int r = sk_path_make_dir(sk_path_state_dir());

	return r ? r : sk_path_make_dir(dir);
}

int sk_path_check_state_subdir(const char *dir)
{
	int r = sk_path_check_dir(sk_path_state_dir(), "state directory", "0700");

	if (!r)
		r = sk_path_check_dir(dir, "state directory", "0700");
	return r == -ENOENT ? 0 : r;
}

char *sk_path_join(const char *dir, const char *name)
{
	char *path;

	if (asprintf(&path, "%s/%s", dir, name) < 0)
		return NULL;
	return path;
}

char *sk_path_hsm_dir_or(const char *override, const char *configured)
{
	const char *env = getenv("SECUREKEY_HSM_DIR");

	if (override && *override)
		return strdup(override);
	if (env && *env)
		return strdup(env);
	if (configured && *configured)
		return strdup(configured);
	return sk_path_join(sk_path_state_dir(), "hsm");
}

char *sk_path_hsm_dir(const char *override)
{
	return sk_path_hsm_dir_or(override, NULL);
}
