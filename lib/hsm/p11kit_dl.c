#include "config.h"

#include "p11kit_dl.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>

#include "log.h"

#define SK_P11KIT_DEFINE(name) __typeof__(name) *sym_##name;
SK_P11KIT_SYMBOLS(SK_P11KIT_DEFINE)
#undef SK_P11KIT_DEFINE

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static int load_result;

/* The handle is never closed: the sym_ pointers live as long as the process. */
static void load(void)
{
	void *lib = dlopen("libp11-kit.so.0", RTLD_NOW | RTLD_LOCAL);

	if (!lib) {
		sk_err("the pkcs11 HSM backend needs libp11-kit.so.0 (apt-get install "
		       "p11-kit-modules or libp11-kit0): %s", dlerror());
		load_result = -ENOENT;
		return;
	}
#define SK_P11KIT_RESOLVE(name)                                                                  \
	if (!load_result && !(*(void **)&sym_##name = dlsym(lib, #name))) {                     \
		sk_err("libp11-kit.so.0 has no %s; it is too old for securekey", #name);        \
		load_result = -ENOENT;                                                           \
	}
	SK_P11KIT_SYMBOLS(SK_P11KIT_RESOLVE)
#undef SK_P11KIT_RESOLVE
}

int sk_p11kit_load(void)
{
	pthread_once(&load_once, load);
	return load_result;
}
