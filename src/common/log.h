/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One small logging API for every pocketvm program.
 *
 * Messages go to stderr as "ident: level: message". They say what failed and
 * with what; they never carry key material (see docs/security.md).
 */
#ifndef POCKETVM_COMMON_LOG_H
#define POCKETVM_COMMON_LOG_H

#include <stdarg.h>
#include <stdbool.h>

enum log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

/* Sets the program name printed before each message (not copied). */
void log_set_ident(const char *ident);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/*
 * Parses "error", "warn", "info" or "debug" into *level.
 * Returns false (and leaves *level alone) for anything else.
 */
bool log_parse_level(const char *name, enum log_level *level);

/* Redirects messages to fd (stderr by default); used by tests and daemons. */
void log_set_fd(int fd);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

/* For start-up failures and broken internal invariants only: logs and exits 1. */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
