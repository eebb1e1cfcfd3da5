// SPDX-License-Identifier: Apache-2.0
/* Every endpoint, its method, who may call it and how large its body may be. */
#include "server/api.h"

#define GET EVHTTP_REQ_GET
#define POST EVHTTP_REQ_POST
#define PUT EVHTTP_REQ_PUT
#define DEL EVHTTP_REQ_DELETE
#define S MAX_BODY_SMALL
#define U MAX_BODY_UPLOAD

const struct route routes[] = {
	/* Devices (docs/protocol.md). */
	{ GET, "/v1/server", AUTH_NONE, 0, h_server_info },
	{ POST, "/v1/enroll", AUTH_NONE, S, h_enroll },
	{ POST, "/v1/checkin", AUTH_DEVICE, S, h_checkin },
	{ POST, "/v1/renew", AUTH_DEVICE, S, h_renew },
	{ POST, "/v1/commands/*/ack", AUTH_DEVICE, S, h_ack },
	{ GET, "/v1/images/*/*/manifest", AUTH_DEVICE, 0, h_image_manifest },
	{ GET, "/v1/images/*/*/files/*", AUTH_DEVICE, 0, h_image_file },
	{ GET, "/tang/*/adv", AUTH_DEVICE, 0, h_adv },
	{ GET, "/tang/*/adv/*", AUTH_DEVICE, 0, h_adv },
	{ POST, "/tang/*/rec/*", AUTH_DEVICE, S, h_rec },
	{ POST, "/rec/*", AUTH_DEVICE, S, h_rec_kid },
	/* The web console (static files; it authenticates to the API with a token). */
	{ GET, "/", AUTH_NONE, 0, h_root },
	{ GET, "/console/", AUTH_NONE, 0, h_console },
	{ GET, "/console/*", AUTH_NONE, 0, h_console },
	/* Admins (docs/api.md). */
	{ GET, "/v1/admin/whoami", AUTH_READ, 0, h_admin_whoami },
	{ GET, "/v1/admin/tokens", AUTH_ADMIN, 0, h_admin_token_list },
	{ POST, "/v1/admin/tokens", AUTH_ADMIN, S, h_admin_token_create },
	{ POST, "/v1/admin/tokens/*/revoke", AUTH_ADMIN, S, h_admin_token_revoke },
	{ GET, "/v1/admin/enrollment-tokens", AUTH_READ, 0, h_etoken_list },
	{ POST, "/v1/admin/enrollment-tokens", AUTH_ENROLL, S, h_etoken_create },
	{ DEL, "/v1/admin/enrollment-tokens/*", AUTH_ENROLL, 0, h_etoken_delete },
	{ GET, "/v1/admin/groups", AUTH_READ, 0, h_group_list },
	{ POST, "/v1/admin/groups", AUTH_WRITE, S, h_group_create },
	{ GET, "/v1/admin/groups/*", AUTH_READ, 0, h_group_get },
	{ PUT, "/v1/admin/groups/*/policy", AUTH_WRITE, S, h_group_policy },
	{ GET, "/v1/admin/devices", AUTH_READ, 0, h_device_list },
	{ GET, "/v1/admin/devices/*", AUTH_READ, 0, h_device_get },
	{ PUT, "/v1/admin/devices/*/policy", AUTH_WRITE, S, h_device_policy },
	{ POST, "/v1/admin/devices/*/revoke", AUTH_WRITE, S, h_device_revoke },
	{ POST, "/v1/admin/devices/*/commands", AUTH_WRITE, S, h_device_command },
	{ GET, "/v1/admin/vms", AUTH_READ, 0, h_vm_list },
	{ POST, "/v1/admin/vms", AUTH_WRITE, S, h_vm_create },
	{ GET, "/v1/admin/vms/*", AUTH_READ, 0, h_vm_get },
	{ PUT, "/v1/admin/vms/*/policy", AUTH_WRITE, S, h_vm_policy },
	{ POST, "/v1/admin/vms/*/revoke", AUTH_WRITE, S, h_vm_revoke },
	{ GET, "/v1/admin/commands", AUTH_READ, 0, h_cmd_list },
	{ GET, "/v1/admin/commands/*", AUTH_READ, 0, h_cmd_get },
	{ GET, "/v1/admin/images", AUTH_READ, 0, h_admin_image_list },
	{ PUT, "/v1/admin/images/*/*/files/*", AUTH_WRITE, U, h_admin_image_upload },
	{ POST, "/v1/admin/images/*/*/publish", AUTH_WRITE, S, h_admin_image_publish },
	{ GET, "/v1/admin/audit", AUTH_AUDIT, 0, h_audit_list },
};

const int routes_count = ARRAY_SIZE(routes);
