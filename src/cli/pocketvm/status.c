// SPDX-License-Identifier: Apache-2.0
/* pocketvm status: enrollment, server contact, the trusted clock, pending wipes. */
#include <stdio.h>
#include <time.h>

#include "cli/pocketvm/devcmd.h"

static void fmt_time(json_int_t t, char *buf, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || !strftime(buf, cap, "%Y-%m-%d %H:%M:%S UTC", &tm))
		snprintf(buf, cap, "%lld", (long long)t);
}

static void print_status(json_t *a)
{
	json_t *clk = json_object_get(a, "clock"), *lc = json_object_get(a, "last_contact");
	json_int_t trusted = json_integer_value(json_object_get(clk, "trusted"));
	const char *err = json_string_value(json_object_get(a, "last_error"));
	char t[64], ago[48];

	if (!json_is_true(json_object_get(a, "enrolled"))) {
		printf("Enrolled:       no (pocketvm enroll URL TOKEN --ca-sha256 HEX)\n");
	} else {
		printf("Enrolled:       yes, device %s\n",
		       json_string_value(json_object_get(a, "device_id")));
		printf("Server:         %s (group %s)\n",
		       json_string_value(json_object_get(a, "server")),
		       json_string_value(json_object_get(a, "group")));
		if (json_is_integer(lc)) {
			fmt_time(json_integer_value(lc), t, sizeof(t));
			fmt_duration(trusted - json_integer_value(lc), ago, sizeof(ago));
			printf("Last contact:   %s (%s ago)\n", t,
			       trusted > json_integer_value(lc) ? ago : "0s");
		} else {
			printf("Last contact:   none since pocketvmd started\n");
		}
		printf("Server status:  %s\n", err ? "unreachable" : "reachable");
		if (err)
			printf("Last error:     %s\n", err);
		printf("Check-in every: %lld s\n",
		       (long long)json_integer_value(json_object_get(a, "checkin_interval")));
	}
	if (json_is_true(json_object_get(clk, "has_trusted"))) {
		fmt_time(trusted, t, sizeof(t));
		printf("Trusted clock:  %s\n", t);
	} else {
		printf("Trusted clock:  none yet (no server time received)\n");
	}
	printf("Pending wipes:  %lld\n",
	       (long long)json_integer_value(json_object_get(a, "pending_wipes")));
}

int status_main(int argc, char *argv[])
{
	struct devcmd c = { .name = "status", .usage = "" };
	json_t *ans;
	int r = devcmd_parse(&c, argc, argv);

	if (r >= 0)
		return r;
	r = devcmd_call(&c, json_pack("{s:s}", "cmd", "status"), &ans, NULL);
	if (r || !ans)
		return r;
	print_status(ans);
	json_decref(ans);
	return 0;
}
