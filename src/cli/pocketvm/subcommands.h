/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The `pocketvm` subcommands. Adding one is two lines: its declaration
 * here and its row in the table in main.c.
 */
#ifndef POCKETVM_CLI_SUBCOMMANDS_H
#define POCKETVM_CLI_SUBCOMMANDS_H

/* Each gets argv starting at its own name and returns the exit status. */
int image_main(int argc, char *argv[]);

#endif
