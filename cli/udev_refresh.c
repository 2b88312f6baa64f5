#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cr.h"
#include "udev.h"

static const char usage[] =
	"Usage: securekey-udev refresh DEVICE [--timeout S]\n"
	"\n"
	"What udev runs when DEVICE appears with a secure key under no CURRENT master\n"
	"key: fetch its volume key from the KMS its token names and store it under\n"
	"the CURRENT master key, as 'securekey-cryptsetup refresh' does. Logs one line\n"
	"(journal, else kernel log) and gives up after S seconds, so boot never waits\n"
	"longer. The passphrase keyslots still open the disk when it fails.\n"
	"\n"
	"Options:\n"
	"  --timeout S       give up after S seconds (default 30)\n" CLI_COMMON_HELP;

/* The first error names the cause, the last says what it meant: keep both. */
struct errors {
	char first[320];
	char last[320];
};

static void collect(enum sk_log_level level, const char *msg, void *ctx)
{
	struct errors *errors = ctx;

	if (level > SK_LOG_WARN)
		return;
	if (!errors->first[0])
		snprintf(errors->first, sizeof(errors->first), "%s", msg);
	else
		snprintf(errors->last, sizeof(errors->last), "%s", msg);
}

static double seconds_since(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

static void report(const char *device, int r, const struct errors *errors, double took)
{
	if (r > 0)
		udev_log_line(SK_LOG_INFO,
			      "%s: secure key refreshed from the KMS, now under the CURRENT "
			      "master key (%.1f s)",
			      device, took);
	else if (r == 0)
		udev_log_line(SK_LOG_INFO,
			      "%s: secure key already under the CURRENT master key, "
			      "nothing to refresh",
			      device);
	else
		udev_log_line(SK_LOG_WARN,
			      "%s: refresh from the KMS failed (%.1f s): %s%s%s; the passphrase "
			      "still unlocks it",
			      device, took, errors->first[0] ? errors->first : strerror(-r),
			      errors->last[0] ? "; " : "", errors->last);
}

int udev_refresh(int argc, char **argv)
{
	struct errors errors = { { 0 }, { 0 } };
	struct timespec start;
	const char *device;
	unsigned timeout;
	int r = udev_parse_device(argc, argv, usage, &timeout, &device, NULL);

	if (r)
		return r < 0 ? 0 : r;
	clock_gettime(CLOCK_MONOTONIC, &start);
	udev_deadline_start(timeout, device, "refresh from the KMS");
	/* Everything the refresh says is summed up in one line below. */
	sk_log_set_sink(collect, &errors);
	(void)!freopen("/dev/null", "w", stdout);
	r = cr_refresh_device(device);
	cr_refresh_end();
	udev_deadline_stop();
	sk_log_set_sink(NULL, NULL);
	report(device, r, &errors, seconds_since(&start));
	return cli_exit_code(r);
}
