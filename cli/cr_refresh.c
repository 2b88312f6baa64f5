#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "cr.h"
#include "escape.h"
#include "kms.h"
#include "log.h"
#include "reencipher.h"

static const char usage[] =
	"Usage: securekey-cryptsetup refresh DEVICE [DEVICE...] [OPTIONS]\n"
	"\n"
	"Fetch the volume key of DEVICE from the KMS its token names (the primary\n"
	"first, then the secondaries), check it against the LUKS2 header, and store\n"
	"it as a secure key under the CURRENT master key (also staged to NEW while a\n"
	"NEW master key is committed). For volumes whose secure key is under no\n"
	"register any more, e.g. after two master-key changes. The volume key\n"
	"itself proves the right to do so: no passphrase is asked. Does nothing when\n"
	"the secure key is already under the CURRENT master key. With several\n"
	"devices, each is refreshed in turn over one KMS connection per server;\n"
	"a failure does not stop the others, and the exit status says if any failed.\n"
	"'securekey kms refresh' does the same for many volumes at once.\n"
	"\n"
	"Options:\n" CLI_COMMON_HELP;

/* One KMS session for all devices of the run: one identity key unwrap, one connection. */
static struct sk_kms *session;

static int fetch(struct sk_device *dev, struct sk_secret **vk)
{
	const struct sk_config *cfg = cli_config();
	int r = session ? 0 : cfg ? sk_kms_open(cfg, cli.hsm_dir, &session) : -EINVAL;

	return r ? r : sk_kms_fetch(session, dev->path, &dev->token.kms, vk);
}

static int refresh(struct sk_device *dev)
{
	struct sk_secret *vk = NULL;
	struct sk_hsm *hsm = NULL;
	struct sk_key_state st;
	char hex[SK_MKVP_HEX_LEN + 1], key_id[SK_ESCAPE_SIZE(SK_TOKEN_KMS_TEXT_MAX)];
	int r = cr_open_hsm(&dev->token, &hsm);

	if (!r)
		r = sk_key_state_get(hsm, &dev->token, &st);
	if (!r && sk_key_state_under_current(&st)) {
		printf("The secure volume key of %s is enciphered with the CURRENT master key; "
		       "nothing to refresh.\n",
		       dev->path);
		sk_hsm_close(hsm);
		return 0;
	}
	if (!r)
		r = fetch(dev, &vk);
	if (!r)
		r = sk_reencipher_refresh(dev, hsm, vk);
	sk_mkvp_to_hex(dev->token.current.mkvp, hex);
	sk_escape(key_id, sizeof(key_id), dev->token.kms.key_id, 0); /* header text */
	if (r >= 0)
		printf("The volume key of %s was fetched from the KMS (key %s) and stored under "
		       "the CURRENT master key (MKVP %s)%s.\n",
		       dev->path, key_id, hex,
		       dev->token.has_staged ? ", staged to the committed NEW master key" : "");
	sk_secret_free(vk);
	sk_hsm_close(hsm);
	return r < 0 ? r : 1;
}

/* Refused for a token without KMS, naming the step that applies to its key instead. */
static int not_bound(struct sk_device *dev)
{
	struct sk_hsm *hsm = NULL;
	struct sk_key_state st;
	int r = cr_open_hsm(&dev->token, &hsm);

	if (!r)
		r = sk_key_state_get(hsm, &dev->token, &st);
	sk_hsm_close(hsm);
	if (r < 0)
		return r;
	if (st.next == SK_NEXT_UNREACHABLE)
		sk_err("%s: the token is not bound to a KMS (enroll with --kms); restore the secure "
		       "key with 'securekey-cryptsetup setkey %s' (add --secure-key-file FILE for "
		       "an exported key)",
		       dev->path, dev->path);
	else if (st.next == SK_NEXT_NONE)
		sk_err("%s: the token is not bound to a KMS (enroll with --kms); its secure key is "
		       "under the CURRENT master key: nothing to do",
		       dev->path);
	else if (!strncmp(sk_key_state_next_name(&st), "reencipher", 10))
		sk_err("%s: the token is not bound to a KMS (enroll with --kms); its next step is "
		       "'securekey-cryptsetup %s %s'",
		       dev->path, sk_key_state_next_name(&st), dev->path);
	else
		sk_err("%s: the token is not bound to a KMS (enroll with --kms); its next step is "
		       "'%s'",
		       dev->path, sk_key_state_next_name(&st));
	return -ENOENT;
}

int cr_refresh_device(const char *path)
{
	struct sk_device *dev = NULL;
	int r = sk_device_open(path, true, true, &dev);

	if (!r && !dev->token.has_kms)
		r = not_bound(dev);
	else if (!r)
		r = refresh(dev);
	sk_device_close(dev);
	return r;
}

int cr_refresh(int argc, char **argv)
{
	static const struct option options[] = {
		CLI_COMMON_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	char **args;
	int r = cr_parse(argc, argv, options, usage, -1, NULL, NULL, &args), failed = 0;

	if (r)
		return r < 0 ? 0 : r;
	if (!*args)
		return cli_usage_error("refresh: expected DEVICE");
	for (; *args; args++)
		failed |= cr_refresh_device(*args) < 0;
	cr_refresh_end();
	return failed ? EXIT_REFUSED : 0;
}

void cr_refresh_end(void)
{
	sk_kms_close(session);
	session = NULL;
}
