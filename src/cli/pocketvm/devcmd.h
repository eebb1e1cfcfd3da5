/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the daemon-facing subcommands (enroll, ls, start, stop, console,
 * status) share: --socket and --json, one request to pocketvmd, and errors
 * a person can act on. Exit status: 0 done, 1 refused or failed, 2 usage,
 * 3 pocketvmd not running.
 */
#ifndef POCKETVM_CLI_DEVCMD_H
#define POCKETVM_CLI_DEVCMD_H

#include <jansson.h>
#include <stdbool.h>

#define EXIT_USAGE 2
#define EXIT_NO_DAEMON 3

struct devcmd {
	const char *name; /* subcommand, for messages */
	const char *usage; /* its one-line synopsis after the name */
	const char *sock;
	bool json;
	int argc; /* positional arguments left after the options */
	char **argv;
};

/* Parses --socket PATH, --json, --help. Returns -1 to go on, else an exit status. */
int devcmd_parse(struct devcmd *c, int argc, char *argv[]);

/*
 * Sends req (consumed). On success returns 0 and *ans (unless --json, which
 * prints the answer and returns 0 with *ans NULL). On failure prints the
 * error for humans (or the JSON) and returns the exit status.
 */
int devcmd_call(struct devcmd *c, json_t *req, json_t **ans, int *keep_fd);

/* "3h 12m", "45s", "expired 2m ago". */
void fmt_duration(long long s, char *buf, size_t cap);

int enroll_main(int argc, char *argv[]);
int ls_main(int argc, char *argv[]);
int start_main(int argc, char *argv[]);
int stop_main(int argc, char *argv[]);
int console_main(int argc, char *argv[]);
int status_main(int argc, char *argv[]);
int run_main(int argc, char *argv[]);

#endif
