// SPDX-License-Identifier: Apache-2.0
#include "vmm/config.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "vmm/config_net.h"

#define CONFIG_FILE_MAX (1u << 20)

const char config_usage[] =
	"Usage: pocketvm-vmm [OPTIONS]\n"
	"Runs one virtual machine on KVM until its guest powers off.\n"
	"\n"
	"  --kernel PATH        Linux kernel: vmlinux (ELF, PVH entry) or bzImage (required)\n"
	"  --initrd PATH        initial ramdisk\n"
	"  --cmdline STRING     kernel command line (e.g. \"console=ttyS0 root=/dev/vda\")\n"
	"  --mem MIB            guest RAM in MiB (default 256)\n"
	"  --cpus N             vCPUs (default 1, at most 64)\n"
	"  --disk SPEC          virtio-blk disk, repeatable; SPEC is\n"
	"                       PATH|fd=N[,ro][,serial=ID][,key-fd=N] (first disk is /dev/vda;\n"
	"                       serial: up to 20 characters; key-fd: PATH is an encrypted\n"
	"                       image and inherited fd N holds its 32-byte key)\n"
	"  --console KIND       where ttyS0 and hvc0 go: stdio (default), none, or\n"
	"                       socket=PATH (the VMM listens on a unix socket)\n"
	"  --port SPEC          named virtio-console port, repeatable; SPEC is\n"
	"                       name=NAME,path=PATH[,listen]: bridged to the unix socket\n"
	"                       PATH (connect to it, or listen on it with ,listen);\n"
	"                       the guest sees /dev/virtio-ports/NAME\n"
	"  --rng, --no-rng      virtio-rng entropy device (default on)\n"
	"  --shutdown-grace S   on SIGTERM/SIGINT/SIGHUP, press the guest's ACPI power\n"
	"                       button and give it S seconds to power off before it is\n"
	"                       stopped (default 20; 0: stop at once; a second signal\n"
	"                       always stops at once)\n" CONFIG_NET_USAGE
	"  --config FILE        read options from a JSON file (docs/vmm.md); later options\n"
	"                       override it\n"
	"  --log-level LEVEL    error, warn, info (default) or debug\n"
	"  --help               this text\n"
	"  --version            print the version\n"
	"\n"
	"Exit status: 0 guest powered off, 1 VMM error, 2 bad usage, 3 guest reboot,\n"
	"4 guest crashed, 5 stopped by the host (signal) without the guest powering off.\n";

bool config_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return false;
}

void config_init(struct vmm_config *c)
{
	memset(c, 0, sizeof(*c));
	c->mem_mib = VMM_DEFAULT_MEM_MIB;
	c->vcpus = 1;
	c->rng = true;
	c->shutdown_grace = VMM_DEFAULT_SHUTDOWN_GRACE;
	c->console = CONSOLE_STDIO;
	config_net_init(&c->net);
}

void config_free(struct vmm_config *c)
{
	free(c->kernel);
	free(c->initrd);
	free(c->cmdline);
	free(c->console_path);
	free(c->log_level);
	for (unsigned int i = 0; i < c->nr_disks; i++) {
		free(c->disks[i].path);
		free(c->disks[i].serial);
	}
	for (unsigned int i = 0; i < c->nr_ports; i++) {
		free(c->ports[i].name);
		free(c->ports[i].path);
	}
	config_net_free(&c->net);
	config_init(c);
}

static bool set_str(char **dst, const char *v, char *err, size_t errlen)
{
	char *s = strdup(v);

	if (!s)
		return config_fail(err, errlen, "out of memory");
	free(*dst);
	*dst = s;
	return true;
}

bool config_parse_num(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end || errno || v > max)
		return false;
	*out = v;
	return true;
}

static bool parse_uint(const char *what, const char *v, uint64_t min, uint64_t max, uint64_t *out,
		       char *err, size_t errlen)
{
	if (!config_parse_num(v, max, out) || *out < min)
		return config_fail(err, errlen, "%s must be a number from %llu to %llu, not '%s'",
				   what, (unsigned long long)min, (unsigned long long)max, v);
	return true;
}

static bool valid_port_name(const char *n)
{
	size_t len = strlen(n);

	if (len == 0 || len > 64)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!(n[i] >= 'a' && n[i] <= 'z') && !(n[i] >= 'A' && n[i] <= 'Z') &&
		    !(n[i] >= '0' && n[i] <= '9') && !strchr("._-", n[i]))
			return false;
	return true;
}

static bool socket_path_ok(const char *p)
{
	return *p && strlen(p) < sizeof(((struct sockaddr_un *)0)->sun_path);
}

static bool add_disk(struct vmm_config *c, const char *path, bool ro, const char *serial,
		     int key_fd, char *err, size_t errlen)
{
	struct disk_config *d;

	if (c->nr_disks == VMM_MAX_DISKS)
		return config_fail(err, errlen, "at most %d disks", VMM_MAX_DISKS);
	if (!path || !*path)
		return config_fail(err, errlen, "disk needs a path");
	if (serial && strlen(serial) > 20)
		return config_fail(err, errlen, "disk serial '%s' is longer than 20 characters",
				   serial);
	if (key_fd != -1 && (key_fd < 3 || key_fd > 65535))
		return config_fail(err, errlen,
				   "disk key fd must be an inherited fd from 3 to 65535");
	d = &c->disks[c->nr_disks];
	memset(d, 0, sizeof(*d));
	if (!set_str(&d->path, path, err, errlen) ||
	    (serial && !set_str(&d->serial, serial, err, errlen))) {
		free(d->path);
		free(d->serial);
		return false;
	}
	d->read_only = ro;
	d->key_fd = key_fd;
	c->nr_disks++;
	return true;
}

static bool add_port(struct vmm_config *c, const char *name, const char *path, bool listen,
		     char *err, size_t errlen)
{
	struct port_config *p;

	if (c->nr_ports == VMM_MAX_PORTS)
		return config_fail(err, errlen, "at most %d console ports", VMM_MAX_PORTS);
	if (!name || !valid_port_name(name))
		return config_fail(err, errlen,
				   "port name must be 1-64 characters of [A-Za-z0-9._-]");
	if (!path || !socket_path_ok(path))
		return config_fail(err, errlen,
				   "port '%s' needs a unix socket path shorter than 108 bytes",
				   name);
	for (unsigned int i = 0; i < c->nr_ports; i++)
		if (strcmp(c->ports[i].name, name) == 0)
			return config_fail(err, errlen, "port name '%s' used twice", name);
	p = &c->ports[c->nr_ports];
	memset(p, 0, sizeof(*p));
	if (!set_str(&p->name, name, err, errlen) || !set_str(&p->path, path, err, errlen)) {
		free(p->name);
		free(p->path);
		return false;
	}
	p->listen = listen;
	c->nr_ports++;
	return true;
}

/* PATH|fd=N[,ro][,serial=ID][,key-fd=N] */
static bool parse_disk_spec(struct vmm_config *c, const char *spec, char *err, size_t errlen)
{
	char *copy = strdup(spec), *save = NULL, *tok, *path = NULL, *serial = NULL;
	bool ro = false, ok = true;
	uint64_t key_fd = UINT64_MAX, fd;
	char fd_path[32];

	if (!copy)
		return config_fail(err, errlen, "out of memory");
	for (tok = strtok_r(copy, ",", &save); tok && ok; tok = strtok_r(NULL, ",", &save)) {
		if (!path && !strchr(tok, '='))
			path = tok;
		else if (strncmp(tok, "path=", 5) == 0)
			path = tok + 5;
		else if (strncmp(tok, "fd=", 3) == 0) {
			/* An image the launcher opened; reached before the jail closes the fs. */
			ok = parse_uint("--disk fd", tok + 3, 3, 65535, &fd, err, errlen);
			snprintf(fd_path, sizeof(fd_path), "/proc/self/fd/%u", (unsigned int)fd);
			path = fd_path;
		} else if (strcmp(tok, "ro") == 0)
			ro = true;
		else if (strncmp(tok, "serial=", 7) == 0)
			serial = tok + 7;
		else if (strncmp(tok, "key-fd=", 7) == 0)
			ok = parse_uint("--disk key-fd", tok + 7, 3, 65535, &key_fd, err, errlen);
		else
			ok = config_fail(
				err, errlen,
				"--disk: unknown setting '%s' (PATH|fd=N[,ro][,serial=ID][,key-fd=N])",
				tok);
	}
	if (ok)
		ok = add_disk(c, path, ro, serial, key_fd == UINT64_MAX ? -1 : (int)key_fd, err,
			      errlen);
	free(copy);
	return ok;
}

/* name=NAME,path=PATH[,listen] */
static bool parse_port_spec(struct vmm_config *c, const char *spec, char *err, size_t errlen)
{
	char *copy = strdup(spec), *save = NULL, *tok, *name = NULL, *path = NULL;
	bool listen = false, ok = true;

	if (!copy)
		return config_fail(err, errlen, "out of memory");
	for (tok = strtok_r(copy, ",", &save); tok && ok; tok = strtok_r(NULL, ",", &save)) {
		if (strncmp(tok, "name=", 5) == 0)
			name = tok + 5;
		else if (strncmp(tok, "path=", 5) == 0)
			path = tok + 5;
		else if (strcmp(tok, "listen") == 0)
			listen = true;
		else
			ok = config_fail(
				err, errlen,
				"--port: unknown setting '%s' (name=NAME,path=PATH[,listen])", tok);
	}
	if (ok)
		ok = add_port(c, name, path, listen, err, errlen);
	free(copy);
	return ok;
}

static bool parse_console(struct vmm_config *c, const char *v, char *err, size_t errlen)
{
	if (strcmp(v, "stdio") == 0) {
		c->console = CONSOLE_STDIO;
	} else if (strcmp(v, "none") == 0) {
		c->console = CONSOLE_NONE;
	} else if (strncmp(v, "socket=", 7) == 0 && socket_path_ok(v + 7)) {
		c->console = CONSOLE_SOCKET;
		return set_str(&c->console_path, v + 7, err, errlen);
	} else {
		return config_fail(err, errlen,
				   "--console must be stdio, none or socket=PATH, not '%s'", v);
	}
	return true;
}

/* ---- JSON ---- */

static bool json_str(json_t *v, const char *key, char **dst, char *err, size_t errlen)
{
	if (!json_is_string(v))
		return config_fail(err, errlen, "\"%s\" must be a string", key);
	if (strlen(json_string_value(v)) != json_string_length(v))
		return config_fail(err, errlen, "\"%s\" contains a NUL byte", key);
	return set_str(dst, json_string_value(v), err, errlen);
}

const char *config_unknown_key(json_t *obj, const char *const *allowed)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v)
	{
		size_t i = 0;

		while (allowed[i] && strcmp(key, allowed[i]))
			i++;
		if (!allowed[i])
			return key;
	}
	return NULL;
}

static bool json_disks(struct vmm_config *c, json_t *arr, char *err, size_t errlen)
{
	static const char *const keys[] = { "path", "read_only", "serial", "key_fd", NULL };
	size_t i;
	json_t *d;

	if (!json_is_array(arr))
		return config_fail(err, errlen, "\"disks\" must be an array");
	json_array_foreach(arr, i, d)
	{
		json_t *path = json_object_get(d, "path"), *ro = json_object_get(d, "read_only");
		json_t *serial = json_object_get(d, "serial"), *kfd = json_object_get(d, "key_fd");
		const char *bad;

		if (!json_is_object(d))
			return config_fail(err, errlen, "disks[%zu] must be an object", i);
		bad = config_unknown_key(d, keys);
		if (bad)
			return config_fail(err, errlen, "disks[%zu]: unknown key \"%s\"", i, bad);
		if (!json_is_string(path) || (ro && !json_is_boolean(ro)) ||
		    (serial && !json_is_string(serial)) ||
		    (kfd && (!json_is_integer(kfd) || json_integer_value(kfd) < 3 ||
			     json_integer_value(kfd) > 65535)))
			return config_fail(
				err, errlen,
				"disks[%zu]: needs \"path\" (string), optional \"read_only\" "
				"(boolean), \"serial\" (string) and \"key_fd\" (3 to 65535)",
				i);
		if (!add_disk(c, json_string_value(path), ro && json_is_true(ro),
			      serial ? json_string_value(serial) : NULL,
			      kfd ? (int)json_integer_value(kfd) : -1, err, errlen))
			return false;
	}
	return true;
}

static bool json_ports(struct vmm_config *c, json_t *arr, char *err, size_t errlen)
{
	static const char *const keys[] = { "name", "path", "listen", NULL };
	size_t i;
	json_t *p;

	if (!json_is_array(arr))
		return config_fail(err, errlen, "\"ports\" must be an array");
	json_array_foreach(arr, i, p)
	{
		json_t *name = json_object_get(p, "name"), *path = json_object_get(p, "path");
		json_t *listen = json_object_get(p, "listen");
		const char *bad;

		if (!json_is_object(p))
			return config_fail(err, errlen, "ports[%zu] must be an object", i);
		bad = config_unknown_key(p, keys);
		if (bad)
			return config_fail(err, errlen, "ports[%zu]: unknown key \"%s\"", i, bad);
		if (!json_is_string(name) || !json_is_string(path) ||
		    (listen && !json_is_boolean(listen)))
			return config_fail(
				err, errlen,
				"ports[%zu]: needs \"name\" and \"path\" (strings), optional "
				"\"listen\" (boolean)",
				i);
		if (!add_port(c, json_string_value(name), json_string_value(path),
			      listen && json_is_true(listen), err, errlen))
			return false;
	}
	return true;
}

static bool json_uint(json_t *v, const char *key, uint64_t min, uint64_t max, uint64_t *out,
		      char *err, size_t errlen)
{
	if (!json_is_integer(v) || json_integer_value(v) < (json_int_t)min ||
	    (uint64_t)json_integer_value(v) > max)
		return config_fail(err, errlen, "\"%s\" must be an integer from %llu to %llu", key,
				   (unsigned long long)min, (unsigned long long)max);
	*out = (uint64_t)json_integer_value(v);
	return true;
}

static bool json_member(struct vmm_config *c, const char *key, json_t *v, char *err, size_t errlen)
{
	uint64_t n = 0;

	if (!strcmp(key, "kernel"))
		return json_str(v, key, &c->kernel, err, errlen);
	if (!strcmp(key, "initrd"))
		return json_str(v, key, &c->initrd, err, errlen);
	if (!strcmp(key, "cmdline"))
		return json_str(v, key, &c->cmdline, err, errlen);
	if (!strcmp(key, "log_level"))
		return json_str(v, key, &c->log_level, err, errlen);
	if (!strcmp(key, "memory_mib")) {
		if (!json_uint(v, key, 16, VMM_MAX_MEM_MIB, &n, err, errlen))
			return false;
		c->mem_mib = n;
		return true;
	}
	if (!strcmp(key, "vcpus")) {
		if (!json_uint(v, key, 1, 64, &n, err, errlen))
			return false;
		c->vcpus = (unsigned int)n;
		return true;
	}
	if (!strcmp(key, "shutdown_grace")) {
		if (!json_uint(v, key, 0, VMM_MAX_SHUTDOWN_GRACE, &n, err, errlen))
			return false;
		c->shutdown_grace = (unsigned int)n;
		return true;
	}
	if (!strcmp(key, "rng")) {
		if (!json_is_boolean(v))
			return config_fail(err, errlen, "\"rng\" must be true or false");
		c->rng = json_is_true(v);
		return true;
	}
	if (!strcmp(key, "console")) {
		if (!json_is_string(v))
			return config_fail(
				err, errlen,
				"\"console\" must be \"stdio\", \"none\" or \"socket=PATH\"");
		return parse_console(c, json_string_value(v), err, errlen);
	}
	if (!strcmp(key, "disks"))
		return json_disks(c, v, err, errlen);
	if (!strcmp(key, "ports"))
		return json_ports(c, v, err, errlen);
	if (config_net_json_key(key))
		return config_net_json(&c->net, key, v, err, errlen);
	return config_fail(err, errlen, "unknown key \"%s\"", key);
}

bool config_parse_json(struct vmm_config *c, const char *text, size_t len, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr), *v;
	const char *key;
	bool ok = true;

	if (!root)
		return config_fail(err, errlen, "JSON error at line %d column %d: %s", jerr.line,
				   jerr.column, jerr.text);
	if (!json_is_object(root))
		ok = config_fail(err, errlen, "configuration must be a JSON object");
	json_object_foreach(root, key, v)
	{
		if (!ok || !json_member(c, key, v, err, errlen)) {
			ok = false;
			break;
		}
	}
	json_decref(root);
	return ok;
}

static bool load_file(struct vmm_config *c, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	char *buf;
	size_t n;
	bool ok;
	char inner[200];

	if (!f)
		return config_fail(err, errlen, "cannot open config file %s: %s", path,
				   strerror(errno));
	buf = malloc(CONFIG_FILE_MAX + 1);
	if (!buf) {
		fclose(f);
		return config_fail(err, errlen, "out of memory");
	}
	n = fread(buf, 1, CONFIG_FILE_MAX + 1, f);
	fclose(f);
	if (n > CONFIG_FILE_MAX) {
		free(buf);
		return config_fail(err, errlen, "config file %s is larger than 1 MiB", path);
	}
	ok = config_parse_json(c, buf, n, inner, sizeof(inner));
	free(buf);
	if (!ok)
		return config_fail(err, errlen, "%s: %s", path, inner);
	return true;
}

/* ---- command line ---- */

enum {
	OPT_KERNEL = 256,
	OPT_INITRD,
	OPT_CMDLINE,
	OPT_MEM,
	OPT_CPUS,
	OPT_DISK,
	OPT_CONSOLE,
	OPT_PORT,
	OPT_RNG,
	OPT_NO_RNG,
	OPT_SHUTDOWN_GRACE,
	OPT_CONFIG,
	OPT_LOG_LEVEL,
	OPT_HELP,
	OPT_VERSION,
};

static const struct option long_opts[] = {
	{ "kernel", required_argument, NULL, OPT_KERNEL },
	{ "initrd", required_argument, NULL, OPT_INITRD },
	{ "cmdline", required_argument, NULL, OPT_CMDLINE },
	{ "mem", required_argument, NULL, OPT_MEM },
	{ "cpus", required_argument, NULL, OPT_CPUS },
	{ "disk", required_argument, NULL, OPT_DISK },
	{ "console", required_argument, NULL, OPT_CONSOLE },
	{ "port", required_argument, NULL, OPT_PORT },
	{ "rng", no_argument, NULL, OPT_RNG },
	{ "no-rng", no_argument, NULL, OPT_NO_RNG },
	{ "shutdown-grace", required_argument, NULL, OPT_SHUTDOWN_GRACE },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
	CONFIG_NET_OPTIONS,
	{ NULL, 0, NULL, 0 },
};

static bool apply_opt(struct vmm_config *c, int opt, const char *arg, char *err, size_t errlen)
{
	uint64_t n;

	switch (opt) {
	case OPT_KERNEL:
		return set_str(&c->kernel, arg, err, errlen);
	case OPT_INITRD:
		return set_str(&c->initrd, arg, err, errlen);
	case OPT_CMDLINE:
		return set_str(&c->cmdline, arg, err, errlen);
	case OPT_LOG_LEVEL:
		return set_str(&c->log_level, arg, err, errlen);
	case OPT_DISK:
		return parse_disk_spec(c, arg, err, errlen);
	case OPT_PORT:
		return parse_port_spec(c, arg, err, errlen);
	case OPT_CONSOLE:
		return parse_console(c, arg, err, errlen);
	case OPT_CONFIG:
		return load_file(c, arg, err, errlen);
	case OPT_RNG:
		c->rng = true;
		return true;
	case OPT_NO_RNG:
		c->rng = false;
		return true;
	case OPT_HELP:
		c->help = true;
		return true;
	case OPT_VERSION:
		c->version = true;
		return true;
	case OPT_MEM:
		if (!parse_uint("--mem", arg, 16, VMM_MAX_MEM_MIB, &n, err, errlen))
			return false;
		c->mem_mib = n;
		return true;
	case OPT_CPUS:
		if (!parse_uint("--cpus", arg, 1, 64, &n, err, errlen))
			return false;
		c->vcpus = (unsigned int)n;
		return true;
	case OPT_SHUTDOWN_GRACE:
		if (!parse_uint("--shutdown-grace", arg, 0, VMM_MAX_SHUTDOWN_GRACE, &n, err,
				errlen))
			return false;
		c->shutdown_grace = (unsigned int)n;
		return true;
	default:
		if (opt >= CONFIG_NET_OPT_BASE)
			return config_net_apply(&c->net, opt, arg, err, errlen);
		return config_fail(err, errlen, "internal: option %d", opt);
	}
}

bool config_parse_args(struct vmm_config *c, int argc, char **argv, char *err, size_t errlen)
{
	int opt;

	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
		if (opt == '?') {
			const char *bad = argv[optind - 1];

			if (optopt)
				return config_fail(err, errlen, "option '%s' needs a value", bad);
			return config_fail(err, errlen, "unknown option '%s' (see --help)", bad);
		}
		if (!apply_opt(c, opt, optarg, err, errlen))
			return false;
	}
	if (optind < argc)
		return config_fail(err, errlen, "unexpected argument '%s' (see --help)",
				   argv[optind]);
	return true;
}

bool config_validate(const struct vmm_config *c, char *err, size_t errlen)
{
	if (!c->kernel)
		return config_fail(err, errlen, "no kernel given (--kernel PATH)");
	if (c->mem_mib < 16 || c->mem_mib > VMM_MAX_MEM_MIB)
		return config_fail(err, errlen, "memory must be 16 to %u MiB", VMM_MAX_MEM_MIB);
	if (c->vcpus < 1 || c->vcpus > 64)
		return config_fail(err, errlen, "vCPUs must be 1 to 64");
	if (c->cmdline && strlen(c->cmdline) >= 2048)
		return config_fail(err, errlen, "kernel command line longer than 2047 bytes");
	return config_net_validate(&c->net, err, errlen);
}
