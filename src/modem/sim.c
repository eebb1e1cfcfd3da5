// SPDX-License-Identifier: Apache-2.0
/*
 * The synthetic per-VM SIM behind +CRSM (TS 27.007 8.18, TS 51.011): a few
 * elementary files built from the VM's configuration, read-only. Answers
 * carry the card's status words, so a client sees a real card's behaviour
 * (6A82 for a missing file, 6B00 for a bad offset).
 */
#include "modem/modem_priv.h"

#include <stdio.h>
#include <string.h>

#define EF_ICCID 0x2fe2
#define EF_IMSI 0x6f07
#define EF_AD 0x6fad
#define EF_SPN 0x6f46
#define EF_MSISDN 0x6f40
#define EF_ECC 0x6fb7

#define CMD_READ_BINARY 176
#define CMD_READ_RECORD 178
#define CMD_GET_RESPONSE 192
#define CMD_STATUS 242
#define CMD_UPDATE_BINARY 214
#define CMD_UPDATE_RECORD 220

struct sim_file {
	uint16_t id;
	bool linear; /* linear fixed (records) or transparent */
	uint8_t data[32];
	size_t len; /* whole file, or one record */
};

/* Digits as swapped BCD, padded with F: "8901" -> 98 10. */
static size_t bcd_pack(const char *digits, uint8_t *out, size_t cap)
{
	size_t n = 0;

	memset(out, 0xff, cap);
	for (const char *p = digits; *p && n / 2 < cap; p++) {
		unsigned int d = (unsigned int)(*p - '0');

		if (*p == '+' || d > 9)
			continue;
		if (n % 2 == 0)
			out[n / 2] = (uint8_t)(0xf0 | d);
		else
			out[n / 2] = (uint8_t)((out[n / 2] & 0x0f) | d << 4);
		n++;
	}
	return (n + 1) / 2;
}

static bool sim_build(const struct modem *m, uint16_t id, struct sim_file *f)
{
	memset(f, 0, sizeof(*f));
	f->id = id;
	switch (id) {
	case EF_ICCID:
		f->len = 10;
		bcd_pack(m->cfg.iccid, f->data, 10);
		return true;
	case EF_IMSI: {
		/* Length, then the first digit beside the "IMSI, odd length" nibble. */
		f->len = 9;
		f->data[0] = 8;
		f->data[1] = (uint8_t)((m->cfg.imsi[0] - '0') << 4 | 0x9);
		bcd_pack(m->cfg.imsi + 1, f->data + 2, 7);
		return true;
	}
	case EF_AD:
		f->len = 4;
		f->data[3] = (uint8_t)(strlen(m->cfg.plmn) - 3);
		return true;
	case EF_SPN: {
		size_t n = 0;

		f->len = 17;
		memset(f->data, 0xff, 17);
		f->data[0] = 0x01;
		if (!gsm7_from_utf8(m->cfg.spn, strlen(m->cfg.spn), f->data + 1, 16, &n))
			n = 0;
		return true;
	}
	case EF_MSISDN: {
		size_t n;

		f->linear = true;
		f->len = 14;
		memset(f->data, 0xff, 14);
		n = bcd_pack(m->cfg.number, f->data + 2, 10);
		f->data[0] = (uint8_t)(n + 1);
		f->data[1] = m->cfg.number[0] == '+' ? SMS_TOA_INTERNATIONAL : SMS_TOA_UNKNOWN;
		return true;
	}
	case EF_ECC:
		f->len = 6;
		memset(f->data, 0xff, 6);
		bcd_pack("112", f->data, 3);
		bcd_pack("911", f->data + 3, 3);
		return true;
	}
	return false;
}

static int crsm_reply(char *out, size_t cap, int sw1, int sw2, const uint8_t *data, size_t len)
{
	char hex[2 * 256 + 1];

	if (!data) {
		snprintf(out, cap, "+CRSM: %d,%d", sw1, sw2);
		return RES_OK;
	}
	if (!hex_encode(data, len, hex, sizeof(hex)))
		return CME(CME_UNKNOWN);
	snprintf(out, cap, "+CRSM: %d,%d,\"%s\"", sw1, sw2, hex);
	return RES_OK;
}

/* A 2G GET RESPONSE header for an EF (TS 51.011 9.2.1). */
static size_t get_response(const struct sim_file *f, uint8_t *r)
{
	size_t size = f->len;

	memset(r, 0, 15);
	r[2] = (uint8_t)(size >> 8);
	r[3] = (uint8_t)size;
	r[4] = (uint8_t)(f->id >> 8);
	r[5] = (uint8_t)f->id;
	r[6] = 0x04; /* EF */
	r[8] = 0x0f; /* read: always; update: never */
	r[9] = 0xff;
	r[10] = 0xff;
	r[11] = 0x01; /* not invalidated */
	r[12] = 0x02;
	r[13] = f->linear ? 0x01 : 0x00;
	r[14] = f->linear ? (uint8_t)f->len : 0;
	return 15;
}

int modem_sim_crsm(const struct modem *m, const struct at_cmd *c, char *out, size_t cap)
{
	long cmd, fid = 0, p1 = 0, p2 = 0, p3 = 0;
	struct sim_file f;
	uint8_t resp[15];
	size_t off, len;

	if (!at_param_num(c, 0, &cmd))
		return CME(CME_INVALID_PARAM);
	if (cmd == CMD_STATUS)
		return crsm_reply(out, cap, 0x90, 0, NULL, 0);
	if (!at_param_num(c, 1, &fid) || fid < 0 || fid > 0xffff)
		return CME(CME_INVALID_PARAM);
	if ((!at_param_omitted(c, 2) && !at_param_num(c, 2, &p1)) ||
	    (!at_param_omitted(c, 3) && !at_param_num(c, 3, &p2)) ||
	    (!at_param_omitted(c, 4) && !at_param_num(c, 4, &p3)) || p1 > 255 || p2 > 255 ||
	    p3 > 255)
		return CME(CME_INVALID_PARAM);
	if (cmd == CMD_UPDATE_BINARY || cmd == CMD_UPDATE_RECORD)
		return crsm_reply(out, cap, 0x69, 0x82, NULL, 0); /* security status */
	if (cmd != CMD_READ_BINARY && cmd != CMD_READ_RECORD && cmd != CMD_GET_RESPONSE)
		return crsm_reply(out, cap, 0x6d, 0x00, NULL, 0);
	if (!sim_build(m, (uint16_t)fid, &f))
		return crsm_reply(out, cap, 0x6a, 0x82, NULL, 0); /* file not found */
	if (cmd == CMD_GET_RESPONSE)
		return crsm_reply(out, cap, 0x90, 0, resp, get_response(&f, resp));
	if (cmd == CMD_READ_RECORD) {
		if (!f.linear)
			return crsm_reply(out, cap, 0x94, 0x08, NULL, 0); /* wrong file type */
		if (p1 != 1 || (p2 != 4 && p2 != 2 && p2 != 3))
			return crsm_reply(out, cap, 0x6a, 0x83, NULL, 0); /* no such record */
		return crsm_reply(out, cap, 0x90, 0, f.data, f.len);
	}
	if (f.linear)
		return crsm_reply(out, cap, 0x94, 0x08, NULL, 0);
	off = (size_t)(p1 << 8 | p2);
	if (off >= f.len)
		return crsm_reply(out, cap, 0x6b, 0x00, NULL, 0);
	len = p3 == 0 ? f.len - off : (size_t)p3;
	if (len > f.len - off)
		len = f.len - off;
	return crsm_reply(out, cap, 0x90, 0, f.data + off, len);
}
