// SPDX-License-Identifier: Apache-2.0
#include "cli/pocketvm/devcmd.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "device/ctl_client.h"
#include "device/ctlproto.h"

/* What to do about each stable error code. */
static const struct {
	const char *code;
	const char *hint;
} hints[] = {
	{ "not_enrolled", "enroll first: pocketvm enroll URL TOKEN --ca-sha256 HEX" },
	{ "server_unreachable", "check the network and the server URL; work VMs open only "
				"with the server's answer" },
	{ "lease_expired", "the VM outlived its offline lifetime; it is being wiped" },
	{ "no_lease", "the server has not granted this VM a lease yet: pocketvm status shows the "
		      "last check-in" },
	{ "locked", "the enterprise has locked this VM" },
	{ "key_release_refused", "the server refused the key: the VM or device is revoked, "
				 "locked, or not allowed by policy" },
	{ "permission_denied", "run as root" },
	{ "token_refused", "ask the administrator for a new enrollment token" },
	{ "ca_pin_mismatch", "the server's CA does not match --ca-sha256: wrong server, or an "
			     "interception" },
	{ "already_enrolled", "this device already has an identity" },
};

int devcmd_parse(struct devcmd *c, int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int o;

	c->sock = getenv("POCKETVM_SOCKET") ? getenv("POCKETVM_SOCKET") : CTL_SOCKET_PATH;
	optind = 1;
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 's':
			c->sock = optarg;
			break;
		case 'j':
			c->json = true;
			break;
		case 'h':
			printf("Usage: pocketvm %s %s [--json] [--socket PATH]\n", c->name,
			       c->usage);
			return 0;
		default:
			fprintf(stderr, "Usage: pocketvm %s %s [--json] [--socket PATH]\n", c->name,
				c->usage);
			return EXIT_USAGE;
		}
	}
	c->argc = argc - optind;
	c->argv = argv + optind;
	return -1;
}

static void print_json(json_t *j)
{
	char *txt = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	if (txt)
		puts(txt);
	free(txt);
}

int devcmd_call(struct devcmd *c, json_t *req, json_t **ans, int *keep_fd)
{
	json_t *a = NULL;
	char err[512];
	const char *code, *msg;
	int r = ctl_call(c->sock, req, &a, keep_fd, err, sizeof(err));

	*ans = NULL;
	if (r < 0) {
		if (c->json)
			printf("{\"ok\": false, \"error\": \"%s\", \"message\": \"%s\"}\n",
			       r == -ENOENT || r == -ECONNREFUSED ? "no_daemon" : "ctl_failed",
			       r == -ENOENT || r == -ECONNREFUSED ? "pocketvmd is not running" :
								    "no answer from pocketvmd");
		else
			fprintf(stderr, "pocketvm %s: %s\n", c->name, err);
		return r == -ENOENT || r == -ECONNREFUSED ? EXIT_NO_DAEMON : 1;
	}
	if (json_is_true(json_object_get(a, "ok"))) {
		if (c->json) {
			print_json(a);
			json_decref(a);
			return 0;
		}
		*ans = a;
		return 0;
	}
	if (c->json) {
		print_json(a);
	} else {
		code = json_string_value(json_object_get(a, "error"));
		msg = json_string_value(json_object_get(a, "message"));
		fprintf(stderr, "pocketvm %s: %s\n", c->name, msg ? msg : "failed");
		for (size_t i = 0; code && i < sizeof(hints) / sizeof(hints[0]); i++)
			if (strcmp(code, hints[i].code) == 0)
				fprintf(stderr, "  (%s: %s)\n", code, hints[i].hint);
	}
	json_decref(a);
	if (keep_fd && *keep_fd >= 0) {
		close(*keep_fd);
		*keep_fd = -1;
	}
	return 1;
}

void fmt_duration(long long s, char *buf, size_t cap)
{
	long long a = s < 0 ? -s : s;
	char t[48];

	if (a >= 86400)
		snprintf(t, sizeof(t), "%lldd %lldh", a / 86400, a % 86400 / 3600);
	else if (a >= 3600)
		snprintf(t, sizeof(t), "%lldh %lldm", a / 3600, a % 3600 / 60);
	else if (a >= 60)
		snprintf(t, sizeof(t), "%lldm %llds", a / 60, a % 60);
	else
		snprintf(t, sizeof(t), "%llds", a);
	if (s <= 0)
		snprintf(buf, cap, "expired %s ago", t);
	else
		snprintf(buf, cap, "%s", t);
}
