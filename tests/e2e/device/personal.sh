# SPDX-License-Identifier: Apache-2.0
# Phone scenario: pocketvmd supervises a personal VM on the real
# pocketvm-vmm (Debian kernel, ext4 root on virtio-blk handed over as fd 3).
. /pocketvm/phone-lib.sh
mkdir -p $D/vms/personal
mv /pocketvm/vmlinux /pocketvm/initrd.cpio.gz /pocketvm/rootfs.ext4 $D/vms/personal/
cat >$D/vms/personal/vm.json <<EOJ
{"name": "personal", "kernel": "vmlinux", "initrd": "initrd.cpio.gz", "disk": "rootfs.ext4",
 "cmdline": "console=ttyS0 root=/dev/vda quiet", "memory_mib": 256, "cpus": 1,
 "restart": "on-failure"}
EOJ
mkdir -p /data
rm -f /run/pocketvmd.sock
env -i /pocketvm/pocketvmd --state-dir $D --vmm /pocketvm/pocketvm-vmm --socket $POCKETVM_SOCKET \
	>>/data/pvmd.log 2>&1 &
i=0
while [ ! -S $POCKETVM_SOCKET ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
pocketvm ls
pocketvm start personal || die "start"
ok "personal VM started by pocketvmd"
VMM=$(field personal pid)
wait_until 30 jailed /proc/$VMM/status && ok "its VMM runs jailed: seccomp filter, uid 65534"
# The console: wait for the guest's hello, answer it, read until it stops.
( i=0; while ! grep -q "personal VM up" $D/vms/personal/console.log 2>/dev/null && [ $i -lt 240 ];
	do sleep 0.5; i=$((i + 1)); done; echo hello-from-console; sleep 30 ) |
	timeout 150 pocketvm console personal >/tmp/console.txt 2>&1
grep "GUEST:" /tmp/console.txt
grep -q "GUEST: personal VM up, root /dev/vda" /tmp/console.txt && ok "the guest booted on its virtio disk"
grep -q "GUEST: got 'hello-from-console'" /tmp/console.txt && ok "pocketvm console reached the guest"
wait_until 30 sh -c "pocketvm ls --json | grep -q '\"state\": \"stopped\"'" && ok "poweroff: stopped"
pocketvm ls --json
pocketvm ls --json | grep -q '"last_exit": 0' && ok "exit status 0 collected, no restart (on-failure)"
grep "vm personal" /data/pvmd.log
exit $FAILED
