/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The device side of docs/protocol.md (server branch): enrollment, check-in
 * request and answer, command acknowledgment. The answer parsers take
 * untrusted bytes and are fuzzed (fuzz/device/).
 */
#ifndef POCKETVM_DEVICE_PROTO_H
#define POCKETVM_DEVICE_PROTO_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/util.h"
#include "device/identity.h"
#include "device/state.h"

#define PROTO_MAX_CMDS 32
#define NONCE_LEN 32 /* base64url characters */

enum cmd_type {
	CMD_UNKNOWN,
	CMD_LOCK,
	CMD_UNLOCK,
	CMD_WIPE_VM,
	CMD_WIPE_DEVICE,
	CMD_UNENROLL,
};

struct proto_cmd {
	char id[ID_LEN + 1];
	enum cmd_type type;
	char vm[ID_LEN + 1];
};

struct proto_vm {
	char id[ID_LEN + 1];
	char name[NAME_MAX_LEN + 1];
	char state[16];
	char tang_path[128];
	char kid[128];
	char image[NAME_MAX_LEN + 1]; /* assigned image name, "" for none */
	char image_version[NAME_MAX_LEN + 1];
};

struct checkin_answer {
	char device_id[ID_LEN + 1];
	bool revoked;
	int64_t server_time, seq, interval;
	size_t n_vms;
	struct proto_vm vms[STATE_MAX_VMS];
	size_t n_leases;
	struct {
		char vm[ID_LEN + 1];
		json_t *jws;
	} leases[STATE_MAX_VMS];
	size_t n_cmds;
	struct proto_cmd cmds[PROTO_MAX_CMDS];
};

/* Parses a 200 check-in answer; false with the reason in err. */
bool checkin_parse(const void *buf, size_t len, struct checkin_answer *a, char *err, size_t errlen);
void checkin_answer_free(struct checkin_answer *a);

/* A fresh random nonce, NONCE_LEN base64url chars + NUL. */
void proto_nonce(char out[NONCE_LEN + 1]);

/* The check-in request body (malloc'd JSON) with the VMs' states and pending acks. */
char *checkin_request(const char *nonce, int64_t now, const struct dstate *st,
		      bool (*running)(const char *vm_id, void *arg), void *arg);

/*
 * Enrolls: generates the device key, sends the CSR with the token, checks
 * the returned CA against pin, the certificate against the key and CA.
 * Fills *id (enrolled) and *server_time. Returns 0, -EHOSTUNREACH (server
 * unreachable), -EPERM (CA pin mismatch), -EACCES (token refused: err has
 * the server's code) or -EPROTO (bad answer).
 */
int __must_check proto_enroll(const char *url, const char *token, const uint8_t pin[32],
			      const char *name, struct identity *id, int64_t *server_time,
			      char *err, size_t errlen);

/* Parses the enrollment answer into *id (key already set); exposed for fuzzing. */
bool enroll_parse(const void *buf, size_t len, struct identity *id, int64_t *server_time, char *err,
		  size_t errlen);

const char *cmd_type_name(enum cmd_type t);

#endif
