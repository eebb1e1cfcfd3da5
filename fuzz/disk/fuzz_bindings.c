// SPDX-License-Identifier: Apache-2.0
/* libFuzzer harness: the bindings JSON document of an image header. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "disk/binding.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	const char *why;
	json_t *arr;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	arr = bindings_parse(s, &why);
	if (arr) {
		/* Every accepted document re-serialises and parses again. */
		char *again = bindings_dump(arr);
		json_t *arr2 = again ? bindings_parse(again, &why) : NULL;

		if (again && !arr2)
			__builtin_trap();
		json_decref(arr2);
		free(again);
		(void)bindings_next_id(arr);
	}
	json_decref(arr);
	free(s);
	return 0;
}
