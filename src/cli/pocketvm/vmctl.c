// SPDX-License-Identifier: Apache-2.0
/*
 * pocketvm start NAME, pocketvm stop NAME. stop waits for the VM to end and
 * says how: the guest shut down when its power button was pressed (VMM exit
 * status 0), or it did not within its grace time and the VMM stopped it
 * (status 5), or the daemon had to kill the VMM.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/pocketvm/devcmd.h"
#include "device/vmconf.h"

/* The daemon kills a VMM STOP_GRACE_S (supervisor.c) after SIGTERM; wait a bit beyond. */
#define STOP_WAIT_S (VMM_SHUTDOWN_GRACE_S + 20)
#define POLL_US 200000

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

/*
 * The VM's state, pid (0: none) and last exit status (-1: none) from `ls`.
 * Returns 0, or the exit status devcmd_call() gave.
 */
static int vm_state(struct devcmd *c, const char *name, char *state, size_t cap, long long *pid,
		    long long *last_exit)
{
	struct devcmd q = *c;
	json_t *ans, *vm;
	size_t i;
	int r;

	q.json = false;
	r = devcmd_call(&q, json_pack("{s:s}", "cmd", "ls"), &ans, NULL);
	if (r || !ans)
		return r ? r : 1;
	snprintf(state, cap, "unknown");
	*pid = 0;
	*last_exit = -1;
	json_array_foreach(json_object_get(ans, "vms"), i, vm)
	{
		const char *n = json_string_value(json_object_get(vm, "name"));
		const char *s = json_string_value(json_object_get(vm, "state"));
		json_t *e = json_object_get(vm, "last_exit");

		if (!n || strcmp(n, name))
			continue;
		snprintf(state, cap, "%s", s ? s : "?");
		*pid = json_integer_value(json_object_get(vm, "pid"));
		*last_exit = json_is_integer(e) ? json_integer_value(e) : -1;
	}
	json_decref(ans);
	return 0;
}

static void describe(char *msg, size_t cap, const char *name, long long st)
{
	if (st == 0)
		snprintf(msg, cap, "vm %s: the guest shut down cleanly (exit status 0)", name);
	else if (st == 5)
		snprintf(msg, cap,
			 "vm %s: stopped: the guest did not shut down within %d s of the power "
			 "button; the VMM stopped it and flushed its disks (exit status 5)",
			 name, VMM_SHUTDOWN_GRACE_S);
	else if (st > 128)
		snprintf(msg, cap, "vm %s: killed: the VMM did not stop in time (signal %lld)",
			 name, st - 128);
	else
		snprintf(msg, cap, "vm %s: stopped (exit status %lld: %s)", name, st,
			 st == 3 ? "the guest rebooted" :
			 st == 4 ? "the guest crashed" :
				   "VMM error");
}

int stop_main(int argc, char *argv[])
{
	struct devcmd c = { .name = "stop", .usage = "NAME" }, q;
	char state[32], msg[256];
	long long pid, st;
	json_t *ans;
	int r = devcmd_parse(&c, argc, argv);

	if (r >= 0)
		return r;
	if (c.argc != 1) {
		fprintf(stderr, "Usage: pocketvm stop NAME\n");
		return EXIT_USAGE;
	}
	q = c;
	r = vm_state(&c, c.argv[0], state, sizeof(state), &pid, &st);
	if (r)
		return r;
	if (pid <= 0) /* nothing runs: the daemon's answer says it all */
		return vm_cmd("stop", argc, argv);
	q.json = false;
	r = devcmd_call(&q, json_pack("{s:s,s:s}", "cmd", "stop", "vm", c.argv[0]), &ans, NULL);
	if (r || !ans)
		return r ? r : 1;
	json_decref(ans);
	if (!c.json)
		printf("vm %s: stopping: the guest's power button was pressed\n", c.argv[0]);
	fflush(stdout);
	for (int i = 0; i < STOP_WAIT_S * (1000000 / POLL_US); i++) {
		r = vm_state(&c, c.argv[0], state, sizeof(state), &pid, &st);
		if (r)
			return r;
		if (strcmp(state, "stopping") && strcmp(state, "running"))
			break;
		usleep(POLL_US);
	}
	if (strcmp(state, "stopped")) {
		snprintf(msg, sizeof(msg), "vm %s: still %s after %d s", c.argv[0], state,
			 STOP_WAIT_S);
		st = -1;
	} else {
		describe(msg, sizeof(msg), c.argv[0], st);
	}
	if (c.json) {
		ans = json_pack("{s:b,s:s,s:s,s:I,s:b,s:s}", "ok", st >= 0, "vm", c.argv[0],
				"state", state, "last_exit", (json_int_t)st, "clean", st == 0,
				"message", msg);
		if (ans) {
			char *txt = json_dumps(ans, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

			if (txt)
				puts(txt);
			free(txt);
			json_decref(ans);
		}
	} else {
		printf("%s\n", msg);
	}
	return st >= 0 ? 0 : 1;
}
