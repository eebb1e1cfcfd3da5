#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Interop with Debian's clevis/jose: data encrypted with `clevis encrypt tang`
# against pocketvm-server's per-VM /adv decrypts through its /rec, with the
# device's mTLS credentials handed to clevis's curl through $HOME/.curlrc.
# After the VM is revoked, the same JWE can no longer be decrypted, and
# without the device certificate clevis gets nothing at all.
set -u
[ -n "${PVS_TRACE:-}" ] && set -x

for t in clevis jose curl openssl; do
	if ! command -v $t >/dev/null; then
		echo "SKIP: $t is not installed"
		exit 77
	fi
done
BUILD=${POCKETVM_BUILD:-build}
SERVER=$BUILD/src/server/pocketvm-server
ADMIN=$BUILD/src/cli/admin/pocketvm-admin
TMP=$(mktemp -d /tmp/pvs-clevis-XXXXXX)
PID=
fails=0
n=0

cleanup() {
	if [ -n "$PID" ]; then
		kill "$PID" 2>/dev/null
		wait "$PID" 2>/dev/null
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT

check() { # check DESCRIPTION COMMAND...
	local what=$1
	shift
	n=$((n + 1))
	if "$@"; then
		echo "ok $n - $what"
	else
		echo "not ok $n - $what"
		fails=$((fails + 1))
	fi
}

"$SERVER" --listen 127.0.0.1:0 --db "sqlite:$TMP/db.sqlite" --state "$TMP/state" \
	--port-file "$TMP/port" --threads 2 >"$TMP/stdout" 2>"$TMP/log" &
PID=$!
for _ in $(seq 100); do
	[ -s "$TMP/port" ] && break
	sleep 0.1
done
PORT=$(cat "$TMP/port")
URL=https://127.0.0.1:$PORT
sed -n 's/.*\(pva_[A-Za-z0-9_-]*\).*/\1/p' "$TMP/stdout" >"$TMP/admin-token"
export POCKETVM_SERVER=$URL POCKETVM_CA=$TMP/state/ca.pem POCKETVM_ADMIN_TOKEN_FILE=$TMP/admin-token

# Enroll a device the way pocketvmd does: local key, CSR, one-time token.
"$ADMIN" enroll-token create >"$TMP/et.json"
TOKEN=$(jose fmt -j "$TMP/et.json" -g tokens -g 0 -g token -u-)
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=device \
	-keyout "$TMP/device.key" -out "$TMP/device.csr" 2>/dev/null
jose fmt -j "{}" -q "$TOKEN" -s token -U -q "$(cat "$TMP/device.csr")" -s csr -U \
	-o "$TMP/enroll.json"
curl -sf --cacert "$TMP/state/ca.pem" -X POST --data-binary @"$TMP/enroll.json" \
	"$URL/v1/enroll" >"$TMP/enrolled.json"
check "device enrolled with curl + openssl CSR" test -s "$TMP/enrolled.json"
jose fmt -j "$TMP/enrolled.json" -g certificate -u- >"$TMP/device.pem"
DEV=$(jose fmt -j "$TMP/enrolled.json" -g device_id -u-)
"$ADMIN" vm create --device "$DEV" --name work >"$TMP/vm.json"
VM=$(jose fmt -j "$TMP/vm.json" -g id -u-)
THP=$(jose fmt -j "$TMP/vm.json" -g adv_thp -u-)

# clevis runs curl without certificate options; curl reads $HOME/.curlrc.
mkdir -p "$TMP/home"
cat >"$TMP/home/.curlrc" <<RC
cert = "$TMP/device.pem"
key = "$TMP/device.key"
cacert = "$TMP/state/ca.pem"
RC
CFG="{\"url\":\"$URL/tang/$VM\",\"thp\":\"$THP\"}"
echo "the work VM's disk key" >"$TMP/secret"
HOME=$TMP/home clevis encrypt tang "$CFG" <"$TMP/secret" >"$TMP/secret.jwe" 2>"$TMP/enc.err"
check "clevis encrypt tang against /tang/VM/adv over mTLS" test -s "$TMP/secret.jwe"
HOME=$TMP/home clevis decrypt <"$TMP/secret.jwe" >"$TMP/plain" 2>"$TMP/dec.err"
check "clevis decrypt recovers the data through /rec" cmp -s "$TMP/secret" "$TMP/plain"

mkdir -p "$TMP/nocert"
echo "cacert = \"$TMP/state/ca.pem\"" >"$TMP/nocert/.curlrc"
check "without the device certificate clevis cannot decrypt" \
	bash -c "! HOME=$TMP/nocert clevis decrypt <$TMP/secret.jwe >/dev/null 2>&1"
check "without the device certificate clevis cannot even encrypt" \
	bash -c "! HOME=$TMP/nocert clevis encrypt tang '$CFG' <$TMP/secret >/dev/null 2>&1"

"$ADMIN" vm revoke "$VM" >/dev/null
check "after revoking the VM the same JWE no longer decrypts" \
	bash -c "! HOME=$TMP/home clevis decrypt <$TMP/secret.jwe >/dev/null 2>&1"
"$ADMIN" audit list >"$TMP/audit.json"
check "key release and refusal are in the audit log" \
	bash -c "grep -q '\"key.release\"' $TMP/audit.json && grep -q '\"key.refused\"' $TMP/audit.json"
check "audit verify passes" "$ADMIN" audit verify

kill "$PID"
wait "$PID"
rc=$?
PID=
check "server exits cleanly" test "$rc" = 0
echo "1..$n"
[ "$fails" = 0 ]
