/*
 * The securekey token handler: what libcryptsetup calls to unlock a device
 * by token, to validate a token being imported and to dump one. The plugin
 * exports these under the external-token ABI; the CLI registers them
 * in-process with crypt_token_register. It never writes the header.
 */
#ifndef SECUREKEY_LUKS2_HANDLER_H
#define SECUREKEY_LUKS2_HANDLER_H

#include <stdbool.h>
#include <stddef.h>

#include <libcryptsetup.h>

int sk_handler_open(struct crypt_device *cd, int token, char **buffer, size_t *buffer_len,
		    void *usrptr);
/* The same with the token PIN cryptsetup asked for after open returned -ENOANO. */
int sk_handler_open_pin(struct crypt_device *cd, int token, const char *pin, size_t pin_size,
			char **buffer, size_t *buffer_len, void *usrptr);
void sk_handler_buffer_free(void *buffer, size_t buffer_len);
int sk_handler_validate(struct crypt_device *cd, const char *json);
void sk_handler_dump(struct crypt_device *cd, const char *json);

/*
 * The soft HSM directory for unlocks in this process (the CLI's --hsm-dir);
 * NULL: $SECUREKEY_HSM_DIR or the default, as in the plugin.
 */
void sk_handler_set_hsm_dir(const char *dir);

/*
 * Let the handler ask a PKCS#11 token's PIN on the terminal (the CLI, where
 * libcryptsetup's in-process handlers have no open_pin); the plugin and
 * securekey-udev never do, they return -ENOANO instead.
 */
void sk_handler_allow_pin_prompt(bool allow);

/* Register the handler in this process (idempotent). */
int sk_handler_register(void);

#endif
