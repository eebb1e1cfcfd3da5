/* SPDX-License-Identifier: Apache-2.0 */
/*
 * modemd's control socket, for the device daemon (pocketvmd): one command a
 * line, the answer ends with "OK" or "ERR ...".
 *
 *   list            vm NAME NUMBER barred=0|1   (one line per VM)
 *   bar NAME        NAME loses telephony now (calls end, registration denied)
 *   unbar NAME      NAME gets it back
 */
#ifndef POCKETVM_MODEM_CONTROL_H
#define POCKETVM_MODEM_CONTROL_H

#include "modem/router.h"

struct control;
struct event_base;

/* Listens on path (mode 0600) or, for "fd:N", on a socket handed over. */
struct control *control_new(struct event_base *base, const char *path, struct router *r);
void control_free(struct control *c);

/* Runs one command line; the reply goes to out. Exposed for tests. */
void control_command(struct router *r, const char *line, char *out, size_t cap);

#endif
