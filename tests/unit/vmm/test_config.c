// SPDX-License-Identifier: Apache-2.0
/* pocketvm-vmm's command line and JSON configuration: same content, precise errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmm/config.h"

static bool parse_args(struct vmm_config *c, char *err, size_t len, char **argv)
{
	int argc = 0;

	while (argv[argc])
		argc++;
	config_init(c);
	return config_parse_args(c, argc, argv, err, len);
}

static void assert_same(const struct vmm_config *a, const struct vmm_config *b)
{
	assert_string_equal(a->kernel, b->kernel);
	assert_string_equal(a->initrd, b->initrd);
	assert_string_equal(a->cmdline, b->cmdline);
	assert_int_equal(a->mem_mib, b->mem_mib);
	assert_int_equal(a->vcpus, b->vcpus);
	assert_int_equal(a->nr_disks, b->nr_disks);
	for (unsigned int i = 0; i < a->nr_disks; i++) {
		assert_string_equal(a->disks[i].path, b->disks[i].path);
		assert_int_equal(a->disks[i].read_only, b->disks[i].read_only);
		assert_int_equal(a->disks[i].key_fd, b->disks[i].key_fd);
		if (a->disks[i].serial || b->disks[i].serial)
			assert_string_equal(a->disks[i].serial, b->disks[i].serial);
	}
	assert_int_equal(a->nr_ports, b->nr_ports);
	for (unsigned int i = 0; i < a->nr_ports; i++) {
		assert_string_equal(a->ports[i].name, b->ports[i].name);
		assert_string_equal(a->ports[i].path, b->ports[i].path);
		assert_int_equal(a->ports[i].listen, b->ports[i].listen);
	}
	assert_int_equal(a->console, b->console);
	assert_int_equal(a->rng, b->rng);
	assert_int_equal(a->shutdown_grace, b->shutdown_grace);
}

static void test_cli_equals_json(void **state)
{
	static const char json[] =
		"{\"kernel\": \"/k/vmlinux\", \"initrd\": \"/k/initrd\","
		" \"cmdline\": \"console=ttyS0 root=/dev/vda\", \"memory_mib\": 512, \"vcpus\": 2,"
		" \"disks\": [{\"path\": \"/d/root.img\", \"serial\": \"root1\"},"
		"             {\"path\": \"/d/data.img\", \"read_only\": true, \"key_fd\": 7}],"
		" \"ports\": [{\"name\": \"modem\", \"path\": \"/run/m.sock\"},"
		"             {\"name\": \"agent\", \"path\": \"/run/a.sock\", \"listen\": true}],"
		" \"console\": \"none\", \"rng\": false, \"shutdown_grace\": 45}";
	char *argv[] = { "pocketvm-vmm",
			 "--kernel",
			 "/k/vmlinux",
			 "--initrd",
			 "/k/initrd",
			 "--cmdline",
			 "console=ttyS0 root=/dev/vda",
			 "--mem",
			 "512",
			 "--cpus",
			 "2",
			 "--disk",
			 "/d/root.img,serial=root1",
			 "--disk",
			 "/d/data.img,ro,key-fd=7",
			 "--port",
			 "name=modem,path=/run/m.sock",
			 "--port",
			 "name=agent,path=/run/a.sock,listen",
			 "--console",
			 "none",
			 "--no-rng",
			 "--shutdown-grace",
			 "45",
			 NULL };
	struct vmm_config a, b;
	char err[256] = "";

	assert_true(parse_args(&a, err, sizeof(err), argv));
	config_init(&b);
	assert_true(config_parse_json(&b, json, strlen(json), err, sizeof(err)));
	assert_true(config_validate(&a, err, sizeof(err)));
	assert_same(&a, &b);
	assert_int_equal(a.console, CONSOLE_NONE);
	assert_int_equal(a.disks[0].key_fd, -1);
	assert_int_equal(a.disks[1].key_fd, 7);
	assert_true(a.ports[1].listen);
	assert_int_equal(a.shutdown_grace, 45);
	config_free(&a);
	config_free(&b);
}

static void test_config_file_then_override(void **state)
{
	char path[] = "/tmp/pocketvm-vmm-config-XXXXXX";
	int fd = mkstemp(path);
	const char *json = "{\"kernel\": \"/k\", \"vcpus\": 4, \"memory_mib\": 128}";
	char *argv[] = { "pocketvm-vmm", "--config", path, "--cpus", "2", NULL };
	struct vmm_config c;
	char err[256];

	assert_true(fd >= 0);
	assert_int_equal(write(fd, json, strlen(json)), (int)strlen(json));
	close(fd);
	assert_true(parse_args(&c, err, sizeof(err), argv));
	assert_string_equal(c.kernel, "/k");
	assert_int_equal(c.vcpus, 2); /* the later option wins */
	assert_int_equal(c.mem_mib, 128);
	config_free(&c);
	unlink(path);
}

struct bad_case {
	const char *json;
	const char *err;
};

static void test_json_errors(void **state)
{
	static const struct bad_case cases[] = {
		{ "{\"kernel\": 5}", "\"kernel\" must be a string" },
		{ "{\"vcpus\": 0}", "\"vcpus\" must be an integer from 1 to 64" },
		{ "{\"memory_mib\": -1}", "\"memory_mib\" must be an integer from 16 to 65536" },
		{ "{\"colour\": 1}", "unknown key \"colour\"" },
		{ "{\"disks\": [{\"path\": \"/d\", \"ro\": true}]}",
		  "disks[0]: unknown key \"ro\"" },
		{ "{\"disks\": [{\"path\": \"/d\", \"serial\": \"123456789012345678901\"}]}",
		  "longer than 20 characters" },
		{ "{\"ports\": [{\"name\": \"a b\", \"path\": \"/s\"}]}", "port name must be" },
		{ "{\"ports\": [{\"name\": \"a\", \"path\": \"/s\"}, {\"name\": \"a\", "
		  "\"path\": \"/t\"}]}",
		  "port name 'a' used twice" },
		{ "{\"disks\": [{\"path\": \"/d\", \"key_fd\": 1}]}", "\"key_fd\" (3 to 65535)" },
		{ "{\"console\": \"tty\"}", "--console must be stdio, none or socket=PATH" },
		{ "{\"shutdown_grace\": 3601}",
		  "\"shutdown_grace\" must be an integer from 0 to 3600" },
		{ "{\"shutdown_grace\": \"20\"}", "\"shutdown_grace\" must be an integer" },
		{ "[1, 2]", "configuration must be a JSON object" },
		{ "{\"kernel\": \"/a\", \"kernel\": \"/b\"}", "JSON error" },
		{ "{\"kernel\": \"/a\"", "JSON error at line 1" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct vmm_config c;
		char err[256] = "";

		config_init(&c);
		assert_false(config_parse_json(&c, cases[i].json, strlen(cases[i].json), err,
					       sizeof(err)));
		if (!strstr(err, cases[i].err))
			fail_msg("case %zu: error '%s' lacks '%s'", i, err, cases[i].err);
		config_free(&c);
	}
}

/* The daemon hands the image over as an fd: fd=N reaches it through /proc. */
static void test_disk_by_fd(void **state)
{
	struct vmm_config c;
	char err[256] = "";
	char *argv[] = { "v", "--kernel", "k", "--disk", "fd=3,key-fd=4", NULL };

	config_init(&c);
	assert_true(config_parse_args(&c, 5, argv, err, sizeof(err)));
	assert_int_equal(c.nr_disks, 1);
	assert_string_equal(c.disks[0].path, "/proc/self/fd/3");
	assert_int_equal(c.disks[0].key_fd, 4);
	config_free(&c);
}

static void test_cli_errors(void **state)
{
	struct {
		char *argv[6];
		const char *err;
	} cases[] = {
		{ { "v", "--bogus", NULL }, "unknown option '--bogus'" },
		{ { "v", "--mem", NULL }, "option '--mem' needs a value" },
		{ { "v", "--mem", "12x", NULL },
		  "--mem must be a number from 16 to 65536, not '12x'" },
		{ { "v", "--cpus", "65", NULL }, "--cpus must be a number from 1 to 64, not '65'" },
		{ { "v", "--disk", "a,rw", NULL }, "--disk: unknown setting 'rw'" },
		{ { "v", "--disk", "a,key-fd=2", NULL },
		  "--disk key-fd must be a number from 3 to 65535, not '2'" },
		{ { "v", "--disk", "fd=1,key-fd=4", NULL },
		  "--disk fd must be a number from 3 to 65535, not '1'" },
		{ { "v", "--port", "name=x", NULL }, "port 'x' needs a unix socket path" },
		{ { "v", "extra", NULL }, "unexpected argument 'extra'" },
		{ { "v", "--shutdown-grace", "-1", NULL },
		  "--shutdown-grace must be a number from 0 to 3600, not '-1'" },
		{ { "v", "--shutdown-grace", "2h", NULL },
		  "--shutdown-grace must be a number from 0 to 3600, not '2h'" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct vmm_config c;
		char err[256] = "";

		assert_false(parse_args(&c, err, sizeof(err), cases[i].argv));
		if (!strstr(err, cases[i].err))
			fail_msg("case %zu: error '%s' lacks '%s'", i, err, cases[i].err);
		config_free(&c);
	}
}

/* A stop signal waits 20 s for the guest by default; 0 restores the immediate stop. */
static void test_shutdown_grace(void **state)
{
	struct vmm_config c;
	char err[256] = "";
	char *def[] = { "v", "--kernel", "k", NULL };
	char *zero[] = { "v", "--kernel", "k", "--shutdown-grace", "0", NULL };

	assert_true(parse_args(&c, err, sizeof(err), def));
	assert_int_equal(c.shutdown_grace, 20);
	config_free(&c);
	assert_true(parse_args(&c, err, sizeof(err), zero));
	assert_int_equal(c.shutdown_grace, 0);
	assert_true(config_validate(&c, err, sizeof(err)));
	config_free(&c);
}

static void test_validate_needs_kernel(void **state)
{
	struct vmm_config c;
	char err[256];

	config_init(&c);
	assert_false(config_validate(&c, err, sizeof(err)));
	assert_non_null(strstr(err, "no kernel given"));
	config_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cli_equals_json),
		cmocka_unit_test(test_config_file_then_override),
		cmocka_unit_test(test_json_errors),
		cmocka_unit_test(test_cli_errors),
		cmocka_unit_test(test_disk_by_fd),
		cmocka_unit_test(test_shutdown_grace),
		cmocka_unit_test(test_validate_needs_kernel),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
