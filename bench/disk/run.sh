#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# bench/disk/run.sh BUILD_DIR [THREADS] [ROUNDS] [SECONDS] [-- BENCH_CRYPT_ARGS...]
#
# The crypt backend next to `openssl speed -evp aes-256-gcm -bytes 4096` in
# the same run. Shared machines are noisy, so the two alternate in short
# rounds. Per metric it prints the best round and the spread (min / median /
# max); per round it divides each crypt number by the openssl number measured
# just before it, and prints the spread of those ratios too (the fairest
# figure on a loaded machine: both sides of a ratio saw the same load).
# Arguments after -- go to bench_crypt, e.g. `-- -d /var/tmp` for an image on
# a real file system instead of /dev/shm, `-g` for 4 KiB iovec elements.
# BASELINE=path/to/another/bench_crypt also runs that binary in every round
# (a build of an older commit: before/after side by side, its rows "old_*").
# Build BUILD_DIR without sanitizers: meson setup build-bench -Dbuildtype=release
set -eu
build=${1:?build dir}
shift
threads=2 rounds=5 secs=2
[ $# -gt 0 ] && [ "$1" != -- ] && { threads=$1; shift; }
[ $# -gt 0 ] && [ "$1" != -- ] && { rounds=$1; shift; }
[ $# -gt 0 ] && [ "$1" != -- ] && { secs=$1; shift; }
[ $# -gt 0 ] && [ "$1" = -- ] && shift
bench="$build/bench/disk/bench_crypt"
metrics="seal write read read_sync read_bounce raw_read raw_write"
[ -n "${BASELINE:-}" ] && metrics="$metrics old_write old_read"

ossl() {
	# The result row's last field is in 1000s of bytes per second.
	openssl speed -evp aes-256-gcm -bytes 4096 -seconds "$secs" -multi "$1" 2>/dev/null |
		awk '/^(evp|aes-256-gcm|AES-256-GCM)/ { v = $NF } END { sub(/k$/, "", v); printf "%.0f", v / 1000 }'
}

field() {
	echo "$2" | sed -n "s/.* $1_MBps=\([0-9]*\).*/\1/p"
}

# min / median / max of the numbers on stdin
spread() {
	sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "-"; exit }
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		fmt = v[NR] < 10 ? "%.2f / %.2f / %.2f" : "%.0f / %.0f / %.0f"
		printf fmt, v[1], m, v[NR] }'
}

echo "host: $(nproc) cpus, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "openssl: $(openssl version)"
echo "bench_crypt args: -s $secs $*"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
t=1
while [ "$t" -le "$threads" ]; do
	for _ in $(seq "$rounds"); do
		o=$(ossl "$t")
		echo "$o" >>"$tmp/openssl"
		line=" $("$bench" -x -t "$t" -s "$secs" "$@" | grep '^threads=')"
		if [ -n "${BASELINE:-}" ]; then
			old=" $("$BASELINE" -x -t "$t" -s "$secs" "$@" | grep '^threads=')"
			line="$line old_write_MBps=$(field write "$old") old_read_MBps=$(field read "$old")"
		fi
		for m in $metrics; do
			v=$(field "$m" "$line")
			[ -n "$v" ] || continue
			echo "$v" >>"$tmp/$m"
			awk "BEGIN { printf \"%.3f\n\", $v / $o }" >>"$tmp/$m.ratio"
		done
	done
	echo "threads=$t, $rounds rounds, MB/s min / median / max:"
	printf '  %-12s %s\n' openssl_speed "$(spread <"$tmp/openssl")"
	for m in $metrics; do
		[ -f "$tmp/$m" ] || continue
		printf '  %-12s %s   per-round ratio to openssl: %s\n' "$m" "$(spread <"$tmp/$m")" \
			"$(spread <"$tmp/$m.ratio")"
	done
	rm -f "$tmp"/*
	t=$((t * 2))
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
