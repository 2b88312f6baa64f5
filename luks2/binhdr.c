#include "config.h"

#include <string.h>

#include "binhdr.h"

#define HDR_SIZE_OFFSET 8

static const unsigned char luks2_magic[8] = { 'L', 'U', 'K', 'S', 0xba, 0xbe, 0, 2 };

static uint64_t be64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

bool sk_luks2_bin_magic_ok(const unsigned char *bin)
{
	return !memcmp(bin, luks2_magic, sizeof(luks2_magic));
}

uint64_t sk_luks2_bin_seqid(const unsigned char *bin)
{
	return be64(bin + SK_LUKS2_SEQID_OFFSET);
}

size_t sk_luks2_bin_hdr_size(const unsigned char bin[SK_LUKS2_BIN_HDR_LEN])
{
	uint64_t size = be64(bin + HDR_SIZE_OFFSET);

	if (!sk_luks2_bin_magic_ok(bin) || size < SK_LUKS2_HDR_SIZE_MIN ||
	    size > SK_LUKS2_HDR_SIZE_MAX || (size & (size - 1)))
		return 0;
	return size;
}
