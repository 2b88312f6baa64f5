/*
 * One fuzz input through the secure-key blob parser (lib/hsm/blob.c), shared by
 * the libFuzzer target (fuzz_main.c) and the corpus replay in
 * tests/unit/t_corpus.c, so the regular build and ASan replay exactly what
 * the fuzzer runs.
 */
#ifndef SECUREKEY_FUZZ_BLOB_BODY_H
#define SECUREKEY_FUZZ_BLOB_BODY_H

#include <stddef.h>
#include <stdint.h>

#include "mkvp.h"

/*
 * The master key the corpus blobs are enciphered under (make_corpus.py
 * writes them with it), so that unwrapping and re-sealing are fuzzed too:
 * the bytes 0x00, 0x01, ..., 0x1f.
 */
extern const unsigned char sk_fuzz_blob_mk[SK_MK_LEN];

/*
 * Parse @data as a secure-key blob; when it parses, check the header against
 * the bytes, unwrap it with sk_fuzz_blob_mk and, if that works, seal the key
 * again and unwrap the new blob. Also decode @data as the base64 text a
 * token carries. Returns NULL when every invariant held, else a static
 * description of the one that broke. Memory errors are left to the
 * sanitizers.
 */
const char *sk_fuzz_blob(const uint8_t *data, size_t size);

#endif
