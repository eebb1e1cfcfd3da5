#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# pocketvm stop: the daemon starts the VMM with --shutdown-grace 20, sends
# it SIGTERM, and the CLI waits for the VMM to end and says how: a guest
# that shut down (VMM exit status 0), one the VMM had to stop (5); --json
# gives the same as fields. A stopped VM is just reported. Two stand-in
# VMMs play both endings (pocketvm-vmm itself is tested in tests/vmm and
# the phone scenarios). Then the daemon itself is stopped: it asks every
# guest to shut down, refuses starts meanwhile and exits once they are
# gone; a second signal kills what is left at once.
. "$(dirname "$0")/lib.sh"
cat >"$T/fake-vmm" <<'EOS'
#!/bin/sh
echo "fake-vmm: args $*"
# The exit status SIGTERM ends with: 0 a guest that powered off, 5 one the VMM stopped.
# A "slow" guest takes 3 s to shut down, a "deaf" one never does.
case "$*" in
*pvm.stop=5*) code=5 ;;
*) code=0 ;;
esac
case "$*" in
*pvm.slow*) trap 'echo "fake-vmm: SIGTERM"; sleep 3; exit 0' TERM ;;
*pvm.deaf*) trap 'echo "fake-vmm: SIGTERM, ignored"' TERM ;;
*) trap 'echo "fake-vmm: SIGTERM"; exit $code' TERM ;;
esac
sleep 1000 &
while :; do wait; done # a trap that returns interrupts wait: go on waiting
EOS
chmod 755 "$T/fake-vmm"
for v in clean stuck slow deaf; do
	mkdir -p "$T/dev/vms/$v"
	echo kernel >"$T/dev/vms/$v/vmlinux"
	stop=0
	[ $v = stuck ] && stop=5
	echo "{\"name\":\"$v\",\"kernel\":\"vmlinux\",\"cmdline\":\"pvm.stop=$stop pvm.$v\"," \
		"\"restart\":\"always\"}" >"$T/dev/vms/$v/vm.json"
done
start_pvmd
state_is() { [ "$(pvm ls --json | jq -r ".vms[] | select(.name==\"$1\") | .state")" = "$2" ]; }

expect "start clean" pvm start clean
wait_for 10 "clean is running" state_is clean running
grep -q -- "--shutdown-grace 20" "$T/dev/vms/clean/console.log" ||
	fail "the VMM was not given --shutdown-grace 20"
ok "the daemon gives the VMM --shutdown-grace 20"
expect "pocketvm stop clean" pvm stop clean
cat "$T/out"
grep -q "^vm clean: the guest shut down cleanly (exit status 0)$" "$T/out" ||
	fail "stop did not report the clean shutdown"
state_is clean stopped || fail "clean is not stopped when stop returns"
ok "stop waited for the VM and reported a clean shutdown (status 0)"

expect "start stuck" pvm start stuck
wait_for 10 "stuck is running" state_is stuck running
expect "pocketvm stop stuck --json" pvm stop stuck --json
cat "$T/out"
[ "$(jq -r '.last_exit, .clean, .state' <"$T/out" | tr '\n' ' ')" = "5 false stopped " ] ||
	fail "--json fields"
jq -r .message <"$T/out" | grep -q "did not shut down within 20 s of the power button" ||
	fail "--json message"
ok "a guest the VMM had to stop: status 5, clean false, said so"
expect "start stuck again" pvm start stuck
wait_for 10 "stuck is running again" state_is stuck running
expect "pocketvm stop stuck" pvm stop stuck
grep -q "^vm stuck: stopped: the guest did not shut down within 20 s" "$T/out" ||
	{ cat "$T/out"; fail "stop did not say the VMM stopped the guest"; }
ok "the same in words"

expect "pocketvm stop of a stopped VM" pvm stop clean
grep -q "^vm clean: stopped$" "$T/out" || { cat "$T/out"; fail "stopped VM message"; }
ok "stopping a stopped VM just says so"
grep -q "vm clean: exited with status 0 (the guest powered off)" "$T/pvmd.log" &&
	grep -q "vm stuck: exited with status 5 (stopped by the VMM: the guest did not shut down" \
		"$T/pvmd.log" || fail "daemon log lines"
ok "the daemon's log says what each exit status means"

# Stopping the daemon: every guest is asked, nothing starts meanwhile, and
# the daemon leaves once the last VMM is gone (the slow guest's 3 s).
expect "start clean" pvm start clean
expect "start slow" pvm start slow
wait_for 10 "both are running" eval 'state_is clean running && state_is slow running'
t0=$(date +%s%N)
kill "$PVMD_PID"
wait_for 5 "clean got SIGTERM" grep -q "fake-vmm: SIGTERM" "$T/dev/vms/clean/console.log"
wait_for 5 "slow got SIGTERM" grep -q "fake-vmm: SIGTERM" "$T/dev/vms/slow/console.log"
ok "a stopping daemon asks every guest to shut down"
! pvm start stuck >"$T/out" 2>&1 || fail "a VM started while the daemon was stopping"
grep -q "pocketvmd is shutting down" "$T/out" || { cat "$T/out"; fail "refusal message"; }
ok "no VM starts while the daemon is stopping"
wait "$PVMD_PID" || fail "pocketvmd exited with status $?"
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$ms" -ge 2500 ] || fail "the daemon left after $ms ms, before the slow guest was down"
grep -q "vm slow: exited with status 0 (the guest powered off)" "$T/pvmd.log" &&
	grep -q "stopping: no VM left running; state saved" "$T/pvmd.log" ||
	fail "daemon log lines for its own stop"
! grep -q "vm slow: restarting" "$T/pvmd.log" || fail "a VM was restarted while stopping"
ok "the daemon exited ($ms ms) after its last guest shut down, restarting nothing"

# A guest that never answers: a second signal kills it at once.
start_pvmd
expect "start deaf" pvm start deaf
wait_for 10 "deaf is running" state_is deaf running
kill "$PVMD_PID"
wait_for 5 "deaf got SIGTERM" grep -q "fake-vmm: SIGTERM, ignored" "$T/dev/vms/deaf/console.log"
kill -0 "$PVMD_PID" || fail "the daemon left while a guest was still running"
t0=$(date +%s%N)
kill "$PVMD_PID"
wait "$PVMD_PID" || fail "pocketvmd exited with status $?"
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$ms" -lt 5000 ] || fail "the second signal took $ms ms"
grep -q "stopping now: killing the VMs left" "$T/pvmd.log" &&
	grep -q "vm deaf: killed by signal 9" "$T/pvmd.log" || fail "log lines of the hard stop"
ok "a second signal kills the guest that did not answer ($ms ms)"
PVMD_PID=
echo "PASS: $N checks"
