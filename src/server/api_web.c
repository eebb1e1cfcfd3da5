// SPDX-License-Identifier: Apache-2.0
/*
 * The web console's static files (src/server/web/), compiled in. The page
 * talks to the admin API with a token the user pastes; these answers carry
 * a strict Content-Security-Policy (no inline script, no other origin, no
 * framing) so injected markup could neither run nor leak the token.
 */
#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <string.h>

#include "server/api.h"
#include "server/web.h"

static void send_asset(struct req *r, const struct web_asset *a)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->ev);
	struct evbuffer *buf = evbuffer_new();

	evhttp_add_header(h, "Content-Type", a->ctype);
	evhttp_add_header(h, "Content-Security-Policy",
			  "default-src 'none'; script-src 'self'; style-src 'self'; "
			  "connect-src 'self'; img-src 'self'; form-action 'none'; "
			  "frame-ancestors 'none'; base-uri 'none'");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "X-Frame-Options", "DENY");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
	evhttp_add_header(h, "Cache-Control", "no-cache");
	if (buf)
		evbuffer_add_reference(buf, a->data, a->size, NULL, NULL);
	r->replied = true;
	evhttp_send_reply(r->ev, 200, NULL, buf);
	evbuffer_free(buf);
}

void h_console(struct req *r)
{
	const char *name = r->args[0] ? r->args[0] : "index.html";

	for (const struct web_asset *a = web_assets; a->name; a++) {
		if (strcmp(a->name, name) == 0) {
			send_asset(r, a);
			return;
		}
	}
	reply_error(r, 404, "not_found", "no such console file");
}

void h_root(struct req *r)
{
	evhttp_add_header(evhttp_request_get_output_headers(r->ev), "Location", "/console/");
	reply_raw(r, 302, "text/plain", "see /console/\n", 14);
}
