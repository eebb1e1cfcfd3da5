// SPDX-License-Identifier: Apache-2.0
/* libFuzzer harness: one image header copy, as read from an untrusted file. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "disk/binding.h"
#include "disk/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct image_header h;
	const char *why;
	uint8_t *out;

	if (size > IMAGE_HEADER_SLOT)
		return 0;
	if (!image_header_parse(data, size, &h, &why))
		return 0;
	/* A header that parses must serialise back to the same bytes (MAC aside). */
	out = malloc(IMAGE_HEADER_SLOT);
	if (out && image_header_serialize(&h, NULL, out) == 0) {
		struct image_header h2;

		if (!image_header_parse(out, IMAGE_HEADER_SLOT, &h2, &why))
			__builtin_trap();
		if (h2.data_size != h.data_size || h2.seq != h.seq || h2.epoch != h.epoch)
			__builtin_trap();
		image_header_release(&h2);
	}
	free(out);
	json_t *arr = bindings_parse(h.bindings, &why);

	json_decref(arr);
	image_header_release(&h);
	return 0;
}
