// SPDX-License-Identifier: Apache-2.0
#include "modem/charset.h"

#include <ctype.h>
#include <string.h>

/* TS 23.038 6.2.1: the GSM 7-bit default alphabet, septet -> Unicode. */
/* Eight septets a row, as the standard's table reads. */
/* clang-format off */
static const uint16_t gsm7_default[128] = {
	0x0040, 0x00a3, 0x0024, 0x00a5, 0x00e8, 0x00e9, 0x00f9, 0x00ec,
	0x00f2, 0x00c7, 0x000a, 0x00d8, 0x00f8, 0x000d, 0x00c5, 0x00e5,
	0x0394, 0x005f, 0x03a6, 0x0393, 0x039b, 0x03a9, 0x03a0, 0x03a8,
	0x03a3, 0x0398, 0x039e, 0x00a0, 0x00c6, 0x00e6, 0x00df, 0x00c9,
	0x0020, 0x0021, 0x0022, 0x0023, 0x00a4, 0x0025, 0x0026, 0x0027,
	0x0028, 0x0029, 0x002a, 0x002b, 0x002c, 0x002d, 0x002e, 0x002f,
	0x0030, 0x0031, 0x0032, 0x0033, 0x0034, 0x0035, 0x0036, 0x0037,
	0x0038, 0x0039, 0x003a, 0x003b, 0x003c, 0x003d, 0x003e, 0x003f,
	0x00a1, 0x0041, 0x0042, 0x0043, 0x0044, 0x0045, 0x0046, 0x0047,
	0x0048, 0x0049, 0x004a, 0x004b, 0x004c, 0x004d, 0x004e, 0x004f,
	0x0050, 0x0051, 0x0052, 0x0053, 0x0054, 0x0055, 0x0056, 0x0057,
	0x0058, 0x0059, 0x005a, 0x00c4, 0x00d6, 0x00d1, 0x00dc, 0x00a7,
	0x00bf, 0x0061, 0x0062, 0x0063, 0x0064, 0x0065, 0x0066, 0x0067,
	0x0068, 0x0069, 0x006a, 0x006b, 0x006c, 0x006d, 0x006e, 0x006f,
	0x0070, 0x0071, 0x0072, 0x0073, 0x0074, 0x0075, 0x0076, 0x0077,
	0x0078, 0x0079, 0x007a, 0x00e4, 0x00f6, 0x00f1, 0x00fc, 0x00e0,
};
/* clang-format on */

/* TS 23.038 6.2.1.1: the default extension table (after ESC). */
static const struct {
	uint8_t septet;
	uint16_t cp;
} gsm7_ext[] = {
	{ 0x0a, 0x000c }, { 0x14, 0x005e }, { 0x28, 0x007b }, { 0x29, 0x007d }, { 0x2f, 0x005c },
	{ 0x3c, 0x005b }, { 0x3d, 0x007e }, { 0x3e, 0x005d }, { 0x40, 0x007c }, { 0x65, 0x20ac },
};

bool utf8_next(const char *s, size_t len, uint32_t *cp, size_t *used)
{
	const unsigned char *u = (const unsigned char *)s;
	uint32_t c, min;
	size_t n;

	if (len == 0)
		return false;
	if (u[0] < 0x80) {
		*cp = u[0];
		*used = 1;
		return true;
	}
	if ((u[0] & 0xe0) == 0xc0) {
		n = 2, c = u[0] & 0x1f, min = 0x80;
	} else if ((u[0] & 0xf0) == 0xe0) {
		n = 3, c = u[0] & 0x0f, min = 0x800;
	} else if ((u[0] & 0xf8) == 0xf0) {
		n = 4, c = u[0] & 0x07, min = 0x10000;
	} else {
		return false;
	}
	if (len < n)
		return false;
	for (size_t i = 1; i < n; i++) {
		if ((u[i] & 0xc0) != 0x80)
			return false;
		c = c << 6 | (u[i] & 0x3f);
	}
	/* No overlong forms, surrogates or values past Unicode. */
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return false;
	*cp = c;
	*used = n;
	return true;
}

bool utf8_put(uint32_t cp, char *out, size_t cap, size_t *n)
{
	unsigned char b[4];
	size_t k;

	if (cp < 0x80) {
		b[0] = (unsigned char)cp, k = 1;
	} else if (cp < 0x800) {
		b[0] = (unsigned char)(0xc0 | cp >> 6), b[1] = (unsigned char)(0x80 | (cp & 0x3f));
		k = 2;
	} else if (cp < 0x10000) {
		b[0] = (unsigned char)(0xe0 | cp >> 12);
		b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (unsigned char)(0x80 | (cp & 0x3f));
		k = 3;
	} else {
		b[0] = (unsigned char)(0xf0 | cp >> 18);
		b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (unsigned char)(0x80 | (cp & 0x3f));
		k = 4;
	}
	/* Keep room for the terminating NUL the callers add. */
	if (*n + k >= cap)
		return false;
	memcpy(out + *n, b, k);
	*n += k;
	return true;
}

static int gsm7_lookup(uint32_t cp, uint8_t *sept)
{
	if (cp == 0x00a0) /* the ESC slot never encodes a character */
		return 0;
	for (int i = 0; i < 128; i++) {
		if (gsm7_default[i] == cp && i != GSM7_ESC) {
			sept[0] = (uint8_t)i;
			return 1;
		}
	}
	for (size_t i = 0; i < sizeof(gsm7_ext) / sizeof(gsm7_ext[0]); i++) {
		if (gsm7_ext[i].cp == cp) {
			sept[0] = GSM7_ESC;
			sept[1] = gsm7_ext[i].septet;
			return 2;
		}
	}
	return 0;
}

int gsm7_cost(uint32_t cp)
{
	uint8_t s[2];

	return gsm7_lookup(cp, s);
}

bool gsm7_from_utf8(const char *utf8, size_t len, uint8_t *septets, size_t cap, size_t *n)
{
	size_t out = 0, used;
	uint32_t cp;

	while (len > 0) {
		uint8_t s[2];
		int k;

		if (!utf8_next(utf8, len, &cp, &used))
			return false;
		k = gsm7_lookup(cp, s);
		if (k == 0 || out + (size_t)k > cap)
			return false;
		memcpy(septets + out, s, (size_t)k);
		out += (size_t)k;
		utf8 += used;
		len -= used;
	}
	*n = out;
	return true;
}

bool gsm7_to_utf8(const uint8_t *septets, size_t n, char *out, size_t cap)
{
	size_t w = 0;

	if (cap == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		uint8_t s = septets[i] & 0x7f;
		uint32_t cp = gsm7_default[s];

		if (s == GSM7_ESC) {
			if (i + 1 >= n)
				break; /* a dangling escape carries nothing */
			s = septets[++i] & 0x7f;
			cp = gsm7_default[s];
			for (size_t j = 0; j < sizeof(gsm7_ext) / sizeof(gsm7_ext[0]); j++) {
				if (gsm7_ext[j].septet == s)
					cp = gsm7_ext[j].cp;
			}
			if (s == GSM7_ESC)
				cp = ' ';
		}
		if (!utf8_put(cp, out, cap, &w))
			return false;
	}
	out[w] = '\0';
	return true;
}

size_t gsm7_pack(const uint8_t *septets, size_t n, unsigned int fill_bits, uint8_t *out, size_t cap)
{
	size_t bits = fill_bits + n * 7, octets = (bits + 7) / 8;

	if (octets > cap)
		return 0;
	memset(out, 0, octets);
	for (size_t i = 0; i < n; i++) {
		size_t pos = fill_bits + i * 7;
		unsigned int v = (unsigned int)(septets[i] & 0x7f) << (pos % 8);

		out[pos / 8] |= (uint8_t)v;
		if (v >> 8)
			out[pos / 8 + 1] |= (uint8_t)(v >> 8);
	}
	return octets;
}

bool gsm7_unpack(const uint8_t *in, size_t inlen, unsigned int fill_bits, size_t n,
		 uint8_t *septets)
{
	if ((fill_bits + n * 7 + 7) / 8 > inlen)
		return false;
	for (size_t i = 0; i < n; i++) {
		size_t pos = fill_bits + i * 7;
		unsigned int v = in[pos / 8];

		if (pos % 8 > 1)
			v |= (unsigned int)in[pos / 8 + 1] << 8;
		septets[i] = (uint8_t)((v >> (pos % 8)) & 0x7f);
	}
	return true;
}

bool ucs2_from_utf8(const char *utf8, size_t len, uint8_t *out, size_t cap, size_t *n)
{
	size_t w = 0, used;
	uint32_t cp;

	while (len > 0) {
		if (!utf8_next(utf8, len, &cp, &used))
			return false;
		if (cp >= 0x10000) {
			uint32_t v = cp - 0x10000;
			uint16_t hi = (uint16_t)(0xd800 | v >> 10),
				 lo = (uint16_t)(0xdc00 | (v & 0x3ff));

			if (w + 4 > cap)
				return false;
			out[w++] = (uint8_t)(hi >> 8), out[w++] = (uint8_t)hi;
			out[w++] = (uint8_t)(lo >> 8), out[w++] = (uint8_t)lo;
		} else {
			if (w + 2 > cap)
				return false;
			out[w++] = (uint8_t)(cp >> 8), out[w++] = (uint8_t)cp;
		}
		utf8 += used;
		len -= used;
	}
	*n = w;
	return true;
}

bool ucs2_to_utf8(const uint8_t *in, size_t n, char *out, size_t cap)
{
	size_t w = 0;

	if (n % 2 || cap == 0)
		return false;
	for (size_t i = 0; i < n; i += 2) {
		uint32_t cp = (uint32_t)in[i] << 8 | in[i + 1];

		if (cp >= 0xdc00 && cp <= 0xdfff)
			return false;
		if (cp >= 0xd800 && cp <= 0xdbff) {
			uint32_t lo;

			if (i + 3 >= n)
				return false;
			lo = (uint32_t)in[i + 2] << 8 | in[i + 3];
			if (lo < 0xdc00 || lo > 0xdfff)
				return false;
			cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			i += 2;
		}
		if (!utf8_put(cp, out, cap, &w))
			return false;
	}
	out[w] = '\0';
	return true;
}

static int hexdigit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool hex_decode(const char *hex, size_t len, uint8_t *out, size_t cap, size_t *n)
{
	if (len % 2 || len / 2 > cap)
		return false;
	for (size_t i = 0; i < len; i += 2) {
		int hi = hexdigit(hex[i]), lo = hexdigit(hex[i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		out[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	*n = len / 2;
	return true;
}

bool hex_encode(const uint8_t *in, size_t n, char *out, size_t cap)
{
	static const char digits[] = "0123456789ABCDEF";

	if (cap < 2 * n + 1)
		return false;
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
	return true;
}

static const char *const te_names[] = {
	[TE_IRA] = "IRA",
	[TE_GSM] = "GSM",
	[TE_UCS2] = "UCS2",
};

bool te_charset_parse(const char *name, enum te_charset *cs)
{
	for (size_t i = 0; i < sizeof(te_names) / sizeof(te_names[0]); i++) {
		if (strcasecmp(name, te_names[i]) == 0) {
			*cs = (enum te_charset)i;
			return true;
		}
	}
	return false;
}

const char *te_charset_name(enum te_charset cs)
{
	return te_names[cs];
}

bool te_from_utf8(enum te_charset cs, const char *utf8, char *out, size_t cap)
{
	size_t len = strlen(utf8), n, used;
	uint8_t buf[1024];
	uint32_t cp;

	switch (cs) {
	case TE_UCS2:
		if (!ucs2_from_utf8(utf8, len, buf, sizeof(buf), &n))
			return false;
		return hex_encode(buf, n, out, cap);
	case TE_GSM:
	case TE_IRA:
		n = 0;
		while (len > 0) {
			if (!utf8_next(utf8, len, &cp, &used))
				return false;
			/* Characters outside the set read as '?', as modems print them. */
			if (cp < 0x20 || cp > 0x7e || (cs == TE_GSM && gsm7_cost(cp) != 1))
				cp = '?';
			if (n + 1 >= cap)
				return false;
			out[n++] = (char)cp;
			utf8 += used;
			len -= used;
		}
		out[n] = '\0';
		return true;
	}
	return false;
}

bool te_to_utf8(enum te_charset cs, const char *in, char *out, size_t cap)
{
	size_t len = strlen(in), n;
	uint8_t buf[1024];

	switch (cs) {
	case TE_UCS2:
		if (!hex_decode(in, len, buf, sizeof(buf), &n))
			return false;
		return ucs2_to_utf8(buf, n, out, cap);
	case TE_GSM:
		if (len > sizeof(buf))
			return false;
		for (size_t i = 0; i < len; i++) {
			if ((unsigned char)in[i] > 0x7f)
				return false;
			buf[i] = (uint8_t)in[i];
		}
		return gsm7_to_utf8(buf, len, out, cap);
	case TE_IRA:
		if (len >= cap)
			return false;
		for (size_t i = 0; i < len; i++) {
			if ((unsigned char)in[i] > 0x7f)
				return false;
		}
		memcpy(out, in, len + 1);
		return true;
	}
	return false;
}
