// SPDX-License-Identifier: Apache-2.0
/*
 * The kernel loaders (ELF with the PVH note, bzImage) on arbitrary files,
 * into a 64 MiB guest memory. A loader must refuse what does not fit
 * instead of writing outside guest RAM or reading past the file.
 */
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "vmm/x86/loader.h"

#define MEM_SIZE (64u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t *mem;
	struct guest_mem gm = { 0 };
	struct kernel_info ki;
	const char *err = NULL;
	uint8_t *copy;

	if (!mem) {
		mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (mem == MAP_FAILED)
			abort();
	}
	if (guest_mem_add_region(&gm, 0, MEM_SIZE, mem))
		return 0;
	/* An exact-size heap copy: ASan sees any read past the file. */
	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	for (size_t i = 0; i < size; i++)
		copy[i] = data[i];
	if (kernel_load(&gm, copy, size, &ki, &err) != 0 && !err)
		abort(); /* every refusal must say why */
	free(copy);
	return 0;
}
