#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# The encrypted image against Debian's real tangd (started here, on
# loopback, as Tang's own tests do): create bound to Tang, open through
# the McCallum-Relyea exchange, fail clearly while the server is down,
# escrow to a recovery key (and open it with the stock `jose`), survive a
# server key rotation with `rekey`, crypto-erase, and prove the key never
# reached a file, argv or the environment.
set -u

PVM=$1
SCAN=$2
HOLDER=$3

for tool in socat curl jose jq mke2fs debugfs; do
	command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed"; exit 77; }
done
[ -x /usr/libexec/tangd ] || { echo "SKIP: tang not installed"; exit 77; }

work=$(mktemp -d /tmp/pocketvm-tang-XXXXXX)
keysrc=$(mktemp -d /tmp/pocketvm-keysrc-XXXXXX)
tang_pid=""
port=""

stop_tang() {
	if [ -n "$tang_pid" ]; then
		kill "$tang_pid" 2>/dev/null
		wait "$tang_pid" 2>/dev/null
		tang_pid=""
	fi
}

cleanup() {
	stop_tang
	rm -rf "$work" "$keysrc"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*"
	exit 1
}

# Starts tangd behind socat on $port (a random free one the first time).
start_tang() {
	local tries
	for tries in $(seq 20); do
		[ -n "$port" ] || port=$((20000 + RANDOM % 30000))
		socat TCP-LISTEN:"$port",bind=127.0.0.1,reuseaddr,fork \
			SYSTEM:"/usr/libexec/tangd $work/tang" 2>/dev/null &
		tang_pid=$!
		for _ in $(seq 50); do
			curl -sf "http://127.0.0.1:$port/adv" >/dev/null && return 0
			kill -0 "$tang_pid" 2>/dev/null || break
			sleep 0.1
		done
		stop_tang
		[ "$tries" -gt 3 ] && port=""
		sleep 0.2
	done
	fail "cannot start tangd"
}

sig_thp() {
	grep -l '"sign"' "$work"/tang/[!.]*.jwk | head -1 | xargs basename | sed 's/\.jwk$//'
}

# Runs pocketvm, keeping stdout+stderr in $out; returns its status.
pvm() {
	out=$("$PVM" "$@" 2>&1)
}

mkdir -p "$work/tang" "$work/root/etc"
/usr/libexec/tangd-keygen "$work/tang" || fail "tangd-keygen"
echo "hello from the work VM" >"$work/root/greeting"
head -c 100000 /dev/urandom >"$work/root/etc/blob"
head -c 32 /dev/urandom >"$keysrc/dek"
# The scanner must see a key where there is one, or its silence means nothing.
"$SCAN" "$keysrc/dek" "$keysrc/dek" >/dev/null && fail "scan_key does not find a planted key"
start_tang
url="http://127.0.0.1:$port"
thp=$(sig_thp)
img="$work/work.img"
echo "tangd on $url, signing key $thp"

# Trust must be explicit: no --thp and no --trust lists the thumbprints.
pvm image create "$work/x.img" --size 8M --tang "$url" && fail "create without trust"
echo "$out" | grep -q "$thp" || fail "untrusted create did not show the thumbprint: $out"
pvm image create "$work/x.img" --size 8M --tang "$url" --thp AAAA && fail "wrong --thp accepted"

pvm image create "$img" --size 16M --from-dir "$work/root" --tang "$url" --thp "$thp" \
	--key-fd 3 3<"$keysrc/dek" || fail "create: $out"
echo "$out"
pvm image inspect "$img" || fail "inspect: $out"
echo "$out"
echo "$out" | grep -q "tang $url" || fail "inspect does not show the tang binding"

pvm image check "$img" || fail "check through tang: $out"
echo "$out" | grep -q "all 4096 blocks authentic" || fail "check: $out"
pvm image export "$img" "$work/plain.raw" || fail "export: $out"
[ "$(debugfs -R 'cat /greeting' "$work/plain.raw" 2>/dev/null)" = "hello from the work VM" ] ||
	fail "exported file system does not hold the greeting"
debugfs -R 'dump /etc/blob '"$work/blob.out" "$work/plain.raw" >/dev/null 2>&1
cmp -s "$work/blob.out" "$work/root/etc/blob" || fail "exported blob differs"
echo "ok: unlocked through tangd, exported file system matches"

# The launcher/VMM path (image_unlock_to_fd + blockdev_crypt_open_fd) in a
# process that holds the key: its argv and environment must not show it.
mkfifo "$work/fifo"
exec 7<>"$work/fifo"
"$HOLDER" "$img" <"$work/fifo" >"$work/holder.out" 2>&1 7>&- &
holder=$!
for _ in $(seq 100); do
	grep -q ready "$work/holder.out" 2>/dev/null && break
	kill -0 "$holder" 2>/dev/null || break
	sleep 0.1
done
grep -q ready "$work/holder.out" || fail "crypt_holder: $(cat "$work/holder.out")"
"$SCAN" "$keysrc/dek" "/proc/$holder/cmdline" "/proc/$holder/environ" ||
	fail "key visible in a process's argv or environment"
exec 7>&-
wait "$holder" || fail "crypt_holder failed"
echo "ok: unlock-to-fd and blockdev_crypt_open_fd round trip a block"

# Server down: the image cannot be opened, and the error says why.
stop_tang
pvm image check "$img" --timeout 3 && fail "opened with tangd stopped"
echo "$out" | grep -q "unreachable" || fail "unclear error with tangd down: $out"
echo "ok: tangd down => $(echo "$out" | tail -1)"
start_tang
pvm image check "$img" || fail "check after tangd restart: $out"

# Escrow: a recovery binding opens the image without the server, only with
# the enterprise's private key; the stock jose opens the escrow too.
jose jwk gen -i '{"alg":"ECDH-ES+A256KW","crv":"P-521"}' -o "$work/recovery.jwk"
jose jwk pub -i "$work/recovery.jwk" -o "$work/recovery.pub.jwk"
pvm image bind "$img" --recovery-pub "$work/recovery.pub.jwk" || fail "bind recovery: $out"
stop_tang
pvm image check "$img" --timeout 3 && fail "device alone opened an escrowed image"
pvm image check "$img" --recovery-key "$work/recovery.jwk" || fail "recovery key: $out"
echo "ok: recovery key opens the image with tangd down"
blen=$(od -An -tu4 -j76 -N4 "$img" | tr -d ' ')
dd if="$img" bs=1 skip=160 count="$blen" status=none |
	jq -c '.bindings[] | select(.type == "recovery") | .jwe' >"$work/escrow.jwe"
jose jwe dec -i "$work/escrow.jwe" -k "$work/recovery.jwk" -O "$work/escrow.out" ||
	fail "jose cannot open the escrow JWE"
cmp -s "$work/escrow.out" "$keysrc/dek" || fail "escrow JWE does not hold the key"
rm -f "$work/escrow.out"
echo "ok: stock jose opens the escrow"
start_tang

# Server key rotation: rekey moves the binding to the new exchange key.
old_kid=$("$PVM" image inspect "$img" --json | jq -r '.bindings[] | select(.type == "tang") | .kid')
for f in "$work"/tang/[!.]*.jwk; do mv "$f" "$work/tang/.$(basename "$f")"; done
/usr/libexec/tangd-keygen "$work/tang"
new_thp=$(sig_thp)
pvm image rekey "$img" --thp "$new_thp" || fail "rekey: $out"
new_kid=$("$PVM" image inspect "$img" --json | jq -r '.bindings[] | select(.type == "tang") | .kid')
[ "$old_kid" != "$new_kid" ] || fail "rekey kept the old exchange key"
rm -f "$work"/tang/.*.jwk
pvm image check "$img" || fail "check after rotation and rekey: $out"
echo "ok: rekeyed from $old_kid to $new_kid; old server keys deleted, still opens"

# Removing bindings; the last one only as a crypto-erase.
pvm image unbind "$img" --id 3 && fail "unbind of a missing id"
rec_id=$("$PVM" image inspect "$img" --json | jq -r '.bindings[] | select(.type == "recovery") | .id')
tang_id=$("$PVM" image inspect "$img" --json | jq -r '.bindings[] | select(.type == "tang") | .id')
pvm image unbind "$img" --id "$rec_id" || fail "unbind recovery: $out"
pvm image check "$img" --recovery-key "$work/recovery.jwk" || fail "tang should still open: $out"
pvm image unbind "$img" --id "$tang_id" && fail "removed the last binding without --erase"
pvm image unbind "$img" --erase || fail "erase: $out"
pvm image check "$img" && fail "opened after crypto-erase"
echo "$out" | grep -q "crypto-erased" || fail "unclear error after erase: $out"
pvm image export "$img" "$work/again.raw" --recovery-key "$work/recovery.jwk" &&
	fail "export after erase"
echo "ok: crypto-erased => $(echo "$out" | tail -1)"

# No file this test (or tangd) wrote holds the key, in any encoding.
stop_tang
mapfile -t written < <(find "$work" -type f)
"$SCAN" "$keysrc/dek" "${written[@]}" || fail "key found in a file"
echo "PASS"
