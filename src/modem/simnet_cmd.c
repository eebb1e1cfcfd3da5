// SPDX-License-Identifier: Apache-2.0
/*
 * simnet's control commands: what a test or the demo does as "the rest of
 * the world" (docs/modem.md lists them). One line in, response lines out,
 * the last one "OK ..." or "ERR ...".
 */
#include "modem/simnet_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util.h"
#include "modem/charset.h"

struct reply {
	char *buf;
	size_t cap, len;
};

static void say(struct reply *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(struct reply *r, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (r->len + 1 >= r->cap)
		return;
	va_start(ap, fmt);
	n = vsnprintf(r->buf + r->len, r->cap - r->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	r->len = MIN(r->len + (size_t)n, r->cap - 1);
	if (r->len + 1 < r->cap)
		r->buf[r->len++] = '\n';
	r->buf[r->len] = '\0';
}

/* Splits off the next space-separated word; returns NULL at the end. */
static char *word(char **p)
{
	char *w;

	while (**p == ' ')
		(*p)++;
	if (!**p)
		return NULL;
	w = *p;
	while (**p && **p != ' ')
		(*p)++;
	if (**p)
		*(*p)++ = '\0';
	return w;
}

static bool parse_id(const char *s, uint32_t *id)
{
	char *end;
	unsigned long v;

	if (!s || !*s)
		return false;
	v = strtoul(s, &end, 10);
	if (*end || v == 0 || v > UINT32_MAX)
		return false;
	*id = (uint32_t)v;
	return true;
}

static bool cmd_call(struct simnet *sn, char *args, struct reply *r)
{
	char *from = word(&args), *to = word(&args);
	struct sn_call *c;

	if (!from || !to || !sms_addr_valid(from)) {
		say(r, "ERR usage: call FROM TO");
		return false;
	}
	if (!sn->service) {
		say(r, "ERR no service");
		return false;
	}
	if (!sn_is_line(sn, to)) {
		say(r, "ERR no such subscriber %s", to);
		return false;
	}
	c = sn_call_new(sn, false, to, from);
	if (!c) {
		say(r, "ERR too many calls");
		return false;
	}
	sn_log(sn, "MT-CALL id=%u from=%s to=%s", c->id, from, to);
	sn_incoming_event(sn, c);
	say(r, "OK call %u", c->id);
	return true;
}

/* answer / busy / noanswer / hangup ID: what the far end of a call does. */
static bool cmd_far_end(struct simnet *sn, const char *verb, char *args, struct reply *r)
{
	uint32_t id;
	struct sn_call *c;

	if (!parse_id(word(&args), &id) || !(c = sn_call_get(sn, id))) {
		say(r, "ERR no such call");
		return false;
	}
	if (c->peer) {
		say(r, "ERR call %u is between two of our lines", id);
		return false;
	}
	if (strcmp(verb, "hangup") == 0) {
		sn_log(sn, "CALL id=%u released by=%s", id, c->party);
		c->used = false;
		sn_ev_call(sn, EV_RELEASED, id, MODEM_RELEASE_NORMAL);
	} else if (!c->mo || c->state != LEG_RINGING) {
		say(r, "ERR call %u is not ringing at the far end", id);
		return false;
	} else if (strcmp(verb, "answer") == 0) {
		c->state = LEG_ACTIVE;
		sn_log(sn, "CALL id=%u answered by=%s", id, c->party);
		sn_ev_call(sn, EV_CONNECTED, id, MODEM_RELEASE_NORMAL);
	} else {
		bool busy = strcmp(verb, "busy") == 0;

		sn_log(sn, "CALL id=%u released cause=%s", id, busy ? "busy" : "no-answer");
		c->used = false;
		sn_ev_call(sn, EV_RELEASED, id,
			   busy ? MODEM_RELEASE_BUSY : MODEM_RELEASE_NO_ANSWER);
	}
	say(r, "OK");
	return true;
}

static bool cmd_sms(struct simnet *sn, char *args, struct reply *r)
{
	char *from = word(&args), *to = word(&args), esc[SMS_TEXT_MAX];
	struct sms tmpl, *segs;
	unsigned int id;
	size_t n;

	while (args && *args == ' ')
		args++;
	if (!from || !to || !args) {
		say(r, "ERR usage: sms FROM TO TEXT");
		return false;
	}
	if (!sn_is_line(sn, to)) {
		say(r, "ERR no such subscriber %s", to);
		return false;
	}
	memset(&tmpl, 0, sizeof(tmpl));
	tmpl.mti = SMS_DELIVER;
	snprintf(tmpl.addr, sizeof(tmpl.addr), "%s", from);
	sms_scts_from_time(time(NULL), tmpl.scts);
	segs = calloc(SN_PARTS, sizeof(*segs));
	if (!segs) {
		say(r, "ERR out of memory");
		return false;
	}
	n = sms_split_text(&tmpl, args, sn->next_ref++ & 0xff, segs, SN_PARTS);
	if (n == 0) {
		free(segs);
		say(r, "ERR text is not valid UTF-8 or longer than %d parts", SN_PARTS);
		return false;
	}
	id = ++sn->next_sms;
	sn_escape(args, esc, sizeof(esc));
	sn_log(sn, "SMS-MT id=%u from=%s to=%s parts=%zu text=\"%s\"", id, from, to, n, esc);
	for (size_t i = 0; i < n; i++) {
		uint8_t tpdu[SMS_TPDU_MAX];
		size_t len;

		if (!sms_encode(&segs[i], tpdu, sizeof(tpdu), &len) ||
		    sn_queue_deliver(sn, to, tpdu, len, id, (unsigned int)i + 1, (unsigned int)n) <
			    0) {
			free(segs);
			say(r, "ERR could not queue part %zu", i + 1);
			return false;
		}
	}
	free(segs);
	say(r, "OK sms %u parts %zu", id, n);
	return true;
}

/* A raw SMS-DELIVER TPDU in hex: for clients' handling of odd PDUs. */
static bool cmd_smspdu(struct simnet *sn, char *args, struct reply *r)
{
	char *to = word(&args), *hex = word(&args);
	uint8_t tpdu[SMS_TPDU_MAX];
	size_t len;
	unsigned int id;

	if (!to || !hex || !hex_decode(hex, strlen(hex), tpdu, sizeof(tpdu), &len)) {
		say(r, "ERR usage: smspdu TO HEX (at most %d octets)", SMS_TPDU_MAX);
		return false;
	}
	if (!sn_is_line(sn, to)) {
		say(r, "ERR no such subscriber %s", to);
		return false;
	}
	id = ++sn->next_sms;
	sn_log(sn, "SMS-MT id=%u to=%s pdu=%s", id, to, hex);
	if (sn_queue_deliver(sn, to, tpdu, len, id, 1, 1) < 0) {
		say(r, "ERR queue full");
		return false;
	}
	say(r, "OK sms %u parts 1", id);
	return true;
}

static bool cmd_ussd(struct simnet *sn, char *args, struct reply *r)
{
	char *to = word(&args), esc[256];
	struct sn_event *ev;

	while (args && *args == ' ')
		args++;
	if (!to || !args || !*args || !sn_is_line(sn, to)) {
		say(r, "ERR usage: ussd LINE TEXT");
		return false;
	}
	ev = sn_ev_new(sn, EV_USSD);
	if (!ev) {
		say(r, "ERR queue full");
		return false;
	}
	snprintf(ev->to, sizeof(ev->to), "%s", to);
	snprintf(ev->text, sizeof(ev->text), "%s", args);
	sn_escape(args, esc, sizeof(esc));
	sn_log(sn, "USSD to=%s status=0 text=\"%s\"", to, esc);
	sn_ev_push(sn, ev);
	say(r, "OK");
	return true;
}

static bool cmd_network(struct simnet *sn, const char *verb, char *args, struct reply *r)
{
	char *v = word(&args);

	if (strcmp(verb, "signal") == 0) {
		long s = v ? strtol(v, NULL, 10) : -1;

		if (!v || s < 0 || s > 31) {
			say(r, "ERR usage: signal 0-31");
			return false;
		}
		sn->signal = (int)s;
	} else {
		if (!v || (strcmp(v, "on") && strcmp(v, "off"))) {
			say(r, "ERR usage: service on|off");
			return false;
		}
		sn->service = strcmp(v, "on") == 0;
	}
	sn_log(sn, "NETWORK service=%s signal=%d", sn->service ? "on" : "off", sn->signal);
	sn_ev_network(sn);
	say(r, "OK");
	return true;
}

static void cmd_calls(struct simnet *sn, struct reply *r)
{
	for (int i = 0; i < SN_CALLS; i++) {
		const struct sn_call *c = &sn->calls[i];

		if (c->used)
			say(r, "call id=%u line=%s party=%s dir=%s state=%s", c->id, c->line,
			    c->party, c->mo ? "mo" : "mt", sn_leg_names[c->state]);
	}
	say(r, "OK");
}

/* Log lines from SEQ; a reply that would not fit ends early with "OK more SEQ". */
static void cmd_log(struct simnet *sn, char *args, struct reply *r)
{
	char *from = word(&args);
	size_t start = from ? strtoul(from, NULL, 10) : 0;

	if (start > 0)
		start--; /* log lines are numbered from 1 */
	for (size_t i = start; i < simnet_log_count(sn); i++) {
		const char *line = simnet_log_line(sn, i);

		if (!line)
			continue;
		if (r->len + strlen(line) + 64 > r->cap) {
			say(r, "OK more %zu", i + 1);
			return;
		}
		say(r, "%s", line);
	}
	say(r, "OK");
}

bool simnet_command(struct simnet *sn, const char *line, char *out, size_t cap)
{
	struct reply r = { out, cap, 0 };
	char buf[SN_LOG_LINE], *p = buf, *verb;

	out[0] = '\0';
	if (strlen(line) >= sizeof(buf)) {
		say(&r, "ERR line too long");
		return false;
	}
	snprintf(buf, sizeof(buf), "%s", line);
	verb = word(&p);
	if (!verb) {
		say(&r, "ERR empty command");
		return false;
	}
	if (strcmp(verb, "call") == 0)
		return cmd_call(sn, p, &r);
	if (!strcmp(verb, "answer") || !strcmp(verb, "hangup") || !strcmp(verb, "busy") ||
	    !strcmp(verb, "noanswer"))
		return cmd_far_end(sn, verb, p, &r);
	if (strcmp(verb, "sms") == 0)
		return cmd_sms(sn, p, &r);
	if (strcmp(verb, "smspdu") == 0)
		return cmd_smspdu(sn, p, &r);
	if (strcmp(verb, "ussd") == 0)
		return cmd_ussd(sn, p, &r);
	if (!strcmp(verb, "signal") || !strcmp(verb, "service"))
		return cmd_network(sn, verb, p, &r);
	if (strcmp(verb, "calls") == 0) {
		cmd_calls(sn, &r);
		return true;
	}
	if (strcmp(verb, "lines") == 0) {
		for (int i = 0; i < sn->nlines; i++)
			say(&r, "line %s", sn->lines[i]);
		say(&r, "OK");
		return true;
	}
	if (strcmp(verb, "log") == 0) {
		cmd_log(sn, p, &r);
		return true;
	}
	say(&r,
	    "ERR unknown command %s (call answer busy noanswer hangup sms smspdu ussd "
	    "signal service calls lines log wait)",
	    verb);
	return false;
}
