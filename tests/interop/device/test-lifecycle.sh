#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# pocketvmd + pocketvm against the real pocketvm-server on 127.0.0.1:
# clear errors, CA-pinned enrollment, leases by check-in, a work VM opened
# with the key the server releases over mTLS and handed to the VMM by fd,
# no DEK anywhere, lock/unlock, a remote wipe interrupted by a crash and
# finished at the next start, and revocation.
. "$(dirname "$0")/lib.sh"
MEMSCAN=$B/tests/interop/device/memscan

# A DEK known to the test (no 00 byte, so it passes through printf %b).
dek_hex() { od -An -v -tx1 -N64 /dev/urandom | tr -d ' \n' | sed 's/00//g' | cut -c1-64; }
DEK=$(dek_hex)
[ ${#DEK} = 64 ] || DEK=$(dek_hex)
cmd_status() { admin GET "/v1/admin/commands/$1" | jq -r .status; }
cmd_done() { [ "$(cmd_status "$1")" = done ]; }
state_is() { [ "$(vm_state "$1")" = "$2" ]; }
key_ok_count() { [ "$(grep -c "fake-vmm: key ok" "$T/dev/vms/work/console.log")" = "$1" ]; }
command_for() { admin POST "/v1/admin/devices/$DEV/commands" "$1" | jq -r .id; }
# no_dek FILE...: none of the files holds the DEK, raw or as hex text
no_dek() {
	local f
	for f in "$@"; do
		[ -r "$f" ] || continue
		if od -An -v -tx1 "$f" | tr -d ' \n' | grep -q "$DEK"; then
			echo "DEK bytes found in $f"; return 1
		fi
		if grep -qi "$DEK" "$f" 2>/dev/null; then echo "DEK hex found in $f"; return 1; fi
	done
}

make_fake_vmm
expect_err no_daemon "without pocketvmd the CLI says so" pvm ls
start_server
start_pvmd
expect "status works before enrollment" pvm status
grep -q "Enrolled:       no" "$T/out" || fail "status says not enrolled"

# A work VM that exists locally but has no enrollment behind it.
mkdir -p "$T/dev/vms/early"
echo '{"name":"early","managed":"11111111-2222-4333-8444-555555555555","kernel":"k",
 "disk":"d.img","encrypted":true}' >"$T/dev/vms/early/vm.json"
expect_err not_enrolled "a work VM does not open before enrollment" pvm start early

t=$(admin POST /v1/admin/enrollment-tokens '{"group":"default","count":1}')
TOKEN=$(jq -r '.tokens[0].token' <<<"$t")
PIN=$(jq -r .ca_sha256 <<<"$t")
WRONG=$(printf 'ab%.0s' $(seq 32))
expect_err ca_pin_mismatch "a wrong CA pin is refused" pvm enroll "$URL" "$TOKEN" --ca-sha256 "$WRONG"
expect_err token_refused "an unknown token is refused" pvm enroll "$URL" pve_nonsense --ca-sha256 "$PIN"
expect "enrollment with the same token still works (the pin failed before it was sent)" \
	pvm enroll "$URL" "$TOKEN" --ca-sha256 "$PIN"
DEV=$(pvm status --json | jq -r .device_id)
expect_err already_enrolled "enrolling twice is refused" pvm enroll "$URL" "$TOKEN" --ca-sha256 "$PIN"
[ "$(stat -c %a "$T/dev/device.key")" = 600 ] && [ "$(stat -c %a "$T/dev")" = 700 ] ||
	fail "device key 0600 in a 0700 directory"
ok "device key is 0600 in a 0700 state directory"
openssl pkey -in "$T/dev/device.key" -noout 2>/dev/null || fail "device key is a private key"
grep -q "$(openssl x509 -in "$T/dev/device.pem" -noout -subject | sed 's/.*CN *= *//')" \
	<<<"$DEV" || fail "certificate CN is the device id"
ok "certificate issued for the device id"
expect_err no_lease "a work VM the server does not know has no lease" pvm start early
rm -rf "$T/dev/vms/early"

# Non-root users may look, not act (SO_PEERCRED).
expect "non-root may list VMs" setpriv --reuid 65534 --regid 65534 --clear-groups \
	"$PVM" ls --socket "$T/ctl.sock"
expect_err permission_denied "non-root may not start VMs" setpriv --reuid 65534 --regid 65534 \
	--clear-groups "$PVM" start work --socket "$T/ctl.sock"

VM=$(admin POST /v1/admin/vms "{\"device\":\"$DEV\",\"name\":\"work\"}" | jq -r .id)
make_work_vm work "$VM" "$DEK"
wait_for 15 "check-in brings a signed lease for the work VM" has_lease work
left=$(lease_left work)
[ "$left" -gt 43000 ] && [ "$left" -le 43200 ] || fail "lease left $left, want ~43200"
ok "lease runs the default offline lifetime (${left}s left)"

expect "the work VM starts: key recovered from the server's /rec over mTLS" pvm start work
wait_for 20 "the VMM received exactly the image's key on fd 4" \
	grep -q "fake-vmm: key ok" "$T/dev/vms/work/console.log"
[ "$(vm_state work)" = running ] || fail "work VM running"
ok "ls shows the work VM running"
out=$( (echo hello-console; sleep 1) | timeout 4 "$PVM" console work --socket "$T/ctl.sock" || true)
grep -q "echo: hello-console" <<<"$out" || fail "console round trip: $out"
ok "pocketvm console reaches the VM and back"

VMM_PID=$(pvm ls --json | jq -r '.vms[] | select(.name=="work") | .pid')
no_dek $(find "$T/dev" -type f) "$T/pvmd.log" /proc/$PVMD_PID/environ /proc/$PVMD_PID/cmdline \
	/proc/$VMM_PID/environ /proc/$VMM_PID/cmdline || fail "DEK leaked"
ok "no DEK in the state dir, images' dirs, logs, argv or environment of daemon and VMM"
hits=$("$MEMSCAN" "$PVMD_PID" "$DEK")
[ "$hits" = 0 ] || fail "DEK found $hits times in pocketvmd's memory"
ok "no DEK left in pocketvmd's memory after the handoff"

C=$(command_for "{\"type\":\"lock\",\"vm\":\"$VM\"}")
wait_for 15 "a lock command stops the running VM" state_is work stopped
expect_err locked "a locked VM does not open" pvm start work
wait_for 10 "the lock is acknowledged to the server" cmd_done "$C"
C=$(command_for "{\"type\":\"unlock\",\"vm\":\"$VM\"}")
wait_for 10 "unlock acknowledged" cmd_done "$C"
wait_for 10 "the unlocked VM opens again" pvm start work
wait_for 20 "and gets its key" key_ok_count 2

# Remote wipe, with the daemon killed right after the bindings are gone.
cp "$T/dev/vms/work/disk.img" "$T/stolen.img"
stop_pvmd
start_pvmd --fault-inject after-erase
C=$(command_for "{\"type\":\"wipe_vm\",\"vm\":\"$VM\"}")
for _ in $(seq 100); do kill -0 "$PVMD_PID" 2>/dev/null || break; sleep 0.2; done
! kill -0 "$PVMD_PID" 2>/dev/null || fail "daemon did not reach the fault point"
wait "$PVMD_PID" 2>/dev/null || true
PVMD_PID=
ok "pocketvmd died halfway through the wipe (fault injection)"
[ -d "$T/dev/vms/work" ] || fail "VM directory already gone"
"$PVM" image inspect "$T/dev/vms/work/disk.img" >"$T/out" 2>&1 || true
grep -qi erased "$T/out" || { cat "$T/out"; fail "bindings not erased"; }
ok "at the crash the key bindings were already destroyed (image marked erased)"
! cmd_done "$C" || fail "acknowledged before the wipe finished"
start_pvmd
wait_for 10 "the wipe completes at the next start" [ ! -d "$T/dev/vms/work" ]
wait_for 15 "and the wipe command is acknowledged done" cmd_done "$C"
if "$PVM" image check "$T/stolen.img" --cacert "$T/dev/ca.pem" --cert "$T/dev/device.pem" \
	--key "$T/dev/device.key" >"$T/out" 2>&1; then
	fail "a copy taken before the wipe still opens"
fi
ok "a copy of the image taken before the wipe cannot be opened (server deleted the key)"

# Revocation of a second VM by the admin: wiped through check-in.
VM2=$(admin POST /v1/admin/vms "{\"device\":\"$DEV\",\"name\":\"work2\"}" | jq -r .id)
make_work_vm work2 "$VM2"
wait_for 15 "a second work VM gets its lease" has_lease work2
expect "it opens" pvm start work2
admin POST "/v1/admin/vms/$VM2/revoke" '{}' >/dev/null
wait_for 15 "revoking it on the server wipes it on the device" [ ! -d "$T/dev/vms/work2" ]
grep -q "vm $VM2: wiped (remote command)" "$T/pvmd.log" || fail "wipe logged"
ok "the daemon logged the wipe and why"
echo "PASS: $N checks"
