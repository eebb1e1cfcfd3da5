// SPDX-License-Identifier: Apache-2.0
/* pocketvm enroll URL TOKEN --ca-sha256 HEX [--name NAME] */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/pocketvm/devcmd.h"

int enroll_main(int argc, char *argv[])
{
	struct devcmd c = { .name = "enroll", .usage = "URL TOKEN --ca-sha256 HEX [--name NAME]" };
	const char *pin = NULL, *name = NULL;
	char host[64] = "device";
	json_t *req, *ans;
	int r;

	/* Our own options first; the rest are the common ones. */
	for (int i = 1; i < argc; i++) {
		if ((strcmp(argv[i], "--ca-sha256") == 0 || strcmp(argv[i], "--name") == 0) &&
		    i + 1 < argc) {
			*(strcmp(argv[i], "--name") == 0 ? &name : &pin) = argv[i + 1];
			memmove(&argv[i], &argv[i + 2], (size_t)(argc - i - 1) * sizeof(argv[0]));
			argc -= 2;
			i--;
		}
	}
	r = devcmd_parse(&c, argc, argv);
	if (r >= 0)
		return r;
	if (c.argc != 2 || !pin) {
		fprintf(stderr,
			"Usage: pocketvm enroll URL TOKEN --ca-sha256 HEX [--name NAME]\n"
			"  URL is the server (https://host:port), TOKEN and HEX come from\n"
			"  `pocketvm-admin token create` (HEX: the server CA's SHA-256).\n");
		return EXIT_USAGE;
	}
	gethostname(host, sizeof(host) - 1);
	req = json_pack("{s:s,s:s,s:s,s:s,s:s}", "cmd", "enroll", "url", c.argv[0], "token",
			c.argv[1], "ca_sha256", pin, "name", name ? name : host);
	r = devcmd_call(&c, req, &ans, NULL);
	if (r || !ans)
		return r;
	printf("%s\n", json_string_value(json_object_get(ans, "message")));
	json_decref(ans);
	return 0;
}
