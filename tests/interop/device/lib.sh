# SPDX-License-Identifier: Apache-2.0
#
# Shared by the device interop tests: a real pocketvm-server on 127.0.0.1
# (temp state, SQLite), pocketvmd on a temp state dir and socket, and a
# stand-in VMM that proves it received the right key. Everything lives in
# $T and is stopped at exit, also on failure.
set -euo pipefail

B=${POCKETVM_BUILD:?run through meson test}
S=${POCKETVM_SRC:?run through meson test}
PVM=$B/src/cli/pocketvm/pocketvm
PVMD=$B/src/device/pocketvmd
SRV=$B/src/server/pocketvm-server
for t in jq curl od; do
	command -v $t >/dev/null || { echo "SKIP: $t not installed"; exit 77; }
done
[ "$(id -u)" = 0 ] || { echo "SKIP: pocketvmd runs as root"; exit 77; }
T=$(mktemp -d /tmp/pvm-device-test.XXXXXX)
chmod 755 "$T" # the socket is reachable by other users; the state dir stays 0700
SRV_PID= PVMD_PID=
N=0

cleanup() {
	local rc=$?
	[ -n "$PVMD_PID" ] && { kill -9 "$PVMD_PID"; wait "$PVMD_PID"; } 2>/dev/null || true
	[ -n "$SRV_PID" ] && kill "$SRV_PID" 2>/dev/null || true
	# VMMs our daemon started (their pid files), then the tree.
	for f in $(find "$T" -name vmm.pid 2>/dev/null); do
		kill -9 "$(cut -d' ' -f1 "$f")" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
		echo "--- pocketvmd log"; tail -n 40 "$T/pvmd.log" 2>/dev/null || true
		echo "--- server log"; tail -n 20 "$T/srv.log" 2>/dev/null || true
	fi
	rm -rf "$T"
}
trap cleanup EXIT

ok() { N=$((N + 1)); echo "ok $N - $*"; }
fail() { echo "not ok - $*"; exit 1; }
# expect DESCRIPTION COMMAND...: the command must succeed
expect() { local d=$1; shift; "$@" >"$T/out" 2>&1 || { cat "$T/out"; fail "$d"; }; ok "$d"; }
# expect_err CODE DESCRIPTION COMMAND...: must fail, its --json error must be CODE
expect_err() {
	local code=$1 d=$2; shift 2
	if "$@" --json >"$T/out" 2>&1; then cat "$T/out"; fail "$d (succeeded)"; fi
	[ "$(jq -r .error <"$T/out" 2>/dev/null)" = "$code" ] || { cat "$T/out"; fail "$d: want $code"; }
	ok "$d ($code)"
}
# wait_for SECONDS DESCRIPTION COMMAND...: polls until the command succeeds
wait_for() {
	local s=$1 d=$2; shift 2
	for _ in $(seq $((s * 5))); do
		if "$@" >/dev/null 2>&1; then ok "$d"; return 0; fi
		sleep 0.2
	done
	fail "$d (not within ${s}s)"
}

start_server() {
	mkdir -p "$T/srv"
	"$SRV" --listen 127.0.0.1:0 --db "sqlite:$T/srv/db" --state "$T/srv/state" \
		--port-file "$T/srv/port" --threads 2 "$@" >"$T/srv/stdout" 2>>"$T/srv.log" &
	SRV_PID=$!
	for _ in $(seq 100); do [ -s "$T/srv/port" ] && break; sleep 0.1; done
	[ -s "$T/srv/port" ] || fail "pocketvm-server did not start"
	PORT=$(head -n1 "$T/srv/port")
	URL=https://127.0.0.1:$PORT
	if [ -z "${ADMIN:-}" ]; then
		ADMIN=$(grep -o 'pva_[A-Za-z0-9_-]*' "$T/srv/stdout" | head -n1)
	fi
}
stop_server() { kill "$SRV_PID"; wait "$SRV_PID" 2>/dev/null || true; SRV_PID=; }

# admin METHOD PATH [BODY]: admin REST call, prints the JSON answer
admin() {
	curl -sS --cacert "$T/srv/state/ca.pem" -H "Authorization: Bearer $ADMIN" \
		-H 'Content-Type: application/json' -X "$1" "$URL$2" ${3:+--data "$3"}
}

start_pvmd() {
	rm -f "$T/ctl.sock" # a killed daemon leaves its socket behind
	"$PVMD" --state-dir "$T/dev" --socket "$T/ctl.sock" --vmm "$T/fake-vmm" \
		--max-checkin-interval 2 --log-level debug "$@" >>"$T/pvmd.log" 2>&1 &
	PVMD_PID=$!
	for _ in $(seq 100); do [ -S "$T/ctl.sock" ] && return 0; sleep 0.05; done
	fail "pocketvmd did not start"
}
stop_pvmd() { kill "$PVMD_PID"; wait "$PVMD_PID" 2>/dev/null || true; PVMD_PID=; }
kill_pvmd() { { kill -9 "$PVMD_PID"; wait "$PVMD_PID"; } 2>/dev/null || true; PVMD_PID=; }

pvm() { "$PVM" "$@" --socket "$T/ctl.sock"; }

# The stand-in VMM: proves fd 4 holds the key of the image on fd 3 by
# authenticating every block with it, then serves a tiny echo console.
make_fake_vmm() {
	cat >"$T/fake-vmm" <<EOS
#!/bin/sh
trap 'echo "fake-vmm: SIGTERM"; exit 0' TERM
echo "fake-vmm: args \$*"
case "\$*" in
*key-fd=4*)
	if "$PVM" image check /proc/self/fd/3 --key-fd 4 >/dev/null 2>&1; then
		echo "fake-vmm: key ok"
	else
		echo "fake-vmm: key WRONG"; exit 1
	fi ;;
esac
while read -r line; do echo "echo: \$line"; done
sleep 1000 & wait
EOS
	chmod 755 "$T/fake-vmm"
}

# make_work_vm NAME VMID [DEKHEX]: a managed VM whose disk is bound to the
# server's /tang/VMID with the device's identity (as provisioning does).
make_work_vm() {
	local name=$1 id=$2 dek=${3:-} d=$T/dev/vms/$1 thp
	thp=$(curl -sS --cacert "$T/srv/state/ca.pem" "$URL/v1/server" | jq -r .adv_thp)
	mkdir -p "$d"
	echo kernel >"$d/vmlinux"
	if [ -n "$dek" ]; then
		"$PVM" image create "$d/disk.img" --size 1M --tang "$URL/tang/$id" --thp "$thp" \
			--cacert "$T/dev/ca.pem" --cert "$T/dev/device.pem" --key "$T/dev/device.key" \
			--key-fd 5 5< <(printf '%s' "$dek" | sed 's/../\\x&/g' | xargs -0 printf '%b') \
			>/dev/null
	else
		"$PVM" image create "$d/disk.img" --size 1M --tang "$URL/tang/$id" --thp "$thp" \
			--cacert "$T/dev/ca.pem" --cert "$T/dev/device.pem" --key "$T/dev/device.key" \
			>/dev/null
	fi
	cat >"$d/vm.json" <<EOJ
{"name": "$name", "managed": "$id", "kernel": "vmlinux", "disk": "disk.img",
 "encrypted": true, "cmdline": "console=hvc0", "memory_mib": 128, "restart": "no"}
EOJ
}

# enroll_device: a fresh enrollment token and `pocketvm enroll`
enroll_device() {
	local t
	t=$(admin POST /v1/admin/enrollment-tokens '{"group":"default","count":1}')
	TOKEN=$(jq -r '.tokens[0].token' <<<"$t")
	PIN=$(jq -r .ca_sha256 <<<"$t")
	pvm enroll "$URL" "$TOKEN" --ca-sha256 "$PIN" --name test-phone >/dev/null
	DEV=$(pvm status --json | jq -r .device_id)
}

# alive PID: running (a killed process may linger as a zombie until reaped)
alive() { [ -r "/proc/$1/status" ] && ! grep -q '^State:.*Z' "/proc/$1/status"; }
lease_left() { pvm ls --json | jq -r ".vms[] | select(.name == \"$1\") | .lease_left"; }
vm_state() { pvm ls --json | jq -r ".vms[] | select(.name == \"$1\") | .state"; }
has_lease() { [ "$(lease_left "$1")" != null ] && [ "$(lease_left "$1")" -gt 0 ]; }
