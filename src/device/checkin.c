// SPDX-License-Identifier: Apache-2.0
/*
 * Enrollment and the periodic check-in (docs/protocol.md sections 3-5):
 * every interval with +-10 % jitter; after a failure, exponential backoff
 * from 2 s up to the interval, also jittered, so a fleet that lost its server
 * does not come back in lockstep.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "common/log.h"
#include "device/client.h"
#include "device/daemon.h"
#include "device/lease.h"
#include "device/proto.h"
#include "device/backoff.h"

struct checkin_job {
	struct netjob job;
	struct pvd *d;
	char url[URL_MAX_LEN + 1];
	X509 *ca, *cert;
	EVP_PKEY *key;
	char *body;
	char nonce[NONCE_LEN + 1];
	size_t n_acks; /* acks sent: the first n_acks of st.acks at send time */
	char acks[STATE_MAX_ACKS][ID_LEN + 1];
	int r;
	struct http_resp resp;
	char err[256];
};

static int64_t jitter(int64_t s)
{
	uint32_t rnd = 0;

	RAND_bytes((unsigned char *)&rnd, sizeof(rnd));
	return sched_jitter(s, rnd);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	checkin_now(arg);
}

void checkin_schedule(struct pvd *d, int64_t seconds)
{
	struct timeval tv = { .tv_sec = seconds };

	if (!d->checkin_ev)
		d->checkin_ev = evtimer_new(d->base, on_timer, d);
	evtimer_add(d->checkin_ev, &tv);
}

static void checkin_run(struct netjob *job)
{
	struct checkin_job *j = (struct checkin_job *)job;
	struct client_tls tls = { .ca = j->ca, .cert = j->cert, .key = j->key };

	j->r = client_request(j->url, &tls, "POST", "/v1/checkin", "application/json", j->body,
			      strlen(j->body), &j->resp, j->err, sizeof(j->err));
}

static void job_free(struct checkin_job *j)
{
	X509_free(j->ca);
	X509_free(j->cert);
	EVP_PKEY_free(j->key);
	free(j->body);
	http_resp_free(&j->resp);
	free(j);
}

static void apply_cmd(struct pvd *d, const struct proto_cmd *c)
{
	struct journal_ent e = { 0 };
	struct vm_rec *r;
	struct vm *vm;

	log_info("command %s: %s %s", c->id, cmd_type_name(c->type), c->vm);
	switch (c->type) {
	case CMD_LOCK:
	case CMD_UNLOCK:
		r = state_vm_add(&d->st, c->vm);
		if (r)
			snprintf(r->state, sizeof(r->state), "%s",
				 c->type == CMD_LOCK ? "locked" : "active");
		vm = pvd_vm_by_id(d, c->vm);
		if (vm && c->type == CMD_LOCK) {
			vm->want_running = false;
			vm_stop(d, vm, true);
		}
		if (state_ack_add(&d->st, c->id, r != NULL,
				  c->type == CMD_LOCK ? "vm locked" : "vm unlocked") < 0)
			log_error("command %s: ack table full", c->id);
		return;
	case CMD_WIPE_VM:
		e.op = JOURNAL_WIPE_VM;
		snprintf(e.vm, sizeof(e.vm), "%s", c->vm);
		break;
	case CMD_WIPE_DEVICE:
		e.op = JOURNAL_WIPE_DEVICE;
		break;
	case CMD_UNENROLL:
		e.op = JOURNAL_UNENROLL;
		break;
	default:
		if (state_ack_add(&d->st, c->id, false, "unsupported command") < 0)
			log_error("command %s: ack table full", c->id);
		return;
	}
	snprintf(e.cmd, sizeof(e.cmd), "%s", c->id);
	snprintf(e.reason, sizeof(e.reason), "remote command");
	if (wipe_journal(d, &e) < 0)
		log_error("command %s: cannot journal the wipe", c->id);
}

/* Verifies every lease first; a lease that fails is dropped, never half-applied. */
static void apply_leases(struct pvd *d, struct checkin_job *j, const struct checkin_answer *a)
{
	int64_t prev = d->st.seq;

	for (size_t i = 0; i < a->n_leases; i++) {
		struct lease_expect ex = { d->id.device_id, a->leases[i].vm, j->nonce, prev };
		struct lease_info li;
		struct vm_rec *r;
		char err[256];

		if (!lease_verify(a->leases[i].jws, d->id.lease_key, &ex, &li, err, sizeof(err))) {
			log_error("check-in: lease for %s refused: %s", a->leases[i].vm, err);
			continue;
		}
		if (!tclock_accept_server(&d->clock, li.iat)) {
			log_error("check-in: lease for %s refused: iat %lld before the clock's "
				  "high-water mark",
				  a->leases[i].vm, (long long)li.iat);
			continue;
		}
		r = state_vm_add(&d->st, a->leases[i].vm);
		if (!r)
			continue;
		if (!r->lease.valid || r->lease.locked != li.locked ||
		    r->lease.offline != li.offline)
			log_info("lease for %s: valid until %lld (offline lifetime %lld s)%s",
				 r->id, (long long)li.exp, (long long)li.offline,
				 li.locked ? ", locked" : "");
		r->lease = li;
		if (li.seq > d->st.seq)
			d->st.seq = li.seq;
	}
}

static void apply_answer(struct pvd *d, struct checkin_job *j, struct checkin_answer *a)
{
	if (a->n_leases == 0 && !tclock_accept_server(&d->clock, a->server_time))
		log_warn("check-in: server_time %lld is before our high-water mark",
			 (long long)a->server_time);
	apply_leases(d, j, a);
	if (a->seq > d->st.seq)
		d->st.seq = a->seq;
	for (size_t i = 0; i < a->n_vms; i++) {
		struct vm_rec *r = state_vm_add(&d->st, a->vms[i].id);

		if (!r)
			continue;
		snprintf(r->name, sizeof(r->name), "%s", a->vms[i].name);
		snprintf(r->state, sizeof(r->state), "%s", a->vms[i].state);
		snprintf(r->kid, sizeof(r->kid), "%s", a->vms[i].kid);
	}
	/* Acks we sent were processed before the answer was built. */
	for (size_t k = 0; k < j->n_acks; k++)
		for (size_t i = 0; i < d->st.n_acks; i++)
			if (strcmp(d->st.acks[i].id, j->acks[k]) == 0) {
				d->st.acks[i] = d->st.acks[--d->st.n_acks];
				break;
			}
	if (a->revoked)
		log_warn("check-in: this device is revoked by its server");
	for (size_t i = 0; i < a->n_cmds; i++)
		if (d->id.enrolled)
			apply_cmd(d, &a->cmds[i]);
}

static int64_t next_interval(struct pvd *d)
{
	int64_t s = d->interval;

	if (d->max_interval && s > d->max_interval)
		s = d->max_interval;
	return s;
}

static void checkin_failed(struct pvd *d, const char *why)
{
	int64_t cap = next_interval(d);

	d->backoff = sched_backoff(d->backoff, cap);
	snprintf(d->last_error, sizeof(d->last_error), "%s", why);
	log_warn("check-in failed: %s; next try in about %lld s", why, (long long)d->backoff);
	checkin_schedule(d, jitter(d->backoff));
}

static void checkin_done(struct netjob *job)
{
	struct checkin_job *j = (struct checkin_job *)job;
	struct pvd *d = j->d;
	struct checkin_answer a;
	char err[256];

	d->checkin_running = false;
	if (!d->id.enrolled) {
		job_free(j);
		return;
	}
	if (j->r < 0) {
		checkin_failed(d, j->err);
	} else if (j->resp.status == 403 && strcmp(j->resp.error, "device_retired") == 0) {
		struct journal_ent e = { .op = JOURNAL_UNENROLL };

		snprintf(e.reason, sizeof(e.reason), "retired by the server");
		log_warn("check-in: the server retired this device: wiping managed VMs");
		if (wipe_journal(d, &e) < 0)
			log_error("check-in: cannot journal the wipe");
	} else if (j->resp.status != 200) {
		snprintf(err, sizeof(err), "server answered %ld %s", j->resp.status, j->resp.error);
		checkin_failed(d, err);
	} else if (!checkin_parse(j->resp.body, j->resp.len, &a, err, sizeof(err)) ||
		   strcmp(a.device_id, d->id.device_id) != 0) {
		checkin_failed(d, err[0] ? err : "answer for another device");
	} else {
		d->interval = a.interval;
		apply_answer(d, j, &a);
		provision_check(d, a.vms, a.n_vms);
		checkin_answer_free(&a);
		d->backoff = 0;
		d->last_error[0] = '\0';
		d->last_contact = tclock_trusted(&d->clock);
		pvd_save(d);
		pvd_enforce(d);
		pvd_autostart(d);
		/* New acks (from this answer's commands) go out right away. */
		checkin_schedule(d, d->st.n_acks ? 1 : jitter(next_interval(d)));
	}
	job_free(j);
	if (d->checkin_again) {
		d->checkin_again = false;
		checkin_now(d);
	}
}

static bool vm_running(const char *id, void *arg)
{
	struct vm *vm = pvd_vm_by_id(arg, id);

	return vm && vm->run == VM_RUNNING;
}

void checkin_now(struct pvd *d)
{
	struct checkin_job *j;

	wipe_resume(d);
	if (!d->id.enrolled)
		return;
	if (d->checkin_running) {
		d->checkin_again = true;
		return;
	}
	j = calloc(1, sizeof(*j));
	if (!j)
		return;
	j->job.run = checkin_run;
	j->job.done = checkin_done;
	j->d = d;
	snprintf(j->url, sizeof(j->url), "%s", d->id.url);
	proto_nonce(j->nonce);
	j->body = checkin_request(j->nonce, tclock_now(&d->clock), &d->st, vm_running, d);
	j->n_acks = d->st.n_acks;
	for (size_t i = 0; i < d->st.n_acks; i++)
		memcpy(j->acks[i], d->st.acks[i].id, sizeof(j->acks[i]));
	X509_up_ref(j->ca = d->id.ca);
	X509_up_ref(j->cert = d->id.cert);
	EVP_PKEY_up_ref(j->key = d->id.key);
	if (!j->body || netq_submit(d->net, &j->job) < 0) {
		job_free(j);
		checkin_failed(d, "cannot start the request");
		return;
	}
	d->checkin_running = true;
}

struct enroll_job {
	struct netjob job;
	struct pvd *d;
	struct ctl_conn *c;
	char url[URL_MAX_LEN + 1];
	char token[256];
	uint8_t pin[32];
	char name[NAME_MAX_LEN + 1];
	struct identity id;
	int64_t server_time;
	int r;
	char err[256];
};

static void enroll_run(struct netjob *job)
{
	struct enroll_job *j = (struct enroll_job *)job;

	j->r = proto_enroll(j->url, j->token, j->pin, j->name, &j->id, &j->server_time, j->err,
			    sizeof(j->err));
	OPENSSL_cleanse(j->token, sizeof(j->token));
}

static const char *enroll_code(int r)
{
	switch (r) {
	case -EHOSTUNREACH:
		return "server_unreachable";
	case -EPERM:
		return "ca_pin_mismatch";
	case -EACCES:
		return "token_refused";
	default:
		return "enroll_failed";
	}
}

static void enroll_done(struct netjob *job)
{
	struct enroll_job *j = (struct enroll_job *)job;
	struct pvd *d = j->d;
	char msg[300];
	int r = j->r;

	if (!r) {
		r = identity_save(&j->id, d->dir);
		if (r < 0)
			snprintf(j->err, sizeof(j->err), "enroll: cannot save the identity: %s",
				 strerror(-r));
	}
	if (!r) {
		identity_clear(&d->id);
		d->id = j->id;
		memset(&j->id, 0, sizeof(j->id));
		d->st.seq = 0;
		d->st.n_acks = 0;
		d->st.n_vms = 0;
		tclock_accept_server(&d->clock, j->server_time);
		pvd_save(d);
		log_info("enrolled as device %s with %s", d->id.device_id, d->id.url);
		snprintf(msg, sizeof(msg), "enrolled as device %s", d->id.device_id);
		checkin_schedule(d, 0);
	} else {
		log_error("%s", j->err);
		snprintf(msg, sizeof(msg), "%s", j->err);
	}
	d->enroll_waiter = NULL;
	ctl_reply_async(d, j->c, r, r ? enroll_code(r) : NULL, msg);
	identity_clear(&j->id);
	free(j);
}

int enroll_start(struct pvd *d, struct ctl_conn *c, const char *url, const char *token,
		 const uint8_t pin[32], const char *name)
{
	struct enroll_job *j;
	size_t n;
	int r;

	if (d->id.enrolled)
		return -EEXIST;
	if (d->enroll_waiter)
		return -EBUSY;
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->job.run = enroll_run;
	j->job.done = enroll_done;
	j->d = d;
	j->c = c;
	snprintf(j->url, sizeof(j->url), "%s", url);
	n = strlen(j->url);
	while (n && j->url[n - 1] == '/')
		j->url[--n] = '\0';
	snprintf(j->token, sizeof(j->token), "%s", token);
	memcpy(j->pin, pin, 32);
	snprintf(j->name, sizeof(j->name), "%s", name);
	r = netq_submit(d->net, &j->job);
	if (r < 0) {
		free(j);
		return r;
	}
	d->enroll_waiter = c;
	return 0;
}
