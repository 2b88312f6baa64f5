/*
 * The fuzz target's body (see fuzz_config_body.h). conf.c reads its file
 * with libinih, whose handler gets every key; what the loader accepts ends
 * up in TLS connections, HSM paths and, for the KMS servers, in the LUKS2
 * token, whose parser takes kmip:// URLs only. 'kms configure' loads the
 * file, changes the [kms] section and saves it, so a configuration that
 * loads must also load again, unchanged, after sk_config_save.
 */
#include "config.h"

#include "fuzz_config_body.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#include "conf.h"

/*
 * Where sk_config_save writes: tmpfs when there is one, as sk_config_save
 * fsyncs the file and its directory on every call.
 */
static const char *tmp_base(void)
{
	const char *tmp = getenv("TMPDIR");
	struct stat st;

	if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0)
		return "/dev/shm";
	return tmp && *tmp && strlen(tmp) < 256 ? tmp : "/tmp";
}

/*
 * sk_config_save @cfg into a new private directory and sk_config_load the
 * file into @again; the file and the directory are gone when this returns,
 * so that the abort on a broken invariant leaves nothing behind. Returns
 * what sk_config_load returned, or 1 when nothing could be saved.
 */
static int save_and_load(const struct sk_config *cfg, struct sk_config *again)
{
	static struct sk_config copy; /* a few PATH_MAX buffers */
	char dir[300];
	int r = 1;

	snprintf(dir, sizeof(dir), "%s/sk-fuzz-conf.XXXXXX", tmp_base());
	if (!mkdtemp(dir))
		return 1;
	copy = *cfg;
	snprintf(copy.path, sizeof(copy.path), "%s/securekey.conf", dir);
	if (sk_config_save(&copy) == 0) {
		sk_config_set_path(copy.path);
		r = sk_config_load(again);
		sk_config_set_path(NULL);
		unlink(copy.path);
	}
	rmdir(dir);
	return r;
}

static int write_all(int fd, const uint8_t *data, size_t size)
{
	while (size) {
		ssize_t n = write(fd, data, size);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		data += n;
		size -= (size_t)n;
	}
	return 0;
}

int sk_fuzz_config_load(const uint8_t *data, size_t size, struct sk_config *cfg)
{
	char path[64];
	int fd = memfd_create("securekey.conf", MFD_CLOEXEC), r;

	if (fd < 0)
		return -ENOSYS;
	/* as a configuration must be to hold an [hsm] pin: a memfd starts as 0777 */
	if (fchmod(fd, 0600) < 0 || write_all(fd, data, size) < 0) {
		close(fd);
		return -ENOSYS;
	}
	/* opening the /proc link opens the memfd afresh, at offset 0 */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	sk_config_set_path(path);
	r = sk_config_load(cfg);
	sk_config_set_path(NULL);
	close(fd);
	return r;
}

static bool bounded(const char *text, size_t size)
{
	return memchr(text, '\0', size) != NULL;
}

static const char *check_servers(const struct sk_config *cfg)
{
	struct sk_kmip_endpoint ep;

	if (cfg->n_servers > SK_KMS_MAX_SERVERS)
		return "more KMS servers than the configuration holds";
	for (size_t i = 0; i < cfg->n_servers; i++) {
		const char *url = cfg->servers[i];

		if (!bounded(url, SK_KMS_URL_MAX) || !url[0] || sk_kmip_parse_url(url, &ep) != 0)
			return "a KMS server that does not parse as a URL was accepted";
		/* kms/kms.c copies the servers into the token as they are */
		if (strncmp(url, "kmip://", 7))
			return "a KMS server without kmip:// was accepted: "
			       "the token parser refuses it";
	}
	return NULL;
}

static const char *check_values(const struct sk_config *cfg)
{
	const struct sk_kmip_version *v = &cfg->protocol;
	const char *bad = check_servers(cfg);

	if (bad)
		return bad;
	if (!cfg->exists)
		return "a configuration that was read says it does not exist";
	if (!bounded(cfg->hsm_dir, sizeof(cfg->hsm_dir)) || !bounded(cfg->ca, sizeof(cfg->ca)) ||
	    !bounded(cfg->cert, sizeof(cfg->cert)) ||
	    !bounded(cfg->identity_key, sizeof(cfg->identity_key)))
		return "a path without its terminating NUL";
	if (cfg->timeout < 1 || cfg->timeout > 600)
		return "a timeout out of 1..600 was accepted";
	if (!(v->major == 0 && v->minor == 0) &&
	    !(v->major == 1 && v->minor >= 2 && v->minor <= 4) && !(v->major == 2 && v->minor == 0))
		return "a protocol version securekey does not speak was accepted";
	if (cfg->apqns.count > SK_APQN_MAX)
		return "more APQNs than a list holds";
	for (size_t i = 0; i < cfg->apqns.count; i++)
		for (size_t j = 0; j < i; j++)
			if (sk_apqn_equal(&cfg->apqns.items[i], &cfg->apqns.items[j]))
				return "an APQN listed twice was accepted";
	return NULL;
}

/*
 * libinih reads a line with fgets into INI_MAX_LINE bytes and, built
 * without INI_ALLOW_REALLOC (as Debian's is), takes the rest of a longer
 * line for a line of its own: a key, a comment or a continuation of the
 * value. Unless that rest is blank, such a file must not load.
 */
static const char *check_lines(const uint8_t *data, size_t size)
{
	const uint8_t *end = data + size;

	while (data < end) {
		const uint8_t *nl = memchr(data, '\n', (size_t)(end - data));
		size_t len = (size_t)((nl ? nl : end) - data);

		for (size_t i = INI_MAX_LINE - 1; i < len; i++)
			if (!isspace(data[i]))
				return "a line longer than libinih reads at once loaded: "
				       "its tail was read as a line of its own";
		data = nl ? nl + 1 : end;
	}
	return NULL;
}

/* The [kms] section, which sk_config_save writes only when it names servers. */
static bool same_kms(const struct sk_config *a, const struct sk_config *b)
{
	if (a->n_servers != b->n_servers)
		return false;
	if (!a->n_servers)
		return true;
	for (size_t i = 0; i < a->n_servers; i++)
		if (strcmp(a->servers[i], b->servers[i]))
			return false;
	return !strcmp(a->ca, b->ca) && !strcmp(a->cert, b->cert) &&
	       !strcmp(a->identity_key, b->identity_key) && sk_apqn_list_equal(&a->apqns, &b->apqns) &&
	       a->timeout == b->timeout && a->protocol.major == b->protocol.major &&
	       a->protocol.minor == b->protocol.minor;
}

/*
 * Save @cfg and load the file again. Only a [kms] section with servers,
 * credentials and APQNs is saved whole, as 'kms configure' always fills it;
 * without servers none is written at all.
 */
static const char *check_save(const struct sk_config *cfg)
{
	static struct sk_config again;
	int r;

	if (cfg->n_servers && (!sk_config_has_kms(cfg) || !cfg->apqns.count))
		return NULL;
	r = save_and_load(cfg, &again);
	if (r == 1)
		return NULL; /* no temporary directory, a full disk: not a finding */
	if (r != 0)
		return "a saved configuration does not load again";
	if (strcmp(again.hsm_dir, cfg->hsm_dir) ||
	    again.allow_token_auth != cfg->allow_token_auth || !same_kms(cfg, &again) ||
	    again.n_initramfs_files != cfg->n_initramfs_files ||
	    memcmp(again.initramfs_files, cfg->initramfs_files, sizeof(cfg->initramfs_files)))
		return "a saved configuration loads to another configuration";
	return NULL;
}

const char *sk_fuzz_config(const uint8_t *data, size_t size)
{
	/* static: struct sk_config holds a few PATH_MAX buffers */
	static struct sk_config cfg;
	const char *bad;
	int r = sk_fuzz_config_load(data, size, &cfg);

	if (r == -EINVAL)
		return NULL;
	if (r != 0)
		return r == -ENOSYS || r == -ENOMEM || r == -EMFILE || r == -ENFILE
			       ? NULL /* no memfd, or no file to open: nothing was tested */
			       : "sk_config_load failed with another error than -EINVAL";
	bad = check_values(&cfg);
	if (!bad)
		bad = check_lines(data, size);
	if (!bad)
		bad = check_save(&cfg);
	return bad;
}
