// SPDX-License-Identifier: Apache-2.0
/*
 * The simulated network: lines (our radio's numbers), call legs, SMS relay
 * with reassembly of concatenated messages, a USSD service, and a log of
 * everything it saw. Radio ops only change state and queue events; the
 * events reach the router from simnet_dispatch().
 */
#include "modem/simnet_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/util.h"
#include "modem/charset.h"
#include "modem/pdu.h"

void sn_log(struct simnet *sn, const char *fmt, ...)
{
	char line[SN_LOG_LINE];
	size_t slot = sn->nlog % SN_LOG_KEEP;
	va_list ap;
	int n;

	n = snprintf(line, sizeof(line), "%zu ", sn->nlog + 1);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	free(sn->log[slot]);
	sn->log[slot] = strdup(line);
	if (!sn->log[slot])
		return;
	sn->nlog++;
	log_debug("simnet: %s", line);
	if (sn->log_hook)
		sn->log_hook(sn->log_ctx, sn->log[slot]);
}

size_t simnet_log_count(const struct simnet *sn)
{
	return sn->nlog;
}

const char *simnet_log_line(const struct simnet *sn, size_t i)
{
	if (i >= sn->nlog || sn->nlog - i > SN_LOG_KEEP)
		return NULL;
	return sn->log[i % SN_LOG_KEEP];
}

void simnet_set_log_hook(struct simnet *sn, void (*fn)(void *ctx, const char *line), void *ctx)
{
	sn->log_hook = fn;
	sn->log_ctx = ctx;
}

/* Text for a log line: one line, double quotes and controls made harmless. */
void sn_escape(const char *in, char *out, size_t cap)
{
	size_t w = 0;

	for (const unsigned char *p = (const unsigned char *)in; *p && w + 3 < cap; p++) {
		if (*p == '\n') {
			out[w++] = '\\';
			out[w++] = 'n';
		} else if (*p == '"' || *p == '\\') {
			out[w++] = '\\';
			out[w++] = (char)*p;
		} else {
			out[w++] = *p < 0x20 || *p == 0x7f ? '?' : (char)*p;
		}
	}
	out[w] = '\0';
}

struct sn_event *sn_ev_new(struct simnet *sn, enum sn_ev_type type)
{
	struct sn_event *ev;

	if (sn->queued >= SN_QUEUE_MAX)
		return NULL;
	ev = calloc(1, sizeof(*ev));
	if (!ev)
		return NULL;
	ev->type = type;
	return ev;
}

void sn_ev_push(struct simnet *sn, struct sn_event *ev)
{
	if (sn->tail)
		sn->tail->next = ev;
	else
		sn->head = ev;
	sn->tail = ev;
	sn->queued++;
	if (sn->kick)
		sn->kick(sn->kick_ctx, 0);
}

void sn_ev_call(struct simnet *sn, enum sn_ev_type type, uint32_t id, enum modem_release why)
{
	struct sn_event *ev = sn_ev_new(sn, type);

	if (!ev) {
		log_error("simnet: event queue full, call %u event lost", id);
		return;
	}
	ev->call_id = id;
	ev->why = why;
	sn_ev_push(sn, ev);
}

void sn_ev_network(struct simnet *sn)
{
	struct sn_event *ev = sn_ev_new(sn, EV_NETWORK);

	if (!ev)
		return;
	ev->status = sn->service;
	ev->len = (size_t)sn->signal;
	sn_ev_push(sn, ev);
}

bool sn_is_line(const struct simnet *sn, const char *number)
{
	for (int i = 0; i < sn->nlines; i++) {
		if (strcmp(sn->lines[i], number) == 0)
			return true;
	}
	return false;
}

struct sn_call *sn_call_get(struct simnet *sn, uint32_t id)
{
	for (int i = 0; i < SN_CALLS; i++) {
		if (sn->calls[i].used && sn->calls[i].id == id)
			return &sn->calls[i];
	}
	return NULL;
}

struct sn_call *sn_call_new(struct simnet *sn, bool mo, const char *line, const char *party)
{
	for (int i = 0; i < SN_CALLS; i++) {
		struct sn_call *c = &sn->calls[i];

		if (c->used)
			continue;
		memset(c, 0, sizeof(*c));
		c->used = true;
		c->id = ++sn->next_call;
		c->mo = mo;
		snprintf(c->line, sizeof(c->line), "%s", line);
		snprintf(c->party, sizeof(c->party), "%s", party);
		c->state = mo ? LEG_DIALING : LEG_RINGING;
		return c;
	}
	return NULL;
}

const char *const sn_leg_names[] = { "dialing", "ringing", "active", "held" };
const char *const sn_release_names[] = { "normal", "busy", "no-answer" };

/* Ends a leg; its peer (an internal call's other end) is released with why. */
void sn_call_end(struct simnet *sn, struct sn_call *c, enum modem_release why)
{
	struct sn_call *peer = c->peer ? sn_call_get(sn, c->peer) : NULL;

	c->used = false;
	if (peer) {
		peer->used = false;
		sn_log(sn, "CALL id=%u released cause=%s", peer->id, sn_release_names[why]);
		sn_ev_call(sn, EV_RELEASED, peer->id, why);
	}
}

/* Radio ops. */

static struct simnet *sn_of(struct radio *r)
{
	return r->priv;
}

static int sn_attach(struct radio *r, const char *number)
{
	struct simnet *sn = sn_of(r);

	if (sn_is_line(sn, number))
		return -EEXIST;
	if (sn->nlines >= SN_LINES || !sms_addr_valid(number))
		return -EINVAL;
	snprintf(sn->lines[sn->nlines++], SMS_ADDR_BUF, "%s", number);
	sn_log(sn, "ATTACH line=%s", number);
	return 0;
}

void sn_incoming_event(struct simnet *sn, const struct sn_call *c)
{
	struct sn_event *ev = sn_ev_new(sn, EV_INCOMING_CALL);

	if (!ev)
		return;
	ev->call_id = c->id;
	snprintf(ev->to, sizeof(ev->to), "%s", c->line);
	snprintf(ev->from, sizeof(ev->from), "%s", c->party);
	sn_ev_push(sn, ev);
}

static int sn_dial(struct radio *r, const char *from, const char *to, uint32_t *call_id)
{
	struct simnet *sn = sn_of(r);
	struct sn_call *mo, *mt;

	if (!sn->service)
		return -ENETDOWN;
	if (!sn_is_line(sn, from) || !sms_addr_valid(to))
		return -EINVAL;
	mo = sn_call_new(sn, true, from, to);
	if (!mo)
		return -EAGAIN;
	sn_log(sn, "MO-CALL id=%u from=%s to=%s", mo->id, from, to);
	*call_id = mo->id;
	if (sn_is_line(sn, to)) {
		/* Both ends on our radio: a second leg rings the other line. */
		mt = sn_call_new(sn, false, to, from);
		if (!mt) {
			mo->used = false;
			return -EAGAIN;
		}
		mo->peer = mt->id;
		mt->peer = mo->id;
		sn_log(sn, "MT-CALL id=%u from=%s to=%s", mt->id, from, to);
		sn_incoming_event(sn, mt);
	}
	mo->state = LEG_RINGING;
	sn_ev_call(sn, EV_ALERTING, mo->id, MODEM_RELEASE_NORMAL);
	return 0;
}

static int sn_answer(struct radio *r, uint32_t id)
{
	struct simnet *sn = sn_of(r);
	struct sn_call *c = sn_call_get(sn, id), *peer;

	if (!c || c->mo || c->state != LEG_RINGING)
		return -ENOENT;
	c->state = LEG_ACTIVE;
	sn_log(sn, "CALL id=%u answered by=%s", id, c->line);
	peer = c->peer ? sn_call_get(sn, c->peer) : NULL;
	if (peer) {
		peer->state = LEG_ACTIVE;
		sn_ev_call(sn, EV_CONNECTED, peer->id, MODEM_RELEASE_NORMAL);
	}
	return 0;
}

static int sn_hangup(struct radio *r, uint32_t id)
{
	struct simnet *sn = sn_of(r);
	struct sn_call *c = sn_call_get(sn, id);

	if (!c)
		return -ENOENT;
	sn_log(sn, "CALL id=%u released by=%s", id, c->line);
	sn_call_end(sn, c, MODEM_RELEASE_NORMAL);
	return 0;
}

static int sn_reject(struct radio *r, uint32_t id, enum radio_reject why)
{
	struct simnet *sn = sn_of(r);
	struct sn_call *c = sn_call_get(sn, id);

	if (!c || c->mo || c->state != LEG_RINGING)
		return -ENOENT;
	sn_log(sn, "CALL id=%u rejected cause=%s", id,
	       why == RADIO_REJECT_BUSY ? "busy" : "unreachable");
	sn_call_end(sn, c, why == RADIO_REJECT_BUSY ? MODEM_RELEASE_BUSY : MODEM_RELEASE_NORMAL);
	return 0;
}

static int sn_hold(struct radio *r, uint32_t id, bool hold)
{
	struct simnet *sn = sn_of(r);
	struct sn_call *c = sn_call_get(sn, id);

	if (!c || (c->state != LEG_ACTIVE && c->state != LEG_HELD))
		return -ENOENT;
	c->state = hold ? LEG_HELD : LEG_ACTIVE;
	sn_log(sn, "CALL id=%u %s by=%s", id, hold ? "held" : "retrieved", c->line);
	return 0;
}

/* Queues one SMS-DELIVER for line `to`; the delivery outcome is logged later. */
int sn_queue_deliver(struct simnet *sn, const char *to, const uint8_t *tpdu, size_t len,
		     unsigned int id, unsigned int part, unsigned int parts)
{
	struct sn_event *ev = sn_ev_new(sn, EV_SMS);

	if (!ev)
		return -EAGAIN;
	snprintf(ev->to, sizeof(ev->to), "%s", to);
	memcpy(ev->tpdu, tpdu, len);
	ev->len = len;
	ev->sms_id = id;
	ev->part = part;
	ev->parts = parts;
	sn_ev_push(sn, ev);
	return 0;
}

/* An SMS-STATUS-REPORT for line `to` about its message mr to recipient. */
void sn_queue_report(struct simnet *sn, const char *to, uint8_t mr, const char *recipient,
		     uint8_t status)
{
	struct sms r = { .mti = SMS_STATUS_REPORT, .mr = mr, .status = status };
	struct sn_event *ev;

	snprintf(r.addr, sizeof(r.addr), "%s", recipient);
	sms_scts_from_time(time(NULL), r.scts);
	memcpy(r.dt, r.scts, sizeof(r.dt));
	ev = sn_ev_new(sn, EV_SMS);
	if (!ev)
		return;
	if (!sms_encode_report(&r, ev->tpdu, sizeof(ev->tpdu), &ev->len)) {
		free(ev);
		return;
	}
	snprintf(ev->to, sizeof(ev->to), "%s", to);
	ev->part = ev->parts = 1;
	sn_ev_push(sn, ev);
}

/* Collects the parts of a concatenated SUBMIT; logs the whole text once complete. */
static void reassemble(struct simnet *sn, const char *from, const struct sms *s, const char *text)
{
	struct sn_partial *p = NULL;
	char esc[SN_LOG_LINE / 2], all[SN_PARTS * SMS_TEXT_MAX];

	if (!s->concat) {
		sn_escape(text, esc, sizeof(esc));
		sn_log(sn, "SMS from=%s to=%s parts=1 text=\"%s\"", from, s->addr, esc);
		return;
	}
	if (s->concat_total > SN_PARTS) {
		sn_log(sn, "SMS from=%s to=%s parts=%u not reassembled (too many parts)", from,
		       s->addr, s->concat_total);
		return;
	}
	for (int i = 0; i < SN_PARTIALS && !p; i++) {
		struct sn_partial *q = &sn->partial[i];

		if (q->used && q->ref == s->concat_ref && q->total == s->concat_total &&
		    !strcmp(q->from, from) && !strcmp(q->to, s->addr))
			p = q;
	}
	for (int i = 0; i < SN_PARTIALS && !p; i++) {
		if (!sn->partial[i].used) {
			p = &sn->partial[i];
			memset(p, 0, sizeof(*p));
			p->used = true;
			p->ref = s->concat_ref;
			p->total = s->concat_total;
			snprintf(p->from, sizeof(p->from), "%s", from);
			snprintf(p->to, sizeof(p->to), "%s", s->addr);
		}
	}
	if (!p) {
		sn_log(sn, "SMS from=%s to=%s not reassembled (too many open messages)", from,
		       s->addr);
		return;
	}
	if (!p->got[s->concat_seq - 1]) {
		p->got[s->concat_seq - 1] = true;
		p->have++;
		snprintf(p->text[s->concat_seq - 1], SMS_TEXT_MAX, "%s", text);
	}
	if (p->have < p->total)
		return;
	all[0] = '\0';
	for (int i = 0; i < p->total; i++)
		strcat(all, p->text[i]);
	sn_escape(all, esc, sizeof(esc));
	sn_log(sn, "SMS from=%s to=%s parts=%u text=\"%s\"", from, s->addr, p->total, esc);
	p->used = false;
}

static int sn_send_sms(struct radio *r, const char *from, const uint8_t *tpdu, size_t len,
		       uint32_t ref)
{
	struct simnet *sn = sn_of(r);
	char text[SMS_TEXT_MAX], esc[SMS_TEXT_MAX * 2], to[SMS_ADDR_BUF];
	uint8_t out[SMS_TPDU_MAX], mr;
	bool srr;
	int ret;
	const char *err;
	struct sms s;
	size_t olen;

	if (!sn->service)
		return -ENETDOWN;
	if (!sms_decode(tpdu, len, SMS_SUBMIT, &s, &err)) {
		sn_log(sn, "SMS-INVALID from=%s error=\"%s\"", from, err);
		return -EINVAL;
	}
	if (!sms_body_utf8(&s, text, sizeof(text)))
		snprintf(text, sizeof(text), "?");
	sn_escape(text, esc, sizeof(esc));
	sn_log(sn, "SMS-SUBMIT from=%s to=%s mr=%u part=%u/%u text=\"%s\"", from, s.addr, s.mr,
	       s.concat ? s.concat_seq : 1, s.concat ? s.concat_total : 1, esc);
	reassemble(sn, from, &s, text);
	if (!sn_is_line(sn, s.addr)) {
		/* An outside recipient: the network has it delivered at once. */
		if (s.srr)
			sn_queue_report(sn, from, s.mr, s.addr, 0x00);
		return 0;
	}
	/* To one of our own lines: relay as SMS-DELIVER from the sender's number. */
	snprintf(to, sizeof(to), "%s", s.addr);
	srr = s.srr;
	mr = s.mr;
	s.mti = SMS_DELIVER;
	snprintf(s.addr, sizeof(s.addr), "%s", from);
	s.more = false;
	s.srr = false;
	s.reply_path = false;
	sms_scts_from_time(time(NULL), s.scts);
	if (!sms_encode(&s, out, sizeof(out), &olen))
		return -EINVAL;
	ret = sn_queue_deliver(sn, to, out, olen, ++sn->next_sms, s.concat ? s.concat_seq : 1,
			       s.concat ? s.concat_total : 1);
	if (ret == 0 && srr) {
		/* The report waits for the delivery to the other line. */
		sn->tail->report = true;
		snprintf(sn->tail->report_to, sizeof(sn->tail->report_to), "%s", from);
		sn->tail->report_mr = mr;
	}
	return ret;
}

/* The network's USSD service: balance, own number, a small menu. */
static int sn_ussd(struct radio *r, const char *from, const char *req)
{
	struct simnet *sn = sn_of(r);
	struct sn_event *ev;
	char esc[256];

	if (!sn->service)
		return -ENETDOWN;
	ev = sn_ev_new(sn, EV_USSD);
	if (!ev)
		return -EAGAIN;
	sn_escape(req, esc, sizeof(esc));
	sn_log(sn, "USSD from=%s request=\"%s\"", from, esc);
	snprintf(ev->to, sizeof(ev->to), "%s", from);
	if (strcmp(req, "*100#") == 0) {
		snprintf(ev->text, sizeof(ev->text), "Balance: 42.00 EUR, valid until 2030-01-01");
	} else if (strcmp(req, "*#100#") == 0) {
		snprintf(ev->text, sizeof(ev->text), "Your number is %s", from);
	} else if (strcmp(req, "*101#") == 0) {
		ev->status = 1;
		snprintf(ev->text, sizeof(ev->text), "1. Balance\n2. Number");
	} else {
		snprintf(ev->text, sizeof(ev->text), "Unknown service code");
	}
	sn_escape(ev->text, esc, sizeof(esc));
	sn_log(sn, "USSD to=%s status=%d text=\"%s\"", from, ev->status, esc);
	sn_ev_push(sn, ev);
	return 0;
}

static void sn_ussd_cancel(struct radio *r, const char *from)
{
	sn_log(sn_of(r), "USSD from=%s cancelled", from);
}

static void sn_radio_free(struct radio *r)
{
	simnet_free(sn_of(r));
}

static const struct radio_ops simnet_ops = {
	.name = "simnet",
	.attach = sn_attach,
	.dial = sn_dial,
	.answer = sn_answer,
	.hangup = sn_hangup,
	.reject = sn_reject,
	.hold = sn_hold,
	.send_sms = sn_send_sms,
	.ussd = sn_ussd,
	.ussd_cancel = sn_ussd_cancel,
	.free = sn_radio_free,
};

void simnet_set_sms_gap(struct simnet *sn, unsigned int gap_ms)
{
	sn->sms_gap_ms = gap_ms;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct simnet *simnet_new(void (*kick)(void *ctx, unsigned int delay_ms), void *kick_ctx)
{
	struct simnet *sn = calloc(1, sizeof(*sn));

	if (!sn)
		return NULL;
	sn->radio.ops = &simnet_ops;
	sn->radio.priv = sn;
	sn->kick = kick;
	sn->kick_ctx = kick_ctx;
	sn->service = true;
	sn->signal = 24;
	sn->next_ref = 1;
	sn_ev_network(sn);
	return sn;
}

void simnet_free(struct simnet *sn)
{
	if (!sn)
		return;
	if (sn->free_hook)
		sn->free_hook(sn->free_ctx);
	while (sn->head) {
		struct sn_event *ev = sn->head;

		sn->head = ev->next;
		free(ev);
	}
	for (size_t i = 0; i < SN_LOG_KEEP; i++)
		free(sn->log[i]);
	free(sn);
}

void simnet_set_free_hook(struct simnet *sn, void (*fn)(void *ctx), void *ctx)
{
	sn->free_hook = fn;
	sn->free_ctx = ctx;
}

struct radio *simnet_radio(struct simnet *sn)
{
	return &sn->radio;
}

static const char *sms_error(int r)
{
	switch (r) {
	case -ENOENT:
		return "unknown subscriber";
	case -EPERM:
		return "barred";
	case -ENOSPC:
		return "memory capacity exceeded";
	case -EINVAL:
		return "invalid PDU";
	case -ENETDOWN:
		return "subscriber absent";
	default:
		return "failed";
	}
}

static void dispatch_one(struct simnet *sn, struct sn_event *ev)
{
	const struct radio_events *cb = sn->radio.ev;
	void *ctx = sn->radio.ev_ctx;
	int r;

	switch (ev->type) {
	case EV_INCOMING_CALL:
		cb->incoming_call(ctx, ev->call_id, ev->to, ev->from);
		break;
	case EV_ALERTING:
		if (sn_call_get(sn, ev->call_id))
			cb->call_alerting(ctx, ev->call_id);
		break;
	case EV_CONNECTED:
		if (sn_call_get(sn, ev->call_id))
			cb->call_connected(ctx, ev->call_id);
		break;
	case EV_RELEASED:
		cb->call_released(ctx, ev->call_id, ev->why);
		break;
	case EV_SMS:
		r = cb->incoming_sms(ctx, ev->to, ev->tpdu, ev->len, SN_SMSC);
		if (ev->sms_id == 0) {
			sn_log(sn, "SMS-STATUS-REPORT to=%s %s", ev->to,
			       r == 0 ? "delivered" : sms_error(r));
			break;
		}
		if (ev->report)
			sn_queue_report(sn, ev->report_to, ev->report_mr, ev->to,
					r == 0 ? 0x00 : 0x41);
		if (r == 0)
			sn_log(sn, "SMS-DELIVER id=%u part=%u/%u to=%s delivered", ev->sms_id,
			       ev->part, ev->parts, ev->to);
		else
			sn_log(sn, "SMS-DELIVER id=%u part=%u/%u to=%s failed cause=\"%s\"",
			       ev->sms_id, ev->part, ev->parts, ev->to, sms_error(r));
		break;
	case EV_USSD:
		cb->ussd_result(ctx, ev->to, ev->status, ev->text);
		break;
	case EV_NETWORK:
		cb->network(ctx, ev->status, (int)ev->len);
		break;
	}
}

void simnet_dispatch(struct simnet *sn)
{
	/* Events queued while dispatching wait for the next round: bounded work. */
	size_t n = sn->queued;
	struct sn_event **link = &sn->head, *prev = NULL;
	unsigned int wait_ms = 0;

	while (n-- && *link) {
		struct sn_event *ev = *link;

		if (ev->type == EV_SMS && sn->sms_gap_ms) {
			uint64_t now = now_ms();

			if (now - sn->last_sms_ms < sn->sms_gap_ms) {
				/* Too soon after the last SMS: it keeps its place in the queue. */
				wait_ms = sn->sms_gap_ms - (unsigned int)(now - sn->last_sms_ms);
				prev = ev;
				link = &ev->next;
				continue;
			}
			sn->last_sms_ms = now;
		}
		*link = ev->next;
		if (sn->tail == ev)
			sn->tail = prev;
		sn->queued--;
		if (sn->radio.ev)
			dispatch_one(sn, ev);
		free(ev);
	}
	if (sn->head && sn->kick)
		sn->kick(sn->kick_ctx, wait_ms);
}
