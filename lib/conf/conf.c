#include "config.h"

#include "conf.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "log.h"
#include "secfile.h"

static const char *config_override;

void sk_config_set_path(const char *path)
{
	config_override = path;
}

const char *sk_config_path(void)
{
	const char *env = getenv("SECUREKEY_CONF");

	if (config_override && *config_override)
		return config_override;
	return env && *env ? env : SK_DEFAULT_CONFIG;
}

static int parse_protocol(const char *text, struct sk_kmip_version *v)
{
	static const struct {
		const char *text;
		struct sk_kmip_version v;
	} known[] = {
		{ "auto", { 0, 0 } }, { "1.2", { 1, 2 } }, { "1.3", { 1, 3 } },
		{ "1.4", { 1, 4 } },  { "2.0", { 2, 0 } },
	};

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		if (!strcmp(text, known[i].text)) {
			*v = known[i].v;
			return 0;
		}
	}
	return -EINVAL;
}

/*
 * Copy a non-empty @value that fits; *why says what is wrong otherwise.
 * Comment characters and control characters are refused so that what
 * sk_config_save writes reads back the same (libinih takes " ;" for a
 * comment and strips whitespace).
 */
static int copy_value(char *dst, size_t size, const char *value, const char **why)
{
	size_t len = strlen(value);

	if (!len || len >= size || len > SK_CONFIG_VALUE_MAX) {
		*why = "value is empty or too long";
		return -EINVAL;
	}
	for (const char *p = value; *p; p++) {
		if (*p == ';' || *p == '#' || (unsigned char)*p < 0x20 || *p == 0x7f) {
			*why = "value holds a comment or control character";
			return -EINVAL;
		}
	}
	strcpy(dst, value);
	return 0;
}

static int add_server(struct sk_config *cfg, const char *value, const char **why)
{
	struct sk_kmip_endpoint ep;

	if (strncmp(value, "kmip://", 7) || sk_kmip_parse_url(value, &ep) < 0) {
		*why = "server is not kmip://HOST[:PORT]";
		return -EINVAL;
	}
	if (cfg->n_servers == SK_KMS_MAX_SERVERS) {
		*why = "too many servers";
		return -EINVAL;
	}
	if (copy_value(cfg->servers[cfg->n_servers], SK_KMS_URL_MAX, value, why) < 0)
		return -EINVAL;
	cfg->n_servers++;
	return 0;
}

static int set_timeout(struct sk_config *cfg, const char *value, const char **why)
{
	char *end;
	long seconds;

	errno = 0;
	seconds = strtol(value, &end, 10);
	if (errno || *end || seconds < 1 || seconds > 600) {
		*why = "timeout must be 1 to 600 seconds";
		return -EINVAL;
	}
	cfg->timeout = (int)seconds;
	return 0;
}

static int fail(const char **why, const char *text)
{
	*why = text;
	return -EINVAL;
}

int sk_config_set_kms(struct sk_config *cfg, const char *key, const char *value,
		      const char **why)
{
	if (!strcmp(key, "server"))
		return add_server(cfg, value, why);
	if (!strcmp(key, "ca"))
		return copy_value(cfg->ca, sizeof(cfg->ca), value, why);
	if (!strcmp(key, "cert"))
		return copy_value(cfg->cert, sizeof(cfg->cert), value, why);
	if (!strcmp(key, "identity_key"))
		return copy_value(cfg->identity_key, sizeof(cfg->identity_key), value, why);
	if (!strcmp(key, "apqns"))
		return sk_apqn_list_parse(value, &cfg->apqns) < 0
			       ? fail(why, "apqns is not a list of CARD.DOMAIN")
			       : 0;
	if (!strcmp(key, "protocol"))
		return parse_protocol(value, &cfg->protocol) < 0
			       ? fail(why, "protocol must be auto, 1.2, 1.3, 1.4 or 2.0")
			       : 0;
	if (!strcmp(key, "timeout"))
		return set_timeout(cfg, value, why);
	return fail(why, "unknown key in [kms]");
}

/* [backup] keep: header backups kept per device (1 to 1000). */
static int set_backup_keep(struct sk_config *cfg, const char *value, const char **why)
{
	char *end;
	long keep;

	errno = 0;
	keep = strtol(value, &end, 10);
	if (errno || *end || end == value || keep < 1 || keep > SK_CONFIG_BACKUP_KEEP_MAX)
		return fail(why, "keep must be 1 to 1000 header backups per device");
	cfg->backup_keep = (unsigned)keep;
	return 0;
}

static int parse_yes_no(const char *value, bool *out, const char **why)
{
	if (!strcmp(value, "yes") || !strcmp(value, "no")) {
		*out = !strcmp(value, "yes");
		return 0;
	}
	return fail(why, "expected yes or no");
}

struct parse_ctx {
	struct sk_config *cfg;
	const char *error; /* static text, set by the first bad line */
};

/*
 * libinih's reader: it would split a line longer than its buffer and read
 * the tail as a line of its own, and a NUL would cut a value short; both
 * are refused instead (found by tests/fuzz/fuzz_config).
 */
struct line_reader {
	FILE *file;
	struct sk_secret *buf; /* locked: a line may hold the PIN */
	int line;
	const char *error;
};


/*
 * An [hsm] "pin = VALUE" line never reaches libinih: it is handed
 * "pin = -" (or "pin =" when empty, which is refused); the value stays in
 * locked memory, and sk_config_read_pin() reads it again when the token
 * asks for it.
 */
static void pass_line(const char *line, size_t n, char *str)
{
	const char *pin = sk_config_pin_value(line);

	if (pin)
		strcpy(str, pin[strspn(pin, " \t\r\n")] ? "pin = -\n" : "pin =\n");
	else
		memcpy(str, line, n + 1);
}

static char *read_line(char *str, int num, void *stream)
{
	struct line_reader *rd = stream;
	ssize_t n;

	if (!rd->buf)
		rd->buf = sk_secret_new(SK_CONFIG_LINE_BYTES);
	if (!rd->buf) {
		rd->error = "out of locked memory";
		return NULL;
	}
	n = sk_config_next_line(rd->file, rd->buf);
	if (n < 0)
		return NULL;
	rd->line++;
	if (n >= num || (size_t)n >= rd->buf->len - 1)
		rd->error = "line too long";
	else if (memchr(rd->buf->data, '\0', (size_t)n))
		rd->error = "NUL byte in the line";
	if (rd->error)
		return NULL;
	pass_line((const char *)rd->buf->data, (size_t)n, str);
	return str;
}

static int set_hsm(struct sk_config *cfg, const char *name, const char *value, const char **why)
{
	if (!strcmp(name, "backend")) {
		if (strcmp(value, "soft") && strcmp(value, "pkcs11")) {
			*why = "backend must be soft or pkcs11";
			return -EINVAL;
		}
		cfg->hsm_pkcs11 = !strcmp(value, "pkcs11");
		return 0;
	}
	if (!strcmp(name, "dir"))
		return copy_value(cfg->hsm_dir, sizeof(cfg->hsm_dir), value, why);
	if (!strcmp(name, "uri")) {
		if (strncmp(value, "pkcs11:", 7)) {
			*why = "uri must be a PKCS#11 URI (pkcs11:token=...)";
			return -EINVAL;
		}
		return copy_value(cfg->hsm_uri, sizeof(cfg->hsm_uri), value, why);
	}
	if (!strcmp(name, "master_key_kind")) {
		if (strcmp(value, "aes-gcm") && strcmp(value, "aes-kwp") && strcmp(value, "rsa-oaep"))
			return fail(why, "master_key_kind must be aes-gcm, aes-kwp or rsa-oaep");
		return copy_value(cfg->hsm_kind, sizeof(cfg->hsm_kind), value, why);
	}
	if (!strcmp(name, "pin")) {
		cfg->hsm_pin_in_config = true;
		return *value ? 0 : fail(why, "pin is empty");
	}
	if (!strcmp(name, "initramfs_file")) {
		if (value[0] != '/')
			return fail(why, "initramfs_file must be an absolute path");
		if (cfg->n_initramfs_files == SK_CONFIG_MAX_INITRAMFS_FILES)
			return fail(why, "more than 16 initramfs_file lines");
		return copy_value(cfg->initramfs_files[cfg->n_initramfs_files++],
				  sizeof(cfg->initramfs_files[0]), value, why);
	}
	if (!strcmp(name, "module") || !strcmp(name, "pin_file")) {
		if (value[0] != '/') {
			*why = "module and pin_file must be absolute paths";
			return -EINVAL;
		}
		return !strcmp(name, "module")
			       ? copy_value(cfg->hsm_module, sizeof(cfg->hsm_module), value, why)
			       : copy_value(cfg->hsm_pin_file, sizeof(cfg->hsm_pin_file), value, why);
	}
	*why = "unknown key in [hsm]";
	return -EINVAL;
}

/* Append "?KEY=PREFIXVALUE" (or "&..."), percent-encoding VALUE. */
static void append_query(FILE *out, bool *has_query, const char *key, const char *prefix,
			 const char *value)
{
	fprintf(out, "%c%s=%s", *has_query ? '&' : '?', key, prefix);
	*has_query = true;
	for (const unsigned char *c = (const unsigned char *)value; *c; c++) {
		if (strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~/",
			   *c))
			fputc(*c, out);
		else
			fprintf(out, "%%%02X", *c);
	}
}

/* The [hsm] keys must name one backend; compose where sk_hsm_open looks. */
static int finish_hsm(struct sk_config *cfg, const char **why)
{
	bool has_query;
	FILE *out;

	if (!cfg->hsm_pkcs11) {
		if (cfg->hsm_uri[0] || cfg->hsm_module[0] || cfg->hsm_pin_file[0] ||
		    cfg->hsm_pin_in_config || cfg->n_initramfs_files || cfg->hsm_kind[0]) {
			*why = "[hsm] uri, module, pin, pin_file, initramfs_file and master_key_kind "
			       "need backend = pkcs11";
			return -EINVAL;
		}
		snprintf(cfg->hsm_location, sizeof(cfg->hsm_location), "%s", cfg->hsm_dir);
		return 0;
	}
	if (!cfg->hsm_uri[0] || cfg->hsm_dir[0]) {
		*why = "backend = pkcs11 needs [hsm] uri, and no dir";
		return -EINVAL;
	}
	if (cfg->hsm_pin_file[0] && cfg->hsm_pin_in_config) {
		*why = "pin and pin_file both give the PIN; keep one";
		return -EINVAL;
	}
	out = fmemopen(cfg->hsm_location, sizeof(cfg->hsm_location), "w");
	if (!out)
		return -ENOMEM;
	fputs(cfg->hsm_uri, out);
	has_query = strchr(cfg->hsm_uri, '?') != NULL;
	if (cfg->hsm_module[0])
		append_query(out, &has_query, "module-path", "", cfg->hsm_module);
	if (cfg->hsm_pin_file[0])
		append_query(out, &has_query, "pin-source", "file:", cfg->hsm_pin_file);
	if (cfg->hsm_pin_in_config)
		append_query(out, &has_query, "pin-source", SK_CONFIG_PIN_SOURCE, cfg->path);
	if (cfg->hsm_kind[0])
		append_query(out, &has_query, SK_CONFIG_KIND_QUERY, "", cfg->hsm_kind);
	return fclose(out) ? -ENOMEM : 0;
}

/* libinih handler: nonzero to go on. */
static int on_entry(void *user, const char *section, const char *name, const char *value)
{
	struct parse_ctx *ctx = user;

	if (ctx->error)
		return 0;
	if (!strcmp(section, "hsm"))
		return set_hsm(ctx->cfg, name, value, &ctx->error) == 0;
	if (!strcmp(section, "kms"))
		return sk_config_set_kms(ctx->cfg, name, value, &ctx->error) == 0;
	if (!strcmp(section, "batch") && !strcmp(name, "allow_token_auth"))
		return parse_yes_no(value, &ctx->cfg->allow_token_auth, &ctx->error) == 0;
	if (!strcmp(section, "backup"))
		return !strcmp(name, "keep") ? set_backup_keep(ctx->cfg, value, &ctx->error) == 0
					     : !(ctx->error = "unknown key in [backup]");
	ctx->error = !strcmp(section, "batch") ? "unknown key in [batch]" : "unknown section";
	return 0;
}

/* Parse the open file: 0, or the line number of the first error and *@why. */
static int parse_file(FILE *f, struct sk_config *cfg, const char **why)
{
	struct parse_ctx ctx = { .cfg = cfg };
	struct line_reader reader = { .file = f };
	int line = ini_parse_stream(read_line, &reader, on_entry, &ctx);

	/* The reader stops parsing at its error, so a handler error comes first. */
	if (reader.error && !line) {
		line = reader.line;
		ctx.error = reader.error;
	}
	sk_secret_free(reader.buf);
	*why = ctx.error ? ctx.error : "syntax error";
	return line;
}

static int check_pin_holder(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int r;

	if (fd < 0) {
		sk_err("cannot open configuration %s: %s", path, strerror(errno));
		return -errno;
	}
	r = sk_secfile_check(fd, path, "configuration holding the PKCS#11 PIN");
	close(fd);
	return r;
}

/*
 * The stdio buffer is locked memory, wiped when the file is closed: it
 * holds the whole file, an [hsm] pin too.
 */
int sk_config_load(struct sk_config *cfg)
{
	struct sk_secret *buffer;
	const char *path = sk_config_path(), *why = NULL;
	FILE *f;
	int line, r = 0;

	*cfg = (struct sk_config){ .timeout = SK_KMS_DEFAULT_TIMEOUT };
	if (strlen(path) >= sizeof(cfg->path)) {
		sk_err("configuration path is too long: %s", path);
		return -ENAMETOOLONG;
	}
	strcpy(cfg->path, path);
	f = sk_config_open_locked(path, &buffer);
	if (!f) {
		if (errno == ENOENT)
			return 0;
		sk_err("cannot read configuration %s: %s", path, strerror(errno));
		return -errno;
	}
	cfg->exists = true;
	/* it chooses the HSM and the PKCS#11 module loaded into root's processes */
	r = sk_trusted_file_check(fileno(f), path, "configuration");
	if (r < 0) {
		fclose(f);
		sk_secret_free(buffer);
		return r;
	}
	line = parse_file(f, cfg, &why);
	fclose(f);
	sk_secret_free(buffer);
	/* checked once the file is out of memory: the log guard withholds what a secret holds */
	if (!line && cfg->hsm_pin_in_config)
		r = check_pin_holder(path);
	if (r < 0)
		return r;
	if (line) {
		sk_err("%s:%d: %s; fix the line (see securekey.conf(5))", path, line, why);
		return -EINVAL;
	}
	if (finish_hsm(cfg, &why) < 0) {
		sk_err("%s: %s; fix the [hsm] section (see securekey.conf(5))", path,
		       why ? why : "out of memory");
		return -EINVAL;
	}
	return 0;
}

bool sk_config_has_kms(const struct sk_config *cfg)
{
	return cfg->n_servers > 0 && cfg->ca[0] && cfg->cert[0] && cfg->identity_key[0];
}

static void format_protocol(const struct sk_kmip_version *v, char buf[8])
{
	if (!v->major)
		strcpy(buf, "auto");
	else
		snprintf(buf, 8, "%d.%d", v->major % 10, v->minor % 10);
}

int sk_config_check_rewritable(const struct sk_config *cfg)
{
	if (!cfg->hsm_pin_in_config)
		return 0;
	sk_err("%s holds the PKCS#11 PIN ([hsm] pin) and is not rewritten, so that the PIN is "
	       "not copied around; move the PIN to a pin_file first",
	       cfg->path);
	return -EPERM;
}

int sk_config_save(const struct sk_config *cfg)
{
	char apqns[SK_APQN_MAX * (SK_APQN_TEXT_LEN + 1) + 1], protocol[8], *text = NULL;
	size_t size = 0;
	int r = sk_config_check_rewritable(cfg);
	FILE *mem = r < 0 ? NULL : open_memstream(&text, &size);

	if (r < 0)
		return r;
	if (!mem)
		return -ENOMEM;
	fprintf(mem, "# securekey configuration, see securekey.conf(5)\n");
	if (cfg->hsm_pkcs11)
		fprintf(mem, "\n[hsm]\nbackend = pkcs11\nuri = %s\n", cfg->hsm_uri);
	else if (cfg->hsm_dir[0])
		fprintf(mem, "\n[hsm]\ndir = %s\n", cfg->hsm_dir);
	if (cfg->hsm_module[0])
		fprintf(mem, "module = %s\n", cfg->hsm_module);
	if (cfg->hsm_pin_file[0])
		fprintf(mem, "pin_file = %s\n", cfg->hsm_pin_file);
	for (size_t i = 0; i < cfg->n_initramfs_files; i++)
		fprintf(mem, "initramfs_file = %s\n", cfg->initramfs_files[i]);
	if (cfg->hsm_kind[0])
		fprintf(mem, "master_key_kind = %s\n", cfg->hsm_kind);
	if (cfg->n_servers) {
		sk_apqn_list_format(&cfg->apqns, apqns, sizeof(apqns));
		format_protocol(&cfg->protocol, protocol);
		fprintf(mem, "\n[kms]\n");
		for (size_t i = 0; i < cfg->n_servers; i++)
			fprintf(mem, "server = %s\n", cfg->servers[i]);
		fprintf(mem, "ca = %s\ncert = %s\nidentity_key = %s\napqns = %s\n"
			     "timeout = %d\nprotocol = %s\n",
			cfg->ca, cfg->cert, cfg->identity_key, apqns, cfg->timeout, protocol);
	}
	if (cfg->allow_token_auth)
		fprintf(mem, "\n[batch]\nallow_token_auth = yes\n");
	if (cfg->backup_keep)
		fprintf(mem, "\n[backup]\nkeep = %u\n", cfg->backup_keep);
	if (fclose(mem)) {
		free(text);
		return -ENOMEM;
	}
	r = sk_file_replace_mode(cfg->path, text, size, 0644);
	if (r < 0)
		sk_err("cannot write configuration %s: %s", cfg->path, strerror(-r));
	free(text);
	return r;
}
