# SPDX-License-Identifier: Apache-2.0
# Benchmark scenario inside the emulated phone: the same guest (Debian cloud
# kernel, initramfs) on pocketvm-vmm and on QEMU (-M microvm, KVM,
# virtio-net-pci on a tap with vhost=off, i.e. QEMU's userspace virtio-net),
# each in a network namespace of its own with a TCP sink and echo server on
# 10.10.0.1. Then vsock (pocketvm only: QEMU needs vhost for it) and the
# memory of idle VMs. Prints "BENCH:" lines; bench/vmm/net/run collects them.
set -u
# pivot_root (passt's sandbox and our jail) refuses an initramfs root, and a
# chrooted process may not make user namespaces (passt does): in a mount
# namespace of our own, move a bind mount of the root over "/" and enter it,
# as switch_root does. Then the root is an ordinary mount.
if [ ! -e /.pvm-root ]; then
	exec unshare -m sh -c 'mount --make-rprivate / && mkdir -p /newroot &&
		mount --rbind / /newroot && touch /newroot/.pvm-root && cd /newroot &&
		mount --move . / && exec chroot . /bin/sh -c \
		"cd /pocketvm && PATH=$PATH exec sh /pocketvm/scenario.sh"'
fi
insmod /pocketvm/tun.ko 2>/dev/null
cmdline="console=ttyS0 quiet name=bench role=bench mib=${BENCH_MIB:-64} streams=${BENCH_STREAMS:-1}"
# The counters below are per MiB of all the streams of one boot.
export BENCH_TOTAL_MIB=$(( ${BENCH_MIB:-64} * ${BENCH_STREAMS:-1} ))

mount -t debugfs none /sys/kernel/debug 2>/dev/null
mount -t tracefs none /sys/kernel/tracing 2>/dev/null

# Helpers, also for the shell inside each network namespace.
cat > /tmp/bench-lib.sh <<'LIB'
# The counters of the stream phase, as "key value" lines in $1: KVM's
# (debugfs, all VMs: one runs at a time), the VMM's threads (CPU ticks,
# context switches) and read/write syscalls, the tap's and the phone's CPUs.
snap() {
	pid=$(for p in $(pidof pocketvm-vmm qemu-system-x86_64); do
		echo "$(ls /proc/$p/task | wc -l) $p"; done | sort -n | tail -n1 | cut -d' ' -f2)
	{
		for k in exits io_exits mmio_exits halt_exits halt_wakeup irq_injections \
			irq_exits signal_exits request_irq_exits irq_window_exits \
			halt_successful_poll halt_attempted_poll; do
			[ -r /sys/kernel/debug/kvm/$k ] && echo "kvm.$k $(cat /sys/kernel/debug/kvm/$k)"
		done
		for k in rx_packets tx_packets rx_dropped tx_dropped; do
			echo "tap.$k $(cat /sys/class/net/tap0/statistics/$k)"
		done
		awk '/^cpu / {print "phone.user", $2 + $3; print "phone.sys", $4;
			print "phone.idle", $5; print "phone.irq+softirq", $7 + $8}' /proc/stat
		[ -n "$pid" ] || return 0
		awk '/^sysc[rw]/ {sub(":", "", $1); print "vmm." $1, $2}' /proc/$pid/io
		awk '/^AnonHugePages/ {print "vmm.anon_huge_kib", $2}' /proc/$pid/smaps_rollup
		for t in /proc/$pid/task/*; do
			k=thread.$(tr ' /' '__' < $t/comm).${t##*/}
			sed 's/.*) //' $t/stat | awk -v k=$k '{print k ".utime", $12; print k ".stime", $13}'
			awk -v k=$k '/ctxt_switches/ {sub("_ctxt_switches:", "", $1); print k "." $1, $2}' \
				$t/status
			awk -v k=$k '/^se.nr_migrations/ {print k ".migrations", $3}' $t/sched 2>/dev/null
		done
	} > "$1"
}

# Prints what changed between two snaps, in total and per MiB sent.
delta() {
	awk -v l="$3" -v mib="$BENCH_TOTAL_MIB" 'NR == FNR {a[$1] = $2; next}
		($1 in a) && $2 != a[$1] {printf "BENCH: %s stream %s %d (%.1f/MiB)\n",
			l, $1, $2 - a[$1], ($2 - a[$1]) / mib}' "$1" "$2"
}

# Waits until the VMM's log ($1) has a line matching $2.
wait_for() {
	for i in $(seq 6000); do grep -q "$2" "$1" && return 0; sleep 0.1; done
	return 1
}
LIB
. /tmp/bench-lib.sh

# One run in a fresh network namespace: $1 = label, the rest = the VMM command.
run_in_ns() {
	label=$1
	shift
	cat > /tmp/ns.sh <<NS
ip link set lo up
sleep 100000 | $* > /tmp/$label.log 2>&1 &
for i in \$(seq 900); do ip link show tap0 >/dev/null 2>&1 && break; sleep 0.1; done
ip addr add 10.10.0.1/24 dev tap0 && ip link set tap0 up
pvm-nettool tcp-sink 5001 &
pvm-nettool tcp-echo 10.10.0.1 7 echo &
. /tmp/ns-watch.sh
kill \$(jobs -p) 2>/dev/null
NS
	cat > /tmp/ns-watch.sh <<'NS'
wait_for /tmp/$label.log "stream start" && snap /tmp/$label.s0
if [ -n "${BENCH_PERF:-}" ] && [ -x /pocketvm/perf ]; then
	/pocketvm/perf record -q -a -F 499 -e cpu-clock -e kvm:kvm_exit -e kvm:kvm_msr \
		-e kvm:kvm_mmio -o /tmp/$label.perf 2>/dev/null & perf_pid=$!
fi
wait_for /tmp/$label.log "guest-bench: streams done" && snap /tmp/$label.s1
[ -n "${perf_pid:-}" ] && kill -INT $perf_pid && wait $perf_pid
wait_for /tmp/$label.log "bench done"
sleep 2
NS
	umask 000
	rm -f /run/bench/v.sock_1234 /run/bench/v.sock_1235
	pvm-nettool host-listen /run/bench/v.sock_1234 echo & l1=$!
	pvm-nettool unix-sink /run/bench/v.sock_1235 & l2=$!
	umask 022
	label=$label unshare -n sh -c '. /tmp/bench-lib.sh; . /tmp/ns.sh'
	kill $l1 $l2 2>/dev/null
	grep -E "guest-bench: (tcp|vsock|clocksource|dmesg)" /tmp/$label.log | sed "s/^/BENCH: $label /"
	sed -n 's/.*guest-bench: cpuflags //p' /tmp/$label.log | tr ' ' '\n' | sort > /tmp/$label.flags
	[ -f /tmp/$label.s1 ] && delta /tmp/$label.s0 /tmp/$label.s1 $label
	grep "guest-bench: stat" /tmp/$label.log | tr ' ' '\n' | grep = |
		awk -F= -v l=$label -v mib="$BENCH_TOTAL_MIB" '$1 in a {d = $2 - a[$1];
			if (d) printf "BENCH: %s stream guest.%s %d (%.1f/MiB)\n", l, $1, d, d / mib}
			{a[$1] = $2}'
	if [ -f /tmp/$label.perf ]; then
		# Where the VMM's threads spend the phone's CPU (kernel and user).
		/pocketvm/perf report -i /tmp/$label.perf --stdio --no-children -q \
			--comms pocketvm-vmm,vcpu0,qemu-system-x86,"CPU 0/KVM" \
			--sort comm,dso,sym 2>/dev/null | grep -v '^$' | grep '%' | head -n 40 |
			sed "s/^/PERF: $label /"
		# Exits by reason, MSR accesses by register, MMIO by page.
		/pocketvm/perf script -i /tmp/$label.perf -F event,trace 2>/dev/null | awk '
			/kvm_exit/ {for (i = 1; i <= NF; i++) if ($i == "reason") r["exit " $(i + 1)]++}
			/kvm_msr/ {r["msr " $2 " " $3]++}
			/kvm_mmio/ {for (i = 1; i <= NF; i++) if ($i == "gpa") r["mmio " $(i - 3) " " \
				substr($(i + 1), 1, length($(i + 1)) - 3)]++}
			END {for (k in r) print r[k], k}' | sort -rn | head -n 24 |
			awk -v mib="$BENCH_TOTAL_MIB" '{printf "%s (%.1f/MiB)\n", $0, $1 / mib}' |
			sed "s/^/PERF: $label /"
		rm -f /tmp/$label.perf
	fi
	rm -f /tmp/$label.s0 /tmp/$label.s1
}
mkdir -p /run/bench
for round in $(seq ${BENCH_ROUNDS:-3}); do
	run_in_ns pocketvm /pocketvm/pocketvm-vmm --kernel /pocketvm/vmlinux \
		--initrd /pocketvm/guest.cpio.gz --cmdline "'$cmdline'" --mem 256 \
		--console stdio --net tap:name=tap0 --vsock 3,/run/bench/v.sock
	# BENCH_VMM_ALT: another pocketvm-vmm build, for A/B comparisons.
	[ -x /pocketvm/alt/pocketvm-vmm ] && run_in_ns pocketvm-alt /pocketvm/alt/pocketvm-vmm \
		--kernel /pocketvm/vmlinux --initrd /pocketvm/guest.cpio.gz --cmdline "'$cmdline'" \
		--mem 256 --console stdio --net tap:name=tap0 --vsock 3,/run/bench/v.sock
	run_in_ns qemu qemu-system-x86_64 -L /pocketvm/qemu-data \
		-M microvm,accel=kvm,pcie=on,acpi=on -cpu host -m 256 -nodefaults \
		-no-user-config -display none -serial stdio -no-reboot \
		-kernel /pocketvm/vmlinux -initrd /pocketvm/guest.cpio.gz -append "'$cmdline'" \
		-netdev tap,id=n0,ifname=tap0,script=no,downscript=no,vhost=off \
		-device virtio-net-pci,netdev=n0,romfile=
	only() { awk 'NR == FNR {b[$0]; next} !($0 in b)' "$2" "$1" | tr '\n' ' '; }
	echo "BENCH: cpu flags only under pocketvm: $(only /tmp/pocketvm.flags /tmp/qemu.flags)"
	echo "BENCH: cpu flags only under qemu: $(only /tmp/qemu.flags /tmp/pocketvm.flags)"
done
echo "BENCH: phone THP: $(cat /sys/kernel/mm/transparent_hugepage/enabled)"

echo "== idle VMs: 128 MiB each, balloon with free page reporting"
avail() { awk '/^MemAvailable/ {print $2}' /proc/meminfo; }
a0=$(avail)
echo "BENCH: memory available before: $a0 KiB"
n=0
for v in $(seq ${BENCH_IDLE:-4}); do
	sleep 100000 | /pocketvm/pocketvm-vmm --kernel /pocketvm/vmlinux \
		--initrd /pocketvm/guest.cpio.gz --mem 128 --console stdio --balloon \
		--cmdline "console=ttyS0 quiet name=idle$v role=idle" > /tmp/idle$v.log 2>&1 &
	for i in $(seq 3000); do grep -q "guest-idle$v: idle" /tmp/idle$v.log && break; sleep 0.1; done
	grep -q "guest-idle$v: idle" /tmp/idle$v.log && n=$v
done
sleep 15
a1=$(avail)
echo "BENCH: idle VMs running: $n"
echo "BENCH: memory available after: $a1 KiB"
for p in $(pidof pocketvm-vmm); do
	echo "BENCH: idle VMM rss $(awk '/^VmRSS/ {print $2}' /proc/$p/status) KiB"
done
if [ "$n" -gt 0 ]; then
	echo "BENCH: per idle VM $(( (a0 - a1) / n )) KiB;" \
		"the phone holds about $(( a0 / ((a0 - a1) / n) )) such VMs"
fi
