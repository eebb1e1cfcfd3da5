// SPDX-License-Identifier: Apache-2.0
/*
 * io_uring for the crypt backend's reads: the copy of the next piece of a
 * request (page cache or flash to the caller's buffer) runs in a kernel
 * io-wq worker, on another CPU, while the caller authenticates and decrypts
 * the piece before it (crypt_read.c). Without it a read costs the copy plus
 * the crypto; with it, about the larger of the two.
 *
 * The rings are made when the image is opened, which in the VMM is before
 * it confines itself, and each is locked down before it is enabled
 * (IORING_REGISTER_RESTRICTIONS): the only operation it accepts is
 * IORING_OP_READV, what preadv() already does. A VMM that is taken over
 * therefore gains no way around its seccomp allowlist through io_uring (no
 * openat, connect, ... in a ring), and the jail allows io_uring_enter but
 * never io_uring_setup or io_uring_register (docs/vmm-jail.md). The image
 * is not a registered (fixed) file: a ring would then keep it open, and its
 * lock taken, until the kernel tore the ring down, after close. Where the
 * kernel refuses any of this (no io_uring, io_uring disabled by sysctl or
 * policy, no restrictions before Linux 5.10), reads stay synchronous.
 */
#include <errno.h>
#include <liburing.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "disk/crypt_priv.h"

struct crypt_ring {
	pthread_mutex_t lock; /* held by the one request using the ring */
	struct io_uring ring;
	bool broken; /* a submission failed half-way: never used again */
};

/* A ring that only reads, with one io-wq worker per caller thread. */
static int ring_setup(struct crypt_ring *r)
{
	struct io_uring_restriction res[] = {
		{ .opcode = IORING_RESTRICTION_SQE_OP, .sqe_op = IORING_OP_READV },
		{ .opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED, .sqe_flags = IOSQE_ASYNC },
	};
	/* Bounded (file) work: one worker reads the pieces in order. */
	unsigned int workers[2] = { 1, 0 };
	int ret;

	ret = io_uring_queue_init(CRYPT_RING_DEPTH, &r->ring,
				  IORING_SETUP_R_DISABLED | IORING_SETUP_COOP_TASKRUN |
					  IORING_SETUP_TASKRUN_FLAG);
	if (ret)
		return ret;
	ret = io_uring_register_iowq_max_workers(&r->ring, workers);
	/* Raw registrations: Debian's liburing 2.3 does not export its wrappers for these. */
	if (!ret)
		ret = io_uring_register((unsigned int)r->ring.ring_fd, IORING_REGISTER_RESTRICTIONS,
					res, ARRAY_SIZE(res));
	if (!ret)
		ret = io_uring_register((unsigned int)r->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS,
					NULL, 0);
	if (ret)
		io_uring_queue_exit(&r->ring);
	return ret;
}

void crypt_rings_init(struct crypt *c)
{
	for (int i = 0; i < CRYPT_RINGS; i++) {
		struct crypt_ring *r = calloc(1, sizeof(*r));
		int ret = r ? ring_setup(r) : -ENOMEM;

		if (ret) {
			log_debug("crypt: reads stay synchronous (io_uring: %s)", strerror(-ret));
			free(r);
			return;
		}
		pthread_mutex_init(&r->lock, NULL);
		c->rings[i] = r;
	}
}

void crypt_rings_free(struct crypt *c)
{
	for (int i = 0; i < CRYPT_RINGS; i++) {
		struct crypt_ring *r = c->rings[i];

		if (!r)
			continue;
		/* Every request reaps its completions before it returns: nothing is in flight. */
		io_uring_queue_exit(&r->ring);
		pthread_mutex_destroy(&r->lock);
		free(r);
		c->rings[i] = NULL;
	}
}

struct crypt_ring *crypt_ring_get(struct crypt *c)
{
	for (int i = 0; i < CRYPT_RINGS && c->rings[i]; i++) {
		struct crypt_ring *r = c->rings[i];

		if (pthread_mutex_trylock(&r->lock) != 0)
			continue;
		if (!r->broken)
			return r;
		pthread_mutex_unlock(&r->lock);
	}
	return NULL;
}

void crypt_ring_put(struct crypt_ring *r)
{
	if (r)
		pthread_mutex_unlock(&r->lock);
}

int crypt_ring_submit(struct crypt_ring *r, int fd, const struct crypt_piece *p, unsigned int n)
{
	unsigned int queued = 0;
	int done = 0;

	for (unsigned int i = 0; i < n; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);

		if (!sqe)
			break;
		io_uring_prep_readv(sqe, fd, p[i].iov, (unsigned int)p[i].iovcnt, p[i].off);
		sqe->flags |= IOSQE_ASYNC;
		io_uring_sqe_set_data64(sqe, i);
		queued++;
	}
	while (done < (int)queued) {
		int ret = io_uring_submit(&r->ring);

		if (ret == -EINTR || ret == -EAGAIN)
			continue;
		if (ret <= 0) {
			/*
			 * SQEs left in the ring would go out with the next request's:
			 * the ring is retired and what was not taken is read directly.
			 */
			r->broken = true;
			log_debug("crypt: io_uring submit: %s", strerror(ret ? -ret : EAGAIN));
			break;
		}
		done += ret;
	}
	return done;
}

void crypt_ring_reap(struct crypt_ring *r, unsigned int *index, int *res)
{
	struct io_uring_cqe *cqe;
	int ret;

	do {
		ret = io_uring_wait_cqe(&r->ring, &cqe);
	} while (ret == -EINTR || ret == -EAGAIN);
	/* Returning would let the kernel write into buffers the caller got back. */
	if (ret)
		die("crypt: io_uring wait: %s", strerror(-ret));
	*index = (unsigned int)io_uring_cqe_get_data64(cqe);
	*res = cqe->res;
	io_uring_cqe_seen(&r->ring, cqe);
}
