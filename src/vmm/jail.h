/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Confining pocketvm-vmm once its VM is built (docs/vmm-jail.md).
 *
 * vmm_guest_mem_protect() applies to every VM: guest RAM is kept out of
 * children (MADV_DONTFORK; MADV_DONTDUMP is set at allocation) and, for a
 * VM marked sensitive, locked so it never reaches swap.
 *
 * vmm_jail_enter() runs after the platform is built (every file, socket
 * and /dev/kvm is open) and before any vCPU runs: the vsock directory is
 * made a mount of its own and kept as the working directory, then
 * sandbox_lockdown() pivots to an empty root, drops privileges and sets
 * no_new_privs, and the VM gets hooks that load the seccomp allowlist of
 * each thread kind (vCPU, event loop) as those threads start.
 */
#ifndef POCKETVM_VMM_JAIL_H
#define POCKETVM_VMM_JAIL_H

#include <stdbool.h>
#include <stdint.h>

#include "common/util.h"
#include "vmm/vm.h"
#include "vmm/vsock/vsock_mux.h"

struct vmm_jail {
	uint32_t uid, gid;
	const char *vsock_path; /* may be NULL */
	struct vsock_mux *mux; /* may be NULL */
	bool selftest; /* attempt a forbidden syscall once running */
};

int vmm_guest_mem_protect(struct vm *vm, bool sensitive) __must_check;

int vmm_jail_enter(struct vm *vm, const struct vmm_jail *j) __must_check;

/* The allowlists, for tests and the documentation. */
int vmm_jail_seccomp_vcpu(void) __must_check;
int vmm_jail_seccomp_loop(void) __must_check;

#endif
