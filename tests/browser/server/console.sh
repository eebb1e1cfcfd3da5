#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Browser test of the web console: starts pocketvm-server on 127.0.0.1,
# enrolls a device whose name is hostile markup, and runs console.mjs in
# headless Chromium through playwright-core.
set -u
command -v node >/dev/null || { echo "SKIP: node is not installed"; exit 77; }
[ -x /usr/bin/chromium ] || { echo "SKIP: chromium is not installed"; exit 77; }
# playwright-core is pinned in tests/browser/package-lock.json; install-deps installs it.
export NODE_PATH=${POCKETVM_SRC:-.}/tests/browser/node_modules
node -e "require('playwright-core')" 2>/dev/null ||
	{ echo "SKIP: playwright-core not in tests/browser/node_modules (scripts/install-deps)"; exit 77; }
for t in openssl curl jose; do
	command -v $t >/dev/null || { echo "SKIP: $t is not installed"; exit 77; }
done
BUILD=${POCKETVM_BUILD:-build}
SRC=${POCKETVM_SRC:-.}
TMP=$(mktemp -d /tmp/pvs-browser-XXXXXX)
PID=
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

"$BUILD/src/server/pocketvm-server" --listen 127.0.0.1:0 --db "sqlite:$TMP/db.sqlite" \
	--state "$TMP/state" --port-file "$TMP/port" --threads 2 >"$TMP/stdout" 2>"$TMP/log" &
PID=$!
for _ in $(seq 100); do
	[ -s "$TMP/port" ] && break
	sleep 0.1
done
URL=https://127.0.0.1:$(cat "$TMP/port")
TOKEN=$(sed -n 's/.*\(pva_[A-Za-z0-9_-]*\).*/\1/p' "$TMP/stdout")
C=(--cacert "$TMP/state/ca.pem" -sf)
curl "${C[@]}" -H "Authorization: Bearer $TOKEN" -X POST -d '{}' \
	"$URL/v1/admin/enrollment-tokens" >"$TMP/et.json"
ET=$(jose fmt -j "$TMP/et.json" -g tokens -g 0 -g token -u-)
CA_SHA=$(jose fmt -j "$TMP/et.json" -g ca_sha256 -u-)
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=d \
	-keyout "$TMP/d.key" -out "$TMP/d.csr" 2>/dev/null
jose fmt -j "{}" -q "$ET" -s token -U -q "$(cat "$TMP/d.csr")" -s csr -U \
	-q '<img src=x onerror=alert(1)>' -s name -U -o "$TMP/enroll.json"
curl "${C[@]}" -X POST --data-binary @"$TMP/enroll.json" "$URL/v1/enroll" >"$TMP/enrolled.json"
DEVICE=$(jose fmt -j "$TMP/enrolled.json" -g device_id -u-)

NODE_EXTRA_CA_CERTS=$TMP/state/ca.pem URL=$URL TOKEN=$TOKEN DEVICE=$DEVICE CA_SHA=$CA_SHA \
	node "$SRC/tests/browser/server/console.mjs"
rc=$?
kill "$PID"
wait "$PID"
src=$?
PID=
if [ "$src" != 0 ]; then
	echo "not ok - server exit status $src"
	cat "$TMP/log"
	rc=1
fi
exit $rc
