// SPDX-License-Identifier: Apache-2.0
/*
 * pocketvm run DIR: a VM without the daemon, for development. DIR holds a
 * vm.json (docs/device.md); an encrypted disk is unlocked here through its
 * binding (the key options of `pocketvm image`), the key handed to the VMM
 * by fd and wiped here. The VMM runs jailed in the foreground with the
 * console on this terminal; its exit status is ours. Work VMs are the
 * daemon's business: run refuses a managed VM.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/pocketvm/devcmd.h"
#include "cli/pocketvm/image.h"
#include "common/sandbox.h"
#include "crypto/secret.h"
#include "device/fsutil.h"
#include "device/vmconf.h"

static const char run_usage[] =
	"Usage: pocketvm run DIR [--vmm PATH] [key options]\n"
	"Runs the VM described by DIR/vm.json in the foreground, without pocketvmd.\n"
	"  --vmm PATH           the VMM (default: pocketvm-vmm next to pocketvm, or in PATH)\n" KEY_SOURCE_HELP;

static int load_conf(const char *dir, struct vmconf *c)
{
	char p[PATH_MAX], *buf, err[256];
	size_t len;
	int r = path_join(p, sizeof(p), dir, "vm.json");

	if (!r)
		r = read_file(p, VMCONF_MAX_SIZE, &buf, &len);
	if (r < 0) {
		fprintf(stderr, "pocketvm run: cannot read %s/vm.json: %s\n", dir, strerror(-r));
		return r;
	}
	if (!vmconf_parse(buf, len, c, err, sizeof(err))) {
		fprintf(stderr, "pocketvm run: %s\n", err);
		free(buf);
		return -EINVAL;
	}
	free(buf);
	if (c->managed[0]) {
		fprintf(stderr,
			"pocketvm run: %s is a work VM: start it with `pocketvm start %s`\n",
			c->name, c->name);
		return -EPERM;
	}
	return 0;
}

/* Opens (and for an encrypted disk, unlocks) the disk: fd 3 and 4 to be. */
static int open_disk(const char *dir, const struct vmconf *c, const struct key_source *ks,
		     int *disk, int *key)
{
	char p[PATH_MAX];
	struct image_header h;
	struct secret *dek = NULL;
	int r;

	*disk = *key = -1;
	if (!c->disk[0])
		return 0;
	if (path_join(p, sizeof(p), dir, c->disk) < 0)
		return -ENAMETOOLONG;
	if (!c->encrypted) {
		*disk = open(p, O_RDWR | O_CLOEXEC);
		if (*disk < 0)
			fprintf(stderr, "pocketvm run: %s: %s\n", p, strerror(errno));
		return *disk < 0 ? -errno : 0;
	}
	r = image_open_unlock(p, true, ks, disk, &h, &dek);
	if (r < 0)
		return r;
	image_header_release(&h);
	r = secret_to_fd(dek, key);
	secret_free(dek);
	if (r < 0) {
		fprintf(stderr, "pocketvm run: cannot hand the key over: %s\n", strerror(-r));
		close(*disk);
		*disk = -1;
	}
	return r;
}

static int run_vm(const char *vmm, const char *dir, const struct vmconf *c, int disk, int key)
{
	char buf[8192], *argv[32];
	int fds[5] = { 0, 1, 2, disk, key }, status, r;
	struct sandbox_spawn sp = { .argv = argv,
				    .fds = fds,
				    .nr_fds = disk < 0 ? 3 :
					      key < 0  ? 4 :
							 5 };
	pid_t pid;

	vmm_argv(vmm, dir, c, key >= 0, buf, sizeof(buf), argv, 32);
	sp.path = argv[0];
	r = sandbox_spawn(&sp, &pid);
	if (disk >= 0)
		close(disk);
	if (key >= 0)
		close(key); /* the VMM has its own copy; ours goes now */
	if (r < 0) {
		fprintf(stderr, "pocketvm run: cannot start %s: %s\n", vmm, strerror(-r));
		return 1;
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return 1;
	if (WIFSIGNALED(status)) {
		fprintf(stderr, "pocketvm run: the VMM was killed by signal %d\n",
			WTERMSIG(status));
		return 128 + WTERMSIG(status);
	}
	return WEXITSTATUS(status);
}

int run_main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "vmm", required_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		KEY_SOURCE_OPTIONS,
		{ 0 },
	};
	struct key_source ks = { .key_fd = -1 };
	char vmm[PATH_MAX];
	struct vmconf c;
	int o, disk, key;

	vmm_default_path(vmm, sizeof(vmm), "../../vmm/pocketvm-vmm");
	optind = 1;
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (o == 'v')
			snprintf(vmm, sizeof(vmm), "%s", optarg);
		else if (o == 'h')
			return fputs(run_usage, stdout), 0;
		else if (!key_source_opt(&ks, o, optarg))
			return fputs(run_usage, stderr), EXIT_USAGE;
	}
	if (optind != argc - 1)
		return fputs(run_usage, stderr), EXIT_USAGE;
	if (load_conf(argv[optind], &c) < 0)
		return 1;
	if (open_disk(argv[optind], &c, &ks, &disk, &key) < 0)
		return 1;
	return run_vm(vmm, argv[optind], &c, disk, key);
}
