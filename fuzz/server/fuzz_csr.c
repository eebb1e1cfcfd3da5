// SPDX-License-Identifier: Apache-2.0
/* libFuzzer harness for enrollment CSRs (PEM parsing, key checks, proof of possession). */
#include <ftw.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/ca.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static struct ca ca;

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(p);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *hosts[] = { "localhost" };
	char dir[] = "/tmp/pocketvm-fuzz-csr-XXXXXX";

	if (!mkdtemp(dir) ||
	    ca_open(&ca, dir, hosts, 1, "00000000-0000-4000-8000-000000000000") < 0)
		abort();
	nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char serial[CA_SERIAL_HEX + 1], *pem = NULL;

	if (size > 64 * 1024)
		return 0;
	if (ca_issue_device(&ca, (const char *)data, size, "00000000-0000-4000-8000-000000000001",
			    &pem, serial) == 0 &&
	    !pem)
		abort();
	free(pem);
	return 0;
}
