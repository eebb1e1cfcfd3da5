/* SPDX-License-Identifier: Apache-2.0 */
/* The web console's files, compiled into the server (src/server/web/, embed.c). */
#ifndef POCKETVM_SERVER_WEB_H
#define POCKETVM_SERVER_WEB_H

#include <stddef.h>

struct web_asset {
	const char *name;
	const char *ctype;
	const unsigned char *data;
	size_t size;
};

/* Terminated by an entry with name NULL. */
extern const struct web_asset web_assets[];

#endif
