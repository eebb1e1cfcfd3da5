#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# The tang binding over https with a client certificate, the way
# pocketvm-server will serve /adv and /rec: Debian's tangd behind a TLS
# terminator (socat) that demands a client certificate from our CA.
set -u

PVM=$(realpath "$1")

for tool in socat curl openssl; do
	command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed"; exit 77; }
done
[ -x /usr/libexec/tangd ] || { echo "SKIP: tang not installed"; exit 77; }

work=$(mktemp -d /tmp/pocketvm-mtls-XXXXXX)
tang_pid=""
cleanup() {
	[ -n "$tang_pid" ] && { kill "$tang_pid" 2>/dev/null; wait "$tang_pid" 2>/dev/null; }
	rm -rf "$work"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*"
	exit 1
}

cd "$work" || exit 1
mkdir tang
/usr/libexec/tangd-keygen tang || fail "tangd-keygen"
thp=$(grep -l '"sign"' tang/*.jwk | head -1 | xargs basename | sed 's/\.jwk$//')

# A CA, a server certificate for 127.0.0.1, a client certificate.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
	-subj /CN=test-ca -keyout ca.key -out ca.pem 2>/dev/null || fail "CA"
for who in server client; do
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$who" \
		-keyout $who.key -out $who.csr 2>/dev/null || fail "$who key"
	printf 'subjectAltName=IP:127.0.0.1\n' >$who.ext
	openssl x509 -req -in $who.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 \
		-extfile $who.ext -out $who.pem 2>/dev/null || fail "$who cert"
done
# Another CA's client certificate: must be refused.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
	-subj /CN=intruder -keyout intruder.key -out intruder.pem 2>/dev/null

for _ in $(seq 20); do
	port=$((20000 + RANDOM % 30000))
	socat OPENSSL-LISTEN:"$port",bind=127.0.0.1,reuseaddr,fork,cert=server.pem,key=server.key,cafile=ca.pem,verify=1 \
		SYSTEM:"/usr/libexec/tangd $work/tang" 2>/dev/null &
	tang_pid=$!
	for _ in $(seq 50); do
		curl -sf --cacert ca.pem --cert client.pem --key client.key \
			"https://127.0.0.1:$port/adv" >/dev/null && break 2
		kill -0 "$tang_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill "$tang_pid" 2>/dev/null
	wait "$tang_pid" 2>/dev/null
	tang_pid=""
done
[ -n "$tang_pid" ] || fail "cannot start the TLS tangd"
url="https://127.0.0.1:$port"
tls=(--cacert ca.pem --cert client.pem --key client.key)

"$PVM" image create m.img --size 4M --tang "$url" --thp "$thp" "${tls[@]}" ||
	fail "create over mTLS"
"$PVM" image check m.img "${tls[@]}" || fail "check over mTLS"
out=$("$PVM" image check m.img --cacert ca.pem --timeout 3 2>&1) &&
	fail "opened without a client certificate"
echo "without a client certificate: $(echo "$out" | tail -1)"
echo "$out" | grep -q "key server refused" || fail "no certificate is not reported as a refusal"
out=$("$PVM" image check m.img --cacert ca.pem --cert intruder.pem --key intruder.key \
	--timeout 3 2>&1) && fail "opened with a certificate from another CA"
echo "$out" | grep -q "key server refused" || fail "a rejected certificate is not a refusal"
out=$("$PVM" image check m.img --cert client.pem --key client.key --timeout 3 2>&1) &&
	fail "trusted a server certificate from an unknown CA"
echo "$out" | grep -q "unreachable" || fail "an untrusted server is not reported unreachable"

# A server that takes the connection and drops it inside the handshake is
# not a refusal: the key server is unreachable.
socat TCP-LISTEN:"$((port + 1))",bind=127.0.0.1,reuseaddr,fork SYSTEM:"head -c 5 >/dev/null" \
	2>/dev/null &
drop_pid=$!
sleep 0.3
out=$("$PVM" image check m.img "${tls[@]}" --tang-url "https://127.0.0.1:$((port + 1))" \
	--timeout 3 2>&1) && fail "opened through a server that dropped the handshake"
kill "$drop_pid" 2>/dev/null
wait "$drop_pid" 2>/dev/null
echo "dropped mid-handshake: $(echo "$out" | tail -1)"
echo "$out" | grep -q "unreachable" || fail "a dropped handshake is reported as a refusal"
echo "PASS"
