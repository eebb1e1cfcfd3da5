// SPDX-License-Identifier: Apache-2.0
/*
 * scan_key KEYFILE FILE...: fails if any FILE contains the key bytes of
 * KEYFILE raw, in hex (either case), or in base64 / base64url. Used by the
 * tests to prove no key leaks into files, argv or the environment.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	size_t cap = 0;

	*len = 0;
	if (!f)
		return NULL;
	for (;;) {
		if (*len == cap) {
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap);
			if (!buf)
				exit(2);
		}
		size_t n = fread(buf + *len, 1, cap - *len, f);

		if (n == 0)
			break;
		*len += n;
	}
	fclose(f);
	return buf;
}

int main(int argc, char *argv[])
{
	char forms[6][128];
	unsigned char *key;
	size_t klen, nforms = 0;
	int hits = 0;

	if (argc < 2)
		return 2;
	key = slurp(argv[1], &klen);
	if (!key || klen == 0 || klen > 64)
		return 2;
	for (int upper = 0; upper < 2; upper++) {
		for (size_t i = 0; i < klen; i++)
			sprintf(forms[nforms] + 2 * i, upper ? "%02X" : "%02x", key[i]);
		nforms++;
	}
	EVP_EncodeBlock((unsigned char *)forms[nforms], key, (int)klen);
	/* Without the padding, and the url-safe variant. */
	forms[nforms][strcspn(forms[nforms], "=")] = '\0';
	strcpy(forms[nforms + 1], forms[nforms]);
	for (char *p = forms[nforms + 1]; *p; p++)
		*p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
	nforms += 2;

	for (int a = 2; a < argc; a++) {
		size_t len;
		unsigned char *data = slurp(argv[a], &len);

		if (!data)
			continue; /* vanished, or a process that exited */
		if (memmem(data, len, key, klen)) {
			printf("LEAK: raw key bytes in %s\n", argv[a]);
			hits++;
		}
		for (size_t f = 0; f < nforms; f++) {
			if (memmem(data, len, forms[f], strlen(forms[f]))) {
				printf("LEAK: encoded key (%s) in %s\n", f < 2 ? "hex" : "base64",
				       argv[a]);
				hits++;
			}
		}
		free(data);
	}
	free(key);
	printf("scan_key: %d file(s) scanned, %d leak(s)\n", argc - 2, hits);
	return hits ? 1 : 0;
}
