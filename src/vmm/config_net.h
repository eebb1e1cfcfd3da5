/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The networking, vsock, balloon and jail part of pocketvm-vmm's
 * configuration (struct vmm_net_config in config.h): command-line options
 * and JSON keys, documented in docs/vmm-net.md. config.c calls in here.
 */
#ifndef POCKETVM_VMM_CONFIG_NET_H
#define POCKETVM_VMM_CONFIG_NET_H

#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/config.h"

/* Helpers config.c shares with config_net.c. */
/* Formats a message into err; returns false (for `return config_fail(...)`). */
bool config_fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A decimal number of digits only, at most max. */
bool config_parse_num(const char *s, uint64_t max, uint64_t *out);
/* The first key of obj not in allowed (NULL-terminated), or NULL. */
const char *config_unknown_key(json_t *obj, const char *const *allowed);

#define CONFIG_NET_OPT_BASE 512

enum {
	OPT_NET = CONFIG_NET_OPT_BASE,
	OPT_VSOCK,
	OPT_BALLOON,
	OPT_BALLOON_CONTROL,
	OPT_KVM_FD,
	OPT_JAIL,
	OPT_JAIL_UID,
	OPT_JAIL_GID,
	OPT_SENSITIVE,
	OPT_JAIL_SELFTEST,
};

#define CONFIG_NET_OPTIONS                                                           \
	{ "net", required_argument, NULL, OPT_NET },                                 \
		{ "vsock", required_argument, NULL, OPT_VSOCK },                     \
		{ "balloon", no_argument, NULL, OPT_BALLOON },                       \
		{ "balloon-control", required_argument, NULL, OPT_BALLOON_CONTROL }, \
		{ "kvm-fd", required_argument, NULL, OPT_KVM_FD },                   \
		{ "jail", no_argument, NULL, OPT_JAIL },                             \
		{ "jail-uid", required_argument, NULL, OPT_JAIL_UID },               \
		{ "jail-gid", required_argument, NULL, OPT_JAIL_GID },               \
		{ "sensitive", no_argument, NULL, OPT_SENSITIVE },                   \
	{                                                                            \
		"jail-selftest", no_argument, NULL, OPT_JAIL_SELFTEST                \
	}

#define CONFIG_NET_USAGE                                                                       \
	"  --net SPEC           virtio-net device, repeatable (at most 4); SPEC is\n"          \
	"                       tap:FD | tap:name=IFNAME | passt:FD | passt:PATH,\n"           \
	"                       then optionally ,mac=XX:XX:XX:XX:XX:XX (default: random,\n"    \
	"                       locally administered)\n"                                       \
	"  --vsock CID,PATH     virtio-vsock with guest CID (>= 3); host programs connect\n"   \
	"                       to PATH and write \"CONNECT PORT\\n\", guest connections to\n" \
	"                       host port P go to PATH_P (docs/vsock.md)\n"                    \
	"  --balloon            virtio-balloon with statistics and free page reporting\n"      \
	"  --balloon-control PATH  unix socket to set the balloon size and read its\n"         \
	"                       statistics (implies --balloon; docs/vmm-net.md)\n"             \
	"  --kvm-fd N           use inherited fd N as /dev/kvm\n"                              \
	"  --jail               after setup, confine the VMM: empty root, no capabilities,\n"  \
	"                       unprivileged uid, seccomp per thread (docs/vmm-jail.md)\n"     \
	"  --jail-uid N, --jail-gid N  ids the jailed VMM runs as (default 65534)\n"           \
	"  --sensitive          lock guest RAM in memory (never swapped)\n"                    \
	"  --jail-selftest      with --jail: half a second in, attempt a syscall outside\n"    \
	"                       the allowlist; the VMM must die of SIGSYS\n"                   \
	"                       (files given as /proc/self/fd/N use inherited fds)\n"

void config_net_init(struct vmm_net_config *n);
void config_net_free(struct vmm_net_config *n);

bool config_net_apply(struct vmm_net_config *n, int opt, const char *arg, char *err, size_t errlen);

/* Whether key is one of ours ("net", "vsock", "balloon", ...). */
bool config_net_json_key(const char *key);
bool config_net_json(struct vmm_net_config *n, const char *key, json_t *v, char *err,
		     size_t errlen);

bool config_net_validate(const struct vmm_net_config *n, char *err, size_t errlen);

/* Parses "52:54:00:12:34:56"; false unless six hex pairs, unicast. */
bool config_parse_mac(const char *s, uint8_t mac[6]);

#endif
