#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# /init of the networking guest. The kernel passes the command line's
# name=, role= (tap, passt or idle) and other_cid= in the environment.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
# The initramfs has no /dev/console, so the kernel could not open one for us.
exec 0</dev/console 1>/dev/console 2>&1
mount -t tmpfs -o size=200m tmpfs /tmp
for m in $(cat /etc/modules.order); do
	insmod /lib/modules/$m.ko || echo "guest-$name: insmod $m failed"
done
say() { echo "guest-$name: $*"; }
ip link set lo up

case "$role" in
tap)
	ip link set eth0 up && ip addr add 10.10.0.2/24 dev eth0 &&
		ip route add default via 10.10.0.1
	peer_net=10.0.2.2:8080 service=10.10.0.1:7
	;;
passt)
	ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0 &&
		ip route add default via 10.0.2.2
	peer_net=10.10.0.1:7 service=10.0.2.2:8080
	;;
idle)
	say "idle"
	exec sleep 100000
	;;
bench)
	# Benchmark guest: the phone serves 10.10.0.1 (sink :5001, echo :7) and
	# vsock (echo on port 1234, sink on port 1235).
	ip link set eth0 up && ip addr add 10.10.0.2/24 dev eth0
	for i in $(seq 30); do
		pvm-nettool tcp-send 10.10.0.1 7 up 2 >/dev/null 2>&1 && break
		sleep 1
	done
	# The phone samples its counters while the guest pauses around the
	# stream; the guest's own counters come as "stat" lines.
	stats() {
		sed -n 's/^ *eth0: *//p' /proc/net/dev | awk -v p="$1" '{print "stat " p \
			" eth0.rx_packets=" $2 " eth0.tx_packets=" $10 " eth0.tx_bytes=" $9}'
		awk -v p="$1" '/virtio.*-(input|output)/ {n[$NF] += $2}
			END {for (k in n) printf "stat %s irq.%s=%d\n", p, k, n[k]}' /proc/interrupts
		awk -v p="$1" '/^Tcp: [0-9]/ {print "stat " p " tcp.retrans=" $13}' /proc/net/snmp
	}
	say "clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
	say "cpuflags $(sed -n 's/^flags[^:]*: //p' /proc/cpuinfo | head -n1)"
	dmesg | grep -iE 'x2apic|kvm-guest|pv eoi|apic:|smpboot' | head -n 8 |
		sed "s/^/guest-$name: dmesg /"
	stats pre | sed "s/^/guest-$name: /"
	say "stream start"
	sleep 1
	# streams= back-to-back streams: more samples per boot on a noisy machine.
	for i in $(seq ${streams:-1}); do
		say "tcp $(timeout 300 pvm-nettool tcp-stream 10.10.0.1 5001 ${mib:-64})"
	done
	say "streams done"
	sleep 1
	stats post | sed "s/^/guest-$name: /"
	say "tcp $(pvm-nettool rtt 10.10.0.1 7 500)"
	if [ -e /sys/bus/virtio/drivers/vmw_vsock_virtio_transport ] &&
		ls /sys/bus/virtio/drivers/vmw_vsock_virtio_transport | grep -q virtio; then
		say "vsock $(pvm-nettool vsock-stream 2 1235 ${mib:-64})"
		say "vsock $(pvm-nettool vsock-rtt 2 1234 500)"
	fi
	say "bench done"
	poweroff -f
	;;
esac
say "mac $(cat /sys/class/net/eth0/address)"
pvm-nettool guest-listen 5000 "guest-$name" &
# The network comes up in a moment: retry the first connection a little.
for i in 1 2 3 4 5 6 7 8 9 10; do
	r=$(pvm-nettool tcp-send "${service%:*}" "${service#*:}" "hello-$role" 5 2>/dev/null) && break
	sleep 1
done
say "tcp reply: $r"
say "vsock reply: $(pvm-nettool guest-send 2 1234 hi 5 2>&1)"
if pvm-nettool guest-send "$other_cid" 1234 hi 3 >/dev/null 2>&1; then
	say "BREACH: reached CID $other_cid"
else
	say "no path to CID $other_cid"
fi
if pvm-nettool tcp-send "${peer_net%:*}" "${peer_net#*:}" x 3 >/dev/null 2>&1; then
	say "BREACH: reached $peer_net"
else
	say "no path to $peer_net"
fi
say "ready"
# For the balloon: page cache from the disk, then wait for the host.
if [ -b /dev/vda ]; then
	dd if=/dev/vda of=/dev/null bs=1M 2>/dev/null
	say "read the disk"
	# Free page reporting: once the host opens vsock port 1236, fill 120 MiB
	# of memory, say so, and free it.
	until pvm-nettool guest-send 2 1236 fill 2 >/dev/null 2>&1; do sleep 1; done
	dd if=/dev/zero of=/tmp/fill bs=1M count=120 2>/dev/null
	say "filled 120 MiB"
	sleep 5
	rm /tmp/fill
	say "freed 120 MiB"
fi
sleep 100000
