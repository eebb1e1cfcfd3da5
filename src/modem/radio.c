// SPDX-License-Identifier: Apache-2.0
/* The table of radio backends and the spec parser ("simnet:...", "serial:..."). */
#include "modem/radio.h"

#include <errno.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"

static const struct {
	const char *name;
	int (*open)(struct event_base *base, const char *arg, struct radio **out);
} backends[] = {
	{ "simnet", radio_simnet_open },
	{ "serial", radio_serial_open },
};

int radio_open(struct event_base *base, const char *spec, const struct radio_events *ev, void *ctx,
	       struct radio **out)
{
	const char *colon = strchr(spec, ':');
	size_t n = colon ? (size_t)(colon - spec) : strlen(spec);
	int ret;

	for (size_t i = 0; i < ARRAY_SIZE(backends); i++) {
		if (strlen(backends[i].name) != n || strncmp(spec, backends[i].name, n))
			continue;
		if (!colon || !colon[1]) {
			log_error("radio: %s needs an argument (%s:...)", backends[i].name,
				  backends[i].name);
			return -EINVAL;
		}
		ret = backends[i].open(base, colon + 1, out);
		if (ret == 0) {
			(*out)->ev = ev;
			(*out)->ev_ctx = ctx;
		}
		return ret;
	}
	log_error("radio: unknown backend in '%s' (simnet, serial)", spec);
	return -EINVAL;
}

void radio_free(struct radio *r)
{
	if (r)
		r->ops->free(r);
}
