/*
 * Master keys from key parts on a PKCS#11 token, combined inside it: the
 * first part is imported as a key object, each next one is XORed in with
 * C_DeriveKey(CKM_XOR_BASE_AND_DATA), so the combined key never exists
 * outside the token. Each part passes through this process once, in
 * locked memory, as with the soft HSM.
 *
 * The keys along the chain must allow CKA_DERIVE, which XOR needs; the
 * final key (made by 'commit', or by 'init' from its parts) does not.
 */
#ifndef SECUREKEY_P11_PARTS_H
#define SECUREKEY_P11_PARTS_H

#include <stdbool.h>
#include <stddef.h>

#include "mkvp.h"
#include "p11_token.h"
#include "secmem.h"

/* True when the token can XOR key parts (CKM_XOR_BASE_AND_DATA with CKF_DERIVE). */
bool sk_p11_parts_supported(struct sk_p11 *p11);

/*
 * XOR @parts (SK_MK_PART_LEN bytes each) into a new key labelled @label:
 * into @base when it is a key (kept as it is), else starting from an
 * import of the first part. @final makes a master key (encrypt and
 * decrypt, no derive); else a key that takes more parts. Keys made on the
 * way are destroyed; on failure nothing new is left. *@mkvp gets the MKVP
 * (computed inside the token), and a result that is the all-zero key
 * (parts that cancel out) is refused with -EINVAL, nothing left.
 */
int sk_p11_parts_xor(struct sk_p11 *p11, CK_OBJECT_HANDLE base, struct sk_secret *const *parts,
		     size_t nparts, bool final, const char *label, CK_OBJECT_HANDLE *out,
		     unsigned char mkvp[SK_MKVP_LEN]);

#endif
