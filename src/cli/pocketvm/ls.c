// SPDX-License-Identifier: Apache-2.0
/* pocketvm ls: the VMs on this device, their state and how long their lease runs. */
#include <stdio.h>

#include "cli/pocketvm/devcmd.h"

static void row(json_t *vm)
{
	json_t *left = json_object_get(vm, "lease_left");
	const char *srv = json_string_value(json_object_get(vm, "server_state"));
	const char *err = json_string_value(json_object_get(vm, "error"));
	char lease[48] = "-";

	if (json_is_integer(left))
		fmt_duration(json_integer_value(left), lease, sizeof(lease));
	else if (json_object_get(vm, "id"))
		snprintf(lease, sizeof(lease), "none yet");
	printf("%-16s %-9s %-9s %-18s %s%s%s\n", json_string_value(json_object_get(vm, "name")),
	       json_string_value(json_object_get(vm, "kind")),
	       json_string_value(json_object_get(vm, "state")), lease, srv ? srv : "-",
	       err ? "  last error: " : "", err ? err : "");
}

int ls_main(int argc, char *argv[])
{
	struct devcmd c = { .name = "ls", .usage = "" };
	json_t *ans, *vms, *vm;
	size_t i;
	int r = devcmd_parse(&c, argc, argv);

	if (r >= 0)
		return r;
	r = devcmd_call(&c, json_pack("{s:s}", "cmd", "ls"), &ans, NULL);
	if (r || !ans)
		return r;
	vms = json_object_get(ans, "vms");
	if (json_array_size(vms) == 0) {
		printf("no VMs on this device\n");
	} else {
		printf("%-16s %-9s %-9s %-18s %s\n", "NAME", "KIND", "STATE", "LEASE LEFT",
		       "SERVER");
		json_array_foreach(vms, i, vm) row(vm);
	}
	json_decref(ans);
	return 0;
}
