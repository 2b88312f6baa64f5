#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "escape.h"
#include "udev.h"

/* syslog priorities: LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG */
static const int priority[] = { 3, 4, 5, 6, 7 };

/*
 * The kernel refuses a /dev/kmsg record longer than about 1000 bytes
 * (LOG_LINE_MAX); a longer line is cut to this.
 */
#define LINE_MAX_BYTES 960

static char timeout_line[LINE_MAX_BYTES];

/*
 * One write(2) per line: /dev/kmsg takes a record per write, and a line
 * that is split could interleave with another helper's.
 */
static void emit(const char *line, size_t len)
{
	int fd = -1;

	if (!getenv("JOURNAL_STREAM"))
		fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC | O_NOCTTY);
	if (write(fd >= 0 ? fd : STDERR_FILENO, line, len) < 0 && fd >= 0)
		(void)!write(STDERR_FILENO, line, len);
	if (fd >= 0)
		close(fd);
}

/*
 * One line, whatever @text holds: it names the header's KMS key and servers
 * (sk_log escaped those already; escaping again changes nothing), and a
 * newline followed by "<0>" would be an emergency message of its own to
 * journald and the kernel log.
 */
static int format_line(char *line, size_t size, enum sk_log_level level, const char *text)
{
	char shown[LINE_MAX_BYTES];
	int len;

	sk_escape(shown, sizeof(shown), text, 0);
	len = snprintf(line, size, "<%d>%s: %s\n", priority[level], cli.program, shown);

	if (len < 0)
		return 0;
	if ((size_t)len >= size) {
		len = (int)size - 1;
		line[len - 1] = '\n';
	}
	return len;
}

void udev_log_line(enum sk_log_level level, const char *fmt, ...)
{
	char text[LINE_MAX_BYTES], line[LINE_MAX_BYTES];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	emit(line, (size_t)format_line(line, sizeof(line), level, text));
}

static void on_deadline(int sig)
{
	(void)sig;
	emit(timeout_line, strlen(timeout_line));
	_exit(EXIT_REFUSED);
}

void udev_deadline_start(unsigned seconds, const char *device, const char *action)
{
	char text[LINE_MAX_BYTES];
	struct sigaction sa = { .sa_handler = on_deadline };

	snprintf(text, sizeof(text),
		 "%s: %s gave up after %u s (--timeout); boot goes on without it", device, action,
		 seconds);
	format_line(timeout_line, sizeof(timeout_line), SK_LOG_WARN, text);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	alarm(seconds);
}

void udev_deadline_stop(void)
{
	alarm(0);
}

enum { OPT_UDEV_TIMEOUT = 0x300, OPT_UDEV_PIN_STDIN };

int udev_parse_device(int argc, char **argv, const char *usage, unsigned *timeout,
		      const char **device, bool *pin_stdin)
{
	static const struct option options[] = {
		CLI_COMMON_OPTIONS,
		{ "timeout", required_argument, NULL, OPT_UDEV_TIMEOUT },
		{ "pin-stdin", no_argument, NULL, OPT_UDEV_PIN_STDIN },
		{ NULL, 0, NULL, 0 },
	};
	int c, code = 0;
	char *end;
	unsigned long n;

	*timeout = UDEV_DEFAULT_TIMEOUT;
	while ((c = cli_getopt(argc, argv, options, usage, &code)) != -1) {
		if (c == -2)
			return code ? code : -1;
		if (c == OPT_UDEV_PIN_STDIN) {
			if (!pin_stdin)
				return cli_usage_error("%s: --pin-stdin is for 'passphrase' only",
						       argv[0]);
			*pin_stdin = true;
			continue;
		}
		errno = 0;
		n = strtoul(optarg, &end, 10);
		if (errno || !*optarg || *end || *optarg == '-' || n == 0 || n > 3600)
			return cli_usage_error("--timeout: '%s' is not a number of seconds "
					       "from 1 to 3600",
					       optarg);
		*timeout = (unsigned)n;
	}
	if (argc - optind != 1)
		return cli_usage_error("%s: expected one DEVICE", argv[0]);
	*device = argv[optind];
	return 0;
}
