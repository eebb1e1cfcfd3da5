# SPDX-License-Identifier: Apache-2.0
#
# Phone scenario (runs inside the emulated phone, /pocketvm): boots the
# Debian kernel under pocketvm-vmm twice on the same ext4 root disk, first
# as vmlinux through PVH, then as the bzImage (vmlinuz) through the Linux
# boot protocol. Run 1 writes a marker and reboots (exit status 3); run 2 reads it back,
# echoes a line through a named console port bridged to a unix socket, and
# powers off (exit status 0). Runs 3 and 4 do the same on an encrypted copy
# of the root image. The checks live in run-vmm-boot on the host.
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

# A bad option gives one precise error and status 2.
./pocketvm-vmm --kernel vmlinux --cpus 0 > /tmp/bad.txt 2>&1
echo "SCENARIO: bad-option exit $? $(cat /tmp/bad.txt)"
