#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Device-level remote commands against the real server: wipe_device (a
# running work VM killed and erased, the wipe acknowledged, then the device
# identity destroyed and the device retired on the server), re-enrollment,
# unenroll, and an admin revoking the device.
. "$(dirname "$0")/lib.sh"
cmd_done() { [ "$(admin GET "/v1/admin/commands/$1" | jq -r .status)" = done ]; }
dev_status() { admin GET "/v1/admin/devices/$1" | jq -r .status; }
retired() { [ "$(dev_status "$1")" = retired ]; }
not_enrolled() { [ "$(pvm status --json | jq -r .enrolled)" = false ]; }

# new_work_vm: enroll, assign a VM, wait for its lease, start it
new_work_vm() {
	enroll_device
	VM=$(admin POST /v1/admin/vms "{\"device\":\"$DEV\",\"name\":\"work\"}" | jq -r .id)
	make_work_vm work "$VM"
	wait_for 15 "device $DEV: lease for its work VM" has_lease work
	expect "the work VM starts" pvm start work
	wait_for 20 "it runs with its key" grep -q "fake-vmm: key ok" "$T/dev/vms/work/console.log"
}

make_fake_vmm
start_server
start_pvmd
new_work_vm
C=$(admin POST "/v1/admin/devices/$DEV/commands" '{"type":"wipe_device"}' | jq -r .id)
wait_for 15 "wipe_device: the work VM is erased" [ ! -d "$T/dev/vms/work" ]
wait_for 15 "the command is acknowledged done" cmd_done "$C"
wait_for 15 "then the device identity is destroyed" not_enrolled
for f in device.key device.pem identity.json; do
	[ ! -e "$T/dev/$f" ] || fail "$f survived the wipe"
done
ok "device.key, device.pem and identity.json are gone"
wait_for 5 "the server shows the device retired" retired "$DEV"
expect_err not_enrolled "a work VM dir brought back cannot open" bash -c "mkdir -p $T/dev/vms/w &&
echo '{\"name\":\"w\",\"managed\":\"$VM\",\"kernel\":\"k\",\"disk\":\"d\",\"encrypted\":true}' \
	>$T/dev/vms/w/vm.json && $PVM start w --socket $T/ctl.sock \"\$@\"" --
rm -rf "$T/dev/vms/w"

OLD=$DEV
new_work_vm
[ "$DEV" != "$OLD" ] || fail "re-enrollment reuses the device id"
ok "re-enrollment with a new token gives a new device id"
C=$(admin POST "/v1/admin/devices/$DEV/commands" '{"type":"unenroll"}' | jq -r .id)
wait_for 15 "unenroll: the work VM is erased" [ ! -d "$T/dev/vms/work" ]
wait_for 15 "unenroll acknowledged" cmd_done "$C"
wait_for 15 "identity destroyed" not_enrolled
wait_for 5 "device retired" retired "$DEV"

new_work_vm
admin POST "/v1/admin/devices/$DEV/revoke" '{}' >/dev/null
wait_for 15 "an admin revoking the device wipes its work VM" [ ! -d "$T/dev/vms/work" ]
wait_for 15 "and its identity" not_enrolled
grep -q "device identity deleted" "$T/pvmd.log" || fail "identity deletion logged"
ok "the daemon logged why the identity went"
echo "PASS: $N checks"
