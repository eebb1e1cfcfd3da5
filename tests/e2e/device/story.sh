# SPDX-License-Identifier: Apache-2.0
# The phone's side of tests/e2e/device/phone-story (busybox sh).
. /pocketvm/phone-lib.sh
say() { echo "== $*"; }
show() { sed 's/^/   | /'; }
mkdir -p /data
say "phone: pocketvmd starts (root, control socket /run/pocketvmd.sock)"
start_pvmd
pocketvm status | show
say "phone: enrolling with $URL, the server's CA pinned by its SHA-256"
pocketvm enroll "$URL" "$TOKEN" --ca-sha256 "$PIN" --name demo-phone | show || die "enrollment"
ok "enrolled"
say "phone: pocketvmd downloads work-os 1.0, checks the signed manifest and SHA-256, encrypts the disk under a fresh key bound to the server"
i=0
while ! provisioned work; do
	[ $i -ge 600 ] && die "the work VM was not provisioned"
	[ $((i % 10)) = 5 ] && echo "   ... $(du -sk $D/vms/.work.new 2>/dev/null | cut -f1) KiB so far"
	sleep 1; i=$((i + 1))
done
ok "the work VM was provisioned in ${i} s: $(grep -o 'provisioned from image.*' /data/pvmd.log)"

say "phone: the personal VM is the user's own: a plain disk, no server involved"
mkdir -p $D/vms/personal
cp /pocketvm/vmlinuz /pocketvm/initrd.cpio.gz /pocketvm/rootfs.ext4 $D/vms/personal/
cat >$D/vms/personal/vm.json <<EOJ
{"name": "personal", "kernel": "vmlinuz", "initrd": "initrd.cpio.gz", "disk": "rootfs.ext4",
 "cmdline": "console=ttyS0 root=/dev/vda rw quiet", "memory_mib": 256}
EOJ
pocketvm start personal | show
say "phone: starting the work VM: pocketvmd recovers its disk key from the server over mTLS and hands it to the VMM by fd"
pocketvm start work | show || die "start work"
wait_until 180 guest_up personal && wait_until 180 guest_up work || die "the guests did not boot"
pocketvm ls | show
ok "both VMs run side by side, each on its own pocketvm-vmm"
say "phone: pocketvm console work"
console work 'hostname; uname -r; mount | grep " / "; cat /var/boots' >/tmp/c.txt
show </tmp/c.txt
grep -q "^work-os$" /tmp/c.txt && ok "the work VM's shell answered"
say "phone: pocketvm console personal"
console personal 'hostname; ls /data' >/tmp/c.txt
show </tmp/c.txt
grep -q "^personal$" /tmp/c.txt && ok "the personal VM's shell answered"

say "phone: waiting for the admin's new offline lifetime to arrive with a check-in"
wait_until 300 lease_at_most work 60 || die "no 60 s lease"
ok "the 60 s offline lifetime arrived: lease left $(field work lease_left) s"
say "phone: the network is cut; the work VM's lease runs out (the wall clock is not trusted)"
ip link set eth0 down && ok "network cut"
i=0
while ! gone work; do
	[ $i -ge 120 ] && die "the work VM outlived its lease"
	[ $((i % 10)) = 0 ] && pocketvm ls | show
	sleep 1; i=$((i + 1))
done
grep "lease expired" /data/pvmd.log | show
pocketvm ls | show
ok "the work VM was crypto-erased ${i} s after the network went: key bindings destroyed, directory gone"
[ "$(field personal state)" = running ] && ok "the personal VM runs on, untouched"
exit $FAILED
