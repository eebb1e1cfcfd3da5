// SPDX-License-Identifier: Apache-2.0
#include "vmm/vm.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

/* Where Intel VMX wants its private pages; above the IOAPIC/LAPIC, below BIOS. */
#define KVM_TSS_ADDR 0xfffbd000ul
#define KVM_IDENTITY_MAP_ADDR 0xfffbc000ul

#define IRQCHIP_IOAPIC_PINS 24
#define IRQCHIP_PIC_PINS 16
#define MAX_ROUTES 1024
/* MSI GSIs start above every irqchip pin. */
#define FIRST_MSI_GSI 32

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
	struct vm *vm = arg;
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_warn("vm: reading stop eventfd: %s", strerror(errno));
	event_base_loopbreak(vm->evb);
}

int64_t vm_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void on_grace_end(evutil_socket_t fd, short what, void *arg)
{
	struct vm *vm = arg;

	log_warn("vmm: the guest did not power off within %u s of the power button; stopping it",
		 vm->shutdown_grace);
	vm_request_exit(vm, VM_EXIT_STOPPED);
}

static void on_signal(evutil_socket_t fd, short what, void *arg)
{
	struct vm *vm = arg;
	struct signalfd_siginfo si;
	struct timeval grace = { 0 };

	(void)what;
	if (read(fd, &si, sizeof(si)) != sizeof(si))
		return;
	if (vm->shutdown_pending) {
		log_info("vmm: stopped by signal %u from pid %u (a second request: not waiting "
			 "for the guest to shut down)",
			 si.ssi_signo, si.ssi_pid);
		vm_request_exit(vm, VM_EXIT_STOPPED);
		return;
	}
	if (!vm->shutdown_grace || !vm->power_button || !vm->grace_ev) {
		log_info("vmm: stopped by signal %u from pid %u", si.ssi_signo, si.ssi_pid);
		vm_request_exit(vm, VM_EXIT_STOPPED);
		return;
	}
	vm->shutdown_pending = true;
	grace.tv_sec = vm->shutdown_grace;
	if (evtimer_add(vm->grace_ev, &grace)) {
		log_error("vmm: cannot arm the shutdown timer; stopping the guest now");
		vm_request_exit(vm, VM_EXIT_STOPPED);
		return;
	}
	/* Logged first: a quick guest's power-off line must not come before it. */
	log_info("vmm: signal %u from pid %u: pressed the guest's power button; it has %u s to "
		 "power off before it is stopped (a second signal stops it now)",
		 si.ssi_signo, si.ssi_pid, vm->shutdown_grace);
	atomic_store(&vm->button_pressed_ns, vm_now_ns());
	vm->power_button(vm);
}

static void add_route(struct kvm_irq_routing *r, uint32_t gsi, uint32_t chip, uint32_t pin)
{
	struct kvm_irq_routing_entry *e = &r->entries[r->nr++];

	memset(e, 0, sizeof(*e));
	e->gsi = gsi;
	e->type = KVM_IRQ_ROUTING_IRQCHIP;
	e->u.irqchip.irqchip = chip;
	e->u.irqchip.pin = pin;
}

/*
 * Room for n routes. The table grows as devices allocate MSI vectors (a
 * calloc of all MAX_ROUTES entries up front would be 48 KiB of zeroed heap
 * in every VMM, most of it never used).
 */
static int routes_reserve(struct vm *vm, uint32_t n)
{
	struct kvm_irq_routing *r;
	uint32_t cap = vm->routes_cap ? vm->routes_cap : 64;

	if (n <= vm->routes_cap)
		return 0;
	if (n > MAX_ROUTES)
		return -ENOSPC;
	while (cap < n)
		cap *= 2;
	cap = MIN(cap, MAX_ROUTES);
	r = realloc(vm->routes, sizeof(*r) + cap * sizeof(r->entries[0]));
	if (!r)
		return -ENOMEM;
	if (!vm->routes)
		memset(r, 0, sizeof(*r));
	vm->routes = r;
	vm->routes_cap = cap;
	return 0;
}

/* The routes KVM installs by default: GSI n to IOAPIC pin n, and PIC pin n below 16. */
static int routes_init(struct vm *vm)
{
	struct kvm_irq_routing *r;
	int ret = routes_reserve(vm, IRQCHIP_IOAPIC_PINS + IRQCHIP_PIC_PINS);

	if (ret)
		return ret;
	r = vm->routes;
	for (uint32_t i = 0; i < IRQCHIP_IOAPIC_PINS; i++) {
		if (i < IRQCHIP_PIC_PINS && i != 2)
			add_route(r, i, i < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE,
				  i % 8);
		add_route(r, i, KVM_IRQCHIP_IOAPIC, i);
	}
	vm->next_gsi = FIRST_MSI_GSI;
	return 0;
}

static int vm_common_init(struct vm *vm)
{
	int ret, nent = 256;

	atomic_init(&vm->exit_status, -1);
	atomic_init(&vm->button_pressed_ns, 0);
	vm->pio.name = "pio";
	vm->mmio.name = "mmio";
	pthread_mutex_init(&vm->irq_lock, NULL);
	pthread_mutex_init(&vm->ged.lock, NULL);
	ret = routes_init(vm);
	if (ret)
		return ret;
	/* Not zeroed: KVM fills the first nent entries and says how many. */
	vm->cpuid = malloc(sizeof(*vm->cpuid) + (size_t)nent * sizeof(vm->cpuid->entries[0]));
	if (!vm->cpuid)
		return -ENOMEM;
	memset(vm->cpuid, 0, sizeof(*vm->cpuid));
	vm->cpuid->nent = (uint32_t)nent;
	if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, vm->cpuid) < 0)
		return -errno;
	vm->evb = event_base_new();
	if (!vm->evb)
		return -ENOMEM;
	vm->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->stop_fd < 0)
		return -errno;
	vm->stop_ev = event_new(vm->evb, vm->stop_fd, EV_READ | EV_PERSIST, on_stop, vm);
	if (!vm->stop_ev || event_add(vm->stop_ev, NULL))
		return -ENOMEM;
	/* KVM starts with the same irqchip routes; ours replace them on the first MSI update. */
	return 0;
}

int vm_init(struct vm *vm, uint64_t ram_mib, int nr_vcpus)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		memset(vm, 0, sizeof(*vm));
		vm->stop_fd = -1;
		vm->sig_fd = -1;
		return -errno;
	}
	return vm_init_fd(vm, fd, ram_mib, nr_vcpus);
}

int vm_init_fd(struct vm *vm, int kvm_fd, uint64_t ram_mib, int nr_vcpus)
{
	uint64_t ident = KVM_IDENTITY_MAP_ADDR;
	int ret;

	memset(vm, 0, sizeof(*vm));
	vm->stop_fd = -1;
	vm->sig_fd = -1;
	vm->owns_fds = true;
	vm->kvm_fd = kvm_fd;
	if (nr_vcpus < 1 || nr_vcpus > VM_MAX_VCPUS)
		return -EINVAL;
	if (ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION)
		return -ENOTSUP;
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0)
		return -errno;
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, KVM_TSS_ADDR) < 0 ||
	    ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &ident) < 0)
		return -errno;
	vm->cpu_count = nr_vcpus;
	ret = guest_mem_alloc(&vm->mem, ram_mib << 20);
	if (ret)
		return ret;
	/*
	 * Memory slots before the irqchip: a slot update waits for an SRCU
	 * grace period, and right after KVM_CREATE_IRQCHIP (whose device
	 * registrations start grace periods of their own) that wait is a few
	 * jiffies. Measured on our hosts: 0.2 ms here, 7.5 ms just after the
	 * irqchip, 0.2 ms again 20 ms later (docs/benchmarks/vmm.md, section 1).
	 */
	for (int i = 0; i < vm->mem.nr_regions; i++) {
		struct kvm_userspace_memory_region slot = {
			.slot = (uint32_t)i,
			.guest_phys_addr = vm->mem.regions[i].gpa,
			.memory_size = vm->mem.regions[i].size,
			.userspace_addr = (uint64_t)vm->mem.regions[i].hva,
		};

		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &slot) < 0)
			return -errno;
	}
	/*
	 * No PIT: with hardware-reduced ACPI Linux never programs one (its
	 * timers are the LAPIC's TSC deadline and kvm-clock), and creating
	 * KVM's PIT costs a kernel thread and ~3 ms of start-up.
	 */
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
		return -errno;
	ret = vm_common_init(vm);
	if (ret)
		return ret;
	for (int i = 0; i < nr_vcpus; i++) {
		ret = vcpu_init(vm, i);
		if (ret)
			return ret;
	}
	return 0;
}

int vm_attach(struct vm *vm, int kvm_fd, int vm_fd, void *ram, uint64_t ram_size)
{
	int ret;

	memset(vm, 0, sizeof(*vm));
	vm->kvm_fd = kvm_fd;
	vm->vm_fd = vm_fd;
	vm->stop_fd = -1;
	vm->sig_fd = -1;
	ret = guest_mem_add_region(&vm->mem, 0, ram_size, ram);
	if (ret)
		return ret;
	return vm_common_init(vm);
}

void vm_destroy(struct vm *vm)
{
	for (int i = 0; i < vm->nr_vcpus; i++)
		vcpu_destroy(&vm->vcpus[i]);
	if (vm->stop_ev)
		event_free(vm->stop_ev);
	if (vm->sig_ev)
		event_free(vm->sig_ev);
	if (vm->grace_ev)
		event_free(vm->grace_ev);
	if (vm->sig_fd >= 0)
		close(vm->sig_fd);
	if (vm->evb)
		event_base_free(vm->evb);
	if (vm->stop_fd >= 0)
		close(vm->stop_fd);
	free(vm->routes);
	free(vm->cpuid);
	guest_mem_free(&vm->mem);
	if (vm->owns_fds) {
		if (vm->vm_fd > 0)
			close(vm->vm_fd);
		if (vm->kvm_fd > 0)
			close(vm->kvm_fd);
	}
	pthread_mutex_destroy(&vm->irq_lock);
	pthread_mutex_destroy(&vm->ged.lock);
	memset(vm, 0, sizeof(*vm));
}

static void on_kick(int sig)
{
	(void)sig;
}

int vm_run(struct vm *vm)
{
	struct sigaction sa = { .sa_handler = on_kick };
	int ret;

	/* No SA_RESTART: the kick must interrupt KVM_RUN with EINTR. */
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL) < 0)
		return VM_EXIT_ERROR;
	for (int i = 0; i < vm->nr_vcpus; i++) {
		ret = pthread_create(&vm->vcpus[i].tid, NULL, vcpu_thread, &vm->vcpus[i]);
		if (ret) {
			log_error("vm: starting vCPU %d thread: %s", i, strerror(ret));
			vm_request_exit(vm, VM_EXIT_ERROR);
			break;
		}
		vm->vcpus[i].created = true;
	}
	if (atomic_load(&vm->exit_status) < 0 && vm->loop_thread_init && vm->loop_thread_init(vm))
		vm_request_exit(vm, VM_EXIT_ERROR);
	if (atomic_load(&vm->exit_status) < 0)
		event_base_loop(vm->evb, 0);
	/* The loop only ends through vm_request_exit(), or on an internal failure. */
	vm_request_exit(vm, VM_EXIT_ERROR);
	for (int i = 0; i < vm->nr_vcpus; i++) {
		if (vm->vcpus[i].created)
			pthread_join(vm->vcpus[i].tid, NULL);
		vm->vcpus[i].created = false;
	}
	return atomic_load(&vm->exit_status);
}

int vm_exit_on_signals(struct vm *vm, const sigset_t *set)
{
	vm->sig_fd = signalfd(-1, set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (vm->sig_fd < 0)
		return -errno;
	vm->sig_ev = event_new(vm->evb, vm->sig_fd, EV_READ | EV_PERSIST, on_signal, vm);
	if (!vm->sig_ev || event_add(vm->sig_ev, NULL))
		return -ENOMEM;
	vm->grace_ev = evtimer_new(vm->evb, on_grace_end, vm);
	return vm->grace_ev ? 0 : -ENOMEM;
}

void vm_request_exit(struct vm *vm, int status)
{
	int running = -1;
	uint64_t one = 1;

	if (!atomic_compare_exchange_strong(&vm->exit_status, &running, status))
		return;
	if (vm->stop_fd >= 0 && write(vm->stop_fd, &one, sizeof(one)) < 0)
		log_warn("vm: waking the event loop: %s", strerror(errno));
	/*
	 * exit_status is stored before each vCPU's running flag is read, and a
	 * vCPU sets its flag before it reads exit_status (both seq_cst): either
	 * the vCPU sees the exit, or it is kicked out of KVM_RUN here.
	 */
	for (int i = 0; i < vm->nr_vcpus; i++)
		if (atomic_load(&vm->vcpus[i].running))
			vcpu_kick(&vm->vcpus[i]);
}

bool vm_handle_io_exit(struct vm *vm, struct kvm_run *run)
{
	if (run->exit_reason == KVM_EXIT_IO) {
		uint8_t *data = (uint8_t *)run + run->io.data_offset;
		bool write = run->io.direction == KVM_EXIT_IO_OUT;

		/* String I/O (rep outs/ins) arrives as count accesses. */
		for (uint32_t i = 0; i < run->io.count; i++)
			if (!bus_access(&vm->pio, run->io.port, data + (size_t)i * run->io.size,
					run->io.size, write) &&
			    run->io.port != 0x80)
				log_debug("vm: unclaimed port %s 0x%x (%u bytes)",
					  write ? "write" : "read", run->io.port, run->io.size);
		return true;
	}
	if (run->exit_reason == KVM_EXIT_MMIO) {
		if (run->mmio.len > sizeof(run->mmio.data))
			return true;
		if (!bus_access(&vm->mmio, run->mmio.phys_addr, run->mmio.data, run->mmio.len,
				run->mmio.is_write))
			log_debug("vm: unclaimed MMIO %s at 0x%llx",
				  run->mmio.is_write ? "write" : "read", run->mmio.phys_addr);
		return true;
	}
	return false;
}

int vm_irq_line(struct vm *vm, uint32_t irq, bool level)
{
	struct kvm_irq_level l = { .irq = irq, .level = level };

	return ioctl(vm->vm_fd, KVM_IRQ_LINE, &l) < 0 ? -errno : 0;
}

int vm_msi_route_alloc(struct vm *vm, uint32_t *gsi)
{
	struct kvm_irq_routing_entry *e;
	int ret = 0;

	pthread_mutex_lock(&vm->irq_lock);
	ret = routes_reserve(vm, vm->routes->nr + 1);
	if (ret)
		goto out;
	e = &vm->routes->entries[vm->routes->nr++];
	memset(e, 0, sizeof(*e));
	e->gsi = vm->next_gsi++;
	e->type = KVM_IRQ_ROUTING_MSI;
	*gsi = e->gsi;
	/*
	 * Not handed to KVM yet: each KVM_SET_GSI_ROUTING waits for an SRCU
	 * grace period (milliseconds). The table goes to KVM with the first
	 * vm_msi_route_set(), before any of these GSIs can fire; an irqfd may
	 * be bound to a GSI KVM does not route yet.
	 */
out:
	pthread_mutex_unlock(&vm->irq_lock);
	return ret;
}

int vm_msi_route_set(struct vm *vm, uint32_t gsi, uint64_t addr, uint32_t data)
{
	int ret = -ENOENT;

	pthread_mutex_lock(&vm->irq_lock);
	for (uint32_t i = 0; i < vm->routes->nr; i++) {
		struct kvm_irq_routing_entry *e = &vm->routes->entries[i];

		if (e->gsi != gsi || e->type != KVM_IRQ_ROUTING_MSI)
			continue;
		e->u.msi.address_lo = (uint32_t)addr;
		e->u.msi.address_hi = (uint32_t)(addr >> 32);
		e->u.msi.data = data;
		ret = ioctl(vm->vm_fd, KVM_SET_GSI_ROUTING, vm->routes) < 0 ? -errno : 0;
		break;
	}
	pthread_mutex_unlock(&vm->irq_lock);
	return ret;
}

int vm_irqfd(struct vm *vm, int efd, uint32_t gsi, bool assign)
{
	struct kvm_irqfd irqfd = {
		.fd = (uint32_t)efd,
		.gsi = gsi,
		.flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN,
	};

	return ioctl(vm->vm_fd, KVM_IRQFD, &irqfd) < 0 ? -errno : 0;
}

int vm_ioeventfd(struct vm *vm, int efd, uint64_t addr, bool assign)
{
	struct kvm_ioeventfd io = {
		.addr = addr,
		.len = 0,
		.fd = efd,
		.flags = assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN,
	};

	return ioctl(vm->vm_fd, KVM_IOEVENTFD, &io) < 0 ? -errno : 0;
}
