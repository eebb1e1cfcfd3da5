# SPDX-License-Identifier: Apache-2.0
# Phone boot 1: enroll, provision the two work VMs the admin assigned, open
# "work" with the key the server releases, then save /data (the phone's
# persistent storage) to the host and power off ("reboot").
. /pocketvm/phone-lib.sh
mkdir -p /data
start_pvmd
pocketvm status | grep -q "Enrolled: *no" && ok "not enrolled at first boot"
pocketvm enroll "$URL" "$TOKEN" --ca-sha256 "$PIN" --name e2e-phone || die "enrollment"
ok "enrolled"
wait_until 60 has_lease work2 || die "the server assigned no VMs"
provision work && provision work2 || die "provisioning"
ok "work VMs provisioned (disks bound to the server)"
wait_until 20 has_lease work || die "no lease for work"
pocketvm start work || die "start work"
ok "work VM started"
wait_until 30 key_ok work || die "the VMM did not get the key"
ok "the VMM got the key from the server by fd"
pocketvm ls
cp /proc/$PVMD/environ /data/pvmd.environ; cp /proc/$PVMD/cmdline /data/pvmd.cmdline
VMM=$(field work pid)
cp /proc/$VMM/environ /data/vmm.environ; cp /proc/$VMM/cmdline /data/vmm.cmdline
kill $PVMD; sleep 1
tar -C /data -cf - . | nc -w 5 10.0.2.100 9000 && ok "phone storage saved to the host"
exit $FAILED
