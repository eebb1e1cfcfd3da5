// SPDX-License-Identifier: Apache-2.0
/*
 * The two line protocols around the modems: simnet's control commands (a
 * test's or demo's input: calls, SMS text of any length and alphabet, raw
 * PDUs) and modemd's control commands (list / bar / unbar), each line going
 * through the real router to two VMs' modems. Oracle: sanitizers, and every
 * reply ends in an "OK" or "ERR" line.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "modem/control.h"
#include "modem/router.h"
#include "modem/simnet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void sink(void *ctx, const char *data, size_t len)
{
}

static bool ends_ok_or_err(const char *reply)
{
	size_t n = strlen(reply);
	const char *last;

	if (n == 0 || reply[n - 1] != '\n')
		return false;
	last = reply + n - 1;
	while (last > reply && last[-1] != '\n')
		last--;
	return !strncmp(last, "OK", 2) || !strncmp(last, "ERR", 3);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char reply[1 << 16];
	struct modem_config a = { .name = "a", .number = "+15550001" };
	struct modem_config b = { .name = "b", .number = "+15550002" };
	struct simnet *sn;
	struct router *r;
	size_t start = 0;

	log_set_fd(-1);
	sn = simnet_new(NULL, NULL);
	r = router_new(simnet_radio(sn),
		       size && (data[0] & 1) ? ROUTER_DSDS_WAIT : ROUTER_DSDS_BUSY);
	if (router_add_vm(r, &a, false) < 0 || router_add_vm(r, &b, false) < 0)
		abort();
	router_set_output(r, 0, sink, NULL);
	router_set_output(r, 1, sink, NULL);
	simnet_dispatch(sn);
	modem_input(router_modem(r, 0), (const uint8_t *)"AT+CNMI=2,2;+CLIP=1\r", 20);
	for (size_t i = 0; i <= size; i++) {
		char line[1024];
		size_t n = i - start;

		if (i < size && data[i] != '\n')
			continue;
		if (n > 0 && n < sizeof(line)) {
			memcpy(line, data + start, n);
			line[n] = '\0';
			/* A leading '!' sends the rest to modemd's control, else simnet's. */
			if (line[0] == '!') {
				control_command(r, line + 1, reply, sizeof(reply));
				if (!ends_ok_or_err(reply))
					abort();
			} else if (strlen(line) == n) { /* text lines: no NUL inside */
				simnet_command(sn, line, reply, sizeof(reply));
				if (!ends_ok_or_err(reply))
					abort();
			}
			simnet_dispatch(sn);
			simnet_dispatch(sn);
		}
		start = i + 1;
	}
	router_free(r);
	simnet_free(sn);
	return 0;
}
