// SPDX-License-Identifier: Apache-2.0
#include "vmm/config_net.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "common/util.h"

#define JAIL_DEFAULT_ID 65534u
/* Room left in sun_path for "_<port>" after the vsock path. */
#define VSOCK_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 12)

void config_net_init(struct vmm_net_config *n)
{
	memset(n, 0, sizeof(*n));
	n->kvm_fd = -1;
	n->jail_uid = JAIL_DEFAULT_ID;
	n->jail_gid = JAIL_DEFAULT_ID;
}

void config_net_free(struct vmm_net_config *n)
{
	for (unsigned int i = 0; i < n->nr_nets; i++)
		free(n->nets[i].path);
	free(n->vsock_path);
	free(n->balloon_path);
	config_net_init(n);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool config_parse_mac(const char *s, uint8_t mac[6])
{
	if (strlen(s) != 17)
		return false;
	for (int i = 0; i < 6; i++) {
		int hi = hexval(s[3 * i]), lo = hexval(s[3 * i + 1]);

		if (hi < 0 || lo < 0 || (i < 5 && s[3 * i + 2] != ':'))
			return false;
		mac[i] = (uint8_t)(hi << 4 | lo);
	}
	/* A multicast address as a NIC's own would break the guest's network. */
	return !(mac[0] & 1);
}

/* Fills one net_config from a backend kind and its target ("N", "name=X", a path). */
static bool net_target(struct net_config *nc, enum net_kind kind, const char *target, char *err,
		       size_t errlen)
{
	uint64_t fd;

	nc->kind = kind;
	nc->fd = -1;
	if (config_parse_num(target, 1023, &fd)) {
		nc->fd = (int)fd;
		return true;
	}
	if (kind == NET_TAP) {
		if (strncmp(target, "name=", 5) != 0 || !target[5] || strlen(target + 5) > 15)
			return config_fail(err, errlen,
					   "--net tap: needs an fd number or name=IFNAME (up to 15 "
					   "characters), not '%s'",
					   target);
		target += 5;
	} else if (!*target || strlen(target) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		return config_fail(err, errlen,
				   "--net passt: needs an fd number or a socket path "
				   "shorter than 108 bytes");
	}
	nc->path = strdup(target);
	return nc->path ? true : config_fail(err, errlen, "out of memory");
}

static struct net_config *net_slot(struct vmm_net_config *n, char *err, size_t errlen)
{
	struct net_config *nc;

	if (n->nr_nets == VMM_MAX_NETS) {
		config_fail(err, errlen, "at most %d network devices", VMM_MAX_NETS);
		return NULL;
	}
	nc = &n->nets[n->nr_nets];
	memset(nc, 0, sizeof(*nc));
	nc->fd = -1;
	return nc;
}

/* KIND:TARGET[,mac=MAC] */
static bool parse_net_spec(struct vmm_net_config *n, const char *spec, char *err, size_t errlen)
{
	char *copy = strdup(spec), *target, *opts;
	struct net_config *nc = net_slot(n, err, errlen);
	enum net_kind kind;
	bool ok = true;

	if (!copy || !nc) {
		free(copy);
		return nc ? config_fail(err, errlen, "out of memory") : false;
	}
	target = strchr(copy, ':');
	opts = target ? strchr(target, ',') : NULL;
	if (opts)
		*opts++ = '\0';
	if (!target) {
		ok = config_fail(err, errlen,
				 "--net needs KIND:TARGET (tap:FD, tap:name=IF, passt:FD, "
				 "passt:PATH), not '%s'",
				 spec);
		goto out;
	}
	*target++ = '\0';
	if (!strcmp(copy, "tap")) {
		kind = NET_TAP;
	} else if (!strcmp(copy, "passt")) {
		kind = NET_PASST;
	} else {
		ok = config_fail(err, errlen, "--net: unknown backend '%s' (tap or passt)", copy);
		goto out;
	}
	ok = net_target(nc, kind, target, err, errlen);
	if (ok && opts) {
		if (strncmp(opts, "mac=", 4) != 0 || !config_parse_mac(opts + 4, nc->mac))
			ok = config_fail(err, errlen,
					 "--net: '%s' is not mac=XX:XX:XX:XX:XX:XX (unicast)",
					 opts);
		nc->has_mac = ok;
	}
	if (ok)
		n->nr_nets++;
	else
		free(nc->path);
out:
	free(copy);
	return ok;
}

/* CID,PATH */
static bool parse_vsock(struct vmm_net_config *n, const char *spec, char *err, size_t errlen)
{
	const char *comma = strchr(spec, ',');
	char cid[24];
	uint64_t v;

	if (!comma || (size_t)(comma - spec) >= sizeof(cid))
		return config_fail(err, errlen, "--vsock needs CID,PATH, not '%s'", spec);
	memcpy(cid, spec, (size_t)(comma - spec));
	cid[comma - spec] = '\0';
	if (!config_parse_num(cid, UINT32_MAX - 1, &v) || v < 3)
		return config_fail(err, errlen,
				   "--vsock: guest CID must be 3 to 4294967294, not '%s'", cid);
	if (!comma[1] || strlen(comma + 1) > VSOCK_PATH_MAX)
		return config_fail(err, errlen, "--vsock: socket path must be 1 to %zu bytes",
				   VSOCK_PATH_MAX);
	free(n->vsock_path);
	n->vsock_path = strdup(comma + 1);
	n->vsock_cid = v;
	return n->vsock_path ? true : config_fail(err, errlen, "out of memory");
}

static bool parse_id(const char *what, const char *arg, uint32_t *out, char *err, size_t errlen)
{
	uint64_t v;

	if (!config_parse_num(arg, UINT32_MAX - 1, &v))
		return config_fail(err, errlen, "%s must be a number, not '%s'", what, arg);
	*out = (uint32_t)v;
	return true;
}

bool config_net_apply(struct vmm_net_config *n, int opt, const char *arg, char *err, size_t errlen)
{
	uint64_t v;

	switch (opt) {
	case OPT_NET:
		return parse_net_spec(n, arg, err, errlen);
	case OPT_VSOCK:
		return parse_vsock(n, arg, err, errlen);
	case OPT_BALLOON:
		n->balloon = true;
		return true;
	case OPT_BALLOON_CONTROL:
		if (!*arg || strlen(arg) >= sizeof(((struct sockaddr_un *)0)->sun_path))
			return config_fail(err, errlen, "--balloon-control: socket path too long");
		free(n->balloon_path);
		n->balloon_path = strdup(arg);
		n->balloon = true;
		return n->balloon_path ? true : config_fail(err, errlen, "out of memory");
	case OPT_KVM_FD:
		if (!config_parse_num(arg, 1023, &v) || v < 3)
			return config_fail(err, errlen,
					   "--kvm-fd must be a descriptor from 3 to 1023");
		n->kvm_fd = (int)v;
		return true;
	case OPT_JAIL:
		n->jail = true;
		return true;
	case OPT_JAIL_UID:
		return parse_id("--jail-uid", arg, &n->jail_uid, err, errlen);
	case OPT_JAIL_GID:
		return parse_id("--jail-gid", arg, &n->jail_gid, err, errlen);
	case OPT_SENSITIVE:
		n->sensitive = true;
		return true;
	case OPT_JAIL_SELFTEST:
		n->jail_selftest = true;
		return true;
	default:
		return config_fail(err, errlen, "internal: option %d", opt);
	}
}

static const char *const json_keys[] = {
	"net", "vsock", "balloon", "balloon_control", "kvm_fd", "jail", "sensitive",
};

bool config_net_json_key(const char *key)
{
	for (size_t i = 0; i < ARRAY_SIZE(json_keys); i++)
		if (!strcmp(key, json_keys[i]))
			return true;
	return false;
}

/* {"backend": "tap"|"passt", "fd": N | "name": IF | "path": P, "mac": "..."} */
static bool json_net(struct vmm_net_config *n, size_t i, json_t *o, char *err, size_t errlen)
{
	static const char *const keys[] = { "backend", "fd", "name", "path", "mac", NULL };
	json_t *backend = json_object_get(o, "backend"), *fd = json_object_get(o, "fd");
	json_t *name = json_object_get(o, "name"), *path = json_object_get(o, "path");
	json_t *mac = json_object_get(o, "mac");
	struct net_config *nc;
	char target[128];
	const char *key;

	if (!json_is_object(o))
		return config_fail(err, errlen, "net[%zu] must be an object", i);
	key = config_unknown_key(o, keys);
	if (key)
		return config_fail(err, errlen, "net[%zu]: unknown key \"%s\"", i, key);
	if (!json_is_string(backend) || (fd && !json_is_integer(fd)) ||
	    (name && !json_is_string(name)) || (path && !json_is_string(path)) ||
	    (mac && !json_is_string(mac)) || !!fd + !!name + !!path != 1)
		return config_fail(
			err, errlen,
			"net[%zu]: needs \"backend\" and one of \"fd\" (integer), \"name\" or "
			"\"path\" (strings), optional \"mac\"",
			i);
	if (fd && (json_integer_value(fd) < 0 || json_integer_value(fd) > 1023))
		return config_fail(err, errlen, "net[%zu]: fd out of range", i);
	if (fd)
		snprintf(target, sizeof(target), "%lld", (long long)json_integer_value(fd));
	else if (name)
		snprintf(target, sizeof(target), "name=%s", json_string_value(name));
	else if (strlen(json_string_value(path)) < sizeof(target))
		snprintf(target, sizeof(target), "%s", json_string_value(path));
	else
		return config_fail(err, errlen, "net[%zu]: path too long", i);
	nc = net_slot(n, err, errlen);
	if (!nc)
		return false;
	if (!strcmp(json_string_value(backend), "tap")) {
		if (path)
			return config_fail(err, errlen, "net[%zu]: tap takes \"fd\" or \"name\"",
					   i);
		if (!net_target(nc, NET_TAP, target, err, errlen))
			return false;
	} else if (!strcmp(json_string_value(backend), "passt")) {
		if (name)
			return config_fail(err, errlen, "net[%zu]: passt takes \"fd\" or \"path\"",
					   i);
		if (!net_target(nc, NET_PASST, target, err, errlen))
			return false;
	} else {
		return config_fail(err, errlen, "net[%zu]: backend must be \"tap\" or \"passt\"",
				   i);
	}
	n->nr_nets++;
	if (mac && !config_parse_mac(json_string_value(mac), nc->mac))
		return config_fail(err, errlen, "net[%zu]: bad \"mac\"", i);
	nc->has_mac = mac != NULL;
	return true;
}

static bool json_vsock(struct vmm_net_config *n, json_t *o, char *err, size_t errlen)
{
	json_t *cid = json_object_get(o, "cid"), *path = json_object_get(o, "path");
	char spec[160];

	if (!json_is_object(o) || json_object_size(o) != 2 || !json_is_integer(cid) ||
	    !json_is_string(path) || json_integer_value(cid) < 0)
		return config_fail(err, errlen,
				   "\"vsock\" must be {\"cid\": N, \"path\": \"...\"}");
	snprintf(spec, sizeof(spec), "%lld,%s", (long long)json_integer_value(cid),
		 json_string_value(path));
	return parse_vsock(n, spec, err, errlen);
}

/* true, or {"uid": N, "gid": N} */
static bool json_jail(struct vmm_net_config *n, json_t *v, char *err, size_t errlen)
{
	json_t *uid = json_object_get(v, "uid"), *gid = json_object_get(v, "gid");

	if (json_is_boolean(v)) {
		n->jail = json_is_true(v);
		return true;
	}
	if (!json_is_object(v) || json_object_size(v) != (size_t)(!!uid + !!gid) ||
	    (uid && (!json_is_integer(uid) || json_integer_value(uid) < 0 ||
		     json_integer_value(uid) >= UINT32_MAX)) ||
	    (gid && (!json_is_integer(gid) || json_integer_value(gid) < 0 ||
		     json_integer_value(gid) >= UINT32_MAX)))
		return config_fail(err, errlen,
				   "\"jail\" must be true, false or {\"uid\": N, \"gid\": N}");
	n->jail = true;
	if (uid)
		n->jail_uid = (uint32_t)json_integer_value(uid);
	if (gid)
		n->jail_gid = (uint32_t)json_integer_value(gid);
	return true;
}

bool config_net_json(struct vmm_net_config *n, const char *key, json_t *v, char *err, size_t errlen)
{
	size_t i;
	json_t *e;

	if (!strcmp(key, "net")) {
		if (!json_is_array(v))
			return config_fail(err, errlen, "\"net\" must be an array");
		json_array_foreach(v, i, e) if (!json_net(n, i, e, err, errlen)) return false;
		return true;
	}
	if (!strcmp(key, "vsock"))
		return json_vsock(n, v, err, errlen);
	if (!strcmp(key, "jail"))
		return json_jail(n, v, err, errlen);
	if (!strcmp(key, "balloon") || !strcmp(key, "sensitive")) {
		if (!json_is_boolean(v))
			return config_fail(err, errlen, "\"%s\" must be true or false", key);
		*(key[0] == 'b' ? &n->balloon : &n->sensitive) = json_is_true(v);
		return true;
	}
	if (!strcmp(key, "balloon_control")) {
		if (!json_is_string(v))
			return config_fail(err, errlen, "\"balloon_control\" must be a string");
		return config_net_apply(n, OPT_BALLOON_CONTROL, json_string_value(v), err, errlen);
	}
	if (!strcmp(key, "kvm_fd")) {
		if (!json_is_integer(v) || json_integer_value(v) < 3 ||
		    json_integer_value(v) > 1023)
			return config_fail(err, errlen,
					   "\"kvm_fd\" must be an integer from 3 to 1023");
		n->kvm_fd = (int)json_integer_value(v);
		return true;
	}
	return config_fail(err, errlen, "unknown key \"%s\"", key);
}

bool config_net_validate(const struct vmm_net_config *n, char *err, size_t errlen)
{
	for (unsigned int i = 0; i < n->nr_nets; i++)
		for (unsigned int j = 0; j < i; j++)
			if (n->nets[i].has_mac && n->nets[j].has_mac &&
			    !memcmp(n->nets[i].mac, n->nets[j].mac, 6))
				return config_fail(err, errlen,
						   "two network devices with the same MAC");
	if (n->jail_selftest && !n->jail)
		return config_fail(err, errlen, "--jail-selftest needs --jail");
	if (n->jail && n->jail_uid == 0)
		return config_fail(err, errlen, "--jail-uid 0 would keep root in the jail");
	return true;
}
