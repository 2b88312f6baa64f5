/*
 * One fuzz input through the configuration parser (lib/conf/conf.c over
 * libinih), shared by the libFuzzer target (fuzz_main.c) and the corpus
 * replay in tests/unit/t_corpus.c, so the regular build and ASan replay
 * exactly what the fuzzer runs.
 */
#ifndef SECUREKEY_FUZZ_CONFIG_BODY_H
#define SECUREKEY_FUZZ_CONFIG_BODY_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"

/*
 * sk_config_load of a file holding exactly @data: the bytes go into a
 * memfd that sk_config_set_path points at for the call, so conf.c reads a
 * file as it always does. Returns what sk_config_load returned, or -ENOSYS
 * when the memfd could not be made or filled.
 */
int sk_fuzz_config_load(const uint8_t *data, size_t size, struct sk_config *cfg);

/*
 * Load @data as securekey.conf. A configuration that loads must hold only
 * values its users can use, and saving it (as 'kms configure' does) must
 * give a file that loads to the same configuration. Returns NULL when every
 * invariant held, else a static description of the one that broke. Memory
 * errors are left to the sanitizers.
 */
const char *sk_fuzz_config(const uint8_t *data, size_t size);

#endif
