# SPDX-License-Identifier: Apache-2.0
#
# Benchmark scenario inside the emulated phone (real KVM there): pocketvm-vmm
# and QEMU (-M microvm, KVM) side by side on the same kernel, initrd and
# root image. Prints "BENCH:" lines; bench/vmm/run collects them.
set -u
stamp() {
	# Prints the phone's uptime when the guest reports init, and passes output on.
	awk -v t0="$1" -v who="$2" '
		/BENCH: init uptime/ { getline u < "/proc/uptime"; close("/proc/uptime");
			split(u, a, " "); printf "BENCH: %s wall-to-init %.2f s\n", who, a[1] - t0 }
		/^BENCH:|^blkbench:/ { print who ": " $0 }'
}

echo "== start to first guest instruction, tiny PVH kernel"
./start_latency 20 ./pocketvm-vmm --kernel KERNEL --mem 256 --console stdio
./start_latency 20 qemu-system-x86_64 -L /pocketvm/qemu-data -M microvm,accel=kvm -cpu host \
	-m 256 -nodefaults -no-user-config -display none -serial stdio -kernel KERNEL 2>/tmp/q.err ||
	head -5 /tmp/q.err

common_cmdline="console=ttyS0 root=/dev/vda quiet"
# One boot of each VMM on the root image (copied fresh), its output stamped.
boot_pocketvm() { # TAG [VMM-OPTIONS...]
	local tag=$1
	shift
	cp rootfs.ext4 /tmp/a.ext4
	t0=$(cut -d' ' -f1 /proc/uptime)
	./pocketvm-vmm --kernel vmlinux --initrd initrd.cpio.gz --disk /tmp/a.ext4 "$@" \
		--cpus 2 --mem 256 --cmdline "$common_cmdline" --console stdio < /dev/null 9< scratch.key \
		2>&1 | stamp "$t0" "$tag"
}
boot_qemu() { # TAG [QEMU-OPTIONS...]
	local tag=$1
	shift
	cp rootfs.ext4 /tmp/b.ext4
	t0=$(cut -d' ' -f1 /proc/uptime)
	timeout 300 qemu-system-x86_64 -L /pocketvm/qemu-data \
		-M microvm,accel=kvm,pcie=on,acpi=on -cpu host -smp 2 -m 256 -nodefaults \
		-no-user-config -display none -serial stdio -no-reboot \
		-kernel vmlinux -initrd initrd.cpio.gz -append "$common_cmdline" \
		-drive id=d0,file=/tmp/b.ext4,format=raw,if=none -device virtio-blk-pci,drive=d0 \
		"$@" < /dev/null 2>&1 |
		stamp "$t0" "$tag"
}
for round in 1 2; do
	echo "== boot to init + virtio-blk, round $round"
	boot_pocketvm pocketvm
	boot_qemu qemu
done

# Section 5: a scratch disk written then read back (blkbench ... write), raw
# and encrypted, on each VMM; same root, kernel and initramfs as above.
#
# The phone's own cipher speeds, to read the encrypted rows by: its AES-NI
# and carry-less multiply are emulated, and GCM needs both where XTS needs
# only AES.
for cipher in aes-256-gcm aes-256-xts; do
	./openssl speed -evp "$cipher" -bytes 4096 -seconds 1 2>/dev/null |
		awk -v c="$cipher" 'toupper($1) == toupper(c) { print "BENCH: phone openssl speed " c " 4096 bytes " $2 }'
done
for round in 1 2; do
	echo "== scratch disk, raw and encrypted, round $round"
	cp scratch.raw /tmp/s.raw
	boot_pocketvm pocketvm-raw --disk /tmp/s.raw
	cp scratch.enc /tmp/s.enc
	boot_pocketvm pocketvm-crypt --disk /tmp/s.enc,key-fd=9
	cp scratch.raw /tmp/s.raw
	boot_qemu qemu-raw -drive id=d1,if=none,file=/tmp/s.raw,format=raw \
		-device virtio-blk-pci,drive=d1
	cp scratch.luks /tmp/s.luks
	boot_qemu qemu-luks -object secret,id=s0,file=luks.pass \
		-drive id=d1,if=none,file=/tmp/s.luks,format=luks,key-secret=s0 \
		-device virtio-blk-pci,drive=d1
done
