/* SPDX-License-Identifier: Apache-2.0 */
/* Request handlers (one per route; see routes.c) and the command logic they share. */
#ifndef POCKETVM_SERVER_API_H
#define POCKETVM_SERVER_API_H

#include "server/server.h"

/* api_device.c */
void h_server_info(struct req *r);
void h_enroll(struct req *r);
void h_renew(struct req *r);
void h_checkin(struct req *r);
void h_ack(struct req *r);
void h_adv(struct req *r);
void h_rec(struct req *r);
void h_rec_kid(struct req *r);

/* api_images.c */
void h_image_manifest(struct req *r);
void h_image_file(struct req *r);
void h_admin_image_upload(struct req *r);
void h_admin_image_publish(struct req *r);
void h_admin_image_list(struct req *r);

/* api_web.c */
void h_console(struct req *r);
void h_root(struct req *r);

/* api_admin.c */
void h_admin_whoami(struct req *r);
void h_admin_token_list(struct req *r);
void h_admin_token_create(struct req *r);
void h_admin_token_revoke(struct req *r);
void h_etoken_create(struct req *r);
void h_etoken_list(struct req *r);
void h_etoken_delete(struct req *r);
void h_group_list(struct req *r);
void h_group_create(struct req *r);
void h_group_get(struct req *r);
void h_group_policy(struct req *r);
void h_device_list(struct req *r);
void h_device_get(struct req *r);
void h_device_policy(struct req *r);
void h_device_revoke(struct req *r);
void h_device_command(struct req *r);
void h_vm_list(struct req *r);
void h_vm_create(struct req *r);
void h_vm_get(struct req *r);
void h_vm_policy(struct req *r);
void h_vm_revoke(struct req *r);
void h_cmd_list(struct req *r);
void h_cmd_get(struct req *r);
void h_audit_list(struct req *r);

/* commands.c */
enum cmd_type { CMD_LOCK, CMD_UNLOCK, CMD_WIPE_VM, CMD_WIPE_DEVICE, CMD_UNENROLL };
bool cmd_type_parse(const char *s, enum cmd_type *t);
const char *cmd_type_name(enum cmd_type t);
bool cmd_type_needs_vm(enum cmd_type t);
/*
 * Queues a command for device (vm may be NULL for device-wide ones) and
 * applies its server-side effect at once (keys deleted for wipes), audited,
 * in one transaction. On success id receives the command id. 0 or -errno.
 */
int __must_check cmd_create(struct worker *w, const char *actor, const char *device, const char *vm,
			    enum cmd_type t, char id[UUID_LEN + 1]);
/*
 * Records the device's acknowledgment inside the caller's transaction.
 * Returns 0, -ENOENT (no such command for device), -EALREADY, or -errno.
 */
int __must_check cmd_ack(struct worker *w, const char *device, const char *id, bool done,
			 const char *detail);

/* Builds the JSON of a row from Q_DEVICE_* / Q_VM_* / Q_CMD_* selects. */
json_t *device_json(const struct store_rows *rows, int i);
json_t *vm_json(const struct store_rows *rows, int i);
json_t *cmd_json(const struct store_rows *rows, int i);

/* Replies 503 for a database error, 500 otherwise. */
void reply_store_error(struct req *r, int err);

#endif
