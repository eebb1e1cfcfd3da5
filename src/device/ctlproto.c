// SPDX-License-Identifier: Apache-2.0
#include "device/ctlproto.h"

#include <stdio.h>
#include <string.h>

#include "device/jsonx.h"

bool ctl_parse_request(const void *buf, size_t len, struct ctl_request *req, char *err,
		       size_t errlen)
{
	json_t *j = jx_load(buf, len, CTL_MAX_LINE);
	bool ok = false;

	memset(req, 0, sizeof(*req));
	if (!json_is_object(j)) {
		snprintf(err, errlen, "request is not a JSON object");
		goto out;
	}
	if (!jx_str(j, "cmd", req->cmd, sizeof(req->cmd)) ||
	    !jx_str_opt(j, "vm", req->vm, sizeof(req->vm)) ||
	    !jx_str_opt(j, "url", req->url, sizeof(req->url)) ||
	    !jx_str_opt(j, "token", req->token, sizeof(req->token)) ||
	    !jx_str_opt(j, "ca_sha256", req->ca_sha256, sizeof(req->ca_sha256)) ||
	    !jx_str_opt(j, "name", req->name, sizeof(req->name))) {
		snprintf(err, errlen, "request fields missing, not strings, or too long");
		goto out;
	}
	ok = true;
out:
	json_decref(j);
	return ok;
}
