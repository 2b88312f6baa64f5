/*
 * securekey-udev: the boot-time helper run by udev/60-securekey.rules, the
 * initramfs scripts and the crypttab keyscript (see securekey-udev(8)).
 */
#ifndef SECUREKEY_CLI_UDEV_H
#define SECUREKEY_CLI_UDEV_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "cli.h"
#include "log.h"

/* Seconds a refresh or an unlock may take before the helper gives up. */
#define UDEV_DEFAULT_TIMEOUT 30

int udev_check(int argc, char **argv);
int udev_refresh(int argc, char **argv);
int udev_passphrase(int argc, char **argv);
int udev_files(int argc, char **argv);
int udev_needs_network(int argc, char **argv);

/*
 * Boot logs: one line to the journal when systemd runs us (stderr with a
 * syslog priority prefix), else to the kernel log (/dev/kmsg, which the
 * console and later the journal show), else to stderr.
 */
void udev_log_line(enum sk_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Exit after @seconds whatever the helper is waiting for, logging that
 * @action on @device ("/dev/vda: refresh from the KMS") timed out: boot
 * must never wait longer. The
 * header writes it may interrupt are crash-safe (a backup, then one atomic
 * libcryptsetup update).
 */
void udev_deadline_start(unsigned seconds, const char *device, const char *action);
void udev_deadline_stop(void);

/*
 * Parse "COMMAND DEVICE [--timeout S]" as the device commands take it, and
 * --pin-stdin where @pin_stdin is not NULL (passphrase).
 */
int udev_parse_device(int argc, char **argv, const char *usage, unsigned *timeout,
		      const char **device, bool *pin_stdin);

/*
 * Whether this host knows the LUKS2 device @dev (opened from @device): a
 * known volume (<state>/volumes/UUID, written by enroll), or named by the
 * source field of a crypttab line (UUID=, LABEL=, PARTUUID=, PARTLABEL= or a
 * path) in /etc/crypttab or /cryptroot/crypttab (initramfs-tools'), or in
 * the colon-separated files of $SECUREKEY_CRYPTTAB instead (for tests).
 * @why says which, or why not.
 */
struct sk_device;
bool udev_known(const struct sk_device *dev, const char *device, char *why, size_t why_size);

/* Exit status of 'passphrase' when the HSM token needs its PIN (--pin-stdin). */
#define EXIT_NEEDS_PIN 3

#endif
