/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small library for tiny-guest tests on /dev/kvm, after Linux's KVM
 * selftests: create a VM, map the test program itself into guest memory at
 * the same virtual addresses, enter a guest C function in 64-bit mode, and
 * collect its ucalls.
 *
 * Conventions: __vm_ioctl() returns the error, vm_ioctl() asserts success;
 * TEST_ASSERT() fails the test (exit 1) with file and line; a missing
 * /dev/kvm is a SKIP (exit 77), never a pass.
 */
#ifndef POCKETVM_TESTS_KVM_UTIL_H
#define POCKETVM_TESTS_KVM_UTIL_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ucall.h"

#define KSFT_SKIP 77
#define PAGE_SIZE 4096ul

/* Where the guest's stack lives in its virtual address space. */
#define GUEST_STACK_TOP 0x10000000ul
#define GUEST_STACK_PAGES 4

struct kvm_vm {
	int kvm_fd;
	int vm_fd;
	uint8_t *mem; /* guest physical [0, mem_size) */
	uint64_t mem_size;
	uint64_t pml4_gpa;
	uint64_t next_gpa; /* bump allocator for page tables and copies */
	int nr_vcpus;
};

struct kvm_vcpu {
	struct kvm_vm *vm;
	int id;
	int fd;
	struct kvm_run *run;
	size_t run_size;
};

void test_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4), noreturn));

#define TEST_ASSERT(cond, ...)                                      \
	do {                                                        \
		if (!(cond))                                        \
			test_fail(__FILE__, __LINE__, __VA_ARGS__); \
	} while (0)

/* Prints "SKIP: <why>" and exits 77 unless /dev/kvm can be used. */
void require_kvm(void);

/* A VM with mem_mb MiB of guest RAM at physical 0 and the test image mapped. */
struct kvm_vm *vm_create(unsigned int mem_mb);
void vm_free(struct kvm_vm *vm);

int __vm_ioctl(struct kvm_vm *vm, unsigned long cmd, void *arg);
#define vm_ioctl(vm, cmd, arg)                                                \
	do {                                                                  \
		int __r = __vm_ioctl(vm, cmd, arg);                           \
		TEST_ASSERT(__r >= 0, "%s failed: %s", #cmd, strerror(-__r)); \
	} while (0)

/* Allocates n zeroed guest-physical pages; returns the first one's address. */
uint64_t vm_alloc_pages(struct kvm_vm *vm, unsigned int n);

/* Maps guest virtual page gva to guest physical page gpa. */
void vm_map_page(struct kvm_vm *vm, uint64_t gva, uint64_t gpa);

/* Host pointer for a guest physical or guest virtual address (NULL if none). */
void *addr_gpa2hva(struct kvm_vm *vm, uint64_t gpa, uint64_t len);
void *addr_gva2hva(struct kvm_vm *vm, uint64_t gva, uint64_t len);

/* A vCPU in 64-bit mode about to run guest_code on its own stack. */
struct kvm_vcpu *vm_vcpu_add(struct kvm_vm *vm, void (*guest_code)(void));
void vcpu_free(struct kvm_vcpu *vcpu);

/* Runs until the next exit to userspace; fails the test if KVM_RUN fails. */
void vcpu_run(struct kvm_vcpu *vcpu);

/*
 * If the last exit was a ucall, copies it to *uc (strings pointing into the
 * test image) and returns its command; otherwise returns UCALL_NONE.
 */
uint64_t get_ucall(struct kvm_vcpu *vcpu, struct ucall *uc);

/*
 * Runs the vCPU to its next ucall and returns it; a guest assert or any other
 * exit (shutdown, emulation failure, unexpected I/O) fails the test with a
 * description of what happened.
 */
uint64_t vcpu_run_to_ucall(struct kvm_vcpu *vcpu, struct ucall *uc);

const char *exit_reason_str(uint32_t reason);

#endif
