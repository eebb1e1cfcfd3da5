// SPDX-License-Identifier: Apache-2.0
/* pocketvm: the command a person uses on the device. */
#include <stdio.h>
#include <string.h>

#include "cli/pocketvm/subcommands.h"
#include "common/log.h"

static const struct {
	const char *name;
	int (*fn)(int argc, char *argv[]);
	const char *description;
} subcommands[] = {
	{ "image", image_main, "create, inspect, check and manage encrypted disk images" },
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: pocketvm <command> [<args>]\n\nCommands:\n");
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		fprintf(f, "  %-10s %s\n", subcommands[i].name, subcommands[i].description);
	fprintf(f, "\n`pocketvm <command> --help` shows a command's options.\n");
}

int main(int argc, char *argv[])
{
	log_set_ident("pocketvm");
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		if (!strcmp(argv[1], subcommands[i].name))
			return subcommands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "pocketvm: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return 2;
}
