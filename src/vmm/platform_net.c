// SPDX-License-Identifier: Apache-2.0
#include "vmm/platform_net.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/log.h"
#include "vmm/jail.h"
#include "vmm/net/net_backend.h"
#include "vmm/virtio/balloon.h"
#include "vmm/virtio/net.h"
#include "vmm/virtio/vsock.h"

struct platform_net {
	struct vmm_net_config cfg; /* shallow copy: strings stay the config's */
	struct virtio_net *net[VMM_MAX_NETS];
	struct virtio_vsock *vsock;
	struct virtio_balloon *balloon;
};

static int open_backend(const struct net_config *nc, struct net_backend **nb)
{
	int fd = nc->fd;

	if (fd >= 0 && fcntl(fd, F_GETFD) < 0) {
		log_error("vmm: --net fd %d is not open", fd);
		return -EBADF;
	}
	if (nc->kind == NET_PASST)
		return fd >= 0 ? net_passt_open_fd(fd, nb) : net_passt_connect(nc->path, nb);
	if (fd < 0) {
		fd = virtio_net_open_tap(nc->path);
		if (fd < 0) {
			log_error("vmm: cannot open tap %s: %s", nc->path, strerror(-fd));
			return fd;
		}
	}
	return net_tap_open_fd(fd, nb);
}

/* A random, locally administered, unicast address: two VMs never share one by default. */
static void random_mac(uint8_t mac[6])
{
	if (getrandom(mac, 6, 0) != 6)
		memset(mac, 0x5a, 6);
	mac[0] = (uint8_t)((mac[0] & 0xfe) | 0x02);
}

static int add_nets(struct platform_net *pn, struct vm *vm, struct pci_bus *bus)
{
	for (unsigned int i = 0; i < pn->cfg.nr_nets; i++) {
		const struct net_config *nc = &pn->cfg.nets[i];
		struct net_backend *nb;
		uint8_t mac[6];
		int ret = open_backend(nc, &nb);

		if (ret) {
			log_error("vmm: network %u (%s): %s", i,
				  nc->kind == NET_TAP ? "tap" : "passt", strerror(-ret));
			return ret;
		}
		if (nc->has_mac)
			memcpy(mac, nc->mac, 6);
		else
			random_mac(mac);
		ret = virtio_net_new(vm, bus, nb, mac, &pn->net[i]);
		if (ret) {
			log_error("vmm: cannot create virtio-net %u: %s", i, strerror(-ret));
			return ret;
		}
		log_info("vmm: network %u: %s, MAC %02x:%02x:%02x:%02x:%02x:%02x", i, nb->ops->name,
			 mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
	}
	return 0;
}

int platform_net_new(struct vm *vm, struct pci_bus *bus, const struct vmm_net_config *cfg,
		     struct platform_net **out)
{
	struct platform_net *pn = calloc(1, sizeof(*pn));
	int ret;

	*out = pn;
	if (!pn)
		return -ENOMEM;
	pn->cfg = *cfg;
	ret = add_nets(pn, vm, bus);
	if (!ret && cfg->vsock_cid) {
		ret = virtio_vsock_new(vm, bus, cfg->vsock_cid, cfg->vsock_path, &pn->vsock);
		if (ret)
			log_error("vmm: cannot create virtio-vsock: %s", strerror(-ret));
	}
	if (!ret && cfg->balloon) {
		ret = virtio_balloon_new(vm, bus, cfg->balloon_path, &pn->balloon);
		if (ret)
			log_error("vmm: cannot create virtio-balloon: %s", strerror(-ret));
	}
	return ret;
}

int platform_net_start(struct platform_net *pn, struct vm *vm)
{
	struct vmm_jail j = {
		.uid = pn->cfg.jail_uid,
		.gid = pn->cfg.jail_gid,
		.vsock_path = pn->vsock ? pn->cfg.vsock_path : NULL,
		.mux = pn->vsock ? virtio_vsock_mux(pn->vsock) : NULL,
		.selftest = pn->cfg.jail_selftest,
	};
	int ret = vmm_guest_mem_protect(vm, pn->cfg.sensitive);

	if (ret) {
		log_error("vmm: cannot protect guest memory: %s", strerror(-ret));
		return ret;
	}
	if (pn->balloon)
		virtio_balloon_set_locked(pn->balloon, pn->cfg.sensitive);
	if (!pn->cfg.jail)
		return 0;
	ret = vmm_jail_enter(vm, &j);
	if (ret)
		log_error("vmm: cannot enter the jail: %s", strerror(-ret));
	return ret;
}

void platform_net_free(struct platform_net *pn)
{
	if (!pn)
		return;
	virtio_balloon_free(pn->balloon);
	virtio_vsock_free(pn->vsock);
	for (unsigned int i = 0; i < VMM_MAX_NETS; i++)
		virtio_net_free(pn->net[i]);
	free(pn);
}
