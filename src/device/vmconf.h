/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A VM's definition on the device: STATE/vms/NAME/vm.json (docs/device.md).
 * Written by an administrator or by provisioning; parsed as untrusted input
 * (fuzz/device/fuzz_vmconf.c).
 */
#ifndef POCKETVM_DEVICE_VMCONF_H
#define POCKETVM_DEVICE_VMCONF_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "device/state.h"

#define VMCONF_MAX_SIZE 16384
#define VMCONF_PATH_MAX 256
#define VMCONF_CMDLINE_MAX 1024

enum restart_policy {
	RESTART_NO,
	RESTART_ON_FAILURE,
	RESTART_ALWAYS,
};

struct vmconf {
	char name[NAME_MAX_LEN + 1];
	char managed[ID_LEN + 1]; /* the server's VM id, "" for a personal VM */
	char kernel[VMCONF_PATH_MAX];
	char initrd[VMCONF_PATH_MAX];
	char disk[VMCONF_PATH_MAX];
	char cmdline[VMCONF_CMDLINE_MAX];
	bool encrypted; /* disk is a pocketvm encrypted image */
	int64_t memory_mib;
	int64_t cpus;
	enum restart_policy restart;
	bool autostart;
};

/*
 * Parses vm.json. Paths are relative to the VM's directory (no "..", no
 * absolute paths); a managed VM must be encrypted. False with err set.
 */
bool vmconf_parse(const void *buf, size_t len, struct vmconf *c, char *err, size_t errlen);

/* True for names of 1..64 chars of [a-z0-9_-], not starting with '-'. */
bool vm_name_ok(const char *name);

const char *restart_name(enum restart_policy p);

/*
 * Seconds pocketvm-vmm gives its guest to shut down after `pocketvm stop`
 * presses the power button (--shutdown-grace); the supervisor waits longer.
 */
#define VMM_SHUTDOWN_GRACE_S 20

/*
 * Where the VMM is when no --vmm is given: in a build tree, build_rel from
 * the running program's directory; installed, next to it; else
 * /usr/libexec/pocketvm/pocketvm-vmm.
 */
void vmm_default_path(char *out, size_t cap, const char *build_rel);

/*
 * The pocketvm-vmm command line for c (files under dir), in argv (max
 * entries, NULL-terminated, strings in buf). The VMM gets the disk as fd 3
 * and, when have_key, its key as fd 4 (docs/device.md "Launching the VMM").
 */
void vmm_argv(const char *vmm, const char *dir, const struct vmconf *c, bool have_key, char *buf,
	      size_t cap, char **argv, size_t max);

#endif
