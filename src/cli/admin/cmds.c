// SPDX-License-Identifier: Apache-2.0
/* pocketvm-admin subcommands: one small function per REST call (docs/api.md). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/admin/admin.h"
#include "common/util.h"

/* Path segments come from the command line: refuse anything that would change the path. */
static bool seg_ok(const char *s)
{
	if (!s || !*s || strlen(s) > 128 || strpbrk(s, "/?#% \t\r\n")) {
		fprintf(stderr, "pocketvm-admin: bad identifier '%s'\n", s ? s : "");
		return false;
	}
	return true;
}

static int call_print(struct admin *a, const char *method, const char *path, json_t *body,
		      long want)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	struct answer ans;
	int r;

	json_decref(body);
	r = admin_call(a, method, path, text, text ? strlen(text) : 0, NULL, &ans);
	free(text);
	if (r < 0)
		return 1;
	return answer_print(&ans, want);
}

static json_t *json_arg(const char *s)
{
	json_error_t e;
	json_t *j = json_loads(s, 0, &e);

	if (!j)
		fprintf(stderr, "pocketvm-admin: not JSON: %s\n", e.text);
	return j;
}

static int int_opt(int argc, char **argv, const char *name, json_t *into, const char *key)
{
	const char *v = opt(argc, argv, name);
	char *end;
	long long n;

	if (!v)
		return 0;
	n = strtoll(v, &end, 10);
	if (*end || end == v) {
		fprintf(stderr, "pocketvm-admin: %s wants a number\n", name);
		return -1;
	}
	json_object_set_new(into, key, json_integer(n));
	return 0;
}

static int c_whoami(struct admin *a, int argc, char **argv)
{
	return call_print(a, "GET", "/v1/admin/whoami", NULL, 200);
}

static int c_token_create(struct admin *a, int argc, char **argv)
{
	const char *scopes = opt(argc, argv, "--scopes");
	json_t *b, *arr = json_array();
	char *s, *save = NULL, *tok;

	if (argc < 1 || !scopes)
		return 2;
	s = strdup(scopes);
	for (tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		json_array_append_new(arr, json_string(tok));
	free(s);
	b = json_pack("{s:s,s:o}", "name", argv[0], "scopes", arr);
	if (int_opt(argc, argv, "--expires-in", b, "expires_in") < 0) {
		json_decref(b);
		return 2;
	}
	return call_print(a, "POST", "/v1/admin/tokens", b, 201);
}

static int c_token_list(struct admin *a, int argc, char **argv)
{
	return call_print(a, "GET", "/v1/admin/tokens", NULL, 200);
}

/* path = pre + id + post, id checked to be one path segment. */
static int c_path_post(struct admin *a, const char *pre, const char *id, const char *post,
		       long want)
{
	char path[256];

	if (!seg_ok(id))
		return 2;
	snprintf(path, sizeof(path), "%s%s%s", pre, id, post);
	return call_print(a, "POST", path, json_object(), want);
}

static int c_path_get(struct admin *a, const char *pre, const char *id, const char *post)
{
	char path[256];

	if (!seg_ok(id))
		return 2;
	snprintf(path, sizeof(path), "%s%s%s", pre, id, post);
	return call_print(a, "GET", path, NULL, 200);
}

static int c_token_revoke(struct admin *a, int argc, char **argv)
{
	return argc < 1 ? 2 : c_path_post(a, "/v1/admin/tokens/", argv[0], "/revoke", 200);
}

static int c_etoken_create(struct admin *a, int argc, char **argv)
{
	json_t *b = json_object();
	const char *g = opt(argc, argv, "--group");

	if (g)
		json_object_set_new(b, "group", json_string(g));
	if (int_opt(argc, argv, "--count", b, "count") < 0 ||
	    int_opt(argc, argv, "--expires-in", b, "expires_in") < 0) {
		json_decref(b);
		return 2;
	}
	return call_print(a, "POST", "/v1/admin/enrollment-tokens", b, 201);
}

static int c_etoken_list(struct admin *a, int argc, char **argv)
{
	return call_print(a, "GET", "/v1/admin/enrollment-tokens", NULL, 200);
}

static int c_etoken_delete(struct admin *a, int argc, char **argv)
{
	char path[256];

	if (argc < 1 || !seg_ok(argv[0]))
		return 2;
	snprintf(path, sizeof(path), "/v1/admin/enrollment-tokens/%s", argv[0]);
	return call_print(a, "DELETE", path, NULL, 200);
}

static int c_group_create(struct admin *a, int argc, char **argv)
{
	const char *p = opt(argc, argv, "--policy");
	json_t *b, *pol = p ? json_arg(p) : NULL;

	if (argc < 1 || (p && !pol))
		return 2;
	b = json_pack("{s:s}", "name", argv[0]);
	if (pol)
		json_object_set_new(b, "policy", pol);
	return call_print(a, "POST", "/v1/admin/groups", b, 201);
}

static int c_group_list(struct admin *a, int argc, char **argv)
{
	return call_print(a, "GET", "/v1/admin/groups", NULL, 200);
}

static int c_group_show(struct admin *a, int argc, char **argv)
{
	return argc < 1 ? 2 : c_path_get(a, "/v1/admin/groups/", argv[0], "");
}

static int set_policy(struct admin *a, int argc, char **argv, const char *pre)
{
	char path[256];
	json_t *pol;

	if (argc < 2 || !seg_ok(argv[0]))
		return 2;
	pol = json_arg(argv[1]);
	if (!pol)
		return 2;
	snprintf(path, sizeof(path), "%s%s/policy", pre, argv[0]);
	return call_print(a, "PUT", path, pol, 200);
}

static int c_group_policy(struct admin *a, int argc, char **argv)
{
	return set_policy(a, argc, argv, "/v1/admin/groups/");
}

static int c_device_list(struct admin *a, int argc, char **argv)
{
	return call_print(a, "GET", "/v1/admin/devices", NULL, 200);
}

static int c_device_show(struct admin *a, int argc, char **argv)
{
	return argc < 1 ? 2 : c_path_get(a, "/v1/admin/devices/", argv[0], "");
}

static int c_device_policy(struct admin *a, int argc, char **argv)
{
	return set_policy(a, argc, argv, "/v1/admin/devices/");
}

static int c_device_revoke(struct admin *a, int argc, char **argv)
{
	return argc < 1 ? 2 : c_path_post(a, "/v1/admin/devices/", argv[0], "/revoke", 201);
}

static int c_vm_create(struct admin *a, int argc, char **argv)
{
	const char *dev = opt(argc, argv, "--device"), *name = opt(argc, argv, "--name");
	const char *img = opt(argc, argv, "--image"), *ver = opt(argc, argv, "--image-version");

	if (!dev || !name)
		return 2;
	return call_print(a, "POST", "/v1/admin/vms",
			  json_pack("{s:s,s:s,s:s*,s:s*}", "device", dev, "name", name, "image",
				    img, "image_version", ver),
			  201);
}

static int c_vm_list(struct admin *a, int argc, char **argv)
{
	const char *dev = opt(argc, argv, "--device");

	return dev ? c_path_get(a, "/v1/admin/vms?device=", dev, "") :
		     call_print(a, "GET", "/v1/admin/vms", NULL, 200);
}

static int c_vm_show(struct admin *a, int argc, char **argv)
{
	return argc < 1 ? 2 : c_path_get(a, "/v1/admin/vms/", argv[0], "");
}

static int c_vm_policy(struct admin *a, int argc, char **argv)
{
	return set_policy(a, argc, argv, "/v1/admin/vms/");
}

static int c_vm_revoke(struct admin *a, int argc, char **argv)
{
	return argc < 1 ? 2 : c_path_post(a, "/v1/admin/vms/", argv[0], "/revoke", 201);
}

static int c_cmd_send(struct admin *a, int argc, char **argv)
{
	const char *vm = opt(argc, argv, "--vm");
	char path[256];

	if (argc < 2 || !seg_ok(argv[0]))
		return 2;
	snprintf(path, sizeof(path), "/v1/admin/devices/%s/commands", argv[0]);
	return call_print(a, "POST", path, json_pack("{s:s,s:s*}", "type", argv[1], "vm", vm), 201);
}

static int c_cmd_list(struct admin *a, int argc, char **argv)
{
	const char *dev = opt(argc, argv, "--device");

	return dev ? c_path_get(a, "/v1/admin/commands?device=", dev, "") :
		     call_print(a, "GET", "/v1/admin/commands", NULL, 200);
}

static int c_cmd_show(struct admin *a, int argc, char **argv)
{
	return argc < 1 ? 2 : c_path_get(a, "/v1/admin/commands/", argv[0], "");
}

static int c_image_list(struct admin *a, int argc, char **argv)
{
	return call_print(a, "GET", "/v1/admin/images", NULL, 200);
}

static int c_audit_list(struct admin *a, int argc, char **argv)
{
	const char *after = opt(argc, argv, "--after"), *limit = opt(argc, argv, "--limit");
	char path[256];

	snprintf(path, sizeof(path), "/v1/admin/audit?after=%lld&limit=%lld",
		 after ? atoll(after) : 0LL, limit ? atoll(limit) : 1000LL);
	return call_print(a, "GET", path, NULL, 200);
}

const struct cmd admin_cmds[] = {
	{ "whoami", "show", "", c_whoami },
	{ "token", "create", "NAME --scopes read,write,enroll,audit,admin [--expires-in S]",
	  c_token_create },
	{ "token", "list", "", c_token_list },
	{ "token", "revoke", "ID", c_token_revoke },
	{ "enroll-token", "create", "[--group G] [--count N] [--expires-in S]", c_etoken_create },
	{ "enroll-token", "list", "", c_etoken_list },
	{ "enroll-token", "delete", "ID", c_etoken_delete },
	{ "group", "create", "NAME [--policy JSON]", c_group_create },
	{ "group", "list", "", c_group_list },
	{ "group", "show", "NAME", c_group_show },
	{ "group", "policy", "NAME JSON", c_group_policy },
	{ "device", "list", "", c_device_list },
	{ "device", "show", "ID", c_device_show },
	{ "device", "policy", "ID JSON", c_device_policy },
	{ "device", "revoke", "ID", c_device_revoke },
	{ "vm", "create", "--device ID --name NAME [--image NAME --image-version V]", c_vm_create },
	{ "vm", "list", "[--device ID]", c_vm_list },
	{ "vm", "show", "ID", c_vm_show },
	{ "vm", "policy", "ID JSON", c_vm_policy },
	{ "vm", "revoke", "ID", c_vm_revoke },
	{ "command", "send", "DEVICE lock|unlock|wipe_vm|wipe_device|unenroll [--vm ID]",
	  c_cmd_send },
	{ "command", "list", "[--device ID]", c_cmd_list },
	{ "command", "show", "ID", c_cmd_show },
	{ "image", "upload", "NAME VERSION [--kernel F] [--initrd F] [--disk F]",
	  cmd_image_upload },
	{ "image", "list", "", c_image_list },
	{ "audit", "list", "[--after SEQ] [--limit N]", c_audit_list },
	{ "audit", "verify", "[--expect-head SEQ:HASH] [--lease-key JWK-FILE]", cmd_audit_verify },
};

const int admin_cmds_count = ARRAY_SIZE(admin_cmds);
