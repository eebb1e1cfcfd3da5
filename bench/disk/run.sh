#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# bench/disk/run.sh BUILD_DIR [THREADS] [ROUNDS] [SECONDS]
#
# The crypt backend next to `openssl speed -evp aes-256-gcm -bytes 4096` in
# the same run. Shared machines are noisy, so the two alternate in short
# rounds and each keeps its best round; the ratios compare the bests.
# Build BUILD_DIR without sanitizers: meson setup build-bench -Dbuildtype=release
set -eu
build=${1:?build dir}
threads=${2:-2}
rounds=${3:-5}
secs=${4:-2}
bench="$build/bench/disk/bench_crypt"

ossl() {
	# The result row's last field is in 1000s of bytes per second.
	openssl speed -evp aes-256-gcm -bytes 4096 -seconds "$secs" -multi "$1" 2>/dev/null |
		awk '/^(evp|aes-256-gcm|AES-256-GCM)/ { v = $NF } END { sub(/k$/, "", v); printf "%.0f", v / 1000 }'
}

field() {
	echo "$2" | sed "s/.* $1=\([0-9]*\).*/\1/"
}

max() {
	[ "$1" -gt "$2" ] && echo "$1" || echo "$2"
}

echo "host: $(nproc) cpus, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "openssl: $(openssl version)"
t=1
while [ "$t" -le "$threads" ]; do
	o=0 s=0 w=0 r=0 rr=0 rw=0
	for _ in $(seq "$rounds"); do
		o=$(max "$o" "$(ossl "$t")")
		line=" $("$bench" -x -t "$t" -s "$secs" | grep '^threads=')"
		s=$(max "$s" "$(field seal_MBps "$line")")
		w=$(max "$w" "$(field write_MBps "$line")")
		r=$(max "$r" "$(field read_MBps "$line")")
		rr=$(max "$rr" "$(field raw_read_MBps "$line")")
		rw=$(max "$rw" "$(field raw_write_MBps "$line")")
	done
	echo "threads=$t best of $rounds: openssl_speed=$o MB/s, pocketvm aead=$s, crypt write=$w," \
		"crypt read=$r, raw read=$rr, raw write=$rw"
	echo "threads=$t ratios: write/openssl=$(awk "BEGIN{printf \"%.2f\", $w/$o}")" \
		"read/openssl=$(awk "BEGIN{printf \"%.2f\", $r/$o}")" \
		"aead/openssl=$(awk "BEGIN{printf \"%.2f\", $s/$o}")" \
		"read/(crypto+io in series)=$(awk "BEGIN{printf \"%.2f\", $r * (1/$o + 1/$rr)}")" \
		"write/(crypto+io in series)=$(awk "BEGIN{printf \"%.2f\", $w * (1/$o + 1/$rw)}")"
	t=$((t * 2))
done
