#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# bench/server/run.sh [CLIENT_THREADS] [SECONDS]: builds an optimized tree without
# sanitizers in build-bench/ and runs the server benchmarks side by side with
# tangd. Results go to docs/benchmarks/server.md by hand.
set -eu
cd "$(dirname "$0")/../.."
if [ ! -d build-bench ]; then
	meson setup build-bench -Dbuildtype=release >/dev/null
fi
ninja -C build-bench -j2 src/server/pocketvm-server bench/server/bench-server >/dev/null
POCKETVM_BUILD=$PWD/build-bench exec build-bench/bench/server/bench-server "${1:-4}" "${2:-5}"
