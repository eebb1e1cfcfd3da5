/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What one pocketvm-vmm runs, from its command line or, with the same
 * content, a JSON file (docs/vmm.md has both formats). Parsers return false
 * and put one precise message in err; nothing is printed here.
 */
#ifndef POCKETVM_VMM_CONFIG_H
#define POCKETVM_VMM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VMM_MAX_DISKS 8
#define VMM_MAX_PORTS 16
#define VMM_DEFAULT_MEM_MIB 256
#define VMM_MAX_MEM_MIB (64u * 1024)
/* Seconds a stop signal gives the guest to power off after the power button. */
#define VMM_DEFAULT_SHUTDOWN_GRACE 20
#define VMM_MAX_SHUTDOWN_GRACE 3600

enum console_kind {
	CONSOLE_STDIO,
	CONSOLE_SOCKET, /* a unix socket the VMM listens on */
	CONSOLE_NONE,
};

struct disk_config {
	char *path;
	char *serial;
	bool read_only;
	int key_fd; /* encrypted image: an inherited fd with its 32-byte key; -1 for raw */
};

struct port_config {
	char *name;
	char *path;
	bool listen; /* the VMM listens on path; otherwise it connects */
};

#define VMM_MAX_NETS 4

enum net_kind {
	NET_TAP,
	NET_PASST,
};

/* One virtio-net device (config_net.c): a backend by fd, or by name / socket path. */
struct net_config {
	enum net_kind kind;
	int fd; /* -1: open path instead */
	char *path; /* tap: interface name; passt: its unix socket */
	uint8_t mac[6];
	bool has_mac; /* else a random locally administered MAC */
};

/* Networking, vsock, balloon and jail settings (config_net.c, docs/vmm-net.md). */
struct vmm_net_config {
	struct net_config nets[VMM_MAX_NETS];
	unsigned int nr_nets;
	uint64_t vsock_cid; /* 0: no vsock device */
	char *vsock_path;
	bool balloon;
	char *balloon_path; /* control socket, may be NULL */
	int kvm_fd; /* -1: open /dev/kvm */
	bool jail;
	uint32_t jail_uid, jail_gid;
	bool sensitive; /* lock guest RAM, never swapped */
	bool jail_selftest; /* once jailed, make a forbidden syscall (tests) */
};

struct vmm_config {
	char *kernel;
	char *initrd;
	char *cmdline;
	uint64_t mem_mib;
	unsigned int vcpus;
	struct disk_config disks[VMM_MAX_DISKS];
	unsigned int nr_disks;
	struct port_config ports[VMM_MAX_PORTS];
	unsigned int nr_ports;
	enum console_kind console;
	char *console_path;
	bool rng;
	unsigned int shutdown_grace; /* seconds; 0: a stop signal stops at once */
	char *log_level;
	struct vmm_net_config net;
	bool help;
	bool version;
};

void config_init(struct vmm_config *c);
void config_free(struct vmm_config *c);

/* Parses argv (options as in --help); a --config file is merged where it appears. */
bool config_parse_args(struct vmm_config *c, int argc, char **argv, char *err, size_t errlen);

/* Parses a JSON document (the file format of --config). */
bool config_parse_json(struct vmm_config *c, const char *text, size_t len, char *err,
		       size_t errlen);

/* Checks the whole configuration (a kernel is given, counts in range...). */
bool config_validate(const struct vmm_config *c, char *err, size_t errlen);

extern const char config_usage[];

#endif
