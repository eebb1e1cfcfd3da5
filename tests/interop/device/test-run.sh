#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# pocketvm run: a personal VM without the daemon. The disk is unlocked here
# (an escrow binding, as a developer holding the key would), the VMM gets the
# key by fd, and its exit status becomes ours. Work VMs are refused.
. "$(dirname "$0")/lib.sh"
command -v jose >/dev/null || { echo "SKIP: jose not installed"; exit 77; }
cat >"$T/vmm" <<EOS
#!/bin/sh
echo "vmm args: \$*"
# run holds the image lock for the VMM; this stand-in lets go so the checker can open it
flock -u 3
"$PVM" image check /proc/self/fd/3 --key-fd 4 2>&1 && echo "vmm: key ok" && exit 7
echo "vmm: key WRONG"; exit 1
EOS
chmod 755 "$T/vmm"
jose jwk gen -i '{"alg":"ECDH-ES+A256KW","crv":"P-521"}' -o "$T/rec.jwk"
jose jwk pub -i "$T/rec.jwk" -o "$T/rec.pub.jwk"
mkdir -p "$T/vm"
echo kernel >"$T/vm/vmlinux"
"$PVM" image create "$T/vm/disk.img" --size 1M --recovery-pub "$T/rec.pub.jwk" >/dev/null
echo '{"name":"dev","kernel":"vmlinux","disk":"disk.img","encrypted":true,"memory_mib":64}' \
	>"$T/vm/vm.json"
set +e
"$PVM" run "$T/vm" --vmm "$T/vmm" --recovery-key "$T/rec.jwk" >"$T/out" 2>&1
rc=$?
set -e
cat "$T/out"
grep -q "vmm: key ok" "$T/out" || fail "the VMM did not get the image's key"
ok "pocketvm run unlocked the disk and handed the key to the VMM on fd 4"
grep -q -- "--disk fd=3,key-fd=4" "$T/out" && grep -q -- "--mem 64" "$T/out" || fail "VMM arguments"
ok "the VMM got its command line from vm.json"
[ $rc = 7 ] || fail "exit status $rc, want the VMM's 7"
ok "the VMM's exit status is pocketvm run's"
echo '{"name":"w","managed":"11111111-2222-4333-8444-555555555555","kernel":"vmlinux",
 "disk":"disk.img","encrypted":true}' >"$T/vm/vm.json"
! "$PVM" run "$T/vm" --vmm "$T/vmm" >"$T/out" 2>&1 || fail "a work VM ran without the daemon"
grep -q "is a work VM" "$T/out" || fail "refusal message"
ok "a work VM is refused: only pocketvmd opens it, under its lease"
echo "PASS: $N checks"
