/*
 * securekey.conf (INI, parsed with libinih):
 *
 *   [hsm]
 *   backend = soft                       ; or pkcs11
 *   dir = /var/lib/securekey/hsm        ; soft HSM directory
 *   uri = pkcs11:token=securekey        ; pkcs11: the token (RFC 7512)
 *   module = /usr/lib/softhsm/libsofthsm2.so   ; pkcs11: else p11-kit's
 *   pin_file = /etc/securekey/hsm.pin    ; pkcs11: a 0600 file, else a prompt
 *   ; pkcs11, only in a 0600 file: the rest of the line is the PIN
 *   pin = 1234
 *   ; pkcs11, repeatable: what the token's module needs at boot besides its
 *   ; library (a vendor module's configuration, a directory of its state)
 *   initramfs_file = /etc/vendor/hsm.conf
 *   ; pkcs11: what master keys are; else the token's mechanisms choose
 *   master_key_kind = rsa-oaep           ; or aes-gcm, aes-kwp
 *
 *   [kms]
 *   server = kmip://kms1.example:5696    ; repeat: the first is the primary
 *   server = kmip://kms2.example:5696
 *   ca = /etc/securekey/kms/ca.pem       ; the only CA trusted for the KMS
 *   cert = /etc/securekey/kms/client.pem
 *   identity_key = /etc/securekey/kms/identity.skey   ; a secure key
 *   apqns = 01.0001                      ; APQNs that encipher the identity key
 *   timeout = 10                         ; seconds, per connect/read/write
 *   protocol = auto                      ; or 1.2, 1.3, 1.4, 2.0
 *
 *   [backup]
 *   keep = 5                             ; header backups kept per device
 *
 * A missing file is an empty configuration; anything unknown or malformed
 * is an error naming the file and line.
 */
#ifndef SECUREKEY_CONF_H
#define SECUREKEY_CONF_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "apqn.h"
#include "kmip.h"
#include "secmem.h"

#include <stdio.h>
#include <sys/types.h>

#define SK_DEFAULT_CONFIG "/etc/securekey/securekey.conf"
#define SK_KMS_MAX_SERVERS 8
#define SK_KMS_URL_MAX 300
#define SK_KMS_DEFAULT_TIMEOUT 10
/* "identity_key = VALUE" must fit libinih's 200-byte line. */
#define SK_CONFIG_VALUE_MAX 180
#define SK_CONFIG_MAX_INITRAMFS_FILES 16
#define SK_CONFIG_BACKUP_KEEP_MAX 1000

struct sk_config {
	char path[PATH_MAX];
	bool exists;
	bool hsm_pkcs11; /* backend = pkcs11 */
	char hsm_dir[PATH_MAX];
	char hsm_uri[SK_CONFIG_VALUE_MAX + 1];
	char hsm_module[PATH_MAX];
	char hsm_pin_file[PATH_MAX];
	char hsm_kind[16]; /* master_key_kind, "" when not set */
	bool hsm_pin_in_config; /* [hsm] pin: the value is read only when a token asks */
	size_t n_initramfs_files;
	char initramfs_files[SK_CONFIG_MAX_INITRAMFS_FILES][SK_CONFIG_VALUE_MAX + 1];
	/* Where sk_hsm_open finds the HSM: the dir, or the URI with module and PIN file. */
	char hsm_location[PATH_MAX * 4];
	size_t n_servers;
	char servers[SK_KMS_MAX_SERVERS][SK_KMS_URL_MAX];
	char ca[PATH_MAX];
	char cert[PATH_MAX];
	char identity_key[PATH_MAX];
	struct sk_apqn_list apqns;
	int timeout; /* seconds */
	struct sk_kmip_version protocol; /* {0,0}: negotiate */
	bool allow_token_auth; /* [batch]: root may re-encipher with --auth=token */
	unsigned backup_keep;  /* [backup] keep; 0: not set (5) */
};

/* The location's query attribute that carries master_key_kind (RFC 7512 vendor form). */
#define SK_CONFIG_KIND_QUERY "x-securekey-master-key-kind"

/* --config, else SECUREKEY_CONF, else the default. */
void sk_config_set_path(const char *path);
const char *sk_config_path(void);

int sk_config_load(struct sk_config *cfg);
/* True when the [kms] section names servers and credentials. */
bool sk_config_has_kms(const struct sk_config *cfg);
/*
 * [hsm] pin: the location's pin-source is SK_CONFIG_PIN_SOURCE + the
 * file's path. sk_config_read_pin() reads the value (1 to @max bytes) into
 * locked memory, refusing a file that is not 0600 and the caller's.
 */
#define SK_CONFIG_PIN_SOURCE "securekey-conf:"
/* The locked buffer a line is read into: longer than any line the parser takes. */
#define SK_CONFIG_LINE_BYTES 256
int sk_config_read_pin(const char *path, size_t max, struct sk_secret **pin);
/* The value of a "pin = VALUE" line (blanks around "=" allowed), else NULL. */
const char *sk_config_pin_value(const char *line);
/*
 * One line of @f into the locked @buf (cut at its size, NUL-terminated):
 * its whole length, or -1 at the end of the file. No copy of it is left
 * anywhere else, as getline's reallocations would.
 */
ssize_t sk_config_next_line(FILE *f, struct sk_secret *buf);
/* fopen(@path) with its stdio buffer in locked memory, freed by the caller after fclose. */
FILE *sk_config_open_locked(const char *path, struct sk_secret **buffer);

/* -EPERM, logged, when rewriting the file would copy an [hsm] pin around. */
int sk_config_check_rewritable(const struct sk_config *cfg);
/* Write @cfg to its path atomically (0644). */
int sk_config_save(const struct sk_config *cfg);

/*
 * Set one [kms] key as the file would (server adds a server): shared by the
 * parser and 'kms configure'. -EINVAL with *why (static text) when @value
 * is not valid for @key.
 */
int sk_config_set_kms(struct sk_config *cfg, const char *key, const char *value,
		      const char **why);

#endif
