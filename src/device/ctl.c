// SPDX-License-Identifier: Apache-2.0
/*
 * The control socket. Each connection's peer is identified with SO_PEERCRED:
 * root may do anything; other users may only read (ls, status). One request
 * per connection, answered once (maybe later, for enroll and start).
 */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <openssl/crypto.h>

#include "common/log.h"
#include "device/console.h"
#include "device/ctlproto.h"
#include "device/daemon.h"

struct ctl_conn {
	struct pvd *d;
	struct bufferevent *bev;
	uid_t uid;
	pid_t pid;
	bool answered;
	bool waiting; /* an answer will come from a job */
	bool gone; /* the peer left while we were waiting */
	struct vm *console_vm;
	struct ctl_conn *next_console;
};

static void conn_free(struct ctl_conn *c)
{
	if (c->bev)
		bufferevent_free(c->bev);
	free(c);
}

static void on_drained(struct bufferevent *bev, void *arg)
{
	struct ctl_conn *c = arg;

	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0 && !c->console_vm)
		conn_free(c);
}

static void send_json(struct ctl_conn *c, json_t *j, bool then_close)
{
	char *txt = json_dumps(j, JSON_COMPACT);

	json_decref(j);
	if (txt) {
		bufferevent_write(c->bev, txt, strlen(txt));
		bufferevent_write(c->bev, "\n", 1);
		free(txt);
	}
	c->answered = true;
	if (then_close) {
		bufferevent_disable(c->bev, EV_READ);
		bufferevent_setcb(c->bev, NULL, on_drained, NULL, c);
	}
}

static void reply_error(struct ctl_conn *c, const char *code, const char *msg)
{
	send_json(c, json_pack("{s:b,s:s,s:s}", "ok", 0, "error", code, "message", msg), true);
}

void ctl_reply_async(struct pvd *d, struct ctl_conn *c, int r, const char *code, const char *msg)
{
	if (!c)
		return;
	c->waiting = false;
	if (c->gone) {
		conn_free(c);
		return;
	}
	if (r)
		reply_error(c, code ? code : "failed", msg);
	else
		send_json(c, json_pack("{s:b,s:s}", "ok", 1, "message", msg), true);
}

static json_t *vm_json(struct pvd *d, struct vm *vm)
{
	int64_t left = pvd_lease_left(d, vm);
	struct vm_rec *r = vm->conf.managed[0] ? state_vm(&d->st, vm->conf.managed) : NULL;
	json_t *j = json_pack("{s:s,s:s,s:s,s:b}", "name", vm->conf.name, "kind",
			      vm->conf.managed[0] ? "work" : "personal", "state",
			      vm_run_name(vm->run), "encrypted", vm->conf.encrypted);

	if (vm->conf.managed[0]) {
		json_object_set_new(j, "id", json_string(vm->conf.managed));
		json_object_set_new(j, "server_state",
				    json_string(r && r->state[0] ? r->state : "unknown"));
		json_object_set_new(j, "lease_left",
				    left == INT64_MIN ? json_null() : json_integer(left));
		if (r && r->lease.valid)
			json_object_set_new(j, "lease_expires", json_integer(r->lease.exp));
	}
	if (vm->pid > 0)
		json_object_set_new(j, "pid", json_integer(vm->pid));
	if (vm->last_exit >= 0)
		json_object_set_new(j, "last_exit",
				    json_integer(WIFEXITED(vm->last_exit) ?
							 WEXITSTATUS(vm->last_exit) :
							 128 + WTERMSIG(vm->last_exit)));
	if (vm->last_error[0])
		json_object_set_new(j, "error", json_string(vm->last_error));
	return j;
}

static void do_ls(struct ctl_conn *c, struct ctl_request *req)
{
	json_t *vms = json_array();

	pvd_scan_vms(c->d);
	for (size_t i = 0; i < MAX_VMS; i++)
		if (c->d->vms[i].present)
			json_array_append_new(vms, vm_json(c->d, &c->d->vms[i]));
	/* Assigned by the server but not provisioned here (no vm.json yet). */
	for (size_t i = 0; i < c->d->st.n_vms; i++) {
		struct vm_rec *r = &c->d->st.vms[i];
		int64_t now = tclock_now(&c->d->clock);

		if (pvd_vm_by_id(c->d, r->id))
			continue;
		json_array_append_new(
			vms,
			json_pack("{s:s,s:s,s:s,s:s,s:s,s:o}", "name", r->name, "kind", "work",
				  "state", "absent", "id", r->id, "server_state", r->state,
				  "lease_left",
				  r->lease.valid ? json_integer(r->lease.exp - now) : json_null()));
	}
	send_json(c, json_pack("{s:b,s:o}", "ok", 1, "vms", vms), true);
}

static void do_status(struct ctl_conn *c, struct ctl_request *req)
{
	struct pvd *d = c->d;
	int64_t trusted = tclock_trusted(&d->clock);
	json_t *j = json_pack(
		"{s:b,s:b,s:{s:I,s:I,s:I,s:b},s:i,s:i}", "ok", 1, "enrolled", d->id.enrolled,
		"clock", "trusted", (json_int_t)trusted, "now", (json_int_t)tclock_now(&d->clock),
		"wall", (json_int_t)d->clock.ops->wall(NULL), "has_trusted", d->clock.trusted,
		"pending_wipes", (int)d->st.n_journal, "pending_acks", (int)d->st.n_acks);

	if (d->id.enrolled) {
		json_object_set_new(j, "device_id", json_string(d->id.device_id));
		json_object_set_new(j, "server", json_string(d->id.url));
		json_object_set_new(j, "group", json_string(d->id.group));
		json_object_set_new(j, "checkin_interval",
				    json_integer(d->max_interval && d->max_interval < d->interval ?
							 d->max_interval :
							 d->interval));
		json_object_set_new(j, "last_contact",
				    d->last_contact ? json_integer(d->last_contact) : json_null());
		json_object_set_new(j, "server_reachable",
				    json_boolean(d->last_contact && !d->last_error[0]));
		if (d->last_error[0])
			json_object_set_new(j, "last_error", json_string(d->last_error));
	}
	send_json(c, j, true);
}

static struct vm *find_vm(struct ctl_conn *c, const char *name)
{
	struct vm *vm;
	char msg[128];

	pvd_scan_vms(c->d);
	vm = pvd_vm(c->d, name);
	if (!vm) {
		snprintf(msg, sizeof(msg), "no VM named '%s'", name);
		reply_error(c, "not_found", msg);
	}
	return vm;
}

static void do_start(struct ctl_conn *c, struct ctl_request *req)
{
	struct vm *vm = find_vm(c, req->vm);
	const char *code = NULL;
	char err[300], msg[128];
	int r;

	if (!vm)
		return;
	r = vm_start(c->d, vm, c, &code, err, sizeof(err));
	if (r < 0) {
		reply_error(c, code ? code : "failed", err);
	} else if (r == 1) {
		c->waiting = true;
	} else {
		snprintf(msg, sizeof(msg), "vm %s started (pid %d)", vm->conf.name, vm->pid);
		send_json(c, json_pack("{s:b,s:s}", "ok", 1, "message", msg), true);
	}
}

static void do_stop(struct ctl_conn *c, struct ctl_request *req)
{
	struct vm *vm = find_vm(c, req->vm);
	char msg[128];

	if (!vm)
		return;
	vm->want_running = false;
	vm_stop(c->d, vm, false);
	snprintf(msg, sizeof(msg), "vm %s: %s", vm->conf.name,
		 vm->run == VM_STOPPING ? "stopping" : "stopped");
	send_json(c, json_pack("{s:b,s:s}", "ok", 1, "message", msg), true);
}

static void do_enroll(struct ctl_conn *c, struct ctl_request *req)
{
	uint8_t pin[32];
	int r;

	if (strncmp(req->url, "https://", 8) != 0) {
		reply_error(c, "bad_request", "the server URL must start with https://");
		goto out;
	}
	if (!parse_sha256_hex(req->ca_sha256, pin)) {
		reply_error(c, "bad_request",
			    "the server CA's SHA-256 (64 hex digits, from `pocketvm-admin token "
			    "create`) is required");
		goto out;
	}
	r = enroll_start(c->d, c, req->url, req->token, pin, req->name[0] ? req->name : "device");
	if (r == -EEXIST)
		reply_error(c, "already_enrolled", "this device is already enrolled");
	else if (r == -EBUSY)
		reply_error(c, "busy", "an enrollment is already in progress");
	else if (r < 0)
		reply_error(c, "internal", "cannot start the enrollment");
	else
		c->waiting = true;
out:
	OPENSSL_cleanse(req->token, sizeof(req->token));
}

static void do_checkin(struct ctl_conn *c, struct ctl_request *req)
{
	if (!c->d->id.enrolled) {
		reply_error(c, "not_enrolled", "this device is not enrolled");
		return;
	}
	checkin_now(c->d);
	send_json(c, json_pack("{s:b,s:s}", "ok", 1, "message", "check-in started"), true);
}

static void console_read(struct bufferevent *bev, void *arg);
static void on_event(struct bufferevent *bev, short what, void *arg);

static void do_console(struct ctl_conn *c, struct ctl_request *req)
{
	struct vm *vm = find_vm(c, req->vm);
	char msg[128];

	if (!vm)
		return;
	if (vm->run != VM_RUNNING || vm->console_fd < 0) {
		snprintf(msg, sizeof(msg), "vm %s is not running", vm->conf.name);
		reply_error(c, "not_running", msg);
		return;
	}
	send_json(c, json_pack("{s:b,s:s}", "ok", 1, "message", "attached"), false);
	c->console_vm = vm;
	c->next_console = vm->consoles;
	vm->consoles = c;
	bufferevent_setcb(c->bev, console_read, NULL, on_event, c);
}

static const struct {
	const char *name;
	void (*fn)(struct ctl_conn *c, struct ctl_request *req);
	bool root_only;
	bool needs_vm;
} handlers[] = {
	{ "ls", do_ls, false, false },		{ "status", do_status, false, false },
	{ "start", do_start, true, true },	{ "stop", do_stop, true, true },
	{ "console", do_console, true, true },	{ "enroll", do_enroll, true, false },
	{ "checkin", do_checkin, true, false },
};

static void dispatch(struct ctl_conn *c, const char *line, size_t len)
{
	struct ctl_request req;
	char err[128];

	if (!ctl_parse_request(line, len, &req, err, sizeof(err))) {
		reply_error(c, "bad_request", err);
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(handlers); i++) {
		if (strcmp(handlers[i].name, req.cmd) != 0)
			continue;
		if (handlers[i].root_only && c->uid != 0)
			reply_error(c, "permission_denied", "only root may change VMs or enroll");
		else if (handlers[i].needs_vm && !req.vm[0])
			reply_error(c, "bad_request", "which VM?");
		else
			handlers[i].fn(c, &req);
		OPENSSL_cleanse(&req, sizeof(req));
		return;
	}
	reply_error(c, "bad_request", "unknown command");
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct ctl_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len;
	char *line;

	if (c->answered || c->waiting)
		return;
	line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF);
	if (!line) {
		if (evbuffer_get_length(in) > CTL_MAX_LINE)
			reply_error(c, "bad_request", "request line too long");
		return;
	}
	dispatch(c, line, len);
	OPENSSL_cleanse(line, len);
	free(line);
}

static void console_unlink(struct ctl_conn *c)
{
	struct vm *vm = c->console_vm;
	struct ctl_conn **pp;

	if (!vm)
		return;
	for (pp = &vm->consoles; *pp; pp = &(*pp)->next_console)
		if (*pp == c) {
			*pp = c->next_console;
			break;
		}
	c->console_vm = NULL;
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct ctl_conn *c = arg;

	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
		return;
	console_unlink(c);
	if (c->waiting) {
		/* The job still holds c; it is freed when the answer arrives. */
		bufferevent_free(c->bev);
		c->bev = NULL;
		c->gone = true;
		return;
	}
	conn_free(c);
}

static void console_read(struct bufferevent *bev, void *arg)
{
	struct ctl_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char buf[4096];
	size_t n;

	while ((n = evbuffer_remove(in, buf, sizeof(buf))) > 0 && n != (size_t)-1)
		if (c->console_vm && c->console_vm->console_fd >= 0 &&
		    write(c->console_vm->console_fd, buf, n) < 0)
			break;
}

void console_broadcast(struct vm *vm, const void *buf, size_t len)
{
	for (struct ctl_conn *c = vm->consoles; c; c = c->next_console)
		bufferevent_write(c->bev, buf, len);
}

void console_detach_all(struct vm *vm)
{
	struct ctl_conn *c = vm->consoles, *next;

	vm->consoles = NULL;
	for (; c; c = next) {
		next = c->next_console;
		c->console_vm = NULL;
		bufferevent_disable(c->bev, EV_READ);
		bufferevent_setcb(c->bev, NULL, on_drained, NULL, c);
		on_drained(c->bev, c);
	}
}

static void on_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct pvd *d = arg;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct ctl_conn *c;
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd < 0)
		return;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		close(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->d = d;
	c->uid = cred.uid;
	c->pid = cred.pid;
	c->bev = bufferevent_socket_new(d->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev) {
		close(fd);
		free(c);
		return;
	}
	bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

int ctl_listen(struct pvd *d)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	char dir[PATH_MAX];
	int fd;

	if (strlen(d->sock_path) >= sizeof(a.sun_path))
		return -ENAMETOOLONG;
	strcpy(a.sun_path, d->sock_path);
	snprintf(dir, sizeof(dir), "%s", d->sock_path);
	/* The directory must be searchable by users (umask is 077 here). */
	if (mkdir(dirname(dir), 0755) == 0)
		chmod(dir, 0755);
	unlink(d->sock_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* Anyone may connect; what they may do is decided per request by uid. */
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || chmod(d->sock_path, 0666) < 0 ||
	    listen(fd, 16) < 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	d->listen_fd = fd;
	d->listen_ev = event_new(d->base, fd, EV_READ | EV_PERSIST, on_accept, d);
	return d->listen_ev && event_add(d->listen_ev, NULL) == 0 ? 0 : -ENOMEM;
}
