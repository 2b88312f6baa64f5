/*
 * One fuzz input through the securekey LUKS2 token parser (luks2/token.c),
 * shared by the libFuzzer target (fuzz_main.c) and the corpus replay in
 * tests/unit/t_corpus.c, so the regular build and ASan replay exactly what
 * the fuzzer runs.
 */
#ifndef SECUREKEY_FUZZ_TOKEN_BODY_H
#define SECUREKEY_FUZZ_TOKEN_BODY_H

#include <stddef.h>
#include <stdint.h>

/*
 * Parse @data (up to its first NUL) as the token JSON that libcryptsetup
 * hands over. An accepted token must satisfy everything the rest of
 * securekey takes for granted, and what securekey writes back from it
 * (as is, or after each setter) must parse again to the same token.
 * Returns NULL when every invariant held, else a static description of the
 * one that broke. Memory errors are left to the sanitizers.
 */
const char *sk_fuzz_token(const uint8_t *data, size_t size);

#endif
