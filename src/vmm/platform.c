// SPDX-License-Identifier: Apache-2.0
#include "vmm/platform.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/log.h"
#include "disk/blockdev.h"
#include "vmm/console.h"
#include "vmm/devices/power.h"
#include "vmm/devices/pvpanic.h"
#include "vmm/devices/uart.h"
#include "vmm/pci/pci.h"
#include "vmm/platform_net.h"
#include "vmm/virtio/blk.h"
#include "vmm/virtio/console.h"
#include "vmm/virtio/rng.h"
#include "vmm/vm.h"
#include "vmm/x86/boot.h"

/* PCI BARs: from the start of the hole up to the IOAPIC. */
#define PCI_MMIO_BASE MEM_HOLE_START
#define PCI_MMIO_SIZE (0xfec00000ull - MEM_HOLE_START)

struct platform {
	struct vm vm;
	bool vm_created;
	struct console *con;
	struct uart *uart;
	struct pci_bus *pci;
	struct virtio_blk *blk[VMM_MAX_DISKS];
	struct virtio_console *vcon;
	struct virtio_rng *rng;
	struct pvpanic *pvpanic;
	struct platform_net *net; /* net, vsock, balloon, jail: platform_net.c */
};

/*
 * Opens a disk's image. An inherited fd (--disk fd=N, i.e. /proc/self/fd/N)
 * is duplicated, not reopened: a reopen would be a new open file
 * description, and the launcher's lock on the image would shut us out.
 */
static int open_disk(const struct disk_config *d)
{
	int n = -1, fd;
	char tail;

	if (sscanf(d->path, "/proc/self/fd/%d%c", &n, &tail) == 1 && n >= 3)
		fd = fcntl(n, F_DUPFD_CLOEXEC, 3);
	else
		fd = open(d->path, (d->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/*
 * OpenSSL is set up before its first use without reading openssl.cnf: the
 * encrypted backend needs only AES-GCM, HKDF and SHA-256 from the built-in
 * default provider, and a configuration file could load provider modules
 * (other people's code, which a static pocketvm-vmm cannot even load) into
 * the process that holds the disk key.
 */
static int crypto_init(void)
{
	if (OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, NULL) == 1)
		return 0;
	log_error("vmm: cannot initialise OpenSSL");
	return -EIO;
}

static int add_disks(struct platform *p, const struct vmm_config *cfg)
{
	for (unsigned int i = 0; i < cfg->nr_disks; i++) {
		const struct disk_config *d = &cfg->disks[i];
		struct blockdev *bd;
		int ret;

		if (d->key_fd >= 0) {
			/* Encrypted: the backend takes both fds; the key never passes argv. */
			int fd = crypto_init() ? -EIO : open_disk(d);

			ret = fd < 0 ? fd :
				       blockdev_crypt_open_fd(fd, d->key_fd, d->read_only, &bd);
			if (fd < 0)
				close(d->key_fd);
		} else {
			int fd = open_disk(d);

			ret = fd < 0 ? fd : blockdev_raw_open_fd(fd, d->read_only, &bd);
		}
		if (ret) {
			log_error("vmm: cannot open %sdisk %s: %s",
				  d->key_fd >= 0 ? "encrypted " : "", d->path,
				  ret == -EBADMSG ? "wrong key or tampered header" :
						    strerror(-ret));
			return ret;
		}
		ret = virtio_blk_new(&p->vm, p->pci, bd, d->serial, &p->blk[i]);
		if (ret) {
			log_error("vmm: cannot create virtio-blk for %s: %s", d->path,
				  strerror(-ret));
			return ret;
		}
	}
	return 0;
}

static int build(struct platform *p, const struct vmm_config *cfg)
{
	struct boot_config bc = {
		.kernel = cfg->kernel,
		.initrd = cfg->initrd,
		.cmdline = cfg->cmdline,
		.pci_mmio_base = PCI_MMIO_BASE,
		.pci_mmio_size = PCI_MMIO_SIZE,
	};
	int ret = cfg->net.kvm_fd >= 0 ?
			  vm_init_fd(&p->vm, cfg->net.kvm_fd, cfg->mem_mib, (int)cfg->vcpus) :
			  vm_init(&p->vm, cfg->mem_mib, (int)cfg->vcpus);

	if (ret) {
		log_error("vmm: cannot create the VM (/dev/kvm): %s", strerror(-ret));
		return ret;
	}
	p->vm_created = true;
	/*
	 * A sensitive VM's RAM is locked as the guest touches it, so it stays
	 * in 4 KiB pages: a huge page would lock 2 MiB where the guest touched
	 * 4 KiB. (Also the only setting in which the emulated phone's kernel
	 * was seen to lock up, once guest RAM became 2 MiB aligned: locked
	 * huge pages under nested KVM. Not proven the cause.)
	 * Set before anything is loaded, so no huge page is ever made.
	 */
	if (cfg->net.sensitive && p->vm.mem.owned &&
	    madvise(p->vm.mem.map, p->vm.mem.map_size, MADV_NOHUGEPAGE) < 0)
		log_warn("vmm: guest RAM may use huge pages: madvise: %s", strerror(errno));
	if (cfg->console != CONSOLE_NONE) {
		ret = console_new(&p->vm, cfg->console, cfg->console_path, &p->con);
		if (ret) {
			log_error("vmm: cannot set up the console: %s", strerror(-ret));
			return ret;
		}
	}
	p->vm.shutdown_grace = cfg->shutdown_grace;
	ret = power_init(&p->vm);
	if (!ret)
		ret = uart_new(&p->vm, UART_COM1_PORT, UART_COM1_IRQ, p->con, &p->uart);
	if (!ret)
		ret = pci_bus_new(&p->vm, PCI_MMIO_BASE, PCI_MMIO_SIZE, &p->pci);
	if (ret) {
		log_error("vmm: cannot set up the platform devices: %s", strerror(-ret));
		return ret;
	}
	ret = add_disks(p, cfg);
	if (ret)
		return ret;
	ret = virtio_console_new(&p->vm, p->pci, p->con, cfg->ports, cfg->nr_ports, &p->vcon);
	if (ret) {
		log_error("vmm: cannot create virtio-console: %s", strerror(-ret));
		return ret;
	}
	if (cfg->rng) {
		ret = virtio_rng_new(&p->vm, p->pci, &p->rng);
		if (ret) {
			log_error("vmm: cannot create virtio-rng: %s", strerror(-ret));
			return ret;
		}
	}
	ret = pvpanic_new(&p->vm, p->pci, &p->pvpanic);
	if (ret) {
		log_error("vmm: cannot create the pvpanic device: %s", strerror(-ret));
		return ret;
	}
	ret = platform_net_new(&p->vm, p->pci, &cfg->net, &p->net);
	if (ret)
		return ret;
	ret = boot_load(&p->vm, &bc);
	if (!ret) {
		ret = boot_setup_vcpu(&p->vm.vcpus[0], &p->vm.boot);
		if (ret)
			log_error("vmm: cannot set boot registers: %s", strerror(-ret));
	}
	return ret;
}

int platform_new(const struct vmm_config *cfg, struct platform **out)
{
	struct platform *p = calloc(1, sizeof(*p));

	*out = p;
	if (!p) {
		log_error("vmm: out of memory");
		return VM_EXIT_ERROR;
	}
	return build(p, cfg) ? VM_EXIT_ERROR : 0;
}

int platform_run(struct platform *p, const sigset_t *stop_signals)
{
	int status, ret;

	if (vm_exit_on_signals(&p->vm, stop_signals) || platform_net_start(p->net, &p->vm))
		return VM_EXIT_ERROR;
	status = vm_run(&p->vm);
	for (unsigned int i = 0; i < VMM_MAX_DISKS; i++) {
		ret = p->blk[i] ? virtio_blk_flush(p->blk[i]) : 0;
		if (ret) {
			log_error("vmm: flushing disk %u at exit: %s", i, strerror(-ret));
			status = VM_EXIT_ERROR;
		}
	}
	return status;
}

void platform_free(struct platform *p)
{
	if (!p)
		return;
	/* Devices first: they hold eventfds bound to the VM. */
	pvpanic_free(p->pvpanic);
	platform_net_free(p->net);
	virtio_rng_free(p->rng);
	virtio_console_free(p->vcon);
	for (unsigned int i = 0; i < VMM_MAX_DISKS; i++)
		virtio_blk_free(p->blk[i]);
	uart_free(p->uart);
	console_free(p->con);
	if (p->vm_created) {
		pci_bus_free(p->pci);
		vm_destroy(&p->vm);
	}
	free(p);
}
