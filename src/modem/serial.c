// SPDX-License-Identifier: Apache-2.0
/*
 * The serial radio backend: a real modem speaking AT on a tty, for which the
 * multiplexer is the only client. It carries one line (the SIM's number).
 *
 * Commands go out one at a time from a bounded queue. Call state comes from
 * +CLCC, polled every second while calls exist and at once on RING or a
 * final code, which is robust against modems' differing URCs. Incoming SMS
 * arrive as +CMT (CNMI=2,2, acknowledged by the modem itself, CSMS 0).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "common/log.h"
#include "common/util.h"
#include "modem/charset.h"
#include "modem/pdu.h"
#include "modem/radio.h"

#define SER_QUEUE 32
#define SER_CMD_MAX 700
#define SER_RESP_MAX 4096
#define SER_CALLS 7
#define SER_TIMEOUT 10 /* seconds for one command */

enum ser_kind {
	K_PLAIN,
	K_CLCC,
	K_CMGS,
	K_CNUM,
	K_CREG,
	K_CSQ,
	K_DIAL,
};

struct ser_cmd {
	enum ser_kind kind;
	char text[SER_CMD_MAX];
	char pdu[2 * SMS_PDU_MAX + 2]; /* K_CMGS: sent after the "> " prompt */
	uint32_t call_id; /* K_DIAL */
	uint32_t ref; /* K_CMGS: the router's reference for sms_sent */
};

struct ser_call {
	bool used;
	uint32_t id;
	int idx; /* the modem's +CLCC index, 0 until known */
	bool mo;
	int stat; /* last +CLCC <stat>, -1 before the first */
	enum modem_release why;
};

struct serial {
	struct radio radio;
	struct event_base *base;
	struct bufferevent *bev;
	struct event *timer, *deliver;
	char line_number[SMS_ADDR_BUF];
	struct ser_cmd queue[SER_QUEUE];
	int qhead, qlen;
	bool busy, prompt_wait;
	time_t sent_at;
	char resp[SER_RESP_MAX];
	size_t resp_len;
	bool cmt_next; /* the next line is a +CMT or +CDS PDU */
	struct ser_call calls[SER_CALLS];
	uint32_t next_id;
	bool service;
	int signal;
	unsigned int ticks;
};

static struct serial *ser_of(struct radio *r)
{
	return r->priv;
}

static void send_next(struct serial *s);

static int enqueue_ref(struct serial *s, enum ser_kind kind, const char *text, const char *pdu,
		       uint32_t call_id, uint32_t ref)
{
	struct ser_cmd *c;

	if (s->qlen >= SER_QUEUE)
		return -EAGAIN;
	c = &s->queue[(s->qhead + s->qlen++) % SER_QUEUE];
	c->kind = kind;
	snprintf(c->text, sizeof(c->text), "%s", text);
	snprintf(c->pdu, sizeof(c->pdu), "%s", pdu ? pdu : "");
	c->call_id = call_id;
	c->ref = ref;
	send_next(s);
	return 0;
}

static int enqueue(struct serial *s, enum ser_kind kind, const char *text, const char *pdu,
		   uint32_t call_id)
{
	return enqueue_ref(s, kind, text, pdu, call_id, 0);
}

static void send_next(struct serial *s)
{
	struct ser_cmd *c;

	if (s->busy || s->qlen == 0)
		return;
	c = &s->queue[s->qhead];
	s->busy = true;
	s->prompt_wait = c->kind == K_CMGS;
	s->resp_len = 0;
	s->resp[0] = '\0';
	s->sent_at = time(NULL);
	bufferevent_write(s->bev, c->text, strlen(c->text));
	bufferevent_write(s->bev, "\r", 1);
}

static struct ser_call *call_by_id(struct serial *s, uint32_t id)
{
	for (int i = 0; i < SER_CALLS; i++) {
		if (s->calls[i].used && s->calls[i].id == id)
			return &s->calls[i];
	}
	return NULL;
}

static struct ser_call *call_add(struct serial *s, bool mo)
{
	for (int i = 0; i < SER_CALLS; i++) {
		struct ser_call *c = &s->calls[i];

		if (!c->used) {
			*c = (struct ser_call){
				.used = true, .id = ++s->next_id, .mo = mo, .stat = -1
			};
			return c;
		}
	}
	return NULL;
}

static void call_gone(struct serial *s, struct ser_call *c)
{
	uint32_t id = c->id;
	enum modem_release why = c->why;

	c->used = false;
	s->radio.ev->call_released(s->radio.ev_ctx, id, why);
}

/* One "+CLCC: idx,dir,stat,mode,mpty,"number",type" line. */
static bool parse_clcc(const char *line, int *idx, int *dir, int *stat, char *num, size_t cap)
{
	const char *q;
	size_t n;

	if (sscanf(line, "+CLCC: %d,%d,%d", idx, dir, stat) != 3)
		return false;
	num[0] = '\0';
	q = strchr(line, '"');
	if (q) {
		n = strcspn(q + 1, "\"");
		if (n < cap) {
			memcpy(num, q + 1, n);
			num[n] = '\0';
		}
	}
	return true;
}

/* Reconciles our calls with the modem's +CLCC list. */
static void clcc_done(struct serial *s, const char *resp)
{
	bool seen[SER_CALLS] = { false };
	const struct radio_events *ev = s->radio.ev;
	const char *p = resp;

	while (p && *p) {
		int idx, dir, stat;
		char num[SMS_ADDR_BUF];
		struct ser_call *c = NULL;

		if (parse_clcc(p, &idx, &dir, &stat, num, sizeof(num))) {
			for (int i = 0; i < SER_CALLS && !c; i++) {
				if (s->calls[i].used && s->calls[i].idx == idx)
					c = &s->calls[i];
			}
			/* A dialled call gets its index at the first listing. */
			for (int i = 0; i < SER_CALLS && !c && dir == 0; i++) {
				if (s->calls[i].used && s->calls[i].mo && !s->calls[i].idx)
					c = &s->calls[i];
			}
			if (!c && dir == 1 && (stat == 4 || stat == 5) &&
			    (c = call_add(s, false))) {
				c->idx = idx;
				c->stat = stat;
				seen[c - s->calls] = true;
				ev->incoming_call(s->radio.ev_ctx, c->id, s->line_number, num);
				c = NULL;
			}
			if (c) {
				c->idx = idx;
				seen[c - s->calls] = true;
				if (c->mo && stat == 3 && c->stat != 3)
					ev->call_alerting(s->radio.ev_ctx, c->id);
				if (c->mo && stat == 0 &&
				    (c->stat == 2 || c->stat == 3 || c->stat < 0))
					ev->call_connected(s->radio.ev_ctx, c->id);
				c->stat = stat;
			}
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	for (int i = 0; i < SER_CALLS; i++) {
		struct ser_call *c = &s->calls[i];

		/* Not listed any more (a just-dialled call may not be listed yet). */
		if (c->used && !seen[i] && (c->idx || c->stat >= 0))
			call_gone(s, c);
	}
}

static void ussd_urc(struct serial *s, const char *line)
{
	int status = 0;
	char text[512] = "";
	const char *q = strchr(line, '"');

	if (sscanf(line, "+CUSD: %d", &status) != 1)
		return;
	if (q) {
		size_t n = strcspn(q + 1, "\"");

		if (n < sizeof(text)) {
			memcpy(text, q + 1, n);
			text[n] = '\0';
		}
	}
	s->radio.ev->ussd_result(s->radio.ev_ctx, s->line_number, status, q ? text : NULL);
}

static void cmt_pdu(struct serial *s, const char *hex)
{
	uint8_t pdu[SMS_PDU_MAX];
	char sca[SMS_ADDR_BUF];
	size_t len, off;
	int r;

	if (!hex_decode(hex, strlen(hex), pdu, sizeof(pdu), &len) ||
	    !sms_sca_decode(pdu, len, sca, sizeof(sca), &off)) {
		log_warn("serial: malformed +CMT PDU from the modem");
		return;
	}
	r = s->radio.ev->incoming_sms(s->radio.ev_ctx, s->line_number, pdu + off, len - off, sca);
	if (r < 0)
		log_warn("serial: incoming SMS not delivered: %s", strerror(-r));
}

static bool is_final(const char *line, bool *ok)
{
	static const char *const errors[] = {
		"ERROR", "NO CARRIER", "BUSY", "NO ANSWER", "NO DIALTONE",
	};

	*ok = strcmp(line, "OK") == 0;
	if (*ok)
		return true;
	for (size_t i = 0; i < ARRAY_SIZE(errors); i++) {
		if (strcmp(line, errors[i]) == 0)
			return true;
	}
	return !strncmp(line, "+CME ERROR", 10) || !strncmp(line, "+CMS ERROR", 10);
}

static void command_done(struct serial *s, bool ok, const char *final)
{
	struct ser_cmd *c = &s->queue[s->qhead];
	struct ser_call *call;

	s->qhead = (s->qhead + 1) % SER_QUEUE;
	s->qlen--;
	s->busy = false;
	s->prompt_wait = false;
	switch (c->kind) {
	case K_CLCC:
		if (ok)
			clcc_done(s, s->resp);
		break;
	case K_DIAL:
		call = call_by_id(s, c->call_id);
		if (call && !ok) {
			call->why = !strcmp(final, "BUSY")	? MODEM_RELEASE_BUSY :
				    !strcmp(final, "NO ANSWER") ? MODEM_RELEASE_NO_ANSWER :
								  MODEM_RELEASE_NORMAL;
			call_gone(s, call);
		}
		break;
	case K_CNUM: {
		const char *q = strstr(s->resp, ",\"");

		if (ok && q && !s->line_number[0])
			sscanf(q + 2, "%21[^\"]", s->line_number);
		break;
	}
	case K_CREG: {
		int n, stat;

		if (ok && sscanf(s->resp, "+CREG: %d,%d", &n, &stat) == 2) {
			s->service = stat == 1 || stat == 5;
			s->radio.ev->network(s->radio.ev_ctx, s->service, s->signal);
		}
		break;
	}
	case K_CSQ: {
		int rssi, ber;

		if (ok && sscanf(s->resp, "+CSQ: %d,%d", &rssi, &ber) == 2 && rssi != s->signal) {
			s->signal = rssi;
			s->radio.ev->network(s->radio.ev_ctx, s->service, s->signal);
		}
		break;
	}
	case K_CMGS: {
		int cms = 0;

		if (!ok && sscanf(final, "+CMS ERROR: %d", &cms) != 1)
			cms = strcmp(final, "TIMEOUT") ? 500 : 332;
		s->radio.ev->sms_sent(s->radio.ev_ctx, c->ref, ok ? 0 : cms);
		break;
	}
	case K_PLAIN:
		if (!ok)
			log_info("serial: '%s' failed: %s", c->text, final);
		break;
	}
	send_next(s);
}

static void handle_line(struct serial *s, const char *line)
{
	bool ok;

	if (s->cmt_next) {
		s->cmt_next = false;
		cmt_pdu(s, line);
		return;
	}
	if (!strncmp(line, "+CMT:", 5) || !strncmp(line, "+CDS:", 5)) {
		/* Both carry SC address + TPDU; the router tells DELIVER from a report. */
		s->cmt_next = true;
	} else if (!strcmp(line, "RING") || !strncmp(line, "+CRING:", 7) ||
		   !strncmp(line, "+CCWA:", 6)) {
		if (!s->busy || s->queue[s->qhead].kind != K_CLCC)
			enqueue(s, K_CLCC, "AT+CLCC", NULL, 0);
	} else if (!strncmp(line, "+CUSD:", 6)) {
		ussd_urc(s, line);
	} else if (!strncmp(line, "+CREG:", 6) && !strchr(line + 6, ',')) {
		int stat;

		if (sscanf(line, "+CREG: %d", &stat) == 1) {
			s->service = stat == 1 || stat == 5;
			s->radio.ev->network(s->radio.ev_ctx, s->service, s->signal);
		}
	} else if (s->busy && is_final(line, &ok)) {
		command_done(s, ok, line);
	} else if (!s->busy && (!strcmp(line, "NO CARRIER") || !strcmp(line, "BUSY"))) {
		/* A call ended: the next +CLCC tells which. */
		enqueue(s, K_CLCC, "AT+CLCC", NULL, 0);
	} else if (s->busy && s->resp_len + strlen(line) + 2 < sizeof(s->resp)) {
		s->resp_len += (size_t)snprintf(s->resp + s->resp_len,
						sizeof(s->resp) - s->resp_len, "%s\n", line);
	}
}

static void ser_read(struct bufferevent *bev, void *arg)
{
	struct serial *s = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line;
	size_t len;

	for (;;) {
		if (s->prompt_wait && evbuffer_get_length(in) >= 2) {
			char p[2];

			evbuffer_copyout(in, p, 2);
			if (p[0] == '>' && p[1] == ' ') {
				struct ser_cmd *c = &s->queue[s->qhead];

				evbuffer_drain(in, 2);
				s->prompt_wait = false;
				bufferevent_write(bev, c->pdu, strlen(c->pdu));
				bufferevent_write(bev, "\x1a", 1);
				continue;
			}
		}
		line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF);
		if (!line)
			break;
		if (len > 0)
			handle_line(s, line);
		free(line);
	}
	if (evbuffer_get_length(in) > SER_RESP_MAX)
		evbuffer_drain(in, evbuffer_get_length(in)); /* garbage without line ends */
}

static void ser_event(struct bufferevent *bev, short what, void *arg)
{
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		log_error("serial: modem line closed or failed");
}

static void ser_tick(evutil_socket_t fd, short what, void *arg)
{
	struct serial *s = arg;
	bool calls = false;

	if (s->busy && time(NULL) - s->sent_at > SER_TIMEOUT) {
		log_warn("serial: no answer to '%s'", s->queue[s->qhead].text);
		command_done(s, false, "TIMEOUT");
	}
	for (int i = 0; i < SER_CALLS; i++)
		calls |= s->calls[i].used;
	if (calls)
		enqueue(s, K_CLCC, "AT+CLCC", NULL, 0);
	if (++s->ticks % 10 == 0) {
		enqueue(s, K_CSQ, "AT+CSQ", NULL, 0);
		enqueue(s, K_CREG, "AT+CREG?", NULL, 0);
	}
}

static int ser_attach(struct radio *r, const char *number)
{
	struct serial *s = ser_of(r);

	/* One SIM, one line: only its number can be served. */
	if (s->line_number[0] && strcmp(number, s->line_number))
		return -EINVAL;
	snprintf(s->line_number, sizeof(s->line_number), "%s", number);
	return 0;
}

static int ser_dial(struct radio *r, const char *from, const char *to, uint32_t *id)
{
	struct serial *s = ser_of(r);
	struct ser_call *c;
	char cmd[64];

	if (strcmp(from, s->line_number))
		return -EPERM; /* the SIM cannot present another number */
	if (!s->service)
		return -ENETDOWN;
	c = call_add(s, true);
	if (!c)
		return -EAGAIN;
	snprintf(cmd, sizeof(cmd), "ATD%s;", to);
	if (enqueue(s, K_DIAL, cmd, NULL, c->id) < 0) {
		c->used = false;
		return -EAGAIN;
	}
	*id = c->id;
	return 0;
}

/* Releases one call by its modem index (+CHLD=1x). */
static int release_idx(struct serial *s, int idx)
{
	char cmd[32];

	snprintf(cmd, sizeof(cmd), "AT+CHLD=1%d", idx);
	return enqueue(s, K_PLAIN, cmd, NULL, 0);
}

static int ser_answer(struct radio *r, uint32_t id)
{
	struct ser_call *c = call_by_id(ser_of(r), id);

	if (!c)
		return -ENOENT;
	return enqueue(ser_of(r), K_PLAIN, c->stat == 5 ? "AT+CHLD=2" : "ATA", NULL, 0);
}

static int ser_hangup(struct radio *r, uint32_t id)
{
	struct serial *s = ser_of(r);
	struct ser_call *c = call_by_id(s, id);
	int ret = c && c->idx ? release_idx(s, c->idx) : enqueue(s, K_PLAIN, "ATH", NULL, 0);

	if (c)
		c->used = false; /* the router already forgot it */
	return ret;
}

static int ser_reject(struct radio *r, uint32_t id, enum radio_reject why)
{
	struct serial *s = ser_of(r);
	struct ser_call *c = call_by_id(s, id);

	if (!c)
		return -ENOENT;
	c->used = false;
	/* Waiting call: UDUB; ringing: hang up (the network tells the caller "busy"). */
	return enqueue(s, K_PLAIN, c->stat == 5 ? "AT+CHLD=0" : "AT+CHUP", NULL, 0);
}

static int ser_hold(struct radio *r, uint32_t id, bool hold)
{
	return call_by_id(ser_of(r), id) ? enqueue(ser_of(r), K_PLAIN, "AT+CHLD=2", NULL, 0) :
					   -ENOENT;
}

static int ser_send_sms(struct radio *r, const char *from, const uint8_t *tpdu, size_t len,
			uint32_t ref)
{
	struct serial *s = ser_of(r);
	char cmd[32], hex[2 * SMS_PDU_MAX + 2];

	if (strcmp(from, s->line_number))
		return -EPERM;
	hex[0] = '0';
	hex[1] = '0'; /* the modem's default SMSC */
	if (!hex_encode(tpdu, len, hex + 2, sizeof(hex) - 2))
		return -EINVAL;
	snprintf(cmd, sizeof(cmd), "AT+CMGS=%zu", len);
	if (enqueue_ref(s, K_CMGS, cmd, hex, 0, ref) < 0)
		return -EAGAIN;
	return 1; /* the modem's +CMGS or +CMS ERROR decides */
}

static int ser_ussd(struct radio *r, const char *from, const char *req)
{
	struct serial *s = ser_of(r);
	char cmd[SER_CMD_MAX];

	if (strcmp(from, s->line_number))
		return -EPERM;
	for (const char *p = req; *p; p++) {
		if (*p == '"' || (unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			return -EINVAL; /* IRA only on this line */
	}
	snprintf(cmd, sizeof(cmd), "AT+CUSD=1,\"%s\",15", req);
	return enqueue(s, K_PLAIN, cmd, NULL, 0);
}

static void ser_ussd_cancel(struct radio *r, const char *from)
{
	if (enqueue(ser_of(r), K_PLAIN, "AT+CUSD=2", NULL, 0) < 0)
		log_warn("serial: command queue full, USSD cancel lost");
}

static void ser_free(struct radio *r)
{
	struct serial *s = ser_of(r);

	if (s->timer)
		event_free(s->timer);
	if (s->bev)
		bufferevent_free(s->bev);
	free(s);
}

static const struct radio_ops serial_ops = {
	.name = "serial",
	.attach = ser_attach,
	.dial = ser_dial,
	.answer = ser_answer,
	.hangup = ser_hangup,
	.reject = ser_reject,
	.hold = ser_hold,
	.send_sms = ser_send_sms,
	.ussd = ser_ussd,
	.ussd_cancel = ser_ussd_cancel,
	.free = ser_free,
};

static int open_tty(const char *path)
{
	struct termios t;
	int fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (tcgetattr(fd, &t) == 0) {
		cfmakeraw(&t);
		cfsetispeed(&t, B115200);
		cfsetospeed(&t, B115200);
		t.c_cflag |= CLOCAL | CREAD;
		if (tcsetattr(fd, TCSANOW, &t) < 0)
			log_warn("serial: cannot configure %s: %s", path, strerror(errno));
	}
	return fd;
}

int radio_serial_open(struct event_base *base, const char *arg, struct radio **out)
{
	static const char *const init[] = {
		"ATE0",	    "AT+CMEE=1", "AT+CMGF=0", "AT+CNMI=2,2,0,1,0", "AT+CLIP=1",
		"AT+CRC=1", "AT+CCWA=1", "AT+CUSD=1", "AT+CREG=1",
	};
	struct serial *s = calloc(1, sizeof(*s));
	char path[256];
	const char *comma = strchr(arg, ',');
	struct timeval second = { 1, 0 };
	int fd;

	if (!s)
		return -ENOMEM;
	snprintf(path, sizeof(path), "%.*s", comma ? (int)(comma - arg) : (int)strlen(arg), arg);
	if (comma)
		snprintf(s->line_number, sizeof(s->line_number), "%s", comma + 1);
	fd = open_tty(path);
	if (fd < 0) {
		log_error("serial: cannot open %s: %s", path, strerror(-fd));
		free(s);
		return fd;
	}
	s->radio.ops = &serial_ops;
	s->radio.priv = s;
	s->base = base;
	s->signal = 99;
	s->service = true;
	s->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	s->timer = event_new(base, -1, EV_PERSIST, ser_tick, s);
	if (!s->bev || !s->timer || event_add(s->timer, &second) < 0) {
		if (!s->bev)
			close(fd);
		ser_free(&s->radio);
		return -ENOMEM;
	}
	bufferevent_setcb(s->bev, ser_read, NULL, ser_event, s);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	for (size_t i = 0; i < ARRAY_SIZE(init); i++)
		enqueue(s, K_PLAIN, init[i], NULL, 0);
	if (!s->line_number[0])
		enqueue(s, K_CNUM, "AT+CNUM", NULL, 0);
	enqueue(s, K_CSQ, "AT+CSQ", NULL, 0);
	enqueue(s, K_CREG, "AT+CREG?", NULL, 0);
	*out = &s->radio;
	return 0;
}
