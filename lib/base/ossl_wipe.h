/*
 * Make OpenSSL wipe every block it frees. Only before OpenSSL allocated
 * anything, i.e. first thing in a program's main: -EBUSY after that. The
 * token plugin cannot: cryptsetup's OpenSSL allocated long before it is
 * loaded.
 */
#ifndef SECUREKEY_OSSL_WIPE_H
#define SECUREKEY_OSSL_WIPE_H

int sk_ossl_wipe_on_free(void);

#endif
