// SPDX-License-Identifier: Apache-2.0
#include "device/vmconf.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "device/fsutil.h"
#include "device/jsonx.h"

#define FAIL(...)                                   \
	do {                                        \
		snprintf(err, errlen, __VA_ARGS__); \
		goto out;                           \
	} while (0)

static const char *const restart_names[] = {
	[RESTART_NO] = "no",
	[RESTART_ON_FAILURE] = "on-failure",
	[RESTART_ALWAYS] = "always",
};

const char *restart_name(enum restart_policy p)
{
	return restart_names[p];
}

bool vm_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > NAME_MAX_LEN || name[0] == '-')
		return false;
	return strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

/* A file inside the VM's directory: relative, no "..", no empty component. */
static bool rel_path_ok(const char *p)
{
	if (p[0] == '\0')
		return true; /* absent */
	if (p[0] == '/' || strstr(p, "//"))
		return false;
	for (const char *s = p; s; s = strchr(s, '/')) {
		if (*s == '/')
			s++;
		if (strncmp(s, "..", 2) == 0 && (s[2] == '/' || s[2] == '\0'))
			return false;
	}
	return true;
}

bool vmconf_parse(const void *buf, size_t len, struct vmconf *c, char *err, size_t errlen)
{
	json_t *j = jx_load(buf, len, VMCONF_MAX_SIZE);
	char restart[16] = "no";
	bool ok = false;

	memset(c, 0, sizeof(*c));
	c->memory_mib = 256;
	c->cpus = 1;
	if (!json_is_object(j))
		FAIL("vm.json: not a JSON object");
	if (!jx_str(j, "name", c->name, sizeof(c->name)) || !vm_name_ok(c->name))
		FAIL("vm.json: name missing or not [a-z0-9_-]{1,64}");
	if (!jx_str_opt(j, "managed", c->managed, sizeof(c->managed)) ||
	    (c->managed[0] && !is_uuid(c->managed)))
		FAIL("vm.json: managed must be the server's VM id (a UUID) or null");
	if (!jx_str(j, "kernel", c->kernel, sizeof(c->kernel)) ||
	    !jx_str_opt(j, "initrd", c->initrd, sizeof(c->initrd)) ||
	    !jx_str_opt(j, "disk", c->disk, sizeof(c->disk)) ||
	    !jx_str_opt(j, "cmdline", c->cmdline, sizeof(c->cmdline)))
		FAIL("vm.json: kernel missing, or kernel/initrd/disk/cmdline not strings or too long");
	if (!rel_path_ok(c->kernel) || !rel_path_ok(c->initrd) || !rel_path_ok(c->disk))
		FAIL("vm.json: paths must stay inside the VM's directory");
	if (json_object_get(j, "memory_mib") && !jx_int(j, "memory_mib", &c->memory_mib))
		FAIL("vm.json: memory_mib is not an integer");
	if (json_object_get(j, "cpus") && !jx_int(j, "cpus", &c->cpus))
		FAIL("vm.json: cpus is not an integer");
	if (c->memory_mib < 16 || c->memory_mib > 65536 || c->cpus < 1 || c->cpus > 64)
		FAIL("vm.json: memory_mib must be 16..65536 and cpus 1..64");
	c->encrypted = json_is_true(json_object_get(j, "encrypted"));
	c->autostart = json_is_true(json_object_get(j, "autostart"));
	if (json_object_get(j, "restart") && !jx_str(j, "restart", restart, sizeof(restart)))
		FAIL("vm.json: restart is not a string");
	for (size_t i = 0; i <= RESTART_ALWAYS; i++)
		if (strcmp(restart, restart_names[i]) == 0)
			c->restart = (enum restart_policy)i;
	if (strcmp(restart, restart_names[c->restart]) != 0)
		FAIL("vm.json: restart must be no, on-failure or always");
	if (c->managed[0] && (!c->encrypted || !c->disk[0]))
		FAIL("vm.json: a managed VM needs an encrypted disk");
	ok = true;
out:
	json_decref(j);
	return ok;
}

void vmm_argv(const char *vmm, const char *dir, const struct vmconf *c, bool have_key, char *buf,
	      size_t cap, char **argv, size_t max)
{
	size_t n = 0, off = 0;

#define ARG(...)                                                                        \
	do {                                                                            \
		if (n + 1 < max && off < cap) {                                         \
			argv[n++] = buf + off;                                          \
			off += (size_t)snprintf(buf + off, cap - off, __VA_ARGS__) + 1; \
		}                                                                       \
	} while (0)
	ARG("%s", vmm);
	ARG("--kernel");
	ARG("%s/%s", dir, c->kernel);
	if (c->initrd[0]) {
		ARG("--initrd");
		ARG("%s/%s", dir, c->initrd);
	}
	if (c->cmdline[0]) {
		ARG("--cmdline");
		ARG("%s", c->cmdline);
	}
	ARG("--mem");
	ARG("%lld", (long long)c->memory_mib);
	ARG("--cpus");
	ARG("%lld", (long long)c->cpus);
	/* SIGTERM presses the guest's power button; it has this long to shut down. */
	ARG("--shutdown-grace");
	ARG("%d", VMM_SHUTDOWN_GRACE_S);
	/* Confined once built (docs/vmm-jail.md); a work VM's RAM never reaches swap. */
	ARG("--jail");
	if (c->managed[0])
		ARG("--sensitive");
	/* The jailed VMM gets fds, not paths: fd 3 the image, fd 4 its key. */
	if (c->disk[0] && have_key) {
		ARG("--disk");
		ARG("fd=3,key-fd=4");
	} else if (c->disk[0]) {
		ARG("--disk");
		ARG("/proc/self/fd/3");
	}
#undef ARG
	argv[n] = NULL;
}

void vmm_default_path(char *out, size_t cap, const char *build_rel)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	snprintf(out, cap, "/usr/libexec/pocketvm/pocketvm-vmm");
	if (n <= 0)
		return;
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (!slash)
		return;
	*slash = '\0';
	if (path_join(out, cap, self, build_rel) == 0 && access(out, X_OK) == 0)
		return;
	if (path_join(out, cap, self, "pocketvm-vmm") < 0 || access(out, X_OK) < 0)
		snprintf(out, cap, "/usr/libexec/pocketvm/pocketvm-vmm");
}
