/*
 * Logging with levels. Every message passes a guard that withholds it when it
 * contains the bytes of a live secret (raw or hex), so a mistaken format
 * argument can never print key material; then it is escaped (escape.h), so
 * text from a LUKS2 header cannot break it into lines or reach a terminal
 * as escape sequences. A sink receives one line without control bytes.
 */
#ifndef SECUREKEY_LOG_H
#define SECUREKEY_LOG_H

enum sk_log_level {
	SK_LOG_ERROR,
	SK_LOG_WARN,
	SK_LOG_INFO,
	SK_LOG_VERBOSE,
	SK_LOG_DEBUG,
};

typedef void (*sk_log_sink)(enum sk_log_level level, const char *msg, void *ctx);

void sk_log_set_level(enum sk_log_level max_level);
enum sk_log_level sk_log_get_level(void);
/* NULL restores the default sink (stderr). */
void sk_log_set_sink(sk_log_sink sink, void *ctx);

/*
 * Error messages that do not name @subject get "@subject: " in front, so the
 * operator learns which device failed even when the error comes from a layer
 * (HSM, blob) that does not know it. NULL clears; @subject must outlive it.
 */
void sk_log_set_subject(const char *subject);
const char *sk_log_get_subject(void);

void sk_log(enum sk_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define sk_err(...) sk_log(SK_LOG_ERROR, __VA_ARGS__)
#define sk_warn(...) sk_log(SK_LOG_WARN, __VA_ARGS__)
#define sk_info(...) sk_log(SK_LOG_INFO, __VA_ARGS__)
#define sk_verbose(...) sk_log(SK_LOG_VERBOSE, __VA_ARGS__)
#define sk_dbg(...) sk_log(SK_LOG_DEBUG, __VA_ARGS__)

#define SK_LOG_WITHHELD "<message withheld: it contained secret material>"

#endif
