/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The host side of virtio-vsock, implemented in the VMM (no vhost, no host
 * kernel module): guest stream connections are bridged to unix sockets the
 * way Firecracker's hybrid vsock does it.
 *
 *  - The guest connects to CID 2 port P: the mux connects to the unix
 *    socket "<uds_path>_P"; if nothing listens there, the guest gets RST.
 *  - A host program connects to the unix socket <uds_path> (the mux listens
 *    on it) and writes "CONNECT P\n": the mux asks the guest to accept on
 *    port P and answers "OK <host port>\n" once the guest did.
 *
 * The mux knows nothing of virtqueues: the device hands it each packet the
 * guest sent (vsock_mux_guest_tx) and asks it for packets to give the guest
 * (vsock_mux_guest_rx). Everything from the guest is validated: a packet
 * with a wrong CID, a bad length, an unknown op, or data beyond the credit
 * we granted is dropped or answered with RST, and logged; it never reaches
 * another connection, another VM or the host beyond its own socket.
 *
 * Not thread-safe: one device thread drives one mux.
 */
#ifndef POCKETVM_VMM_VSOCK_MUX_H
#define POCKETVM_VMM_VSOCK_MUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/util.h"

#define VSOCK_HOST_CID 2u
#define VSOCK_HDR_SIZE 44u
/* The most payload one packet carries (the rx buffers Linux posts are 4 KiB). */
#define VSOCK_MAX_PKT_PAYLOAD (64u * 1024)

enum vsock_op {
	VSOCK_OP_INVALID = 0,
	VSOCK_OP_REQUEST = 1,
	VSOCK_OP_RESPONSE = 2,
	VSOCK_OP_RST = 3,
	VSOCK_OP_SHUTDOWN = 4,
	VSOCK_OP_RW = 5,
	VSOCK_OP_CREDIT_UPDATE = 6,
	VSOCK_OP_CREDIT_REQUEST = 7,
};

#define VSOCK_TYPE_STREAM 1u
#define VSOCK_SHUTDOWN_RCV 1u
#define VSOCK_SHUTDOWN_SEND 2u

/* The packet header in host byte order (the wire format is little-endian). */
struct vsock_hdr {
	uint64_t src_cid;
	uint64_t dst_cid;
	uint32_t src_port;
	uint32_t dst_port;
	uint32_t len;
	uint16_t type;
	uint16_t op;
	uint32_t flags;
	uint32_t buf_alloc;
	uint32_t fwd_cnt;
};

/* Parses the 44-byte wire header; false if len is short. */
bool vsock_hdr_parse(const void *buf, size_t len, struct vsock_hdr *h);
void vsock_hdr_write(const struct vsock_hdr *h, void *buf);

struct vsock_mux;

/*
 * A mux for the guest with CID guest_cid (>= 3), listening on uds_path for
 * host-initiated connections. Returns NULL with errno set on failure.
 */
struct vsock_mux *vsock_mux_new(uint64_t guest_cid, const char *uds_path);
void vsock_mux_free(struct vsock_mux *m);

/*
 * An epoll fd that becomes readable whenever vsock_mux_process() has work;
 * the device adds it to its own event loop.
 */
int vsock_mux_fd(const struct vsock_mux *m);

/* Services every ready socket (accepts, reads, writes). Never blocks. */
void vsock_mux_process(struct vsock_mux *m);

/*
 * One packet the guest put on its TX queue: header bytes and payload.
 * Returns 0 if it was accepted or answered (RST included), -EINVAL if it
 * was malformed and dropped (logged with the reason).
 */
int vsock_mux_guest_tx(struct vsock_mux *m, const void *hdr, size_t hdr_len, const void *data,
		       size_t data_len);

/*
 * The next packet for the guest's RX queue, header then payload, written to
 * buf (cap must hold VSOCK_HDR_SIZE plus what the payload needs; the mux
 * never makes a packet larger than cap). Returns its length, or 0 when none
 * is pending.
 */
size_t vsock_mux_guest_rx(struct vsock_mux *m, void *buf, size_t cap);

/* Whether vsock_mux_guest_rx() has something to give. */
bool vsock_mux_rx_pending(const struct vsock_mux *m);

/* Number of open connections (for statistics and tests). */
size_t vsock_mux_nr_conns(const struct vsock_mux *m);

/*
 * The driver reset the device: every connection is closed (their host
 * sockets see EOF) and nothing is owed to the guest; the listener stays.
 */
void vsock_mux_reset(struct vsock_mux *m);

/*
 * From now on guest connections go to "<basename of uds_path>_P" relative
 * to the working directory: the jailed VMM has no file system but its
 * vsock directory, which it made its working directory (docs/vmm-jail.md).
 */
void vsock_mux_connect_relative(struct vsock_mux *m);

#endif
