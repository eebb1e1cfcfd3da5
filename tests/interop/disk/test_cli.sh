#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# `pocketvm image` without a key server: create from a raw image and from a
# directory with a launcher-supplied key (--key-fd), check, export, a
# flipped bit found by `check` and refused by `export`, crypto-erase, and
# no key in any file written.
set -u

PVM=$(realpath "$1")
SCAN=$(realpath "$2")
for tool in mke2fs debugfs od dd; do
	command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed"; exit 77; }
done

work=$(mktemp -d /tmp/pocketvm-cli-XXXXXX)
keysrc=$(mktemp -d /tmp/pocketvm-clikey-XXXXXX)
trap 'rm -rf "$work" "$keysrc"' EXIT
fail() {
	echo "FAIL: $*"
	exit 1
}
cd "$work" || exit 1

head -c 32 /dev/urandom >"$keysrc/dek"
head -c 32 /dev/urandom >"$keysrc/other"
head -c 3000320 /dev/urandom >source.raw	# sectors, not whole blocks: padded
head -c 1000 /dev/urandom >odd.raw

"$PVM" image create r.img --from-raw source.raw --key-fd 3 3<"$keysrc/dek" || fail "create from raw"
"$PVM" image create x.img --size 1M && fail "create without any binding or key"
# A source that ends inside a sector: kept whole, its last block zero-padded.
"$PVM" image create o.img --from-raw odd.raw --key-fd 3 3<"$keysrc/dek" || fail "create from odd raw"
"$PVM" image inspect o.img | grep -q "size:       4096 bytes" || fail "odd size not rounded up"
"$PVM" image export o.img odd.out --key-fd 3 3<"$keysrc/dek" || fail "export odd"
cmp -s <(head -c 1000 odd.out) odd.raw || fail "dropped a raw tail"
[ "$(tail -c +1001 odd.out | tr -d '\0' | wc -c)" = 0 ] || fail "odd padding is not zero"
[ "$(stat -c %s odd.out)" = 4096 ] || fail "odd export is not one block"
"$PVM" image create r.img --size 1M --key-fd 3 3<"$keysrc/dek" && fail "overwrote an image"
"$PVM" image inspect r.img | grep -q "size:       3002368 bytes" || fail "size not rounded up"
"$PVM" image check r.img --key-fd 3 3<"$keysrc/dek" || fail "check"
"$PVM" image check r.img --key-fd 3 3<"$keysrc/other" && fail "check with the wrong key"
"$PVM" image export r.img out.raw --key-fd 3 3<"$keysrc/dek" || fail "export"
cmp -s <(head -c 3000320 out.raw) source.raw || fail "export differs from the source"
[ "$(tail -c +3000321 out.raw | tr -d '\0' | wc -c)" = 0 ] || fail "padding is not zero"
[ "$(stat -c %a out.raw)" = 600 ] || fail "export is readable by others"

# One flipped bit in block 100's data: check names the block, export refuses.
data=$(od -An -tu8 -j64 -N8 r.img | tr -d ' ')
off=$((data + 100 * 4096 + 77))
byte=$(od -An -tu1 -j"$off" -N1 r.img | tr -d ' ')
printf "$(printf '\\%03o' $((byte ^ 4)))" | dd of=r.img bs=1 seek="$off" conv=notrunc status=none
out=$("$PVM" image check r.img --key-fd 3 3<"$keysrc/dek" 2>/dev/null) && fail "check missed a flipped bit"
echo "$out"
echo "$out" | grep -q "^block 100: authentication failed" || fail "check did not name block 100"
echo "$out" | grep -q "1 of 733 blocks failed" || fail "check summary: $out"
rm -f out2.raw
"$PVM" image export r.img out2.raw --key-fd 3 3<"$keysrc/dek" 2>/dev/null && fail "exported a tampered image"
[ -e out2.raw ] && fail "a partial export was left behind"

# From a directory: an ext4 that debugfs reads back after export.
mkdir -p root/a/b && echo "deep file" >root/a/b/c
"$PVM" image create d.img --size 8M --from-dir root --key-fd 3 3<"$keysrc/dek" || fail "from dir"
"$PVM" image export d.img d.raw --key-fd 3 3<"$keysrc/dek" || fail "export dir image"
[ "$(debugfs -R 'cat /a/b/c' d.raw 2>/dev/null)" = "deep file" ] || fail "file system content"

"$PVM" image unbind d.img --erase || fail "erase"
"$PVM" image inspect d.img | grep -q "crypto-erased" || fail "inspect after erase"
out=$("$PVM" image check d.img --key-fd 3 3<"$keysrc/dek" 2>&1) &&
	fail "the old key still opens an erased image"
echo "$out" | grep -q "crypto-erased" || fail "unclear error after erase: $out"

mapfile -t written < <(find "$work" -type f)
"$SCAN" "$keysrc/dek" "${written[@]}" || fail "key found in a file"
echo "PASS"
