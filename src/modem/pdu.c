// SPDX-License-Identifier: Apache-2.0
#include "modem/pdu.h"

#include <stdio.h>
#include <string.h>

#include "modem/charset.h"

#define UDH_IE_CONCAT8 0x00
#define UDH_IE_CONCAT16 0x08

bool sms_dcs_parse(uint8_t dcs, enum sms_alphabet *alphabet, int *msg_class)
{
	unsigned int group = dcs >> 4;

	*msg_class = -1;
	*alphabet = SMS_ALPHA_GSM7;
	if ((dcs & 0x80) == 0) {
		static const enum sms_alphabet alpha[4] = {
			SMS_ALPHA_GSM7,
			SMS_ALPHA_8BIT,
			SMS_ALPHA_UCS2,
			SMS_ALPHA_GSM7,
		};

		if (dcs & 0x20)
			return false; /* compressed text: no one implements it */
		*alphabet = alpha[(dcs >> 2) & 3];
		if (dcs & 0x10)
			*msg_class = dcs & 3;
	} else if (group == 0xe) {
		*alphabet = SMS_ALPHA_UCS2;
	} else if (group == 0xf) {
		*alphabet = (dcs & 4) ? SMS_ALPHA_8BIT : SMS_ALPHA_GSM7;
		*msg_class = dcs & 3;
	}
	/* 0xc/0xd (message waiting, GSM 7-bit) and reserved groups read as 7-bit. */
	return true;
}

static char semi_octet_char(unsigned int v)
{
	static const char map[] = "0123456789*#abc";

	return v < 15 ? map[v] : '\0';
}

static int char_semi_octet(char c)
{
	static const char map[] = "0123456789*#abc";
	const char *p = c ? strchr(map, c) : NULL;

	return p ? (int)(p - map) : -1;
}

static bool addr_is_alnum(const char *addr)
{
	for (const char *p = addr; *p; p++) {
		if (p == addr && *p == '+')
			continue;
		if (char_semi_octet(*p) < 0)
			return true;
	}
	return false;
}

bool sms_addr_valid(const char *addr)
{
	const char *p = addr[0] == '+' ? addr + 1 : addr;
	size_t n = strlen(p);

	if (n == 0 || n > 20)
		return false;
	for (; *p; p++) {
		if (char_semi_octet(*p) < 0)
			return false;
	}
	return true;
}

/* TP-OA/TP-DA: length in semi-octets, type, value. */
static bool addr_decode(const uint8_t *p, size_t len, size_t *used, char *out, size_t cap,
			uint8_t *toa)
{
	size_t ndigits, octets, w = 0;

	if (len < 2)
		return false;
	ndigits = p[0];
	*toa = p[1];
	octets = (ndigits + 1) / 2;
	if (ndigits > 20 || 2 + octets > len)
		return false;
	*used = 2 + octets;
	if ((*toa & 0x70) == 0x50) {
		uint8_t sept[24];
		size_t n = ndigits * 4 / 7;

		if (!gsm7_unpack(p + 2, octets, 0, n, sept))
			return false;
		return gsm7_to_utf8(sept, n, out, cap);
	}
	if (cap < ndigits + 2)
		return false;
	if ((*toa & 0x70) == 0x10)
		out[w++] = '+';
	for (size_t i = 0; i < ndigits; i++) {
		unsigned int v = (i % 2) ? p[2 + i / 2] >> 4 : p[2 + i / 2] & 15;
		char c = semi_octet_char(v);

		if (!c)
			return false;
		out[w++] = c;
	}
	out[w] = '\0';
	return true;
}

static bool addr_encode(const char *addr, uint8_t toa_hint, uint8_t *out, size_t cap, size_t *len)
{
	const char *digits = addr;
	size_t n;

	if (addr_is_alnum(addr)) {
		uint8_t sept[16];
		size_t ns, octets;

		if (!gsm7_from_utf8(addr, strlen(addr), sept, 11, &ns) || cap < 2)
			return false;
		octets = gsm7_pack(sept, ns, 0, out + 2, cap - 2);
		if (octets == 0 && ns)
			return false;
		out[0] = (uint8_t)((ns * 7 + 3) / 4);
		out[1] = SMS_TOA_ALPHANUMERIC;
		*len = 2 + octets;
		return true;
	}
	if (!sms_addr_valid(addr))
		return false;
	if (addr[0] == '+')
		digits++;
	n = strlen(digits);
	if (cap < 2 + (n + 1) / 2)
		return false;
	out[0] = (uint8_t)n;
	/* A type read from the air is kept unless it contradicts the digits we write. */
	if (addr[0] == '+')
		out[1] = SMS_TOA_INTERNATIONAL;
	else if (toa_hint & 0x80 && (toa_hint & 0x70) != 0x50 && (toa_hint & 0x70) != 0x10)
		out[1] = toa_hint;
	else
		out[1] = SMS_TOA_UNKNOWN;
	for (size_t i = 0; i < n; i += 2) {
		unsigned int lo = (unsigned int)char_semi_octet(digits[i]);
		unsigned int hi = i + 1 < n ? (unsigned int)char_semi_octet(digits[i + 1]) : 0xf;

		out[2 + i / 2] = (uint8_t)(hi << 4 | lo);
	}
	*len = 2 + (n + 1) / 2;
	return true;
}

bool sms_sca_decode(const uint8_t *pdu, size_t len, char *sca, size_t cap, size_t *used)
{
	size_t octets, n;
	uint8_t tmp[12], toa;

	if (len < 1 || cap < 1)
		return false;
	octets = pdu[0];
	if (octets == 0) {
		sca[0] = '\0';
		*used = 1;
		return true;
	}
	if (octets < 2 || octets > 11 || 1 + octets > len)
		return false;
	/* Rewrite as a TP address (semi-octet count) to share the decoder. */
	tmp[0] = (uint8_t)((octets - 1) * 2);
	if ((pdu[octets] >> 4) == 0xf)
		tmp[0]--;
	memcpy(tmp + 1, pdu + 1, octets);
	if (!addr_decode(tmp, octets + 1, &n, sca, cap, &toa) || (toa & 0x70) == 0x50)
		return false;
	*used = 1 + octets;
	return true;
}

bool sms_sca_encode(const char *sca, uint8_t *out, size_t cap, size_t *len)
{
	uint8_t tmp[16];
	size_t n;

	if (cap < 1)
		return false;
	if (!sca[0]) {
		out[0] = 0;
		*len = 1;
		return true;
	}
	if (addr_is_alnum(sca) || !addr_encode(sca, 0, tmp, sizeof(tmp), &n) || n > cap)
		return false;
	out[0] = (uint8_t)(n - 1);
	memcpy(out + 1, tmp + 1, n - 1);
	*len = n;
	return true;
}

static uint8_t bcd_swap(unsigned int v)
{
	return (uint8_t)((v % 10) << 4 | (v / 10 % 10));
}

static unsigned int bcd_unswap(uint8_t b)
{
	return (b & 15) * 10 + (b >> 4);
}

void sms_scts_from_time(time_t t, uint8_t scts[7])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	scts[0] = bcd_swap((unsigned int)tm.tm_year % 100);
	scts[1] = bcd_swap((unsigned int)tm.tm_mon + 1);
	scts[2] = bcd_swap((unsigned int)tm.tm_mday);
	scts[3] = bcd_swap((unsigned int)tm.tm_hour);
	scts[4] = bcd_swap((unsigned int)tm.tm_min);
	scts[5] = bcd_swap((unsigned int)tm.tm_sec);
	scts[6] = 0; /* UTC */
}

void sms_scts_text(const uint8_t scts[7], char *out, size_t cap)
{
	/* The zone is in quarter hours; bit 3 of the first digit is the sign. */
	unsigned int tz = (scts[6] & 7) * 10 + (scts[6] >> 4);
	char sign = (scts[6] & 8) ? '-' : '+';

	snprintf(out, cap, "%02u/%02u/%02u,%02u:%02u:%02u%c%02u", bcd_unswap(scts[0]) % 100,
		 bcd_unswap(scts[1]) % 100, bcd_unswap(scts[2]) % 100, bcd_unswap(scts[3]) % 100,
		 bcd_unswap(scts[4]) % 100, bcd_unswap(scts[5]) % 100, sign, tz % 100);
}

/* Information elements of a user data header; unknown ones kept verbatim. */
static bool udh_parse(const uint8_t *h, size_t len, struct sms *s)
{
	size_t i = 0;

	while (i < len) {
		uint8_t iei, iel;

		if (i + 2 > len)
			return false;
		iei = h[i];
		iel = h[i + 1];
		if (i + 2 + iel > len)
			return false;
		if (iei == UDH_IE_CONCAT8 && iel == 3 && h[i + 3] && h[i + 4] &&
		    h[i + 4] <= h[i + 3]) {
			s->concat = true;
			s->concat_ref = h[i + 2];
			s->concat_total = h[i + 3];
			s->concat_seq = h[i + 4];
		} else if (iei == UDH_IE_CONCAT16 && iel == 4 && h[i + 4] && h[i + 5] &&
			   h[i + 5] <= h[i + 4]) {
			s->concat = true;
			s->concat_ref = (uint16_t)(h[i + 2] << 8 | h[i + 3]);
			s->concat_total = h[i + 4];
			s->concat_seq = h[i + 5];
		} else if (iei != UDH_IE_CONCAT8 && iei != UDH_IE_CONCAT16) {
			/* A malformed concatenation IE is ignored (TS 23.040 9.2.3.24). */
			memcpy(s->udh_other + s->udh_other_len, h + i, 2u + iel);
			s->udh_other_len += 2u + iel;
		}
		i += 2u + iel;
	}
	return true;
}

static bool ud_decode(const uint8_t *ud, size_t avail, uint8_t udl, bool udhi, struct sms *s,
		      const char **err)
{
	size_t hdr = 0;

	if (s->alphabet == SMS_ALPHA_GSM7) {
		size_t octets = ((size_t)udl * 7 + 7) / 8, hsept = 0;

		if (udl > 160 || octets != avail) {
			*err = "user data length does not match the PDU";
			return false;
		}
		if (udhi) {
			if (octets < 1 || (size_t)ud[0] + 1 > octets) {
				*err = "user data header longer than user data";
				return false;
			}
			hdr = (size_t)ud[0] + 1;
			hsept = (hdr * 8 + 6) / 7;
			if (hsept > udl || !udh_parse(ud + 1, hdr - 1, s)) {
				*err = "malformed user data header";
				return false;
			}
		}
		s->ud_len = udl - hsept;
		return gsm7_unpack(ud, octets, (unsigned int)(hsept * 7), s->ud_len, s->ud);
	}
	if (udl > 140 || udl != avail) {
		*err = "user data length does not match the PDU";
		return false;
	}
	if (udhi) {
		if (udl < 1 || (size_t)ud[0] + 1 > udl) {
			*err = "user data header longer than user data";
			return false;
		}
		hdr = (size_t)ud[0] + 1;
		if (!udh_parse(ud + 1, hdr - 1, s)) {
			*err = "malformed user data header";
			return false;
		}
	}
	s->ud_len = udl - hdr;
	memcpy(s->ud, ud + hdr, s->ud_len);
	if (s->alphabet == SMS_ALPHA_UCS2 && s->ud_len % 2) {
		*err = "odd UCS2 user data length";
		return false;
	}
	return true;
}

bool sms_decode(const uint8_t *t, size_t len, enum sms_mti mti, struct sms *s, const char **err)
{
	size_t p = 0, used;
	uint8_t fo, vp_len = 0;
	bool udhi;

	memset(s, 0, sizeof(*s));
	*err = "PDU too short";
	if (len < 1)
		return false;
	fo = t[p++];
	if ((fo & 3) != mti) {
		*err = "unexpected message type indicator";
		return false;
	}
	s->mti = mti;
	s->reply_path = fo & 0x80;
	udhi = fo & 0x40;
	s->srr = fo & 0x20;
	if (mti == SMS_SUBMIT) {
		s->reject_dup = fo & 4;
		s->vpf = (fo >> 3) & 3;
		vp_len = s->vpf == 0 ? 0 : s->vpf == 2 ? 1 : 7;
		if (p >= len)
			return false;
		s->mr = t[p++];
	} else {
		s->more = !(fo & 4);
	}
	if (!addr_decode(t + p, len - p, &used, s->addr, sizeof(s->addr), &s->toa)) {
		*err = "malformed address";
		return false;
	}
	p += used;
	if (p + 2 > len)
		return false;
	s->pid = t[p++];
	s->dcs = t[p++];
	if (!sms_dcs_parse(s->dcs, &s->alphabet, &s->msg_class)) {
		*err = "unsupported data coding scheme";
		return false;
	}
	if (mti == SMS_SUBMIT) {
		if (p + vp_len > len)
			return false;
		memcpy(s->vp, t + p, vp_len);
		p += vp_len;
	} else {
		if (p + 7 > len)
			return false;
		memcpy(s->scts, t + p, 7);
		p += 7;
	}
	if (p + 1 > len)
		return false;
	p++;
	return ud_decode(t + p, len - p, t[p - 1], udhi, s, err);
}

bool sms_decode_report(const uint8_t *t, size_t len, struct sms *s, const char **err)
{
	size_t p = 0, used;
	uint8_t fo, pi;

	memset(s, 0, sizeof(*s));
	*err = "PDU too short";
	if (len < 2)
		return false;
	fo = t[p++];
	if ((fo & 3) != SMS_STATUS_REPORT) {
		*err = "unexpected message type indicator";
		return false;
	}
	s->mti = SMS_STATUS_REPORT;
	s->more = !(fo & 4);
	s->srr = fo & 0x20;
	s->mr = t[p++];
	if (!addr_decode(t + p, len - p, &used, s->addr, sizeof(s->addr), &s->toa)) {
		*err = "malformed address";
		return false;
	}
	p += used;
	if (p + 15 > len)
		return false;
	memcpy(s->scts, t + p, 7);
	memcpy(s->dt, t + p + 7, 7);
	s->status = t[p + 14];
	p += 15;
	if (p == len)
		return true;
	/* TP-PI and the parameters it announces; the extension bit ends here. */
	pi = t[p++];
	if (pi & 0x01) {
		if (p >= len)
			return false;
		s->pid = t[p++];
	}
	if (pi & 0x02) {
		if (p >= len)
			return false;
		s->dcs = t[p++];
		if (!sms_dcs_parse(s->dcs, &s->alphabet, &s->msg_class)) {
			*err = "unsupported data coding scheme";
			return false;
		}
	}
	if (pi & 0x04) {
		if (p >= len)
			return false;
		p++;
		return ud_decode(t + p, len - p, t[p - 1], fo & 0x40, s, err);
	}
	if (p != len) {
		*err = "trailing octets";
		return false;
	}
	return true;
}

bool sms_encode_report(const struct sms *s, uint8_t *out, size_t cap, size_t *len)
{
	size_t p = 0, n;

	if (cap < 2)
		return false;
	out[p++] = (uint8_t)(SMS_STATUS_REPORT | (s->more ? 0 : 4) | (s->srr ? 0x20 : 0));
	out[p++] = s->mr;
	if (!addr_encode(s->addr, s->toa, out + p, cap - p, &n))
		return false;
	p += n;
	if (p + 15 > cap)
		return false;
	memcpy(out + p, s->scts, 7);
	memcpy(out + p + 7, s->dt, 7);
	out[p + 14] = s->status;
	*len = p + 15;
	return true;
}

static size_t udh_build(const struct sms *s, uint8_t *h)
{
	size_t n = 0;

	if (s->concat) {
		if (s->concat_ref > 0xff) {
			h[n++] = UDH_IE_CONCAT16, h[n++] = 4;
			h[n++] = (uint8_t)(s->concat_ref >> 8);
		} else {
			h[n++] = UDH_IE_CONCAT8, h[n++] = 3;
		}
		h[n++] = (uint8_t)s->concat_ref;
		h[n++] = s->concat_total;
		h[n++] = s->concat_seq;
	}
	memcpy(h + n, s->udh_other, s->udh_other_len);
	return n + s->udh_other_len;
}

static bool ud_encode(const struct sms *s, uint8_t *out, size_t cap, size_t *len)
{
	uint8_t h[160];
	size_t hlen = udh_build(s, h), hdr = hlen ? hlen + 1 : 0;

	if (hdr > 140 || cap < 1 + hdr)
		return false;
	if (hdr) {
		out[1] = (uint8_t)hlen;
		memcpy(out + 2, h, hlen);
	}
	if (s->alphabet == SMS_ALPHA_GSM7) {
		size_t hsept = (hdr * 8 + 6) / 7, udl = hsept + s->ud_len, n;
		uint8_t body[160];

		if (udl > 160 || s->ud_len > SMS_UD_MAX)
			return false;
		n = gsm7_pack(s->ud, s->ud_len, (unsigned int)(hsept * 7 - hdr * 8), body,
			      sizeof(body));
		if (1 + hdr + n > cap || (n == 0 && s->ud_len))
			return false;
		out[0] = (uint8_t)udl;
		memcpy(out + 1 + hdr, body, n);
		*len = 1 + hdr + n;
		return true;
	}
	if (hdr + s->ud_len > 140 || 1 + hdr + s->ud_len > cap)
		return false;
	out[0] = (uint8_t)(hdr + s->ud_len);
	memcpy(out + 1 + hdr, s->ud, s->ud_len);
	*len = 1 + hdr + s->ud_len;
	return true;
}

bool sms_encode(const struct sms *s, uint8_t *out, size_t cap, size_t *len)
{
	bool udhi = s->concat || s->udh_other_len;
	size_t p = 0, n, vp_len = 0;
	uint8_t fo = (uint8_t)s->mti;

	if (cap < 2)
		return false;
	if (s->reply_path)
		fo |= 0x80;
	if (udhi)
		fo |= 0x40;
	if (s->srr)
		fo |= 0x20;
	if (s->mti == SMS_SUBMIT) {
		vp_len = s->vpf == 0 ? 0 : s->vpf == 2 ? 1 : 7;
		fo |= (uint8_t)((s->vpf & 3) << 3);
		if (s->reject_dup)
			fo |= 4;
		out[p++] = fo;
		out[p++] = s->mr;
	} else {
		if (!s->more)
			fo |= 4;
		out[p++] = fo;
	}
	if (!addr_encode(s->addr, s->toa, out + p, cap - p, &n))
		return false;
	p += n;
	if (p + 2 + (s->mti == SMS_SUBMIT ? vp_len : 7) > cap)
		return false;
	out[p++] = s->pid;
	out[p++] = s->dcs;
	if (s->mti == SMS_SUBMIT) {
		memcpy(out + p, s->vp, vp_len);
		p += vp_len;
	} else {
		memcpy(out + p, s->scts, 7);
		p += 7;
	}
	if (!ud_encode(s, out + p, cap - p, &n))
		return false;
	*len = p + n;
	return true;
}

bool sms_body_utf8(const struct sms *s, char *out, size_t cap)
{
	switch (s->alphabet) {
	case SMS_ALPHA_GSM7:
		return gsm7_to_utf8(s->ud, s->ud_len, out, cap);
	case SMS_ALPHA_UCS2:
		return ucs2_to_utf8(s->ud, s->ud_len, out, cap);
	case SMS_ALPHA_8BIT:
		return hex_encode(s->ud, s->ud_len, out, cap);
	}
	return false;
}

/* Cuts a 7-bit stream into pieces of at most per septets, never inside an escape. */
static size_t split_gsm7(const uint8_t *sept, size_t n, size_t per, size_t *cuts, size_t max)
{
	size_t count = 0, pos = 0;

	while (pos < n) {
		size_t end = pos + per < n ? pos + per : n;

		if (end < n) {
			/* An odd run of escapes at the cut means the last one opens a pair. */
			size_t k = 0;

			while (end - k > pos && sept[end - 1 - k] == GSM7_ESC)
				k++;
			if (k % 2)
				end--;
		}
		if (count >= max)
			return 0;
		cuts[count++] = end;
		pos = end;
	}
	return count;
}

static size_t split_ucs2(const uint8_t *u, size_t n, size_t per, size_t *cuts, size_t max)
{
	size_t count = 0, pos = 0;

	while (pos < n) {
		size_t end = pos + per < n ? pos + per : n;

		/* Keep a surrogate pair whole. */
		if (end < n && u[end - 2] >= 0xd8 && u[end - 2] <= 0xdb)
			end -= 2;
		if (count >= max)
			return 0;
		cuts[count++] = end;
		pos = end;
	}
	return count;
}

size_t sms_split_text(const struct sms *tmpl, const char *utf8, uint16_t ref, struct sms *segs,
		      size_t max)
{
	uint8_t buf[255 * 160];
	size_t len = strlen(utf8), n, count, cuts[255], start = 0;
	enum sms_alphabet alpha = SMS_ALPHA_GSM7;

	if (max > 255)
		max = 255;
	if (!gsm7_from_utf8(utf8, len, buf, sizeof(buf), &n)) {
		alpha = SMS_ALPHA_UCS2;
		if (!ucs2_from_utf8(utf8, len, buf, sizeof(buf), &n))
			return 0;
	}
	if (alpha == SMS_ALPHA_GSM7)
		count = n <= 160 ? (n ? 1 : 0) : split_gsm7(buf, n, 153, cuts, max);
	else
		count = n <= 140 ? (n ? 1 : 0) : split_ucs2(buf, n, 134, cuts, max);
	if (n == 0)
		count = 1; /* an empty message is still one message */
	if (count == 1)
		cuts[0] = n;
	if (count == 0 || count > max)
		return 0;
	for (size_t i = 0; i < count; i++) {
		struct sms *s = &segs[i];

		*s = *tmpl;
		s->alphabet = alpha;
		s->dcs = alpha == SMS_ALPHA_GSM7 ? 0x00 : 0x08;
		s->msg_class = -1;
		s->concat = count > 1;
		s->concat_ref = ref;
		s->concat_total = (uint8_t)count;
		s->concat_seq = (uint8_t)(i + 1);
		s->udh_other_len = 0;
		s->ud_len = cuts[i] - start;
		memcpy(s->ud, buf + start, s->ud_len);
		start = cuts[i];
	}
	return count;
}
