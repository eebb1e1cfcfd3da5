#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# pocketvm stop: the daemon starts the VMM with --shutdown-grace 20, sends
# it SIGTERM, and the CLI waits for the VMM to end and says how: a guest
# that shut down (VMM exit status 0), one the VMM had to stop (5); --json
# gives the same as fields. A stopped VM is just reported. Two stand-in
# VMMs play both endings (pocketvm-vmm itself is tested in tests/vmm and
# the phone scenarios).
. "$(dirname "$0")/lib.sh"
cat >"$T/fake-vmm" <<'EOS'
#!/bin/sh
echo "fake-vmm: args $*"
# The exit status SIGTERM ends with: 0 a guest that powered off, 5 one the VMM stopped.
case "$*" in
*pvm.stop=5*) code=5 ;;
*) code=0 ;;
esac
trap 'echo "fake-vmm: SIGTERM"; exit $code' TERM
sleep 1000 &
wait
EOS
chmod 755 "$T/fake-vmm"
for v in clean stuck; do
	mkdir -p "$T/dev/vms/$v"
	echo kernel >"$T/dev/vms/$v/vmlinux"
	stop=0
	[ $v = stuck ] && stop=5
	echo "{\"name\":\"$v\",\"kernel\":\"vmlinux\",\"cmdline\":\"pvm.stop=$stop\",\"restart\":\"no\"}" \
		>"$T/dev/vms/$v/vm.json"
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
stop_pvmd
echo "PASS: $N checks"
