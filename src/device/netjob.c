// SPDX-License-Identifier: Apache-2.0
#include "device/netjob.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

struct netq {
	int pipe[2];
	struct event *ev;
	int pending;
};

struct start {
	struct netq *q;
	struct netjob *job;
};

static void *worker(void *arg)
{
	struct start s = *(struct start *)arg;

	free(arg);
	s.job->run(s.job);
	/* A pointer-sized write to a pipe is atomic. */
	while (write(s.q->pipe[1], &s.job, sizeof(s.job)) < 0 && errno == EINTR)
		;
	return NULL;
}

static void on_done(evutil_socket_t fd, short what, void *arg)
{
	struct netq *q = arg;
	struct netjob *job;

	while (read(fd, &job, sizeof(job)) == sizeof(job)) {
		q->pending--;
		job->done(job);
	}
}

struct netq *netq_new(struct event_base *base)
{
	struct netq *q = calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	if (pipe2(q->pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		free(q);
		return NULL;
	}
	q->ev = event_new(base, q->pipe[0], EV_READ | EV_PERSIST, on_done, q);
	if (!q->ev || event_add(q->ev, NULL) < 0) {
		netq_free(q);
		return NULL;
	}
	return q;
}

void netq_free(struct netq *q)
{
	if (!q)
		return;
	if (q->ev)
		event_free(q->ev);
	close(q->pipe[0]);
	close(q->pipe[1]);
	free(q);
}

int netq_submit(struct netq *q, struct netjob *job)
{
	struct start *s = malloc(sizeof(*s));
	pthread_attr_t attr;
	pthread_t t;
	int r;

	if (!s)
		return -ENOMEM;
	s->q = q;
	s->job = job;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	r = pthread_create(&t, &attr, worker, s);
	pthread_attr_destroy(&attr);
	if (r) {
		free(s);
		log_error("netjob: cannot start a thread: %s", strerror(r));
		return -r;
	}
	q->pending++;
	return 0;
}

int netq_pending(const struct netq *q)
{
	return q->pending;
}
