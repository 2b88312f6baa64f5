#include "config.h"

#include "paths.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>

#include "log.h"

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

int sk_path_make_run_dir(void)
{
	const char *run = sk_path_run_dir();

	if (mkdir(run, 0700) < 0 && errno != EEXIST) {
		int r = -errno;

		sk_err("cannot create lock directory %s: %s", run, strerror(errno));
		return r;
	}
	return 0;
}

int sk_path_make_dir(const char *dir)
{
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		int r = -errno;

		sk_err("cannot create %s: %s", dir, strerror(errno));
		return r;
	}
	return 0;
}

int sk_path_make_state_subdir(const char *dir)
{
	int r = sk_path_make_dir(sk_path_state_dir());

	return r ? r : sk_path_make_dir(dir);
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
