/*
 * The HSM as securekey sees it: a set of APQNs that hold the same master
 * keys in three registers (OLD, CURRENT, NEW), able to wrap a volume key
 * under a register and to unwrap a secure key under whichever register
 * holds the master key it names.
 */
#ifndef SECUREKEY_HSM_H
#define SECUREKEY_HSM_H

#include <stdbool.h>
#include <stddef.h>

#include "apqn.h"
#include "blob.h"
#include "mkvp.h"
#include "secmem.h"

enum sk_mk_register {
	SK_REG_OLD,
	SK_REG_CURRENT,
	SK_REG_NEW,
};
#define SK_REG_COUNT 3

/* OLD and CURRENT are empty or valid; NEW walks empty → … → committed. */
enum sk_mk_state {
	SK_MK_EMPTY,
	SK_MK_VALID,
	SK_MK_PARTIAL,
	SK_MK_FULL_UNCOMMITTED,
	SK_MK_COMMITTED,
};

#define SK_MK_PART_LEN SK_MK_LEN
#define SK_MK_MIN_PARTS 2
#define SK_MK_MAX_PARTS 3

struct sk_register_status {
	enum sk_mk_state state;
	unsigned parts;
	bool has_mkvp;
	unsigned char mkvp[SK_MKVP_LEN];
};

struct sk_apqn_status {
	struct sk_apqn apqn;
	struct sk_register_status reg[SK_REG_COUNT];
};

/* The token behind a PKCS#11 backend (present is false for the soft HSM). */
struct sk_hsm_token_info {
	bool present;
	char module[256];
	char label[33];
	char serial[17];
	char model[50];
	char cipher[48]; /* what secure keys are enciphered with */
	char kind[16];	 /* what master keys are: aes-gcm, aes-kwp, rsa-oaep, none */
	bool kind_configured; /* chosen by [hsm] master_key_kind, not by the mechanisms */
	/* per register, "SHA-256" or "SHA-1" for an RSA-OAEP key pair, else "" */
	char oaep_hash[SK_REG_COUNT][8];
};

struct sk_hsm_status {
	const char *backend;
	struct sk_hsm_token_info token;
	/* What 'hsm status --repair' would do; empty when nothing. */
	char repair[160];
	size_t count;
	struct sk_apqn_status apqns[SK_APQN_MAX];
};

struct sk_hsm;

const char *sk_register_name(enum sk_mk_register reg);
/* "old", "current", "new" in any case. */
int sk_register_parse(const char *text, enum sk_mk_register *reg);
const char *sk_mk_state_name(enum sk_mk_state state);

/*
 * Open the HSM at @location for the APQNs in @apqns; an empty list means
 * every APQN the HSM knows. @location is a soft HSM directory, or a
 * PKCS#11 URI ("pkcs11:token=...?module-path=...&pin-source=file:...") for
 * the pkcs11 backend, which loads the module and logs in to the token here.
 */
int sk_hsm_open(const char *location, const struct sk_apqn_list *apqns, struct sk_hsm **hsm);

/*
 * How sk_hsm_open logs in to a token that needs a PIN when the
 * configuration names no PIN source: with @pin (kept by the caller until it
 * calls this again; NULL: none), else on the terminal when @may_prompt.
 * Without either it fails with -ENOANO, so that the caller asks for the PIN
 * its own way (cryptsetup and systemd-cryptsetup ask for the token PIN and
 * call the token plugin again with it). By default the terminal is asked.
 */
void sk_hsm_set_login(const struct sk_secret *pin, bool may_prompt);
/* The longest token PIN taken. */
#define SK_HSM_PIN_MAX 128
void sk_hsm_close(struct sk_hsm *hsm);
/*
 * How many HSMs this process has open. A process that forks workers must
 * have none: a PKCS#11 module must not be used from a child of the process
 * that initialised it (PKCS#11 v2.40, 6.7.7), so each worker opens its own
 * (and a command that forks workers does its own HSM work in child
 * processes, cli_isolated: tpm2-pkcs11 leaves threads behind).
 */
unsigned sk_hsm_open_count(void);
/*
 * Whether a PKCS#11 module was ever loaded in this process (closing the
 * HSM does not undo it: tpm2-pkcs11's libtss2-tcti-tabrmd and GLib stay
 * mapped after C_Finalize and dlclose, GLib is linked -z nodelete, and
 * their D-Bus worker thread is not in a forked child). A process that forks
 * workers which use the HSM must not have loaded one. The soft backend
 * loads none.
 */
bool sk_hsm_module_loaded(void);
/* Noted by the pkcs11 backend before it loads a module (p11_token.c). */
void sk_hsm_note_module_load(void);
const struct sk_apqn_list *sk_hsm_apqns(const struct sk_hsm *hsm);
const char *sk_hsm_location(const struct sk_hsm *hsm);
/*
 * -EOPNOTSUPP, logged, when @location is configured for master keys that
 * key parts cannot make (master_key_kind = rsa-oaep): generate-part asks
 * without opening the HSM. A token that picks RSA-OAEP by itself is
 * refused later, by load-part and init --part-file.
 */
int sk_hsm_check_key_parts(const char *location);
/* "soft" or "pkcs11". */
const char *sk_hsm_backend(const struct sk_hsm *hsm);

int sk_hsm_status(struct sk_hsm *hsm, struct sk_hsm_status *status);
/* True when every APQN holds the same MKVP in @reg (and it is usable). */
bool sk_hsm_status_agree(const struct sk_hsm_status *status, enum sk_mk_register reg);

/* MKVP of a usable @reg, identical on every APQN of the set, or an error. */
int sk_hsm_mkvp(struct sk_hsm *hsm, enum sk_mk_register reg, unsigned char mkvp[SK_MKVP_LEN]);

/* Encipher @key under CURRENT or under a committed NEW master key. */
int sk_hsm_wrap(struct sk_hsm *hsm, enum sk_mk_register reg, const struct sk_key_spec *spec,
		const struct sk_secret *key, unsigned char **blob, size_t *blob_len);

/*
 * Decipher @blob under the register that holds the master key it names
 * (CURRENT, then a committed NEW, then OLD); @reg (optional) tells which.
 */
int sk_hsm_unwrap(struct sk_hsm *hsm, const unsigned char *blob, size_t blob_len,
		  struct sk_secret **key, enum sk_mk_register *reg);

/* Re-encipher @blob from master key @from to @to; the key stays the same. */
int sk_hsm_rewrap(struct sk_hsm *hsm, const unsigned char *blob, size_t blob_len,
		  enum sk_mk_register from, enum sk_mk_register to, unsigned char **out,
		  size_t *out_len);

/*
 * Administration (TKE-like), for backends that allow it. @after (optional)
 * receives the registers of the first APQN as the change left them, read
 * under the same lock, so a report never shows another process's change.
 */
/* CURRENT := XOR of @nparts parts (2 or 3), or random when @nparts == 0. */
int sk_hsm_init(struct sk_hsm *hsm, struct sk_secret *const *parts, size_t nparts,
		struct sk_apqn_status *after);
int sk_hsm_load_part(struct sk_hsm *hsm, const struct sk_secret *part,
		     struct sk_apqn_status *after);
/* NEW := a random key made inside the HSM, uncommitted (instead of parts). */
int sk_hsm_generate_new(struct sk_hsm *hsm, struct sk_apqn_status *after);
int sk_hsm_commit(struct sk_hsm *hsm, struct sk_apqn_status *after);
/* OLD := CURRENT, CURRENT := NEW, NEW := empty, on every APQN of the set. */
int sk_hsm_set(struct sk_hsm *hsm, struct sk_apqn_status *after);
int sk_hsm_clear_new(struct sk_hsm *hsm, struct sk_apqn_status *after);
/*
 * Finish or undo a change that was cut short (status->repair says which):
 * 1 when something was repaired, 0 when nothing needed it.
 */
int sk_hsm_repair(struct sk_hsm *hsm, struct sk_apqn_status *after);

#endif
