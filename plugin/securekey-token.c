/*
 * libcryptsetup-token-securekey.so: the external token plugin. libcryptsetup
 * finds these functions by name under symbol version CRYPTSETUP_TOKEN_1.0
 * (see securekey-token.sym); everything else in the module is local.
 */
#include "config.h"

#include <libcryptsetup.h>

#include "handler.h"

const char *cryptsetup_token_version(void);
int cryptsetup_token_open(struct crypt_device *cd, int token, char **buffer, size_t *buffer_len,
			  void *usrptr);
int cryptsetup_token_open_pin(struct crypt_device *cd, int token, const char *pin,
			      size_t pin_size, char **buffer, size_t *buffer_len, void *usrptr);
void cryptsetup_token_buffer_free(void *buffer, size_t buffer_len);
int cryptsetup_token_validate(struct crypt_device *cd, const char *json);
void cryptsetup_token_dump(struct crypt_device *cd, const char *json);

const char *cryptsetup_token_version(void)
{
	return PACKAGE_VERSION;
}

int cryptsetup_token_open(struct crypt_device *cd, int token, char **buffer, size_t *buffer_len,
			  void *usrptr)
{
	return sk_handler_open(cd, token, buffer, buffer_len, usrptr);
}

/* The PIN of a PKCS#11 HSM's token, when open returned -ENOANO. */
int cryptsetup_token_open_pin(struct crypt_device *cd, int token, const char *pin,
			      size_t pin_size, char **buffer, size_t *buffer_len, void *usrptr)
{
	return sk_handler_open_pin(cd, token, pin, pin_size, buffer, buffer_len, usrptr);
}

void cryptsetup_token_buffer_free(void *buffer, size_t buffer_len)
{
	sk_handler_buffer_free(buffer, buffer_len);
}

int cryptsetup_token_validate(struct crypt_device *cd, const char *json)
{
	return sk_handler_validate(cd, json);
}

void cryptsetup_token_dump(struct crypt_device *cd, const char *json)
{
	sk_handler_dump(cd, json);
}
