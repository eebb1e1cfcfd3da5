# SPDX-License-Identifier: Apache-2.0
# Phone boot 2 (the phone cut off from the server, then back) and 3 (the
# admin revoked "work"; "work2" runs with a 60 s offline lifetime).
. /pocketvm/phone-lib.sh
mkdir -p /data && tar -C /data -xf /pocketvm/data.tar
cp $D/vms/work/disk.img /tmp/stolen.img
if [ "$PHASE" = offline ]; then
	ip link set eth0 down
	start_pvmd
	has_lease work && ok "after the reboot the lease is still known"
	if pocketvm start work --json >/tmp/out 2>&1; then
		bad "work VM opened without the server"
	else
		cat /tmp/out
		grep -q server_unreachable /tmp/out &&
			ok "work VM cannot open: no key on the phone, server unreachable"
	fi
	ip link set eth0 up
	pocketvm start work || die "start work with the server reachable"
	wait_until 180 guest_up work 3 &&
		ok "the server answers again: the work VM opens, its disk kept both earlier boots"
	exit $FAILED
fi
# The wipe ordered through check-in, with the daemon killed halfway.
start_pvmd --fault-inject after-erase
wait_until 60 sh -c "! kill -0 $PVMD 2>/dev/null" || die "no crash at the fault point"
[ -d $D/vms/work ] && pocketvm image inspect $D/vms/work/disk.img 2>&1 | grep -qi erased &&
	ok "daemon killed halfway through the wipe: bindings already destroyed, image still there"
start_pvmd
wait_until 30 gone work && ok "the revoked work VM is wiped through check-in"
pocketvm start work --json >/tmp/out 2>&1 && bad "revoked VM opened"
grep -q not_found /tmp/out && ok "the revoked VM cannot be opened"
pocketvm image check /tmp/stolen.img --cacert $D/ca.pem --cert $D/device.pem --key $D/device.key \
	>/tmp/out 2>&1 && bad "a stolen copy of the revoked image opened"
ok "a copy of the revoked image taken before the wipe cannot be opened"

# Offline expiry of a running VM with the clock set back.
wait_until 30 lease_at_most work2 60 || bad "the admin's 60 s offline lifetime for work2 did not arrive"
pocketvm start work2 && wait_until 180 guest_up work2 1 && ok "work2 (60 s offline lifetime) runs"
VMM=$(field work2 pid)
ip link set eth0 down && ok "network cut"
date -s "@$(($(date +%s) - 86400))" >/dev/null && ok "wall clock set a day back: $(date)"
wait_until 90 gone work2 && ok "at expiry the running work2 is crypto-erased anyway"
[ -d /proc/$VMM ] && bad "work2's VMM still runs"
grep "lease expired" /data/pvmd.log | head -n 1
exit $FAILED
