/* SPDX-License-Identifier: Apache-2.0 */
/*
 * AT command lines (ITU-T V.250): assembling lines from a byte stream and
 * splitting one line into its commands.
 *
 * Everything here parses untrusted bytes from a guest. Lengths are fixed and
 * checked before anything is copied; an overlong line is discarded up to its
 * terminator and reported as such, never truncated into a different command.
 */
#ifndef POCKETVM_MODEM_AT_H
#define POCKETVM_MODEM_AT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest command line accepted after "AT" (V.250 asks for at least 40). */
#define AT_LINE_MAX 1024
#define AT_NAME_MAX 16
#define AT_PARAMS_MAX 16

enum at_type {
	AT_EXEC, /* +CXXX, E, ATD... */
	AT_SET, /* +CXXX=..., E1, S0=2 */
	AT_READ, /* +CXXX?, S0? */
	AT_TEST, /* +CXXX=? */
};

enum at_param_kind {
	AT_PARAM_EMPTY,
	AT_PARAM_NUM,
	AT_PARAM_STR, /* quoted string, quotes removed */
	AT_PARAM_TOKEN, /* unquoted non-numeric token (e.g. dial string) */
};

struct at_param {
	enum at_param_kind kind;
	long num;
	const char *str; /* points into the command's buffer */
};

/*
 * One command of a line. Basic commands have a one-letter name ("E", "D")
 * or '&' plus a letter ("&C"); S-registers are "S" with index set.
 * Extended commands keep their prefix ("+CMGF"). Names are upper case.
 */
struct at_cmd {
	char name[AT_NAME_MAX];
	enum at_type type;
	int index; /* S-register number, else -1 */
	int nparams;
	struct at_param params[AT_PARAMS_MAX];
};

/*
 * Walks the commands of one line (the text after "AT"). Parameter strings
 * point into buf, which holds a private copy of the line.
 */
struct at_iter {
	const char *pos;
	char buf[AT_LINE_MAX + 1];
	size_t used;
};

/* Starts iterating over line (len bytes, no terminator). False if too long. */
bool at_iter_init(struct at_iter *it, const char *line, size_t len);

/*
 * Parses the next command into cmd. Returns 1 when a command was parsed,
 * 0 at the end of the line, -EINVAL on a syntax error (the rest of the line
 * is then not executed, as V.250 requires).
 */
int at_iter_next(struct at_iter *it, struct at_cmd *cmd);

/* Parameter helpers: true and *out set when params[i] exists with that kind. */
bool at_param_num(const struct at_cmd *cmd, int i, long *out);
bool at_param_str(const struct at_cmd *cmd, int i, const char **out);
/* True when params[i] is absent or empty (an optional parameter left out). */
bool at_param_omitted(const struct at_cmd *cmd, int i);

/*
 * Byte stream to lines. Feed bytes; for each complete line the callback gets
 * the line (without "AT" and terminator) or overlong = true. Handles the
 * terminator (S3), backspace (S5), ignores LF, and skips anything before "AT"
 * as V.250 says. "A/" repeats the previous line.
 */
struct at_reader {
	char line[AT_LINE_MAX + 2];
	size_t len;
	bool overlong;
	bool have_a; /* saw 'A' at line start */
	bool in_line; /* saw "AT" */
	char last[AT_LINE_MAX + 1];
	size_t last_len;
	bool have_last;
};

enum at_line_kind {
	AT_LINE_COMMAND, /* "AT..." */
	AT_LINE_REPEAT, /* "A/" */
	AT_LINE_OVERLONG,
};

void at_reader_init(struct at_reader *r);

/*
 * Consumes one byte. Returns true when a line is complete; then *kind says
 * which and *line / *len give its text (valid until the next call).
 */
bool at_reader_byte(struct at_reader *r, uint8_t c, uint8_t s3, uint8_t s5, enum at_line_kind *kind,
		    const char **line, size_t *len);

#endif
