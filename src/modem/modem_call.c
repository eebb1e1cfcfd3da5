// SPDX-License-Identifier: Apache-2.0
/*
 * Voice calls (TS 27.007 6-7): ATD...;, ATA, ATH, +CHUP, +CHLD, +CLCC, +CLIP,
 * +CRC, +CCWA, +VTS, and the RING / +CRING / +CLIP / +CCWA indications.
 * A call's index (+CLCC <idx>) is its slot and stays fixed for its lifetime.
 */
#include "modem/modem_priv.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"

static int number_type(const char *number)
{
	return number[0] == '+' ? SMS_TOA_INTERNATIONAL : SMS_TOA_UNKNOWN;
}

static struct modem_call *call_by_id(struct modem *m, uint32_t id)
{
	for (int i = 0; i < MODEM_MAX_CALLS; i++) {
		if (m->calls[i].used && m->calls[i].id == id)
			return &m->calls[i];
	}
	return NULL;
}

static struct modem_call *call_in_state(struct modem *m, enum call_state st)
{
	for (int i = 0; i < MODEM_MAX_CALLS; i++) {
		if (m->calls[i].used && m->calls[i].state == st)
			return &m->calls[i];
	}
	return NULL;
}

int modem_call_count(const struct modem *m)
{
	int n = 0;

	for (int i = 0; i < MODEM_MAX_CALLS; i++)
		n += m->calls[i].used;
	return n;
}

static struct modem_call *call_add(struct modem *m, uint32_t id, bool mt, enum call_state st,
				   const char *number)
{
	for (int i = 0; i < MODEM_MAX_CALLS; i++) {
		struct modem_call *call = &m->calls[i];

		if (call->used)
			continue;
		memset(call, 0, sizeof(*call));
		call->used = true;
		call->id = id;
		call->mt = mt;
		call->state = st;
		snprintf(call->number, sizeof(call->number), "%s", number);
		return call;
	}
	return NULL;
}

/* Keeps +CIEV "call" and "callsetup" in line with the call list. */
static void update_call_ind(struct modem *m)
{
	int active = 0, setup = 0;

	for (int i = 0; i < MODEM_MAX_CALLS; i++) {
		const struct modem_call *c = &m->calls[i];

		if (!c->used)
			continue;
		if (c->state == CALL_ACTIVE || c->state == CALL_HELD)
			active = 1;
		else if (c->state == CALL_INCOMING || c->state == CALL_WAITING)
			setup = 1;
		else if (c->state == CALL_DIALING && !setup)
			setup = 2;
		else if (c->state == CALL_ALERTING && !setup)
			setup = 3;
	}
	modem_set_ind(m, 4, active);
	modem_set_ind(m, 7, setup);
}

static void call_remove(struct modem *m, struct modem_call *call)
{
	memset(call, 0, sizeof(*call));
	if (!call_in_state(m, CALL_INCOMING))
		m->rings = 0;
	update_call_ind(m);
}

static void ring(struct modem *m, const struct modem_call *call)
{
	modem_urc(m, m->crc ? "+CRING: VOICE" : "RING");
	if (m->clip)
		modem_urc(m, "+CLIP: \"%s\",%d,,,,0", call->number, number_type(call->number));
	m->rings++;
	m->ring_next = m->now + RING_INTERVAL;
}

void modem_calls_reset(struct modem *m)
{
	for (int i = 0; i < MODEM_MAX_CALLS; i++) {
		if (m->calls[i].used) {
			if (m->ops->hangup(m->ctx, m->calls[i].id) < 0)
				log_debug("modem %s: hangup of call %u refused", m->cfg.name,
					  m->calls[i].id);
			call_remove(m, &m->calls[i]);
		}
	}
}

int modem_incoming_call(struct modem *m, uint32_t call_id, const char *from)
{
	struct modem_call *call;
	bool others = false;

	if (m->cfun != 1 || modem_reg_status(m) != 1)
		return -ENETDOWN;
	for (int i = 0; i < MODEM_MAX_CALLS; i++) {
		const struct modem_call *c = &m->calls[i];

		if (!c->used)
			continue;
		/* One call being set up at a time; waiting only beside settled calls. */
		if (c->state != CALL_ACTIVE && c->state != CALL_HELD)
			return -EBUSY;
		others = true;
	}
	if (others) {
		if (!m->ccwa_service || modem_call_count(m) >= 2)
			return -EBUSY;
		call = call_add(m, call_id, true, CALL_WAITING, from);
		if (!call)
			return -EBUSY;
		if (m->ccwa_n)
			modem_urc(m, "+CCWA: \"%s\",%d,1", from, number_type(from));
		update_call_ind(m);
		return 0;
	}
	call = call_add(m, call_id, true, CALL_INCOMING, from);
	if (!call)
		return -EBUSY;
	m->rings = 0;
	update_call_ind(m);
	ring(m, call);
	return 0;
}

void modem_call_alerting(struct modem *m, uint32_t call_id)
{
	struct modem_call *call = call_by_id(m, call_id);

	if (call && call->state == CALL_DIALING) {
		call->state = CALL_ALERTING;
		update_call_ind(m);
	}
}

void modem_call_connected(struct modem *m, uint32_t call_id)
{
	struct modem_call *call = call_by_id(m, call_id);

	if (call && (call->state == CALL_DIALING || call->state == CALL_ALERTING)) {
		call->state = CALL_ACTIVE;
		update_call_ind(m);
	}
}

void modem_call_released(struct modem *m, uint32_t call_id, enum modem_release why)
{
	static const char *const text[] = {
		[MODEM_RELEASE_NORMAL] = "NO CARRIER",
		[MODEM_RELEASE_BUSY] = "BUSY",
		[MODEM_RELEASE_NO_ANSWER] = "NO ANSWER",
	};
	struct modem_call *call = call_by_id(m, call_id);

	if (!call)
		return;
	call_remove(m, call);
	modem_urc(m, "%s", text[why]);
}

void modem_call_tick(struct modem *m)
{
	struct modem_call *call = call_in_state(m, CALL_INCOMING);

	if (!call || m->now < m->ring_next)
		return;
	/* S0: answer automatically after that many rings. */
	if (m->sreg[0] && m->rings >= m->sreg[0]) {
		if (m->ops->answer(m->ctx, call->id) == 0) {
			call->state = CALL_ACTIVE;
			m->rings = 0;
			update_call_ind(m);
		}
		return;
	}
	ring(m, call);
}

/* Dial string to number: digits, '+' first, '*', '#'; V.250 modifiers dropped. */
static int parse_dial(const char *s, char *number, size_t cap, bool *voice)
{
	size_t n = 0, len = strlen(s);

	*voice = len > 0 && s[len - 1] == ';';
	if (*voice)
		len--;
	if (len > 0 && s[0] == '>')
		return CME(CME_NOT_SUPPORTED); /* phonebook dialling */
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (strchr("TPW,!@IG", (char)toupper((unsigned char)c)))
			continue;
		if (!(isdigit((unsigned char)c) || c == '*' || c == '#' || (c == '+' && n == 0)))
			return CME(CME_DIAL_INVALID);
		if (n + 1 >= cap || n >= SMS_ADDR_MAX)
			return CME(CME_DIAL_TOO_LONG);
		number[n++] = c;
	}
	number[n] = '\0';
	if (n == 0 || strcmp(number, "+") == 0)
		return CME(CME_DIAL_INVALID);
	return RES_OK;
}

static int cmd_d(struct modem *m, const struct at_cmd *c)
{
	char number[SMS_ADDR_BUF];
	struct modem_call *active;
	uint32_t id;
	bool voice;
	int res, r;

	res = parse_dial(c->params[0].str, number, sizeof(number), &voice);
	if (res != RES_OK)
		return res;
	if (!voice)
		return RES_NO_CARRIER; /* data calls are not offered */
	if (m->barred)
		return CME(CME_NOT_ALLOWED);
	if (modem_reg_status(m) != 1)
		return CME(CME_NO_SERVICE);
	active = call_in_state(m, CALL_ACTIVE);
	for (int i = 0; i < MODEM_MAX_CALLS; i++) {
		if (m->calls[i].used && m->calls[i].state != CALL_ACTIVE)
			return CME(CME_NOT_ALLOWED);
	}
	if (active && m->ops->hold(m->ctx, active->id, true) < 0)
		return CME(CME_NOT_ALLOWED);
	r = m->ops->dial(m->ctx, number, &id);
	if (r < 0) {
		if (active && m->ops->hold(m->ctx, active->id, false) < 0)
			log_warn("modem %s: could not retrieve call %u", m->cfg.name, active->id);
		if (r == -EPERM)
			return CME(CME_NOT_ALLOWED);
		return r == -EBUSY ? RES_NO_CARRIER : CME(CME_NO_SERVICE);
	}
	if (active)
		active->state = CALL_HELD;
	if (!call_add(m, id, false, CALL_DIALING, number)) {
		if (m->ops->hangup(m->ctx, id) < 0)
			log_warn("modem %s: could not release call %u", m->cfg.name, id);
		return CME(CME_NOT_ALLOWED);
	}
	update_call_ind(m);
	return RES_OK;
}

static int cmd_a(struct modem *m, const struct at_cmd *c)
{
	struct modem_call *call = call_in_state(m, CALL_INCOMING);

	if (c->type != AT_EXEC)
		return RES_ERROR;
	if (!call || m->ops->answer(m->ctx, call->id) < 0)
		return RES_NO_CARRIER;
	call->state = CALL_ACTIVE;
	m->rings = 0;
	update_call_ind(m);
	return RES_OK;
}

static int cmd_h(struct modem *m, const struct at_cmd *c)
{
	if (c->type == AT_SET && c->params[0].num != 0)
		return RES_ERROR;
	if (c->type != AT_SET && c->type != AT_EXEC)
		return RES_ERROR;
	modem_calls_reset(m);
	return RES_OK;
}

static int cmd_chup(struct modem *m, const struct at_cmd *c)
{
	if (c->type == AT_TEST)
		return RES_OK;
	if (c->type != AT_EXEC)
		return RES_ERROR;
	modem_calls_reset(m);
	return RES_OK;
}

static void release(struct modem *m, struct modem_call *call)
{
	if (m->ops->hangup(m->ctx, call->id) < 0)
		log_debug("modem %s: hangup of call %u refused", m->cfg.name, call->id);
	call_remove(m, call);
}

/* Makes call active (answering a waiting call or retrieving a held one). */
static int activate(struct modem *m, struct modem_call *call)
{
	int r = call->state == CALL_WAITING ? m->ops->answer(m->ctx, call->id) :
					      m->ops->hold(m->ctx, call->id, false);

	if (r < 0)
		return CME(CME_NOT_ALLOWED);
	call->state = CALL_ACTIVE;
	return RES_OK;
}

static int chld(struct modem *m, long op)
{
	struct modem_call *waiting = call_in_state(m, CALL_WAITING);
	struct modem_call *held = call_in_state(m, CALL_HELD);
	struct modem_call *active = call_in_state(m, CALL_ACTIVE);
	struct modem_call *other = waiting ? waiting : held;

	switch (op) {
	case 0: /* release held calls, or reject the waiting one (UDUB) */
		if (waiting)
			release(m, waiting);
		else if (held)
			release(m, held);
		else
			return CME(CME_NOT_ALLOWED);
		return RES_OK;
	case 1: /* release active calls, accept the other */
		if (active)
			release(m, active);
		return other ? activate(m, other) : (active ? RES_OK : CME(CME_NOT_ALLOWED));
	case 2: /* hold active, accept the other */
		if (!active && !other)
			return CME(CME_NOT_ALLOWED);
		if (active && active != other) {
			if (m->ops->hold(m->ctx, active->id, true) < 0)
				return CME(CME_NOT_ALLOWED);
			active->state = CALL_HELD;
		}
		if (other && other != active)
			return activate(m, other);
		return RES_OK;
	case 3:
	case 4:
		return CME(CME_NOT_SUPPORTED); /* no conference or transfer on one radio */
	}
	if (op >= 11 && op <= 17) {
		struct modem_call *call = &m->calls[op - 11];

		if (!call->used)
			return CME(CME_INVALID_INDEX);
		release(m, call);
		return RES_OK;
	}
	return CME(op >= 21 && op <= 27 ? CME_NOT_SUPPORTED : CME_INVALID_PARAM);
}

static int cmd_chld(struct modem *m, const struct at_cmd *c)
{
	long op;
	int res;

	if (c->type == AT_TEST) {
		modem_info(m, "+CHLD: (0,1,1x,2)");
		return RES_OK;
	}
	if (c->type != AT_SET || !at_param_num(c, 0, &op))
		return CME(CME_INVALID_PARAM);
	res = chld(m, op);
	update_call_ind(m);
	return res;
}

static int cmd_clcc(struct modem *m, const struct at_cmd *c)
{
	if (c->type == AT_TEST)
		return RES_OK;
	if (c->type != AT_EXEC)
		return RES_ERROR;
	for (int i = 0; i < MODEM_MAX_CALLS; i++) {
		const struct modem_call *call = &m->calls[i];

		if (!call->used)
			continue;
		modem_info(m, "+CLCC: %d,%d,%d,0,0,\"%s\",%d", i + 1, call->mt, call->state,
			   call->number, number_type(call->number));
	}
	return RES_OK;
}

/* +CLIP, +CRC: one 0/1 setting; read_extra is what +X? adds after <n>. */
static int switch_cmd(struct modem *m, const struct at_cmd *c, int *val, const char *name,
		      const char *read_extra)
{
	long v = 0;

	switch (c->type) {
	case AT_TEST:
		modem_info(m, "%s: (0,1)", name);
		return RES_OK;
	case AT_READ:
		modem_info(m, "%s: %d%s", name, *val, read_extra);
		return RES_OK;
	case AT_SET:
		if (!at_param_omitted(c, 0) && (!at_param_num(c, 0, &v) || v > 1))
			return CME(CME_INVALID_PARAM);
		*val = (int)v;
		return RES_OK;
	case AT_EXEC:
		*val = 0;
		return RES_OK;
	}
	return RES_ERROR;
}

static int cmd_clip(struct modem *m, const struct at_cmd *c)
{
	return switch_cmd(m, c, &m->clip, "+CLIP", ",1");
}

static int cmd_crc(struct modem *m, const struct at_cmd *c)
{
	return switch_cmd(m, c, &m->crc, "+CRC", "");
}

static int cmd_ccwa(struct modem *m, const struct at_cmd *c)
{
	long n = m->ccwa_n, mode = -1, cls = 7;

	switch (c->type) {
	case AT_TEST:
		modem_info(m, "+CCWA: (0,1)");
		return RES_OK;
	case AT_READ:
		modem_info(m, "+CCWA: %d", m->ccwa_n);
		return RES_OK;
	case AT_SET:
		if ((!at_param_omitted(c, 0) && (!at_param_num(c, 0, &n) || n > 1)) ||
		    (!at_param_omitted(c, 1) && (!at_param_num(c, 1, &mode) || mode > 2)) ||
		    (!at_param_omitted(c, 2) && (!at_param_num(c, 2, &cls) || cls > 255)))
			return CME(CME_INVALID_PARAM);
		m->ccwa_n = (int)n;
		if (mode == 0 || mode == 1)
			m->ccwa_service = mode == 1;
		else if (mode == 2)
			modem_info(m, "+CCWA: %d,1", m->ccwa_service ? 1 : 0);
		return RES_OK;
	case AT_EXEC:
		m->ccwa_n = 0;
		return RES_OK;
	}
	return RES_ERROR;
}

static int cmd_vts(struct modem *m, const struct at_cmd *c)
{
	const char *tone;

	if (c->type == AT_TEST) {
		modem_info(m, "+VTS: (0-9,#,*,A-D),(0-255)");
		return RES_OK;
	}
	if (c->type != AT_SET || c->nparams < 1 || c->params[0].kind == AT_PARAM_EMPTY)
		return CME(CME_INVALID_PARAM);
	tone = c->params[0].str;
	if (strlen(tone) != 1 || !strchr("0123456789#*ABCD", tone[0]))
		return CME(CME_INVALID_PARAM);
	if (!call_in_state(m, CALL_ACTIVE))
		return CME(CME_NOT_ALLOWED);
	return RES_OK;
}

const struct at_handler modem_call_handlers[] = {
	{ "D", cmd_d },	       { "A", cmd_a },	      { "H", cmd_h },	     { "+CHUP", cmd_chup },
	{ "+CHLD", cmd_chld }, { "+CLCC", cmd_clcc }, { "+CLIP", cmd_clip }, { "+CRC", cmd_crc },
	{ "+CCWA", cmd_ccwa }, { "+VTS", cmd_vts },   { NULL, NULL },
};
