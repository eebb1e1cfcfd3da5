#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# run-fuzz.sh HARNESS SEED_DIR SECONDS: runs a harness from its committed seeds,
# writing what it discovers to a temporary corpus (never into the source tree).
set -eu
work=$(mktemp -d /tmp/pocketvm-fuzz-XXXXXX)
trap 'rm -rf "$work"' EXIT
"$1" -max_total_time="$3" -rss_limit_mb=4096 -timeout=10 "$work" "$2"
