# SPDX-License-Identifier: Apache-2.0
# Sourced by the phone scenarios (busybox sh inside the emulated phone).
D=/data/pocketvm
export POCKETVM_SOCKET=/run/pocketvmd.sock
FAILED=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; FAILED=1; }

start_pvmd() {
	rm -f /run/pocketvmd.sock
	# env -i: nothing of the scenario's environment (the token) reaches the daemon.
	env -i /pocketvm/pocketvmd --state-dir $D --vmm /pocketvm/pocketvm-vmm --socket $POCKETVM_SOCKET \
		--max-checkin-interval 2 --log-level debug "$@" >>/data/pvmd.log 2>&1 &
	PVMD=$!
	i=0
	while [ ! -S /run/pocketvmd.sock ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	[ -S /run/pocketvmd.sock ] || { echo "FAIL: pocketvmd did not start"; cat /data/pvmd.log; exit 1; }
}
# die MESSAGE: stop the scenario with the daemon's log
die() { echo "FAIL: $*"; tail -n 30 /data/pvmd.log; exit 1; }

# field VMNAME KEY: a field of a VM in `pocketvm ls --json` (one field per line)
field() {
	pocketvm ls --json | awk -v n="$1" -v k="\"$2\":" '
		$1 == "\"name\":" { gsub(/[",]/, "", $2); cur = $2 }
		$1 == k && cur == n { v = $2; gsub(/[",]/, "", v); print v }'
}

# wait_until SECONDS COMMAND...: polls
wait_until() {
	s=$1; shift
	i=0
	while [ $i -lt $((s * 2)) ]; do
		if "$@" >/dev/null 2>&1; then return 0; fi
		sleep 0.5; i=$((i + 1))
	done
	return 1
}
has_lease() { l=$(field "$1" lease_left); [ -n "$l" ] && [ "$l" != null ] && [ "$l" -gt 0 ]; }
# lease_at_most NAME S: a lease of at most S seconds (a short offline lifetime arrived)
lease_at_most() { l=$(field "$1" lease_left); [ -n "$l" ] && [ "$l" != null ] && [ "$l" -le "$2" ]; }
# jailed STATUS: a /proc status file of a confined VMM (thread): seccomp, uid 65534
jailed() { grep -q "^Seccomp:[[:space:]]*2" "$1" && grep -q "^Uid:[[:space:]]*65534" "$1"; }
provisioned() { [ -f $D/vms/$1/vm.json ]; }

# provision_by_hand NAME: what an enterprise tool can do instead of a
# published image: the server-assigned VM's disk made from the guest in
# /pocketvm, bound to its Tang path and also to the enterprise escrow key
# (which lets the host side of the test find the DEK in order to scan for it).
provision_by_hand() {
	id=$(field "$1" id)
	mkdir -p $D/vms/$1
	cp /pocketvm/vmlinuz /pocketvm/initrd.cpio.gz $D/vms/$1/
	pocketvm image create $D/vms/$1/disk.img --from-raw /pocketvm/rootfs.ext4 \
		--tang "$URL/tang/$id" --thp "$THP" --recovery-pub /pocketvm/recovery.pub.jwk \
		--cacert $D/ca.pem --cert $D/device.pem --key $D/device.key >/dev/null || return 1
	cat >$D/vms/$1/vm.json <<EOJ
{"name": "$1", "managed": "$id", "kernel": "vmlinuz", "initrd": "initrd.cpio.gz",
 "disk": "disk.img", "encrypted": true, "cmdline": "console=ttyS0 root=/dev/vda rw quiet"}
EOJ
}
gone() { [ ! -d $D/vms/$1 ]; }
# guest_up NAME [BOOT]: the guest (tests/e2e/device/guest-rc.sh) said hello
# on its console, counting BOOT boots of its disk
guest_up() { grep -q "GUEST: [a-z0-9-]* up, root /dev/vda, boot ${2:-[0-9]*} " $D/vms/$1/console.log; }

# console NAME COMMAND: types COMMAND into the VM's shell through `pocketvm
# console` (Enter first: busybox init asks for it), waits for its output to
# end, prints what came back (without terminal queries and blank lines)
console() {
	rm -f /tmp/console.in /tmp/console.out
	mkfifo /tmp/console.in
	pocketvm console "$1" </tmp/console.in >/tmp/console.out 2>&1 &
	cpid=$!
	exec 7>/tmp/console.in
	echo >&7
	wait_until 60 grep -q '# ' /tmp/console.out
	echo "$2; echo END-OF-OUTPUT" >&7
	wait_until 60 grep -q '^END-OF-OUTPUT' /tmp/console.out
	printf '\035' >&7
	exec 7>&-
	wait $cpid
	tr -d '\r\033' </tmp/console.out | sed -e 's/\[6n//g' -e '/^$/d' -e '/^END-OF-OUTPUT/d'
	echo # the shell's last prompt has no newline
}
