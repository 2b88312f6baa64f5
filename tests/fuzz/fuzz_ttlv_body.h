/*
 * One fuzz input through the KMIP TTLV decoder and the response parser,
 * shared by the libFuzzer target (fuzz_main.c) and the corpus replay in
 * tests/unit/t_ttlv.c, so the regular build and ASan replay exactly what the
 * fuzzer runs.
 */
#ifndef SECUREKEY_FUZZ_TTLV_BODY_H
#define SECUREKEY_FUZZ_TTLV_BODY_H

#include <stddef.h>
#include <stdint.h>

/*
 * Decode @data, walk every item with every accessor, re-encode what was
 * decoded and parse it as a response to a few operations. Returns NULL when
 * every invariant held, else a static description of the one that broke.
 * Memory errors are left to the sanitizers.
 */
const char *sk_fuzz_ttlv(const uint8_t *data, size_t size);

#endif
