/*
 * The token's own keyslot. Its passphrase is derived from the volume key
 * (HKDF-SHA256, info "securekey-keyslot", hex-encoded so keyscripts can
 * print it), so whoever can unwrap the secure key can open the keyslot, and
 * re-enciphering never touches it. The input has 256+ bits of entropy, so
 * PBKDF2 with 1000 iterations is enough.
 */
#ifndef SECUREKEY_LUKS2_KEYSLOT_H
#define SECUREKEY_LUKS2_KEYSLOT_H

#include <libcryptsetup.h>

#include "secmem.h"

#define SK_KEYSLOT_INFO "securekey-keyslot"
#define SK_KEYSLOT_PASSPHRASE_LEN 64
#define SK_KEYSLOT_PBKDF_ITERATIONS 1000

int sk_keyslot_passphrase(const struct sk_secret *vk, struct sk_secret **passphrase);

/*
 * Open @keyslot (or CRYPT_ANY_SLOT) with the passphrase derived from @vk,
 * checking only; returns the keyslot that opened, or a negative errno.
 */
int sk_keyslot_open_derived(struct crypt_device *cd, int keyslot, const struct sk_secret *vk);

/*
 * Add a keyslot (PBKDF2, 1000 iterations) that the passphrase derived from
 * @vk opens; returns its number. Callers first look for one with
 * sk_keyslot_open_derived, so an enroll cut short is re-run without leaving
 * a second keyslot.
 */
int sk_keyslot_add_derived(struct crypt_device *cd, const char *device,
			   const struct sk_secret *vk);

/* Read the volume key with a passphrase of any keyslot; -EPERM when wrong. */
int sk_keyslot_volume_key(struct crypt_device *cd, const char *device,
			  const struct sk_secret *passphrase, struct sk_secret **vk);

#endif
