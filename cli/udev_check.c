#include "config.h"

#include <stdio.h>

#include "cr.h"
#include "udev.h"

static const char usage[] =
	"Usage: securekey-udev check DEVICE [--timeout S]\n"
	"\n"
	"Print udev properties for DEVICE (for IMPORT{program} in 60-securekey.rules):\n"
	"  SECUREKEY_TOKEN=ID        the securekey token's id\n"
	"  SECUREKEY_KMS=1           the token is bound to a KMS\n"
	"  SECUREKEY_REGISTER=R      the register its secure key is under: CURRENT,\n"
	"                            OLD, NEW, none, or unknown (HSM not readable)\n"
	"  SECUREKEY_REFRESH=1       a refresh from the KMS is due: the secure key is\n"
	"                            not under the CURRENT master key, and this host\n"
	"                            knows the device: a known volume (enrolled here)\n"
	"                            or named in /etc/crypttab or /cryptroot/crypttab\n"
	"                            (--verbose says which, or why it is not refreshed)\n"
	"Prints nothing for a device that is not LUKS2 or has no securekey token.\n"
	"Reads only: neither the header nor the HSM is changed.\n"
	"\n"
	"Options:\n"
	"  --timeout S       give up after S seconds (default 30)\n" CLI_COMMON_HELP;

static void ignore(enum sk_log_level level, const char *msg, void *ctx)
{
	(void)level;
	(void)msg;
	(void)ctx;
}

static const char *register_of(struct sk_device *dev, bool *due)
{
	struct sk_hsm *hsm = NULL;
	struct sk_key_state st;
	const char *name = "unknown";

	*due = false;
	if (cr_open_hsm(&dev->token, &hsm) < 0)
		return name;
	if (sk_key_state_get(hsm, &dev->token, &st) == 0) {
		name = st.current_found ? sk_register_name(st.current_reg) : "none";
		*due = !sk_key_state_under_current(&st);
	}
	sk_hsm_close(hsm);
	return name;
}

int udev_check(int argc, char **argv)
{
	struct sk_device *dev = NULL;
	const char *device, *reg;
	unsigned timeout;
	bool due, known = false;
	int r = udev_parse_device(argc, argv, usage, &timeout, &device, NULL);

	if (r)
		return r < 0 ? 0 : r;
	udev_deadline_start(timeout, device, "check");
	/* Not LUKS2, unreadable, no token: nothing for udev to import, quietly. */
	sk_log_set_sink(ignore, NULL);
	r = sk_device_open(device, false, false, &dev);
	sk_log_set_sink(NULL, NULL);
	if (r < 0 || dev->token_id < 0) {
		sk_device_close(dev);
		return 0;
	}
	reg = register_of(dev, &due);
	/*
	 * The header is input whoever holds the disk can replace: a disk that
	 * merely appears (a USB stick) makes no KMS request and no header write.
	 */
	if (due && dev->token.has_kms) {
		char why[600];

		known = udev_known(dev, device, why, sizeof(why));
		if (known)
			sk_verbose("%s: refresh from the KMS due; %s", device, why);
		else
			sk_verbose("%s: refresh from the KMS due, but not done: %s", device, why);
	}
	printf("SECUREKEY_TOKEN=%d\n", dev->token_id);
	if (dev->token.has_kms)
		printf("SECUREKEY_KMS=1\n");
	printf("SECUREKEY_REGISTER=%s\n", reg);
	if (known)
		printf("SECUREKEY_REFRESH=1\n");
	sk_device_close(dev);
	return 0;
}
