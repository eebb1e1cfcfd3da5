// SPDX-License-Identifier: Apache-2.0
/*
 * simnet's control socket: a unix stream socket speaking simnet_command()
 * lines, plus "wait" and "waitfrom", which block that one client (never the
 * daemon) until a log line with all the given words appears or time runs out.
 * This is how tests poll instead of sleeping.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "common/log.h"
#include "modem/listen.h"
#include "modem/simnet.h"

#define CTL_LINE_MAX 4096
#define CTL_REPLY_MAX (1 << 20)
#define CTL_OUT_MAX (4 << 20)
#define CTL_CLIENTS 32
#define SMS_GAP_MS 300 /* between SMS deliveries, see simnet_set_sms_gap() */

struct ctl;

struct ctl_client {
	struct ctl *ctl;
	struct bufferevent *bev;
	struct event *timer;
	struct event *resume; /* runs the lines that arrived during a wait */
	bool waiting;
	size_t wait_from;
	char pattern[CTL_LINE_MAX];
};

struct ctl {
	struct simnet *sn;
	struct event_base *base;
	struct event *dispatch;
	struct evconnlistener *listener;
	char path[108];
	struct listen_id id;
	struct ctl_client *clients[CTL_CLIENTS];
	char *reply;
};

static void client_free(struct ctl_client *c)
{
	struct ctl *ctl = c->ctl;

	for (int i = 0; i < CTL_CLIENTS; i++) {
		if (ctl->clients[i] == c)
			ctl->clients[i] = NULL;
	}
	if (c->timer)
		event_free(c->timer);
	if (c->resume)
		event_free(c->resume);
	bufferevent_free(c->bev);
	free(c);
}

/* True when every space-separated word of pattern occurs in line. */
static bool matches(const char *line, const char *pattern)
{
	char buf[CTL_LINE_MAX], *save = NULL, *w;

	snprintf(buf, sizeof(buf), "%s", pattern);
	for (w = strtok_r(buf, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
		if (!strstr(line, w))
			return false;
	}
	return true;
}

static void send_line(struct ctl_client *c, const char *text)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);

	if (evbuffer_get_length(out) > CTL_OUT_MAX) {
		log_warn("simnet: control client does not read its replies, dropped");
		client_free(c);
		return;
	}
	bufferevent_write(c->bev, text, strlen(text));
}

static void process_lines(struct ctl_client *c);

static void wait_done(struct ctl_client *c, const char *line)
{
	char reply[1100];

	c->waiting = false;
	evtimer_del(c->timer);
	if (line)
		snprintf(reply, sizeof(reply), "OK %s\n", line);
	else
		snprintf(reply, sizeof(reply), "ERR timeout\n");
	bufferevent_enable(c->bev, EV_READ);
	/* Lines already buffered run from the loop, not from inside the log hook. */
	event_active(c->resume, EV_TIMEOUT, 0);
	send_line(c, reply);
}

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
	process_lines(arg);
}

static void wait_timeout(evutil_socket_t fd, short what, void *arg)
{
	wait_done(arg, NULL);
}

/* A new log line: wake the waiters it satisfies. */
static void on_log(void *arg, const char *line)
{
	struct ctl *ctl = arg;

	for (int i = 0; i < CTL_CLIENTS; i++) {
		struct ctl_client *c = ctl->clients[i];

		if (c && c->waiting && matches(line, c->pattern))
			wait_done(c, line);
	}
}

/* "wait MS WORDS..." or "waitfrom SEQ MS WORDS...". */
static void start_wait(struct ctl_client *c, char *args, bool from)
{
	struct simnet *sn = c->ctl->sn;
	char *end;
	unsigned long seq = 1, ms;
	struct timeval tv;

	if (from) {
		seq = strtoul(args, &end, 10);
		args = end;
	}
	ms = strtoul(args, &end, 10);
	while (*end == ' ')
		end++;
	if (end == args || !*end || ms > 600000) {
		send_line(c, "ERR usage: wait MS WORDS... | waitfrom SEQ MS WORDS...\n");
		return;
	}
	snprintf(c->pattern, sizeof(c->pattern), "%s", end);
	for (size_t i = seq ? seq - 1 : 0; i < simnet_log_count(sn); i++) {
		const char *line = simnet_log_line(sn, i);

		if (line && matches(line, c->pattern)) {
			char reply[1100];

			snprintf(reply, sizeof(reply), "OK %s\n", line);
			send_line(c, reply);
			return;
		}
	}
	c->waiting = true;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	evtimer_add(c->timer, &tv);
	bufferevent_disable(c->bev, EV_READ);
}

static void process_lines(struct ctl_client *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	char *line;
	size_t len;

	while (!c->waiting && (line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF))) {
		if (strncmp(line, "wait ", 5) == 0) {
			start_wait(c, line + 5, false);
		} else if (strncmp(line, "waitfrom ", 9) == 0) {
			start_wait(c, line + 9, true);
		} else {
			simnet_command(c->ctl->sn, line, c->ctl->reply, CTL_REPLY_MAX);
			send_line(c, c->ctl->reply);
		}
		free(line);
	}
	if (!c->waiting && evbuffer_get_length(in) > CTL_LINE_MAX) {
		send_line(c, "ERR line too long\n");
		client_free(c);
	}
}

static void read_cb(struct bufferevent *bev, void *arg)
{
	process_lines(arg);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		client_free(arg);
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
		      void *arg)
{
	struct ctl *ctl = arg;
	struct ctl_client *c;
	int slot = -1;

	for (int i = 0; i < CTL_CLIENTS && slot < 0; i++) {
		if (!ctl->clients[i])
			slot = i;
	}
	c = slot >= 0 ? calloc(1, sizeof(*c)) : NULL;
	if (!c) {
		log_warn("simnet: too many control clients");
		close(fd);
		return;
	}
	c->ctl = ctl;
	c->bev = bufferevent_socket_new(ctl->base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->timer = evtimer_new(ctl->base, wait_timeout, c);
	c->resume = event_new(ctl->base, -1, 0, resume_cb, c);
	if (!c->bev || !c->timer || !c->resume) {
		if (c->bev)
			bufferevent_free(c->bev);
		else
			close(fd);
		if (c->timer)
			event_free(c->timer);
		if (c->resume)
			event_free(c->resume);
		free(c);
		return;
	}
	ctl->clients[slot] = c;
	bufferevent_setcb(c->bev, read_cb, NULL, event_cb, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static void dispatch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ctl *ctl = arg;

	simnet_dispatch(ctl->sn);
}

static void kick(void *arg, unsigned int delay_ms)
{
	struct ctl *ctl = arg;
	struct timeval tv = { delay_ms / 1000, (suseconds_t)(delay_ms % 1000) * 1000 };

	if (!ctl->dispatch)
		return;
	if (delay_ms == 0)
		event_active(ctl->dispatch, EV_TIMEOUT, 0);
	else if (!evtimer_pending(ctl->dispatch, NULL))
		evtimer_add(ctl->dispatch, &tv);
}

static void ctl_free(void *arg)
{
	struct ctl *ctl = arg;

	for (int i = 0; i < CTL_CLIENTS; i++) {
		if (ctl->clients[i])
			client_free(ctl->clients[i]);
	}
	if (ctl->listener) {
		evconnlistener_free(ctl->listener);
		modem_unlink_own(ctl->path, &ctl->id);
	}
	if (ctl->dispatch)
		event_free(ctl->dispatch);
	free(ctl->reply);
	free(ctl);
}

/* "PATH[,sms-gap-ms=N]" */
static bool parse_arg(const char *arg, char *path, size_t cap, unsigned long *gap)
{
	const char *comma = strchr(arg, ',');
	size_t n = comma ? (size_t)(comma - arg) : strlen(arg);
	char *end;

	*gap = SMS_GAP_MS;
	if (n == 0 || n >= cap)
		return false;
	memcpy(path, arg, n);
	path[n] = '\0';
	if (!comma)
		return true;
	if (strncmp(comma + 1, "sms-gap-ms=", 11))
		return false;
	*gap = strtoul(comma + 12, &end, 10);
	return *end == '\0' && end != comma + 12 && *gap <= 60000;
}

int radio_simnet_open(struct event_base *base, const char *arg, struct radio **out)
{
	struct ctl *ctl = calloc(1, sizeof(*ctl));
	unsigned long gap;
	int err = -ENOMEM;

	if (!ctl)
		return -ENOMEM;
	if (!parse_arg(arg, ctl->path, sizeof(ctl->path), &gap)) {
		log_error("simnet: bad argument '%s' (PATH[,sms-gap-ms=N])", arg);
		free(ctl);
		return -EINVAL;
	}
	ctl->base = base;
	ctl->reply = malloc(CTL_REPLY_MAX);
	ctl->sn = simnet_new(kick, ctl);
	ctl->dispatch = event_new(base, -1, 0, dispatch_cb, ctl);
	if (!ctl->reply || !ctl->sn || !ctl->dispatch)
		goto fail;
	ctl->listener = modem_listen_unix(base, ctl->path, accept_cb, ctl, &ctl->id);
	if (!ctl->listener) {
		err = -errno;
		log_error("simnet: cannot listen on %s: %s", ctl->path, strerror(errno));
		goto fail;
	}
	simnet_set_log_hook(ctl->sn, on_log, ctl);
	simnet_set_free_hook(ctl->sn, ctl_free, ctl);
	/* Events queued before the loop runs (the initial network state). */
	simnet_set_sms_gap(ctl->sn, (unsigned int)gap);
	kick(ctl, 0);
	*out = simnet_radio(ctl->sn);
	return 0;
fail:
	if (ctl->sn) {
		simnet_free(ctl->sn); /* no free hook yet */
	}
	if (ctl->dispatch)
		event_free(ctl->dispatch);
	free(ctl->reply);
	free(ctl);
	return err;
}
