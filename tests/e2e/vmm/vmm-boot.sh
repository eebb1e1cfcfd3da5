# SPDX-License-Identifier: Apache-2.0
#
# Phone scenario (runs inside the emulated phone, /pocketvm): boots the
# Debian kernel under pocketvm-vmm twice on the same ext4 root disk, first
# as vmlinux through PVH, then as the bzImage (vmlinuz) through the Linux
# boot protocol. Run 1 writes a marker and reboots (exit status 3); run 2 reads it back,
# echoes a line through a named console port bridged to a unix socket, and
# powers off (exit status 0). Runs 3 and 4 do the same on an encrypted copy
# of the root image. Then the graceful stop: SIGTERM to a VMM whose guest
# waits presses its ACPI power button; the guest shuts down (exit 0) and
# leaves its root clean (the superblock's needs_recovery flag, checked here
# after an unclean run too, and the next boot's mount). The checks live in
# run-vmm-boot on the host.
set -u
marker=m$$x$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
common="--initrd initrd.cpio.gz --disk rootfs.ext4,serial=pvm-root --cpus 2 --mem 256"
cmdline="console=ttyS0 root=/dev/vda quiet pvm.marker=$marker"

echo "SCENARIO: marker $marker"
start=$(cut -d' ' -f1 /proc/uptime)
./pocketvm-vmm --kernel vmlinux $common --cmdline "$cmdline" --console stdio < /dev/null
echo "SCENARIO: run1 exit $?"
end=$(cut -d' ' -f1 /proc/uptime)
echo "SCENARIO: run1 seconds $start $end"

# The host side of the port: a socat that records what it gets and answers
# it upper-cased.
rm -f /tmp/port.sock /tmp/port-in.txt
socat UNIX-LISTEN:/tmp/port.sock SYSTEM:'tee /tmp/port-in.txt | tr a-z A-Z' &
spid=$!
i=0
while [ ! -S /tmp/port.sock ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
./pocketvm-vmm --kernel vmlinuz $common --cmdline "$cmdline" --console stdio \
	--port name=test.port,path=/tmp/port.sock < /dev/null
echo "SCENARIO: run2 exit $?"
kill $spid 2>/dev/null
echo "SCENARIO: socat received: $(cat /tmp/port-in.txt 2>/dev/null)"

# The encrypted root (pocketvm image create --from-raw of the same root),
# its key on fd 9: boot, write the marker, reboot; boot again, read it back.
if [ -f enc.img ] && [ -f key.bin ]; then
	for run in 3 4; do
		./pocketvm-vmm --kernel vmlinux --initrd initrd.cpio.gz --disk enc.img,key-fd=9 \
			--cpus 2 --mem 256 --cmdline "console=ttyS0 root=/dev/vda quiet pvm.marker=e$marker" \
			--console stdio < /dev/null 9< key.bin
		echo "SCENARIO: run$run exit $?"
	done
fi

# A kernel panic (sysrq-c) is reported through pvpanic: status 4.
./pocketvm-vmm --kernel vmlinux $common --cmdline "console=ttyS0 root=/dev/vda quiet pvm.panic=1" \
	--console stdio < /dev/null
echo "SCENARIO: panic run exit $?"

# needs_recovery (EXT4_FEATURE_INCOMPAT_RECOVER, bit 2 of the superblock's
# s_feature_incompat at byte 1024 + 0x60): set while the root is mounted
# writable, cleared by an unmount or a read-only remount.
needs_recovery() { echo $(( $(od -An -tu4 -j 1120 -N4 rootfs.ext4) >> 2 & 1 )); }
echo "SCENARIO: after the panic run needs_recovery=$(needs_recovery)"

# Graceful stop: the guest waits; SIGTERM presses the power button.
./pocketvm-vmm --kernel vmlinux $common --console stdio \
	--cmdline "console=ttyS0 root=/dev/vda quiet pvm.marker=s$marker pvm.shutdown=wait" \
	< /dev/null > /tmp/shutdown.log 2>&1 &
vmm=$!
i=0
while ! grep -q "GUEST: waiting for the power button" /tmp/shutdown.log && [ $i -lt 1200 ]; do
	sleep 0.1
	i=$((i + 1))
done
t0=$(cut -d' ' -f1 /proc/uptime)
kill -TERM $vmm
wait $vmm
rc=$?
t1=$(cut -d' ' -f1 /proc/uptime)
cat /tmp/shutdown.log
echo "SCENARIO: shutdown run exit $rc after $(awk "BEGIN { print $t1 - $t0 }") s"
echo "SCENARIO: after the shutdown run needs_recovery=$(needs_recovery)"
./pocketvm-vmm --kernel vmlinux $common --console stdio \
	--cmdline "console=ttyS0 root=/dev/vda quiet pvm.shutdown=check" < /dev/null
echo "SCENARIO: check run exit $?"

# A bad option gives one precise error and status 2.
./pocketvm-vmm --kernel vmlinux --cpus 0 > /tmp/bad.txt 2>&1
echo "SCENARIO: bad-option exit $? $(cat /tmp/bad.txt)"
