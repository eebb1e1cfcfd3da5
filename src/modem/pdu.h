/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SMS transfer-layer PDUs (3GPP TS 23.040): SMS-SUBMIT (phone to network)
 * and SMS-DELIVER (network to phone), with the data coding schemes of
 * TS 23.038 (GSM 7-bit with extension table, 8-bit data, UCS2) and
 * concatenated messages through the user data header.
 *
 * Decoders take untrusted octets (a guest's AT+CMGS, a network's +CMT) and
 * refuse anything that does not fit its declared lengths.
 */
#ifndef POCKETVM_MODEM_PDU_H
#define POCKETVM_MODEM_PDU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define SMS_TPDU_MAX 164 /* longest SMS-SUBMIT (TS 23.040 9.2.2.2) */
#define SMS_PDU_MAX (12 + SMS_TPDU_MAX) /* with the SC address AT prefixes */
#define SMS_ADDR_MAX 21 /* '+' and 20 digits */
#define SMS_ADDR_BUF 48 /* also fits an 11-character alphanumeric address */
#define SMS_UD_MAX 160 /* septets (7-bit) or 140 octets */
#define SMS_TEXT_MAX 1024 /* UTF-8 of one segment's text, with room to spare */

enum sms_mti {
	SMS_DELIVER = 0,
	SMS_SUBMIT = 1,
	SMS_STATUS_REPORT = 2,
};

enum sms_alphabet {
	SMS_ALPHA_GSM7,
	SMS_ALPHA_8BIT,
	SMS_ALPHA_UCS2,
};

/* Type-of-address octets (TS 24.008 10.5.4.7). */
#define SMS_TOA_INTERNATIONAL 0x91
#define SMS_TOA_UNKNOWN 0x81
#define SMS_TOA_ALPHANUMERIC 0xd0

struct sms {
	enum sms_mti mti;
	bool reply_path;
	bool srr; /* SUBMIT: status report requested; DELIVER: SRI */
	bool more; /* DELIVER: "more messages to send" (TP-MMS is its inverse) */
	bool reject_dup; /* SUBMIT: TP-RD */
	uint8_t mr; /* SUBMIT: message reference */
	char addr[SMS_ADDR_BUF]; /* DA (SUBMIT) or OA (DELIVER): "+1555..", "1555.." or alnum */
	uint8_t toa;
	uint8_t pid;
	uint8_t dcs;
	enum sms_alphabet alphabet; /* derived from dcs */
	int msg_class; /* 0..3, -1 for none */
	uint8_t vpf; /* SUBMIT: 0 none, 2 relative, 1/3 enhanced/absolute */
	uint8_t vp[7];
	uint8_t scts[7]; /* DELIVER: service centre time stamp, as on the air */
	uint8_t dt[7]; /* STATUS-REPORT: discharge time */
	uint8_t status; /* STATUS-REPORT: TP-ST, 0x00 = received by the recipient */
	/* Concatenation (TS 23.040 9.2.3.24.1/.8), from or for the UDH. */
	bool concat;
	uint16_t concat_ref;
	uint8_t concat_total;
	uint8_t concat_seq;
	/* Other UDH information elements, kept verbatim (without UDHL). */
	uint8_t udh_other[140];
	size_t udh_other_len;
	/* Body after the header: unpacked septets for 7-bit, else octets. */
	uint8_t ud[SMS_UD_MAX];
	size_t ud_len;
};

/* Fills dcs-derived fields (alphabet, class); false for unsupported schemes. */
bool sms_dcs_parse(uint8_t dcs, enum sms_alphabet *alphabet, int *msg_class);

/*
 * Decodes one TPDU of the given type. On failure *err names the problem
 * ("user data length exceeds PDU" ...) and *out is undefined.
 */
bool sms_decode(const uint8_t *tpdu, size_t len, enum sms_mti mti, struct sms *out,
		const char **err);

/*
 * SMS-STATUS-REPORT (TS 23.040 9.2.2.3): mr, addr (the recipient), scts,
 * dt, status, srr (TP-SRQ); optional PID/DCS/user data are read, not written.
 */
bool sms_decode_report(const uint8_t *tpdu, size_t len, struct sms *out, const char **err);
bool sms_encode_report(const struct sms *s, uint8_t *out, size_t cap, size_t *len);

/* Encodes s into out (cap octets); false if it cannot fit or is inconsistent. */
bool sms_encode(const struct sms *s, uint8_t *out, size_t cap, size_t *len);

/* The body as UTF-8 (8-bit data as hex). */
bool sms_body_utf8(const struct sms *s, char *out, size_t cap);

/*
 * Splits UTF-8 text into up to max segments based on tmpl (addresses, mti,
 * pid...): GSM 7-bit when every character has a GSM representation, else
 * UCS2; several segments carry a concatenation header with ref. Returns the
 * number of segments, 0 when the text is invalid UTF-8 or needs more than max.
 */
size_t sms_split_text(const struct sms *tmpl, const char *utf8, uint16_t ref, struct sms *segs,
		      size_t max);

/* Address field of TS 23.040 9.1.2.5: "+123" -> 0x91, digits -> 0x81. */
bool sms_addr_valid(const char *addr);

/*
 * AT PDU prefix: the SC address (TS 24.011 8.2.5.1, length in octets).
 * Decodes it from pdu (sets *used); encodes "" as a single 00 octet.
 */
bool sms_sca_decode(const uint8_t *pdu, size_t len, char *sca, size_t cap, size_t *used);
bool sms_sca_encode(const char *sca, uint8_t *out, size_t cap, size_t *len);

/* SCTS from a time (UTC, zone 0) and as text "yy/MM/dd,hh:mm:ss+zz". */
void sms_scts_from_time(time_t t, uint8_t scts[7]);
void sms_scts_text(const uint8_t scts[7], char *out, size_t cap);

#endif
