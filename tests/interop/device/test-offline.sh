#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# The offline lifetime against the real server: a 60 s lease (the server's
# minimum), then the network is cut. Restarting the daemon without network
# and with the wall clock set a day back does not extend it; at expiry the
# running VM and a stopped one are killed and crypto-erased. Then a forged
# and a deleted state file: both wipe the work VMs instead of saving them.
. "$(dirname "$0")/lib.sh"
FT=/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1
[ -r "$FT" ] || { echo "SKIP: libfaketime (package faketime) not installed"; exit 77; }
state_is() { [ "$(vm_state "$1")" = "$2" ]; }
short_lease() { has_lease "$1" && [ "$(lease_left "$1")" -le 60 ]; }
unreachable() { [ "$(pvm status --json | jq -r .server_reachable)" = false ]; }

make_fake_vmm
start_server
start_pvmd
enroll_device
for n in work work2 work3 work4; do
	id=$(admin POST /v1/admin/vms "{\"device\":\"$DEV\",\"name\":\"$n\"}" | jq -r .id)
	make_work_vm "$n" "$id"
	case $n in
	work) admin PUT "/v1/admin/vms/$id/policy" '{"offline_lifetime":60}' >/dev/null ;;
	work2) admin PUT "/v1/admin/vms/$id/policy" '{"offline_lifetime":120}' >/dev/null ;;
	esac
done
wait_for 15 "work gets a 60 s lease" short_lease work
wait_for 15 "work2 a 120 s lease" has_lease work2
[ "$(lease_left work2)" -le 120 ] && [ "$(lease_left work2)" -gt 60 ] || fail "work2 lease"
wait_for 15 "work3 and work4 keep the default lifetime" has_lease work4
expect "work starts while the server is reachable" pvm start work
wait_for 20 "work runs with its key" grep -q "fake-vmm: key ok" "$T/dev/vms/work/console.log"
VMM_PID=$(pvm ls --json | jq -r '.vms[] | select(.name=="work") | .pid')

stop_server
ok "network cut: the server is gone"
wait_for 15 "pocketvm status reports the server unreachable" unreachable
expect_err server_unreachable "work2 cannot open: its key needs the server" pvm start work2
state_is work running || fail "work still runs offline within its lease"
ok "work keeps running offline within its lease"
wait_for 75 "at expiry the running work VM is crypto-erased" [ ! -d "$T/dev/vms/work" ]
! alive "$VMM_PID" || fail "the expired VM's VMM still runs"
ok "its VMM (which held the key) is dead"
grep -q "lease expired .* crypto-erasing" "$T/pvmd.log" || fail "expiry logged"
ok "the daemon logged the expiry"
[ -d "$T/dev/vms/work2" ] || fail "work2 wiped too early"
ok "work2, 60 s more to go, is still there"

# Restart without network, wall clock a day back: the lease must not grow.
before=$(lease_left work2)
kill_pvmd
LD_PRELOAD=$FT FAKETIME=-1d FAKETIME_DONT_FAKE_MONOTONIC=1 \
	ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=1 start_pvmd
wall=$(pvm status --json | jq -r .clock.wall)
[ $(( $(date +%s) - wall )) -gt 86000 ] || fail "faketime did not set the wall clock back"
ok "pocketvmd restarted offline with its wall clock a day back"
after=$(lease_left work2)
# Before the restart the (right) wall clock may run up to a second ahead of
# the trusted clock, whose server times have second resolution, and a lease
# is judged by the later of the two; after it only trusted time counts.
[ "$after" -le $((before + 1)) ] || fail "lease grew from $before to $after"
ok "the lease did not grow across the restart ($before s -> $after s)"
expect_err server_unreachable "work2 cannot open offline" pvm start work2
wait_for 75 "at expiry the stopped work2 is crypto-erased too, after the restart" \
	[ ! -d "$T/dev/vms/work2" ]
[ -d "$T/dev/vms/work3" ] || fail "work3 wiped too early"
ok "work3, whose lease runs 12 h, is untouched"

# A forged state file (a lease made longer) is refused: work VMs go.
cp -a "$T/dev/vms/work3" "$T/work3.copy"
stop_pvmd
sed -i 's/"exp":\([0-9]*\)/"exp":9\1/' "$T/dev/state"
start_pvmd
wait_for 10 "a forged state file wipes the work VMs instead of trusting them" \
	[ ! -d "$T/dev/vms/work3" ]
grep -q "MAC mismatch" "$T/pvmd.log" || fail "forgery reported"
ok "the forgery is reported (MAC mismatch)"

# A deleted state file: same.
stop_pvmd
cp -a "$T/work3.copy" "$T/dev/vms/work3"
rm "$T/dev/state"
start_pvmd
wait_for 10 "a deleted state file wipes the work VMs too" [ ! -d "$T/dev/vms/work3" ]
echo "PASS: $N checks"
