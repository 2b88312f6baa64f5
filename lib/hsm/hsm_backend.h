/* The vtable an HSM backend implements; only hsm.c and backends include it. */
#ifndef SECUREKEY_HSM_BACKEND_H
#define SECUREKEY_HSM_BACKEND_H

#include "hsm.h"

struct sk_hsm_ops {
	const char *name;
	/* Validate the location; fill hsm->apqns when the caller gave none. */
	int (*open)(struct sk_hsm *hsm);
	void (*close)(struct sk_hsm *hsm);
	int (*status)(struct sk_hsm *hsm, struct sk_hsm_status *status);
	int (*mkvp)(struct sk_hsm *hsm, enum sk_mk_register reg, unsigned char mkvp[SK_MKVP_LEN]);
	int (*wrap)(struct sk_hsm *hsm, enum sk_mk_register reg, const struct sk_key_spec *spec,
		    const struct sk_secret *key, unsigned char **blob, size_t *blob_len);
	int (*unwrap)(struct sk_hsm *hsm, const unsigned char *blob, size_t blob_len,
		      struct sk_secret **key, enum sk_mk_register *reg);
	/* Administration; NULL when the backend leaves it to other tools. */
	int (*init)(struct sk_hsm *hsm, struct sk_secret *const *parts, size_t nparts,
		    struct sk_apqn_status *after);
	int (*load_part)(struct sk_hsm *hsm, const struct sk_secret *part,
			 struct sk_apqn_status *after);
	int (*generate_new)(struct sk_hsm *hsm, struct sk_apqn_status *after);
	int (*commit)(struct sk_hsm *hsm, struct sk_apqn_status *after);
	int (*set)(struct sk_hsm *hsm, struct sk_apqn_status *after);
	int (*clear_new)(struct sk_hsm *hsm, struct sk_apqn_status *after);
	/* 1 when something was repaired, 0 when nothing needed it. */
	int (*repair)(struct sk_hsm *hsm, struct sk_apqn_status *after);
};

struct sk_hsm {
	const struct sk_hsm_ops *ops;
	char *location;
	struct sk_apqn_list apqns;
	void *priv;
};

/* What sk_hsm_set_login chose, for backends that log in. */
const struct sk_secret *sk_hsm_login_pin(void);
bool sk_hsm_login_may_prompt(void);

extern const struct sk_hsm_ops sk_hsm_soft_ops;
extern const struct sk_hsm_ops sk_hsm_pkcs11_ops;

#endif
