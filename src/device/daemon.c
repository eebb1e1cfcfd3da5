// SPDX-License-Identifier: Apache-2.0
#include "device/daemon.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "common/log.h"
#include "device/fsutil.h"

static void path_of(char *out, size_t cap, const char *dir, const char *name)
{
	if (path_join(out, cap, dir, name) < 0)
		die("path too long: %s/%s", dir, name); /* the state dir is checked at start */
}

int pvd_save(struct pvd *d)
{
	char p[PATH_MAX];
	int r;

	tclock_save(&d->clock, &d->st.clock);
	snprintf(d->st.device_id, sizeof(d->st.device_id), "%s", d->id.device_id);
	path_of(p, sizeof(p), d->dir, "state");
	r = state_save(p, d->state_key, &d->st);
	if (r < 0)
		log_error("state: cannot save %s: %s", p, strerror(-r));
	d->last_hwm_save = d->st.clock.hwm;
	return r;
}

/* A managed VM whose lease cannot be known any more is crypto-erased. */
static void wipe_unaccounted(struct pvd *d, const char *why)
{
	for (size_t i = 0; i < MAX_VMS; i++) {
		struct vm *vm = &d->vms[i];
		struct journal_ent e = { .op = JOURNAL_WIPE_VM };

		if (!vm->present || !vm->conf.managed[0])
			continue;
		log_warn("vm %s: %s: its lease cannot be verified, crypto-erasing it",
			 vm->conf.name, why);
		snprintf(e.vm, sizeof(e.vm), "%s", vm->conf.managed);
		snprintf(e.reason, sizeof(e.reason), "%s", why);
		if (state_journal_add(&d->st, &e) < 0)
			log_error("wipe: journal full");
	}
}

static int load_state(struct pvd *d)
{
	char p[PATH_MAX], err[256];
	bool created;
	int r, lr;

	r = state_key_load(d->dir, d->state_key, &created);
	if (r < 0) {
		log_error("state: cannot load or create the state key: %s", strerror(-r));
		return r;
	}
	path_of(p, sizeof(p), d->dir, "state");
	r = state_load(p, d->state_key, &d->st, err, sizeof(err));
	lr = r;
	if (r == 0) {
		r = tclock_init(&d->clock, &tclock_system_ops, NULL, &d->st.clock);
		if (!r && d->id.enrolled && strcmp(d->st.device_id, d->id.device_id) != 0) {
			log_warn("state: belongs to another enrollment, starting afresh");
			memset(&d->st, 0, sizeof(d->st));
		}
		return r;
	}
	memset(&d->st, 0, sizeof(d->st));
	if (r == -ENOENT && created)
		log_info("state: first start, no state yet");
	else if (r == -ENOENT)
		log_warn("state: %s is missing", p);
	else
		log_warn("%s", err);
	r = tclock_init(&d->clock, &tclock_system_ops, NULL, NULL);
	if (r)
		return r;
	/* Deleting or forging the state must never keep a work VM alive. */
	if (!created || d->id.enrolled)
		wipe_unaccounted(d, lr == -ENOENT ? "state file missing" : "state file invalid");
	return 0;
}

int pvd_init(struct pvd *d)
{
	char err[256], p[PATH_MAX];
	int r;

	d->state_key = OPENSSL_secure_malloc(STATE_KEY_LEN);
	if (!d->state_key)
		return -ENOMEM;
	if (mkdir(d->dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	chmod(d->dir, 0700);
	path_of(p, sizeof(p), d->dir, "vms");
	if (mkdir(p, 0700) < 0 && errno != EEXIST)
		return -errno;
	r = identity_load(&d->id, d->dir, err, sizeof(err));
	if (r < 0) {
		log_error("%s", err);
		return r;
	}
	pvd_scan_vms(d);
	r = load_state(d);
	if (r < 0)
		return r;
	d->interval = 300;
	d->backoff = 0;
	return pvd_save(d);
}

void pvd_fini(struct pvd *d)
{
	identity_clear(&d->id);
	if (d->state_key)
		OPENSSL_secure_clear_free(d->state_key, STATE_KEY_LEN);
	d->state_key = NULL;
}

struct vm *pvd_vm(struct pvd *d, const char *name)
{
	for (size_t i = 0; i < MAX_VMS; i++)
		if (d->vms[i].present && strcmp(d->vms[i].conf.name, name) == 0)
			return &d->vms[i];
	return NULL;
}

struct vm *pvd_vm_by_id(struct pvd *d, const char *server_vm)
{
	for (size_t i = 0; i < MAX_VMS; i++)
		if (d->vms[i].present && strcmp(d->vms[i].conf.managed, server_vm) == 0)
			return &d->vms[i];
	return NULL;
}

static struct vm *free_slot(struct pvd *d)
{
	for (size_t i = 0; i < MAX_VMS; i++)
		if (!d->vms[i].present && d->vms[i].run == VM_STOPPED)
			return &d->vms[i];
	return NULL;
}

static void load_vm(struct pvd *d, const char *name)
{
	char dir[PATH_MAX], p[PATH_MAX + 16], err[256], *buf;
	struct event *restart_ev;
	struct vmconf c;
	struct vm *vm;
	size_t len;
	int r;

	if (snprintf(dir, sizeof(dir), "%s/vms/%s", d->dir, name) >= (int)sizeof(dir) ||
	    path_join(p, sizeof(p), dir, "vm.json") < 0)
		return;
	r = read_file(p, VMCONF_MAX_SIZE, &buf, &len);
	if (r < 0) {
		if (r != -ENOENT)
			log_warn("vm %s: cannot read %s: %s", name, p, strerror(-r));
		return;
	}
	err[0] = '\0';
	if (!vmconf_parse(buf, len, &c, err, sizeof(err)) || strcmp(c.name, name) != 0) {
		log_warn("vm %s: %s", name, err[0] ? err : "name differs from its directory");
		free(buf);
		return;
	}
	free(buf);
	vm = pvd_vm(d, name);
	if (!vm) {
		vm = free_slot(d);
		if (!vm) {
			log_warn("vm %s: more than %d VMs, ignored", name, MAX_VMS);
			return;
		}
		restart_ev = vm->restart_ev; /* bound to this slot: reused */
		memset(vm, 0, sizeof(*vm));
		vm->d = d;
		vm->restart_ev = restart_ev;
		vm->console_fd = -1;
		vm->log_fd = -1;
		vm->last_exit = -1;
	}
	vm->present = true;
	vm->seen = true;
	snprintf(vm->dir, sizeof(vm->dir), "%s", dir);
	/* A running VM keeps the configuration it was started with. */
	if (vm->run == VM_STOPPED)
		vm->conf = c;
}

void pvd_scan_vms(struct pvd *d)
{
	char p[PATH_MAX];
	struct dirent *de;
	DIR *dir;

	path_of(p, sizeof(p), d->dir, "vms");
	dir = opendir(p);
	if (!dir)
		return;
	for (size_t i = 0; i < MAX_VMS; i++)
		d->vms[i].seen = false;
	while ((de = readdir(dir)))
		if (vm_name_ok(de->d_name))
			load_vm(d, de->d_name);
	closedir(dir);
	/* Directories that went away: forget the VM once it is stopped. */
	for (size_t i = 0; i < MAX_VMS; i++)
		if (d->vms[i].present && !d->vms[i].seen && d->vms[i].run == VM_STOPPED)
			d->vms[i].present = false;
}

int64_t pvd_lease_left(struct pvd *d, const struct vm *vm)
{
	struct vm_rec *r;

	if (!vm->conf.managed[0])
		return INT64_MAX;
	r = state_vm(&d->st, vm->conf.managed);
	if (!r || !r->lease.valid)
		return INT64_MIN;
	return r->lease.exp - tclock_now(&d->clock);
}

void pvd_enforce(struct pvd *d)
{
	int64_t now = tclock_now(&d->clock);

	for (size_t i = 0; i < d->st.n_vms; i++) {
		struct vm_rec *r = &d->st.vms[i];
		struct vm *vm = pvd_vm_by_id(d, r->id);
		struct journal_ent e = { .op = JOURNAL_WIPE_VM };

		if (!r->lease.valid || now < r->lease.exp)
			continue;
		log_warn(
			"vm %s: lease expired %lld s ago without contact (offline lifetime %lld s): "
			"crypto-erasing",
			vm ? vm->conf.name : r->id, (long long)(now - r->lease.exp),
			(long long)r->lease.offline);
		snprintf(e.vm, sizeof(e.vm), "%s", r->id);
		snprintf(e.reason, sizeof(e.reason), "offline lifetime expired");
		if (wipe_journal(d, &e) < 0)
			log_error("vm %s: cannot journal the wipe", r->id);
		return; /* st.vms changed */
	}
	for (size_t i = 0; i < MAX_VMS; i++) {
		struct vm *vm = &d->vms[i];
		struct vm_rec *r;

		if (!vm->present || !vm->conf.managed[0] || vm->run == VM_STOPPED)
			continue;
		r = state_vm(&d->st, vm->conf.managed);
		if (!r || !r->lease.valid || r->lease.locked || strcmp(r->state, "locked") == 0) {
			log_warn("vm %s: %s: stopping", vm->conf.name,
				 !r || !r->lease.valid ? "no valid lease" : "locked by the server");
			vm->want_running = false;
			vm_stop(d, vm, true);
		}
	}
	if (tclock_trusted(&d->clock) - d->last_hwm_save >= HWM_SAVE_INTERVAL)
		pvd_save(d);
}

void pvd_autostart(struct pvd *d)
{
	for (size_t i = 0; i < MAX_VMS; i++) {
		struct vm *vm = &d->vms[i];
		const char *code = NULL;
		char err[400];

		if (!vm->present || !vm->conf.autostart || vm->autostarted || vm->run != VM_STOPPED)
			continue;
		if (vm->conf.managed[0] && pvd_lease_left(d, vm) <= 0)
			continue; /* tried again after the next check-in */
		vm->autostarted = true;
		if (vm_start(d, vm, NULL, &code, err, sizeof(err)) < 0)
			log_error("vm %s: autostart failed: %s", vm->conf.name, err);
	}
}
