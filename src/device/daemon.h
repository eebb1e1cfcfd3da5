/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pocketvmd's state and the operations its parts share. Everything here is
 * owned by the event loop thread; network jobs (netjob.h) only hand results
 * back to it.
 */
#ifndef POCKETVM_DEVICE_DAEMON_H
#define POCKETVM_DEVICE_DAEMON_H

#include <event2/event.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/util.h"
#include "device/clock.h"
#include "device/identity.h"
#include "device/netjob.h"
#include "device/state.h"
#include "device/vmconf.h"

#define MAX_VMS 32
#define HWM_SAVE_INTERVAL 30

enum vm_run {
	VM_STOPPED,
	VM_OPENING, /* recovering the key from the server */
	VM_RUNNING,
	VM_STOPPING,
};

struct ctl_conn;

struct vm {
	bool present;
	bool seen; /* found by the current directory scan */
	char dir[PATH_MAX];
	struct vmconf conf;
	enum vm_run run;
	bool want_running;
	pid_t pid;
	int console_fd; /* our end of the VMM's stdio */
	struct event *console_ev;
	int log_fd; /* dir/console.log */
	int last_exit; /* wait status of the last VMM, -1 if none */
	int restarts; /* consecutive restarts without 10 s of uptime */
	int64_t started_boot_ns;
	struct event *restart_ev;
	char last_error[400];
	struct ctl_conn *consoles;
	struct pvd *d;
	int64_t stop_deadline_ns; /* VM_STOPPING: when SIGKILL follows SIGTERM */
	bool autostarted; /* autostart tried once since pocketvmd started */
	unsigned int gen; /* bumped by every start and stop: stale unlock jobs see it */
	struct ctl_conn *start_waiter;
};

/* Test hooks (the device tests only): crash at a wipe step. */
enum fault_point {
	FAULT_NONE,
	FAULT_AFTER_ERASE, /* key bindings destroyed, image not yet removed */
	FAULT_AFTER_REMOVE, /* image removed, journal not yet cleared */
};

/* How a VM's data key is recovered and its image crypto-erased (device/unlock.c). */
struct image_ops {
	/*
	 * Recovers the DEK of an encrypted image through its binding (mTLS to the
	 * server with the device identity) and returns it as a readable fd
	 * holding exactly 32 bytes (memfd_secret or pipe). Runs in a worker
	 * thread. -EHOSTUNREACH: server unreachable; -EACCES: server refused.
	 */
	int (*unlock)(const char *image, const char *state_dir, int *key_fd, char *err,
		      size_t errlen);
	/* Destroys the image's key bindings durably. Idempotent: 0 if already erased or absent. */
	int (*erase)(const char *image, char *err, size_t errlen);
};

struct pvd {
	struct event_base *base;
	char dir[PATH_MAX]; /* state directory (0700) */
	char sock_path[PATH_MAX];
	char vmm_path[PATH_MAX];
	const struct image_ops *img;
	enum fault_point fault;

	struct identity id;
	uint8_t *state_key; /* secure heap */
	struct dstate st;
	struct tclock clock;
	int64_t last_hwm_save;

	/* check-in */
	struct netq *net;
	struct event *checkin_ev;
	bool checkin_running;
	bool checkin_again;
	int64_t interval;
	int64_t backoff;
	int64_t last_contact; /* trusted time of the last successful check-in, 0 none */
	char last_error[256];
	char nonce[64];
	struct ctl_conn *enroll_waiter;
	bool ack_inflight;
	bool provisioning; /* an image download is running (one at a time) */
	int64_t max_interval; /* cap on the server's check-in interval (0: none) */

	struct vm vms[MAX_VMS];
	bool stopping; /* SIGTERM: guests are shutting down, then the daemon exits */
	struct event *tick_ev;
	struct event *sigchld_ev;
	int listen_fd;
	struct event *listen_ev;
};

int __must_check pvd_init(struct pvd *d);
void pvd_fini(struct pvd *d);

/* Persists st (with the clock) now; logs and returns -errno on failure. */
int pvd_save(struct pvd *d);

/* Scans STATE/vms/ for vm.json files; keeps running VMs. */
void pvd_scan_vms(struct pvd *d);
struct vm *pvd_vm(struct pvd *d, const char *name);
struct vm *pvd_vm_by_id(struct pvd *d, const char *server_vm);

/* Seconds left on a managed VM's lease (<= 0: expired), or INT64_MIN without lease. */
int64_t pvd_lease_left(struct pvd *d, const struct vm *vm);

/*
 * Starts VMs whose vm.json says autostart, once per daemon run: personal VMs
 * at start, work VMs once a check-in has given them a lease.
 */
void pvd_autostart(struct pvd *d);

/* Stops expired and locked VMs, journals wipes of expired ones. Runs every second. */
void pvd_enforce(struct pvd *d);

/* check-in and enrollment (checkin.c) */
void checkin_schedule(struct pvd *d, int64_t seconds);
void checkin_now(struct pvd *d);
int __must_check enroll_start(struct pvd *d, struct ctl_conn *c, const char *url, const char *token,
			      const uint8_t pin[32], const char *name);

/* Downloads and installs the first assigned, unprovisioned VM (provision.c). */
struct proto_vm;
void provision_check(struct pvd *d, const struct proto_vm *vms, size_t n);

/* wipes (wipe.c) */
int __must_check wipe_journal(struct pvd *d, const struct journal_ent *e);
void wipe_resume(struct pvd *d);

/* supervisor (supervisor.c) */
/*
 * Starts vm. Returns 0 when it runs, 1 when it is opening (the key is being
 * recovered; c, if any, gets the answer later), or -errno with *code (a
 * stable error code for the CLI) and err set.
 */
int __must_check vm_start(struct pvd *d, struct vm *vm, struct ctl_conn *c, const char **code,
			  char *err, size_t errlen);
void vm_stop(struct pvd *d, struct vm *vm, bool hard);
void vm_reaped(struct pvd *d, pid_t pid, int status);
/* Kills VMMs a previous daemon left running (their pid files). */
void supervisor_kill_orphans(struct pvd *d);
/* Escalates graceful stops that took too long; called every second. */
void supervisor_tick(struct pvd *d);
const char *vm_run_name(enum vm_run r);

/* control socket (ctl.c) */
int __must_check ctl_listen(struct pvd *d);
void ctl_reply_async(struct pvd *d, struct ctl_conn *c, int r, const char *code, const char *msg);

#endif
