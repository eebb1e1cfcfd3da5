// SPDX-License-Identifier: Apache-2.0
/*
 * pocketvm-vmm: one VM per process. Builds the platform from the
 * configuration (RAM, vCPUs, UART, power, PCI with virtio devices), loads
 * the kernel, runs until the guest ends or SIGTERM/SIGINT/SIGHUP stops it,
 * and exits with its status (enum vm_exit_status, docs/vmm.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <event2/thread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "disk/blockdev.h"
#include "vmm/config.h"
#include "vmm/platform.h"

int main(int argc, char **argv)
{
	struct vmm_config cfg;
	struct platform *p = NULL;
	enum log_level level = LOG_LEVEL_INFO;
	sigset_t stop_signals;
	char err[256];
	int status, fd;

	/*
	 * A closed 0, 1 or 2 would be handed to the next open (/dev/kvm, an
	 * eventfd) and then used as the console: fill them with /dev/null.
	 */
	while ((fd = open("/dev/null", O_RDWR)) >= 0 && fd <= 2)
		;
	if (fd > 2)
		close(fd);
	/* Before any thread exists, so that every thread inherits the mask. */
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGHUP);
	sigprocmask(SIG_BLOCK, &stop_signals, NULL);
	log_set_ident("pocketvm-vmm");
	config_init(&cfg);
	if (!config_parse_args(&cfg, argc, argv, err, sizeof(err))) {
		fprintf(stderr, "pocketvm-vmm: %s\n", err);
		config_free(&cfg);
		return 2;
	}
	if (cfg.help || cfg.version) {
		fputs(cfg.help ? config_usage : "pocketvm-vmm " POCKETVM_VERSION "\n", stdout);
		config_free(&cfg);
		return 0;
	}
	if (!config_validate(&cfg, err, sizeof(err)) ||
	    (cfg.log_level && !log_parse_level(cfg.log_level, &level))) {
		if (cfg.log_level && !err[0])
			snprintf(err, sizeof(err), "unknown log level '%s'", cfg.log_level);
		fprintf(stderr, "pocketvm-vmm: %s\n", err);
		config_free(&cfg);
		return 2;
	}
	log_set_level(level);
	/* A console or port peer that goes away must cost its output, not the VM. */
	signal(SIGPIPE, SIG_IGN);
	if (evthread_use_pthreads() < 0)
		die("libevent without thread support");
	status = platform_new(&cfg, &p);
	if (status == 0)
		status = platform_run(p, &stop_signals);
	platform_free(p);
	config_free(&cfg);
	return status;
}
