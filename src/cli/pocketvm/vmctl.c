// SPDX-License-Identifier: Apache-2.0
/* pocketvm start NAME, pocketvm stop NAME */
#include <stdio.h>

#include "cli/pocketvm/devcmd.h"

static int vm_cmd(const char *cmd, int argc, char *argv[])
{
	struct devcmd c = { .name = cmd, .usage = "NAME" };
	json_t *ans;
	int r = devcmd_parse(&c, argc, argv);

	if (r >= 0)
		return r;
	if (c.argc != 1) {
		fprintf(stderr, "Usage: pocketvm %s NAME\n", cmd);
		return EXIT_USAGE;
	}
	r = devcmd_call(&c, json_pack("{s:s,s:s}", "cmd", cmd, "vm", c.argv[0]), &ans, NULL);
	if (r || !ans)
		return r;
	printf("%s\n", json_string_value(json_object_get(ans, "message")));
	json_decref(ans);
	return 0;
}

int start_main(int argc, char *argv[])
{
	return vm_cmd("start", argc, argv);
}

int stop_main(int argc, char *argv[])
{
	return vm_cmd("stop", argc, argv);
}
