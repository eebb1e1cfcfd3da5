// SPDX-License-Identifier: Apache-2.0
/*
 * The tiny-guest harness itself: a guest C function runs in 64-bit mode,
 * reports values through ucalls, reads a global the host set, writes one the
 * host reads back, and a failing guest assert reaches the host with its
 * file and line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/kvm_util.h"

static volatile uint64_t host_to_guest;
static volatile uint64_t guest_to_host;
static int assert_line;

GUEST_CODE static void guest_main(void)
{
	uint64_t sum = 0;

	GUEST_SYNC(1);
	for (uint64_t i = 1; i <= 10; i++)
		sum += i;
	GUEST_SYNC2(2, sum);
	GUEST_ASSERT_EQ(host_to_guest, 0x1234abcdull);
	guest_to_host = host_to_guest ^ 0xffff;
	GUEST_DONE();
}

GUEST_CODE static void guest_failing(void)
{
	uint64_t v = 7;

	assert_line = __LINE__ + 1;
	GUEST_ASSERT_EQ(v, 8);
	GUEST_DONE();
}

static void test_sync_and_done(void)
{
	struct kvm_vm *vm;
	struct kvm_vcpu *vcpu;
	struct ucall uc;
	uint64_t *g;

	host_to_guest = 0x1234abcd;
	vm = vm_create(8);
	vcpu = vm_vcpu_add(vm, guest_main);

	TEST_ASSERT(vcpu_run_to_ucall(vcpu, &uc) == UCALL_SYNC, "first ucall not SYNC");
	TEST_ASSERT(uc.args[0] == 1, "SYNC(1) arrived as %lu", (unsigned long)uc.args[0]);
	TEST_ASSERT(vcpu_run_to_ucall(vcpu, &uc) == UCALL_SYNC, "second ucall not SYNC");
	TEST_ASSERT(uc.args[0] == 2 && uc.args[1] == 55, "guest computed %lu, expected 55",
		    (unsigned long)uc.args[1]);
	TEST_ASSERT(vcpu_run_to_ucall(vcpu, &uc) == UCALL_DONE, "guest did not finish");

	/* The guest wrote its own copy of the global; the host's is untouched. */
	g = addr_gva2hva(vm, (uint64_t)&guest_to_host, sizeof(*g));
	TEST_ASSERT(g && *g == (0x1234abcdull ^ 0xffff), "guest write not visible in guest memory");
	TEST_ASSERT(guest_to_host == 0, "guest wrote host memory");
	vcpu_free(vcpu);
	vm_free(vm);
	printf("ok: guest synced twice, computed 55, read and wrote its globals\n");
}

static void test_guest_assert_reports_location(void)
{
	struct kvm_vm *vm = vm_create(8);
	struct kvm_vcpu *vcpu = vm_vcpu_add(vm, guest_failing);
	struct ucall uc;
	int *line;

	vcpu_run(vcpu);
	TEST_ASSERT(get_ucall(vcpu, &uc) == UCALL_ASSERT, "guest assert not reported");
	line = addr_gva2hva(vm, (uint64_t)&assert_line, sizeof(*line));
	TEST_ASSERT(line && (int)uc.line == *line, "assert line %lu, expected %d",
		    (unsigned long)uc.line, line ? *line : -1);
	TEST_ASSERT(uc.file && strstr(uc.file, "test_ucall.c"), "assert file %s", uc.file);
	TEST_ASSERT(uc.args[0] == 7 && uc.args[1] == 8, "assert values %lu vs %lu",
		    (unsigned long)uc.args[0], (unsigned long)uc.args[1]);
	TEST_ASSERT(strcmp(uc.expr, "v == 8") == 0, "assert expression '%s'", uc.expr);
	vcpu_free(vcpu);
	vm_free(vm);
	printf("ok: failing guest assert reported as %s:%lu\n", uc.file, (unsigned long)uc.line);
}

int main(void)
{
	require_kvm();
	test_sync_and_done();
	test_guest_assert_reports_location();
	return 0;
}
