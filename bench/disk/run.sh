#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# bench/disk/run.sh BUILD_DIR [THREADS] [SECONDS]: the crypt backend next to
# `openssl speed -evp aes-256-gcm -bytes 4096` in the same run, with ratios.
# Build BUILD_DIR without sanitizers (meson setup build-bench -Dbuildtype=release).
set -eu
build=${1:?build dir}
threads=${2:-2}
secs=${3:-3}

ossl() {
	# The last field of the result row is in 1000s of bytes per second.
	openssl speed -evp aes-256-gcm -bytes 4096 -seconds "$secs" -multi "$1" 2>/dev/null |
		awk '/^(evp|aes-256-gcm|AES-256-GCM)/ { v = $NF } END { sub(/k$/, "", v); printf "%.0f", v / 1000 }'
}

echo "host: $(nproc) cpus, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "openssl: $(openssl version)"
"$build/bench/disk/bench_crypt" -t "$threads" -s "$secs" | tee /tmp/pocketvm-bench.$$
t=1
while [ "$t" -le "$threads" ]; do
	o=$(ossl "$t")
	line=$(grep "^threads=$t " /tmp/pocketvm-bench.$$)
	w=$(echo "$line" | sed 's/.*write_MBps=\([0-9]*\).*/\1/')
	r=$(echo "$line" | sed 's/.* read_MBps=\([0-9]*\).*/\1/')
	s=$(echo "$line" | sed 's/.*seal_MBps=\([0-9]*\).*/\1/')
	rr=$(echo "$line" | sed 's/.*raw_read_MBps=\([0-9]*\).*/\1/')
	echo "threads=$t openssl_speed_MBps=$o seal/openssl=$(awk "BEGIN{printf \"%.2f\", $s/$o}")" \
		"write/openssl=$(awk "BEGIN{printf \"%.2f\", $w/$o}") read/openssl=$(awk "BEGIN{printf \"%.2f\", $r/$o}")" \
		"read/ideal=$(awk "BEGIN{printf \"%.2f\", $r * (1/$o + 1/$rr)}")"
	t=$((t * 2))
done
rm -f /tmp/pocketvm-bench.$$
