/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Network requests off the event loop: each job's run() executes in its own
 * thread (blocking libcurl, bounded by timeouts) and touches only the job;
 * done() then runs on the event loop thread, which owns all daemon state.
 */
#ifndef POCKETVM_DEVICE_NETJOB_H
#define POCKETVM_DEVICE_NETJOB_H

#include <event2/event.h>

#include "common/util.h"

struct netjob {
	void (*run)(struct netjob *job); /* worker thread */
	void (*done)(struct netjob *job); /* event loop; frees the job */
};

struct netq;

struct netq *netq_new(struct event_base *base);
void netq_free(struct netq *q);
/* Starts job in a new thread; -errno if it cannot (done() is not called). */
int __must_check netq_submit(struct netq *q, struct netjob *job);
/* Jobs started and not yet done. */
int netq_pending(const struct netq *q);

#endif
