# SPDX-License-Identifier: Apache-2.0
# Phone boot 1: enroll; of the two work VMs the admin assigned, pocketvmd
# provisions "work2" from the published image, "work" is provisioned by hand
# (with an escrow binding, for the DEK scan); "work" boots on the real pocketvm-vmm
# from its encrypted disk with the key the server releases, its shell is
# reached through `pocketvm console`, it is stopped and opened again; then
# /data (the phone's persistent storage) goes to the host and the phone
# powers off ("reboot").
. /pocketvm/phone-lib.sh
mkdir -p /data
start_pvmd
pocketvm status | grep -q "Enrolled: *no" && ok "not enrolled at first boot"
pocketvm enroll "$URL" "$TOKEN" --ca-sha256 "$PIN" --name e2e-phone || die "enrollment"
ok "enrolled"
wait_until 60 has_lease work || die "the server assigned no VMs"
provision_by_hand work || die "provisioning work by hand"
wait_until 600 provisioned work2 || die "the assigned image was not provisioned"
grep "provisioned from image" /data/pvmd.log
ok "work2 provisioned from the published image (downloaded, verified, encrypted), work by hand"
pocketvm ls
pocketvm start work || die "start work"
ok "work VM started"
wait_until 180 guest_up work 1 || die "the work VM did not boot"
grep GUEST: $D/vms/work/console.log
ok "the work VM booted from its encrypted disk with the key the server released by fd"
console work 'echo "console-$((6 * 7)) on $(uname -r)"' >/tmp/console.txt
cat /tmp/console.txt
grep -q "^console-42 on " /tmp/console.txt && ok "pocketvm console reached the work VM's shell"
cp /proc/$PVMD/environ /data/pvmd.environ; cp /proc/$PVMD/cmdline /data/pvmd.cmdline
VMM=$(field work pid)
cp /proc/$VMM/environ /data/vmm.environ; cp /proc/$VMM/cmdline /data/vmm.cmdline
grep -E "^(Seccomp|Uid|CapEff|VmLck):" /proc/$VMM/status
jailed /proc/$VMM/status && grep -q "^CapEff:[[:space:]]*0*$" /proc/$VMM/status &&
	[ "$(awk '$1 == "VmLck:" { print $2 }' /proc/$VMM/status)" -gt 1024 ] &&
	ok "the work VM's VMM is jailed (seccomp, uid 65534, no capabilities), its guest RAM locked"
n=0
for t in /proc/$VMM/task/*; do
	n=$((n + 1))
	jailed $t/status || bad "VMM thread $(cat $t/comm) is not confined"
done
ok "every thread of the work VM's VMM is under seccomp ($n, the disk's flusher too)"
# stop presses the guest's power button: its acpid powers it off, exit status 0.
pocketvm stop work | tee /tmp/stop.txt || die "stop work"
stopped() { [ "$(field work state)" = stopped ]; }
wait_until 30 stopped && [ "$(field work last_exit)" = 0 ] &&
	grep -q "the guest shut down cleanly" /tmp/stop.txt &&
	ok "pocketvm stop: the guest shut down on the power button, disk flushed (exit status 0)"
pocketvm start work || die "second start of work"
wait_until 180 guest_up work 2 &&
	ok "opened again with the key recovered anew: the disk kept the first boot's writes"
# The phone shuts down: the daemon asks the guest to shut down and leaves
# once its VMM is gone, so the storage saved below is at rest.
kill $PVMD
gone_pvmd() { ! kill -0 $PVMD 2>/dev/null; }
# Its second clean exit: the first was pocketvm stop's, above.
wait_until 60 gone_pvmd && [ "$(grep -c "vm work: exited with status 0" /data/pvmd.log)" = 2 ] &&
	ok "pocketvmd stopped: the work VM's guest shut down first (exit status 0)"
tar -C /data -cf - . | nc -w 5 10.0.2.100 9000 && ok "phone storage saved to the host"
exit $FAILED
