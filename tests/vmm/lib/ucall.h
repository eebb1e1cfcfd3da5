/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Guest-to-host calls for tiny-guest tests, in the spirit of Linux's KVM
 * selftests: the guest writes a struct ucall on its stack and executes one
 * `out` to UCALL_PORT with the struct's address in RDI; the host reads it.
 *
 * Guest functions are ordinary C marked GUEST_CODE. They run in 64-bit mode
 * at the same virtual addresses as in the test process (kvm_util.c maps the
 * test's own image into the guest), so string literals and globals work.
 * Keep them tiny: kernel-mode guest code is emulated on our machines.
 */
#ifndef POCKETVM_TESTS_UCALL_H
#define POCKETVM_TESTS_UCALL_H

#include <stdint.h>

#define UCALL_PORT 0xe9u

enum ucall_cmd {
	UCALL_NONE,
	UCALL_SYNC, /* args[0..1]: values for the host to check */
	UCALL_ASSERT, /* expr, file, line, args[0..1]: the failed comparison */
	UCALL_DONE,
};

struct ucall {
	uint64_t cmd;
	uint64_t args[2];
	const char *expr;
	const char *file;
	uint64_t line;
};

/*
 * No sanitizer or stack-protector instrumentation (it would touch host-only
 * memory). Test files are built with -mgeneral-regs-only (tests/vmm/meson.build):
 * no SSE, which the emulator here handles only in part.
 */
#define GUEST_CODE                                                                               \
	__attribute__((noinline, no_sanitize_address, no_sanitize_undefined, no_stack_protector, \
		       no_instrument_function))

static inline __attribute__((always_inline, no_sanitize_address, no_sanitize_undefined)) void
guest_ucall(uint64_t cmd, uint64_t a0, uint64_t a1, const char *expr, const char *file,
	    uint64_t line)
{
	volatile struct ucall uc;

	uc.cmd = cmd;
	uc.args[0] = a0;
	uc.args[1] = a1;
	uc.expr = expr;
	uc.file = file;
	uc.line = line;
	__asm__ volatile("outl %%eax, %%dx" : : "a"(0), "d"(UCALL_PORT), "D"(&uc) : "memory");
}

#define GUEST_SYNC(a) guest_ucall(UCALL_SYNC, (uint64_t)(a), 0, 0, __FILE__, __LINE__)
#define GUEST_SYNC2(a, b) \
	guest_ucall(UCALL_SYNC, (uint64_t)(a), (uint64_t)(b), 0, __FILE__, __LINE__)
#define GUEST_DONE() guest_ucall(UCALL_DONE, 0, 0, 0, __FILE__, __LINE__)

#define GUEST_ASSERT(cond)                                                          \
	do {                                                                        \
		if (!(cond))                                                        \
			guest_ucall(UCALL_ASSERT, 0, 0, #cond, __FILE__, __LINE__); \
	} while (0)

#define GUEST_ASSERT_EQ(a, b)                                                                  \
	do {                                                                                   \
		uint64_t __a = (uint64_t)(a), __b = (uint64_t)(b);                             \
		if (__a != __b)                                                                \
			guest_ucall(UCALL_ASSERT, __a, __b, #a " == " #b, __FILE__, __LINE__); \
	} while (0)

#endif
