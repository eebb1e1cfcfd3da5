# SPDX-License-Identifier: Apache-2.0
# The two commands of the README, and a few for developers. Everything
# real lives in scripts/ and meson; see docs/development.md.

.PHONY: all demo test build fuzz bench format check-format clean

all: build

# The main job: the emulated phone running pocketvm (scripts/demo).
demo:
	@scripts/demo

# Every test; the last line is "N passed, N failed, N skipped".
test:
	@scripts/run-tests

build:
	@scripts/install-deps
	@[ -f build/build.ninja ] || meson setup build -Db_sanitize=address,undefined -Db_lundef=false
	@ninja -C build

# Fuzz every harness for FUZZ_SECONDS each (default 300).
fuzz:
	@scripts/fuzz $(FUZZ_SECONDS)

bench:
	@scripts/bench

format:
	@scripts/check-format --fix

check-format:
	@scripts/check-format

clean:
	rm -rf build build-fuzz build-release
