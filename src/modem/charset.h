/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Character sets of the SMS and AT world: the GSM 7-bit default alphabet and
 * its extension table (3GPP TS 23.038 6.2.1), UCS2/UTF-16BE, UTF-8 and the
 * hex notation AT commands use for binary data.
 *
 * Every decoder takes untrusted bytes, checks lengths before writing, and
 * returns false (never a partial result the caller might trust) on bad input.
 */
#ifndef POCKETVM_MODEM_CHARSET_H
#define POCKETVM_MODEM_CHARSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GSM7_ESC 0x1b

/* Decodes one UTF-8 sequence at s (len bytes left); false if malformed. */
bool utf8_next(const char *s, size_t len, uint32_t *cp, size_t *used);
/* Appends cp as UTF-8 to out (capacity cap, *n used); false if no room. */
bool utf8_put(uint32_t cp, char *out, size_t cap, size_t *n);

/* Septets needed for one code point: 1, 2 (extension table) or 0 (not in GSM 7-bit). */
int gsm7_cost(uint32_t cp);

/*
 * UTF-8 to unpacked GSM 7-bit septets. False when a character has no GSM
 * representation or the result exceeds cap.
 */
bool gsm7_from_utf8(const char *utf8, size_t len, uint8_t *septets, size_t cap, size_t *n);

/*
 * Unpacked septets to UTF-8 (NUL-terminated). An escape before a code the
 * extension table lacks shows the default-table character (TS 23.038).
 */
bool gsm7_to_utf8(const uint8_t *septets, size_t n, char *out, size_t cap);

/*
 * Packs n septets into octets starting fill_bits (0..6) bits into the first
 * octet (the padding after a user data header). Returns octets written.
 */
size_t gsm7_pack(const uint8_t *septets, size_t n, unsigned int fill_bits, uint8_t *out,
		 size_t cap);
/* Unpacks n septets from inlen octets; false if the octets are too few. */
bool gsm7_unpack(const uint8_t *in, size_t inlen, unsigned int fill_bits, size_t n,
		 uint8_t *septets);

/* UTF-8 to UTF-16BE ("UCS2" in 3GPP usage; surrogate pairs allowed). */
bool ucs2_from_utf8(const char *utf8, size_t len, uint8_t *out, size_t cap, size_t *n);
/* UTF-16BE to UTF-8 (NUL-terminated); false on odd length or lone surrogates. */
bool ucs2_to_utf8(const uint8_t *in, size_t n, char *out, size_t cap);

/* Hex text (either case) to bytes; false on odd length, non-hex or overflow. */
bool hex_decode(const char *hex, size_t len, uint8_t *out, size_t cap, size_t *n);
/* Bytes to upper-case hex, NUL-terminated; needs cap >= 2 * n + 1. */
bool hex_encode(const uint8_t *in, size_t n, char *out, size_t cap);

/* The TE character sets of +CSCS that we offer. */
enum te_charset {
	TE_IRA, /* ITU-T T.50 (ASCII) */
	TE_GSM, /* GSM 7-bit default alphabet, one octet per septet */
	TE_UCS2, /* hex of UTF-16BE */
};

bool te_charset_parse(const char *name, enum te_charset *cs);
const char *te_charset_name(enum te_charset cs);
/* UTF-8 to the TE charset (for strings the modem reports). */
bool te_from_utf8(enum te_charset cs, const char *utf8, char *out, size_t cap);
/* TE charset to UTF-8 (for strings the host sends). */
bool te_to_utf8(enum te_charset cs, const char *in, char *out, size_t cap);

#endif
