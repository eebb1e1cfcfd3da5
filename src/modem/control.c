// SPDX-License-Identifier: Apache-2.0
#include "modem/control.h"

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

#define CONTROL_LINE_MAX 256
#define CONTROL_REPLY_MAX 4096

struct control {
	struct event_base *base;
	struct router *router;
	struct evconnlistener *listener;
	char path[108];
	struct listen_id id;
};

void control_command(struct router *r, const char *line, char *out, size_t cap)
{
	char verb[16], name[64];
	size_t w = 0;
	int n, vm;

	n = sscanf(line, "%15s %63s", verb, name);
	if (n == 1 && strcmp(verb, "list") == 0) {
		for (int i = 0; i < router_vm_count(r) && w < cap; i++) {
			const struct modem_config *cfg = router_vm_config(r, i);

			w += (size_t)snprintf(out + w, cap - w, "vm %s %s barred=%d\n", cfg->name,
					      cfg->number, router_vm_barred(r, i));
		}
		if (w < cap)
			snprintf(out + w, cap - w, "OK\n");
		return;
	}
	if (n == 2 && (strcmp(verb, "bar") == 0 || strcmp(verb, "unbar") == 0)) {
		vm = router_find_vm(r, name);
		if (vm < 0) {
			snprintf(out, cap, "ERR no VM named %s\n", name);
			return;
		}
		router_set_barred(r, vm, verb[0] == 'b');
		snprintf(out, cap, "OK\n");
		return;
	}
	snprintf(out, cap, "ERR unknown command (list, bar NAME, unbar NAME)\n");
}

static void read_cb(struct bufferevent *bev, void *arg)
{
	struct control *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char reply[CONTROL_REPLY_MAX], *line;
	size_t len;

	while ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF))) {
		control_command(c->router, line, reply, sizeof(reply));
		bufferevent_write(bev, reply, strlen(reply));
		free(line);
	}
	if (evbuffer_get_length(in) > CONTROL_LINE_MAX) {
		log_warn("control: line too long, client dropped");
		bufferevent_free(bev);
	}
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		bufferevent_free(bev);
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
		      void *arg)
{
	struct control *c = arg;
	struct bufferevent *bev = bufferevent_socket_new(c->base, fd, BEV_OPT_CLOSE_ON_FREE);

	if (!bev) {
		close(fd);
		return;
	}
	bufferevent_setcb(bev, read_cb, NULL, event_cb, c);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

struct control *control_new(struct event_base *base, const char *path, struct router *r)
{
	struct control *c = calloc(1, sizeof(*c));
	char *end;
	long fd;

	if (!c)
		return NULL;
	c->base = base;
	c->router = r;
	if (strncmp(path, "fd:", 3) == 0) {
		fd = strtol(path + 3, &end, 10);
		if (*end || end == path + 3 || fd < 3 || fd > 1024 ||
		    evutil_make_socket_nonblocking((evutil_socket_t)fd) < 0) {
			free(c);
			errno = EBADF;
			return NULL;
		}
		c->listener = evconnlistener_new(base, accept_cb, c, LEV_OPT_CLOSE_ON_FREE, -1,
						 (evutil_socket_t)fd);
	} else {
		snprintf(c->path, sizeof(c->path), "%s", path);
		c->listener = modem_listen_unix(base, path, accept_cb, c, &c->id);
	}
	if (!c->listener) {
		free(c);
		return NULL;
	}
	return c;
}

void control_free(struct control *c)
{
	if (!c)
		return;
	evconnlistener_free(c->listener);
	if (c->path[0])
		modem_unlink_own(c->path, &c->id);
	free(c);
}
