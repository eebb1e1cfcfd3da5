// SPDX-License-Identifier: Apache-2.0
/*
 * Crypto-erase, journaled. A wipe is first written to the state file, then
 * carried out step by step; every step is idempotent, so a daemon killed at
 * any point finishes the wipe at its next start (wipe_resume()):
 *   1. stop the VM (SIGKILL: its memory holds the key);
 *   2. destroy the image's key bindings, synced (the data is unreadable now);
 *   3. remove the VM's directory (image, kernel, logs), synced;
 *   4. forget its lease, queue the command's ack, clear the journal entry.
 * wipe_device / unenroll then acknowledge to the server and only after that
 * destroy the device identity (docs/protocol.md section 5).
 */
#include <errno.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "device/client.h"
#include "device/daemon.h"
#include "device/fsutil.h"

static void fault(struct pvd *d, enum fault_point at)
{
	if (d->fault == at) {
		log_warn("wipe: fault injection: crashing at step %d", at);
		raise(SIGKILL);
	}
}

/* Steps 1-3 for one VM directory. 0 when the VM is gone for good. */
static int erase_vm(struct pvd *d, struct vm *vm)
{
	char disk[PATH_MAX + VMCONF_PATH_MAX + 2], parent[PATH_MAX], err[256];
	int r;

	vm->want_running = false;
	vm_stop(d, vm, true);
	if (vm->conf.disk[0]) {
		snprintf(disk, sizeof(disk), "%s/%s", vm->dir, vm->conf.disk);
		r = d->img->erase(disk, err, sizeof(err));
		if (r < 0) {
			log_error("vm %s: crypto-erase failed: %s", vm->conf.name, err);
			return r;
		}
		log_info("vm %s: key bindings destroyed", vm->conf.name);
	}
	fault(d, FAULT_AFTER_ERASE);
	r = remove_tree(vm->dir);
	if (r < 0) {
		log_error("vm %s: cannot remove %s: %s", vm->conf.name, vm->dir, strerror(-r));
		return r;
	}
	snprintf(parent, sizeof(parent), "%s", vm->dir);
	fsync_dir(dirname(parent));
	log_info("vm %s: image removed", vm->conf.name);
	vm->present = false;
	fault(d, FAULT_AFTER_REMOVE);
	return 0;
}

static int wipe_one(struct pvd *d, const char *id)
{
	struct vm *vm = pvd_vm_by_id(d, id);
	int r = vm ? erase_vm(d, vm) : 0;

	if (r == 0)
		state_vm_remove(&d->st, id);
	return r;
}

static int wipe_all(struct pvd *d)
{
	int r = 0;

	for (size_t i = 0; i < MAX_VMS; i++)
		if (d->vms[i].present && d->vms[i].conf.managed[0] && erase_vm(d, &d->vms[i]) < 0)
			r = -EIO;
	if (!r)
		d->st.n_vms = 0;
	return r;
}

struct ack_job {
	struct netjob job;
	struct pvd *d;
	char url[URL_MAX_LEN + 1];
	X509 *ca, *cert;
	EVP_PKEY *key;
	char cmd[ID_LEN + 1];
	char body[DETAIL_MAX_LEN + 64];
	int r;
	long status;
	char error[64];
};

static void ack_run(struct netjob *job)
{
	struct ack_job *j = (struct ack_job *)job;
	struct client_tls tls = { .ca = j->ca, .cert = j->cert, .key = j->key };
	struct http_resp resp;
	char path[128], err[256];

	snprintf(path, sizeof(path), "/v1/commands/%s/ack", j->cmd);
	j->r = client_request(j->url, &tls, "POST", path, "application/json", j->body,
			      strlen(j->body), &resp, err, sizeof(err));
	if (j->r == 0) {
		j->status = resp.status;
		snprintf(j->error, sizeof(j->error), "%s", resp.error);
	}
	http_resp_free(&resp);
}

static void finish_identity(struct pvd *d, size_t ji);

static void ack_done(struct netjob *job)
{
	struct ack_job *j = (struct ack_job *)job;
	struct pvd *d = j->d;
	/* Delivered, or the server already knows (acknowledged or retired). */
	bool delivered = j->r == 0 && (j->status == 200 || j->status == 409 ||
				       strcmp(j->error, "device_retired") == 0);

	X509_free(j->ca);
	X509_free(j->cert);
	EVP_PKEY_free(j->key);
	d->ack_inflight = false;
	if (!delivered) {
		log_warn("wipe: acknowledgment of %s not delivered (%s), will retry", j->cmd,
			 j->r ? "server unreachable" : j->error);
		free(j);
		return;
	}
	log_info("wipe: command %s acknowledged", j->cmd);
	for (size_t i = 0; i < d->st.n_journal; i++)
		if (strcmp(d->st.journal[i].cmd, j->cmd) == 0) {
			d->st.journal[i].cmd[0] = '\0';
			finish_identity(d, i);
			break;
		}
	free(j);
}

static void post_ack(struct pvd *d, const struct journal_ent *e)
{
	struct ack_job *j = calloc(1, sizeof(*j));

	if (!j)
		return;
	j->job.run = ack_run;
	j->job.done = ack_done;
	j->d = d;
	snprintf(j->url, sizeof(j->url), "%s", d->id.url);
	snprintf(j->cmd, sizeof(j->cmd), "%s", e->cmd);
	snprintf(j->body, sizeof(j->body), "{\"status\":\"done\",\"detail\":\"%s\"}",
		 e->op == JOURNAL_UNENROLL ? "unenrolled: managed VMs wiped, identity deleted" :
					     "device wiped: managed VMs erased, identity deleted");
	X509_up_ref(j->ca = d->id.ca);
	X509_up_ref(j->cert = d->id.cert);
	EVP_PKEY_up_ref(j->key = d->id.key);
	d->ack_inflight = true;
	if (netq_submit(d->net, &j->job) < 0) {
		d->ack_inflight = false;
		X509_free(j->ca);
		X509_free(j->cert);
		EVP_PKEY_free(j->key);
		free(j);
	}
}

/* Device-level wipes: the identity goes once the server has the ack. */
static void finish_identity(struct pvd *d, size_t ji)
{
	struct journal_ent *e = &d->st.journal[ji];
	int r;

	if (e->cmd[0] && d->id.enrolled) {
		if (!d->ack_inflight)
			post_ack(d, e);
		return;
	}
	r = identity_destroy(d->dir);
	if (r < 0) {
		log_error("wipe: cannot destroy the identity: %s", strerror(-r));
		return;
	}
	identity_clear(&d->id);
	log_warn("device identity deleted (%s): enroll again to use managed VMs",
		 e->op == JOURNAL_UNENROLL ? "unenrolled" : "device wiped");
	state_journal_remove(&d->st, ji);
	d->st.seq = 0;
	d->st.n_acks = 0;
	d->last_contact = 0;
	pvd_save(d);
}

/* Runs journal entry i; true if it is finished (and removed). */
static bool run_entry(struct pvd *d, size_t i)
{
	struct journal_ent e = d->st.journal[i];

	if (e.op == JOURNAL_WIPE_VM) {
		if (wipe_one(d, e.vm) < 0)
			return false;
		if (e.cmd[0] && state_ack_add(&d->st, e.cmd, true, "vm wiped") < 0)
			log_error("wipe: ack table full");
		state_journal_remove(&d->st, i);
		log_warn("vm %s: wiped (%s)", e.vm, e.reason);
		pvd_save(d);
		return true;
	}
	if (wipe_all(d) < 0)
		return false;
	pvd_save(d);
	finish_identity(d, i);
	return false; /* may wait for the ack */
}

void wipe_resume(struct pvd *d)
{
	size_t i = 0;

	while (i < d->st.n_journal) {
		size_t before = d->st.n_journal;

		if (!run_entry(d, i) && d->st.n_journal == before)
			i++;
	}
}

int wipe_journal(struct pvd *d, const struct journal_ent *e)
{
	int r = state_journal_add(&d->st, e);

	if (r < 0)
		return r;
	/* Durable before the first step: a crash from here on resumes the wipe. */
	r = pvd_save(d);
	if (r < 0)
		return r;
	wipe_resume(d);
	return 0;
}
