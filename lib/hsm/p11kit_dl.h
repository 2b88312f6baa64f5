/*
 * libp11-kit, opened on first use, as systemd's dlopen_p11kit() does. The
 * token plugin is loaded into every 'cryptsetup open', most hosts use the
 * soft HSM, and linking p11-kit (which pulls in libffi) cost every unlock
 * about 0.7 ms of dynamic loading (bench/unlock). Call the functions through
 * their sym_ pointers after sk_p11kit_load() succeeded.
 */
#ifndef SECUREKEY_P11KIT_DL_H
#define SECUREKEY_P11KIT_DL_H

#include <p11-kit/p11-kit.h>
#include <p11-kit/uri.h>

#define SK_P11KIT_SYMBOLS(X)                                                                     \
	X(p11_kit_message)                                                                       \
	X(p11_kit_module_finalize)                                                               \
	X(p11_kit_module_initialize)                                                             \
	X(p11_kit_module_load)                                                                   \
	X(p11_kit_module_release)                                                                \
	X(p11_kit_modules_finalize_and_release)                                                  \
	X(p11_kit_modules_load_and_initialize)                                                   \
	X(p11_kit_space_strlen)                                                                  \
	X(p11_kit_strerror)                                                                      \
	X(p11_kit_uri_free)                                                                      \
	X(p11_kit_uri_get_module_path)                                                           \
	X(p11_kit_uri_get_pin_source)                                                            \
	X(p11_kit_uri_get_pin_value)                                                             \
	X(p11_kit_uri_match_module_info)                                                         \
	X(p11_kit_uri_match_token_info)                                                          \
	X(p11_kit_uri_message)                                                                   \
	X(p11_kit_uri_new)                                                                       \
	X(p11_kit_uri_parse)

#define SK_P11KIT_DECLARE(name) extern __typeof__(name) *sym_##name;
SK_P11KIT_SYMBOLS(SK_P11KIT_DECLARE)
#undef SK_P11KIT_DECLARE

/* Open libp11-kit.so.0 once per process; 0, or -ENOENT with the reason logged. */
int sk_p11kit_load(void);

#endif
