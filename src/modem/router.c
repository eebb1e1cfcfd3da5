// SPDX-License-Identifier: Apache-2.0
/*
 * Routing by number, per-VM policy, and the dual-SIM rules of one radio.
 * Every radio event names a line or a call id; the router resolves it to
 * exactly one VM or drops it. Modem requests carry the VM's own number as
 * caller ID: a VM cannot choose it.
 */
#include "modem/router.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"

#define ROUTER_MAX_CALLS 64
#define ROUTER_MAX_QUEUED 8
#define ROUTER_MAX_SUBMITS 32

struct router_vm {
	struct router *r;
	int index;
	struct modem_config cfg;
	bool barred;
	struct modem *modem;
	router_write_fn write;
	void *write_ctx;
};

struct router_call {
	bool used;
	uint32_t id;
	int vm;
};

/* A mobile-terminated call waiting for the radio (ROUTER_DSDS_WAIT). */
struct router_queued {
	bool used;
	uint32_t id;
	int vm;
	char from[SMS_ADDR_BUF];
};

struct router {
	struct radio *radio;
	enum router_dsds dsds;
	struct router_vm vms[ROUTER_MAX_VMS];
	int nvms;
	struct router_call calls[ROUTER_MAX_CALLS];
	struct router_queued queued[ROUTER_MAX_QUEUED];
	/* SMS the radio confirms later: which VM each reference belongs to. */
	struct {
		bool used;
		uint32_t ref;
		int vm;
	} submits[ROUTER_MAX_SUBMITS];
	uint32_t next_ref;
	bool service;
	int signal;
};

static struct router_vm *vm_by_number(struct router *r, const char *number)
{
	for (int i = 0; i < r->nvms; i++) {
		if (strcmp(r->vms[i].cfg.number, number) == 0)
			return &r->vms[i];
	}
	return NULL;
}

static struct router_call *call_find(struct router *r, uint32_t id)
{
	for (int i = 0; i < ROUTER_MAX_CALLS; i++) {
		if (r->calls[i].used && r->calls[i].id == id)
			return &r->calls[i];
	}
	return NULL;
}

static int call_track(struct router *r, uint32_t id, int vm)
{
	for (int i = 0; i < ROUTER_MAX_CALLS; i++) {
		if (!r->calls[i].used) {
			r->calls[i] = (struct router_call){ true, id, vm };
			return 0;
		}
	}
	return -ENOSPC;
}

/* The VM whose call holds the radio, or -1 when it is free. */
static int radio_owner(const struct router *r)
{
	for (int i = 0; i < ROUTER_MAX_CALLS; i++) {
		if (r->calls[i].used)
			return r->calls[i].vm;
	}
	return -1;
}

static bool radio_busy_for(const struct router *r, int vm)
{
	int owner = radio_owner(r);

	return owner >= 0 && owner != vm;
}

static void reject(struct router *r, uint32_t id, enum radio_reject why)
{
	if (r->radio->ops->reject(r->radio, id, why) < 0)
		log_debug("router: call %u already gone", id);
}

/* Offers a mobile-terminated call to its VM; rejects it when the modem cannot take it. */
static void offer_call(struct router *r, struct router_vm *vm, uint32_t id, const char *from)
{
	int ret;

	if (call_track(r, id, vm->index) < 0) {
		reject(r, id, RADIO_REJECT_BUSY);
		return;
	}
	ret = modem_incoming_call(vm->modem, id, from);
	if (ret < 0) {
		call_find(r, id)->used = false;
		reject(r, id, ret == -EBUSY ? RADIO_REJECT_BUSY : RADIO_REJECT_UNREACHABLE);
	}
}

/* The radio may have become free: ring the oldest queued call's VM. */
static void run_queue(struct router *r)
{
	for (int i = 0; i < ROUTER_MAX_QUEUED; i++) {
		struct router_queued *q = &r->queued[i];

		if (!q->used || radio_busy_for(r, q->vm))
			continue;
		q->used = false;
		log_info("router: radio free, offering queued call %u to %s", q->id,
			 r->vms[q->vm].cfg.name);
		offer_call(r, &r->vms[q->vm], q->id, q->from);
	}
}

static void call_forget(struct router *r, uint32_t id)
{
	struct router_call *c = call_find(r, id);

	if (c)
		c->used = false;
	for (int i = 0; i < ROUTER_MAX_QUEUED; i++) {
		if (r->queued[i].used && r->queued[i].id == id)
			r->queued[i].used = false;
	}
	run_queue(r);
}

/* Radio events. */

static void ev_incoming_call(void *ctx, uint32_t id, const char *to, const char *from)
{
	struct router *r = ctx;
	struct router_vm *vm = vm_by_number(r, to);

	if (!vm || vm->barred) {
		log_info("router: call %u to %s: %s", id, to, vm ? "VM barred" : "no such VM");
		reject(r, id, RADIO_REJECT_UNREACHABLE);
		return;
	}
	if (radio_busy_for(r, vm->index)) {
		if (r->dsds == ROUTER_DSDS_WAIT) {
			for (int i = 0; i < ROUTER_MAX_QUEUED; i++) {
				struct router_queued *q = &r->queued[i];

				if (q->used)
					continue;
				*q = (struct router_queued){ .used = true,
							     .id = id,
							     .vm = vm->index };
				snprintf(q->from, sizeof(q->from), "%s", from);
				log_info("router: call %u for %s waits for the radio", id,
					 vm->cfg.name);
				return;
			}
		}
		reject(r, id, RADIO_REJECT_BUSY);
		return;
	}
	offer_call(r, vm, id, from);
}

static struct router_vm *vm_of_call(struct router *r, uint32_t id)
{
	struct router_call *c = call_find(r, id);

	return c ? &r->vms[c->vm] : NULL;
}

static void ev_call_alerting(void *ctx, uint32_t id)
{
	struct router_vm *vm = vm_of_call(ctx, id);

	if (vm)
		modem_call_alerting(vm->modem, id);
}

static void ev_call_connected(void *ctx, uint32_t id)
{
	struct router_vm *vm = vm_of_call(ctx, id);

	if (vm)
		modem_call_connected(vm->modem, id);
}

static void ev_call_released(void *ctx, uint32_t id, enum modem_release why)
{
	struct router *r = ctx;
	struct router_vm *vm = vm_of_call(r, id);

	if (vm)
		modem_call_released(vm->modem, id, why);
	call_forget(r, id);
}

static int ev_incoming_sms(void *ctx, const char *to, const uint8_t *tpdu, size_t len,
			   const char *sca)
{
	struct router_vm *vm = vm_by_number(ctx, to);

	if (!vm)
		return -ENOENT;
	if (vm->barred)
		return -EPERM;
	return modem_deliver_sms(vm->modem, tpdu, len, sca);
}

static void ev_ussd_result(void *ctx, const char *to, int status, const char *text)
{
	struct router_vm *vm = vm_by_number(ctx, to);

	if (vm && !vm->barred)
		modem_ussd_result(vm->modem, status, text);
}

static void ev_sms_sent(void *ctx, uint32_t ref, int cms_error)
{
	struct router *r = ctx;

	for (int i = 0; i < ROUTER_MAX_SUBMITS; i++) {
		if (r->submits[i].used && r->submits[i].ref == ref) {
			r->submits[i].used = false;
			modem_sms_sent(r->vms[r->submits[i].vm].modem, ref, cms_error);
		}
	}
}

static void ev_network(void *ctx, bool service, int signal)
{
	struct router *r = ctx;

	r->service = service;
	r->signal = signal;
	for (int i = 0; i < r->nvms; i++)
		modem_set_network(r->vms[i].modem, service, r->vms[i].barred, signal);
}

static const struct radio_events router_radio_events = {
	.incoming_call = ev_incoming_call,
	.call_alerting = ev_call_alerting,
	.call_connected = ev_call_connected,
	.call_released = ev_call_released,
	.incoming_sms = ev_incoming_sms,
	.ussd_result = ev_ussd_result,
	.sms_sent = ev_sms_sent,
	.network = ev_network,
};

/* Modem requests: ctx is the VM; calls are checked to belong to it. */

static void host_output(void *ctx, const char *data, size_t len)
{
	struct router_vm *vm = ctx;

	if (vm->write)
		vm->write(vm->write_ctx, data, len);
}

static int host_dial(void *ctx, const char *number, uint32_t *id)
{
	struct router_vm *vm = ctx;
	struct router *r = vm->r;
	int ret;

	if (vm->barred)
		return -EPERM;
	if (radio_busy_for(r, vm->index))
		return -EBUSY;
	ret = r->radio->ops->dial(r->radio, vm->cfg.number, number, id);
	if (ret < 0)
		return ret;
	if (call_track(r, *id, vm->index) < 0) {
		if (r->radio->ops->hangup(r->radio, *id) < 0)
			log_warn("router: could not release untracked call %u", *id);
		return -EAGAIN;
	}
	return 0;
}

static bool owns(struct router_vm *vm, uint32_t id)
{
	struct router_call *c = call_find(vm->r, id);

	return c && c->vm == vm->index;
}

static int host_answer(void *ctx, uint32_t id)
{
	struct router_vm *vm = ctx;

	if (!owns(vm, id))
		return -ENOENT;
	return vm->r->radio->ops->answer(vm->r->radio, id);
}

static int host_hangup(void *ctx, uint32_t id)
{
	struct router_vm *vm = ctx;
	int ret;

	if (!owns(vm, id))
		return -ENOENT;
	ret = vm->r->radio->ops->hangup(vm->r->radio, id);
	call_forget(vm->r, id);
	return ret;
}

static int host_hold(void *ctx, uint32_t id, bool hold)
{
	struct router_vm *vm = ctx;

	if (!owns(vm, id))
		return -ENOENT;
	return vm->r->radio->ops->hold(vm->r->radio, id, hold);
}

static int host_send_sms(void *ctx, const uint8_t *tpdu, size_t len, uint32_t *ref)
{
	struct router_vm *vm = ctx;
	struct router *r = vm->r;
	int slot = -1, ret;

	if (vm->barred)
		return -EPERM;
	for (int i = 0; i < ROUTER_MAX_SUBMITS && slot < 0; i++) {
		if (!r->submits[i].used)
			slot = i;
	}
	if (slot < 0)
		return -EAGAIN;
	*ref = ++r->next_ref;
	ret = r->radio->ops->send_sms(r->radio, vm->cfg.number, tpdu, len, *ref);
	if (ret == 1) {
		r->submits[slot].used = true;
		r->submits[slot].ref = *ref;
		r->submits[slot].vm = vm->index;
	}
	return ret;
}

static int host_ussd(void *ctx, const char *request)
{
	struct router_vm *vm = ctx;

	if (vm->barred)
		return -EPERM;
	return vm->r->radio->ops->ussd(vm->r->radio, vm->cfg.number, request);
}

static void host_ussd_cancel(void *ctx)
{
	struct router_vm *vm = ctx;

	vm->r->radio->ops->ussd_cancel(vm->r->radio, vm->cfg.number);
}

static const struct modem_host_ops router_host_ops = {
	.output = host_output,
	.dial = host_dial,
	.answer = host_answer,
	.hangup = host_hangup,
	.hold = host_hold,
	.send_sms = host_send_sms,
	.ussd = host_ussd,
	.ussd_cancel = host_ussd_cancel,
};

struct router *router_new(struct radio *radio, enum router_dsds dsds)
{
	struct router *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->radio = radio;
	r->dsds = dsds;
	r->signal = 99;
	radio->ev = &router_radio_events;
	radio->ev_ctx = r;
	return r;
}

void router_free(struct router *r)
{
	if (!r)
		return;
	for (int i = 0; i < r->nvms; i++)
		modem_free(r->vms[i].modem);
	r->radio->ev = NULL;
	free(r);
}

int router_add_vm(struct router *r, const struct modem_config *cfg, bool barred)
{
	struct router_vm *vm;
	int ret;

	if (r->nvms >= ROUTER_MAX_VMS)
		return -ENOSPC;
	if (!sms_addr_valid(cfg->number))
		return -EINVAL;
	if (vm_by_number(r, cfg->number))
		return -EEXIST;
	vm = &r->vms[r->nvms];
	memset(vm, 0, sizeof(*vm));
	vm->r = r;
	vm->index = r->nvms;
	vm->cfg = *cfg;
	modem_config_fill(&vm->cfg, (unsigned int)vm->index);
	vm->barred = barred;
	ret = r->radio->ops->attach(r->radio, vm->cfg.number);
	if (ret < 0)
		return ret;
	vm->modem = modem_new(&vm->cfg, &router_host_ops, vm);
	if (!vm->modem)
		return -ENOMEM;
	modem_set_network(vm->modem, r->service, barred, r->signal);
	return r->nvms++;
}

void router_set_output(struct router *r, int vm, router_write_fn fn, void *ctx)
{
	r->vms[vm].write = fn;
	r->vms[vm].write_ctx = ctx;
}

struct modem *router_modem(struct router *r, int vm)
{
	return r->vms[vm].modem;
}

int router_vm_count(const struct router *r)
{
	return r->nvms;
}

int router_set_barred(struct router *r, int vm, bool barred)
{
	if (vm < 0 || vm >= r->nvms)
		return -ENOENT;
	r->vms[vm].barred = barred;
	if (barred) {
		for (int i = 0; i < ROUTER_MAX_QUEUED; i++) {
			struct router_queued *q = &r->queued[i];

			if (q->used && q->vm == vm) {
				q->used = false;
				reject(r, q->id, RADIO_REJECT_UNREACHABLE);
			}
		}
	}
	log_info("router: VM %s %s", r->vms[vm].cfg.name,
		 barred ? "barred from telephony" : "allowed telephony");
	/* The modem drops its calls itself when it learns it is barred. */
	modem_set_network(r->vms[vm].modem, r->service, barred, r->signal);
	return 0;
}

int router_find_vm(const struct router *r, const char *name)
{
	for (int i = 0; i < r->nvms; i++) {
		if (strcmp(r->vms[i].cfg.name, name) == 0)
			return i;
	}
	return -ENOENT;
}

const struct modem_config *router_vm_config(const struct router *r, int vm)
{
	return &r->vms[vm].cfg;
}

bool router_vm_barred(const struct router *r, int vm)
{
	return r->vms[vm].barred;
}

void router_tick(struct router *r, time_t now)
{
	for (int i = 0; i < r->nvms; i++)
		modem_tick(r->vms[i].modem, now);
}
