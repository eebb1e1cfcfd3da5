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
cmdline="console=ttyS0 quiet name=bench role=bench mib=${BENCH_MIB:-64}"

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
for i in \$(seq 6000); do grep -q "bench done" /tmp/$label.log && break; sleep 0.1; done
sleep 2
kill \$(jobs -p) 2>/dev/null
NS
	umask 000
	rm -f /run/bench/v.sock_1234 /run/bench/v.sock_1235
	pvm-nettool host-listen /run/bench/v.sock_1234 echo & l1=$!
	pvm-nettool unix-sink /run/bench/v.sock_1235 & l2=$!
	umask 022
	unshare -n sh /tmp/ns.sh
	kill $l1 $l2 2>/dev/null
	grep -E "guest-bench: (tcp|vsock)" /tmp/$label.log | sed "s/^/BENCH: $label /"
}
mkdir -p /run/bench
for round in $(seq ${BENCH_ROUNDS:-3}); do
	run_in_ns pocketvm /pocketvm/pocketvm-vmm --kernel /pocketvm/vmlinux \
		--initrd /pocketvm/guest.cpio.gz --cmdline "'$cmdline'" --mem 256 \
		--console stdio --net tap:name=tap0 --vsock 3,/run/bench/v.sock
	run_in_ns qemu qemu-system-x86_64 -L /pocketvm/qemu-data \
		-M microvm,accel=kvm,pcie=on,acpi=on -cpu host -m 256 -nodefaults \
		-no-user-config -display none -serial stdio -no-reboot \
		-kernel /pocketvm/vmlinux -initrd /pocketvm/guest.cpio.gz -append "'$cmdline'" \
		-netdev tap,id=n0,ifname=tap0,script=no,downscript=no,vhost=off \
		-device virtio-net-pci,netdev=n0,romfile=
done

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
[ "$n" -gt 0 ] && echo "BENCH: per idle VM $(( (a0 - a1) / n )) KiB;" \
	"the phone holds about $(( a0 / ((a0 - a1) / n) )) such VMs"
