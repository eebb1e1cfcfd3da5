#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# /etc/rc of the e2e guest (busybox init runs it at sysinit). Reports what
# the host checks as "GUEST: ..." lines. First boot (no /data/marker): writes
# the marker from the kernel command line (pvm.marker=), syncs and reboots.
# Second boot: reads the marker back, talks over the named console port
# "test.port", discards, powers off.
# pvm.shutdown=wait: installs /etc/rc.stop (run by the image's shutdown
# script) to record the marker, says it waits, and returns: the host's
# SIGTERM presses the power button and the image's acpid powers off.
# pvm.shutdown=check: reports whether this mount needed journal recovery and
# what the previous shutdown recorded, then powers off at once.
mount -t proc proc /proc
mount -t sysfs sys /sys
say() { echo "GUEST: $*"; }

marker="" shutdown=""
for a in $(cat /proc/cmdline); do
	case "$a" in
	pvm.marker=*) marker=${a#pvm.marker=} ;;
	pvm.shutdown=*) shutdown=${a#pvm.shutdown=} ;;
	pvm.panic=1)
		say "panicking on purpose"
		# Let the tty drain to the UART: a panic drops what is still queued.
		sleep 2
		echo c > /proc/sysrq-trigger
		;;
	esac
done
say "cpus=$(grep -c ^processor /proc/cpuinfo)"
say "root=$(awk '$2 == "/" { print $1 " " $3 }' /proc/mounts | tail -n1)"
say "serial=$(cat /sys/block/vda/serial 2>/dev/null)"
say "rng=$(cat /sys/class/misc/hw_random/rng_current 2>/dev/null)"
# 32 bytes from the device; all zeros would mean it returned nothing real.
rnd=$(head -c 32 /dev/hwrng | od -An -tx1 | tr -d ' \n')
case "$rnd" in
""|*[!0]*) say "rng-bytes=${#rnd}" ;;
*) say "rng-bytes=zero" ;;
esac

# How this boot's mount of the root went (the kernel says so when it replays the journal).
recovery() {
	if dmesg | grep -q "EXT4-fs (vda): recovery complete"; then
		say "root mount: journal recovery needed"
	else
		say "root mount: clean, no journal recovery"
	fi
}

case "$shutdown" in
wait)
	recovery
	printf '#!/bin/sh\necho "%s" > /data/shutdown-marker\n' "$marker" > /etc/rc.stop
	chmod +x /etc/rc.stop
	rm -f /data/shutdown-marker
	sync
	say "input devices: $(cat /sys/class/input/event*/device/name 2>/dev/null | tr '\n' ,)"
	say "acpid running: $(pidof acpid >/dev/null && echo yes || echo no)"
	say "waiting for the power button"
	exit 0
	;;
check)
	recovery
	say "shutdown marker: $(cat /data/shutdown-marker 2>/dev/null)"
	rm -f /etc/rc.stop /data/shutdown-marker
	sync
	poweroff -f
	;;
esac

if [ ! -f /data/marker ]; then
	echo "$marker" > /data/marker
	sync
	say "wrote marker $marker"
	reboot -f
fi

say "marker read back: $(cat /data/marker)"
# The named port: /dev/vportNpM whose sysfs name is test.port.
port=""
for d in /sys/class/virtio-ports/*; do
	[ "$(cat "$d/name" 2>/dev/null)" = test.port ] && port=/dev/${d##*/}
done
if [ -n "$port" ]; then
	exec 3<>"$port"
	echo "hello-from-guest" >&3
	reply=""
	read -t 20 reply <&3
	exec 3>&-
	say "port reply: $reply"
else
	say "port test.port not found"
fi
# Discard reaches the backend (fstrim on the mounted root).
if fstrim / 2>/dev/null; then say "discard ok"; else say "discard failed"; fi
sync
say "powering off"
poweroff -f
