#ifndef SECUREKEY_LUKS2_BINHDR_H
#define SECUREKEY_LUKS2_BINHDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The LUKS2 binary header, read raw where libcryptsetup cannot serve: the
 * device lock is taken by the UUID before the header is loaded, the seqid
 * tells a header that changed meanwhile, and backups copy both metadata
 * areas. Big-endian: magic[6] version u16 hdr_size u64 seqid u64 label[48]
 * checksum_alg[32] salt[64] uuid[40] ...
 */
#define SK_LUKS2_BIN_HDR_LEN 4096
#define SK_LUKS2_SEQID_OFFSET 16
#define SK_LUKS2_UUID_OFFSET 168
#define SK_LUKS2_UUID_LEN 40
/* What LUKS2 allows for one metadata copy: a power of two, 16 KiB to 4 MiB. */
#define SK_LUKS2_HDR_SIZE_MIN (16 * 1024)
#define SK_LUKS2_HDR_SIZE_MAX (4 * 1024 * 1024)

/* The LUKS2 magic and version 2 at the start of @bin. */
bool sk_luks2_bin_magic_ok(const unsigned char *bin);

/* The seqid field of @bin (SK_LUKS2_SEQID_OFFSET + 8 bytes at least). */
uint64_t sk_luks2_bin_seqid(const unsigned char *bin);

/* The metadata size @bin states, 0 when it is not LUKS2 or not a valid size. */
size_t sk_luks2_bin_hdr_size(const unsigned char bin[SK_LUKS2_BIN_HDR_LEN]);

#endif
