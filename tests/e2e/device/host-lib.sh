# SPDX-License-Identifier: Apache-2.0
# Sourced by the device phone scenarios' host side (bash): the enterprise
# server on this machine's 127.0.0.1, its admin API, and the guest images.
# Needs S (source tree), B (build tree), T (a private temporary directory).

# fail MESSAGE: stops the scenario, with the server's last log lines
fail() { echo "FAIL: $*"; tail -n 20 "$T/srv.log" 2>/dev/null; exit 1; }

# start_server: pocketvm-server with an SQLite database in $T; sets PORT
# (kept across restarts, so the phone's forwarding stays valid) and ADMIN.
start_server() {
	rm -f "$T/port"
	"$B/src/server/pocketvm-server" --listen "127.0.0.1:${PORT:-0}" --db "sqlite:$T/db" \
		--state "$T/srv" --port-file "$T/port" --threads 2 --hostname 10.0.2.100 \
		--hostname 127.0.0.1 >>"$T/srv.out" 2>>"$T/srv.log" &
	SRV_PID=$!
	for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.1; done
	[ -s "$T/port" ] || fail "server did not start"
	PORT=$(head -n1 "$T/port")
	ADMIN=${ADMIN:-$(grep -o 'pva_[A-Za-z0-9_-]*' "$T/srv.out" | head -n1)}
}
stop_server() {
	[ -n "${SRV_PID:-}" ] || return 0
	kill "$SRV_PID" 2>/dev/null || true
	wait "$SRV_PID" 2>/dev/null || true
	SRV_PID=
}

# admin METHOD PATH [JSON]: the admin API with the admin token
admin() {
	curl -sS --fail-with-body --cacert "$T/srv/ca.pem" -H "Authorization: Bearer $ADMIN" \
		-H 'Content-Type: application/json' -X "$1" "https://127.0.0.1:$PORT$2" \
		${3:+--data "$3"}
}

# enrollment_token: sets TOKEN and PIN (the CA certificate's SHA-256)
enrollment_token() {
	local t
	t=$(admin POST /v1/admin/enrollment-tokens '{"group":"default","count":1}') ||
		fail "enrollment token"
	TOKEN=$(jq -r '.tokens[0].token' <<<"$t")
	PIN=$(jq -r .ca_sha256 <<<"$t")
}

# upload NAME VERSION FILE PATH: one file of an image, in 1 MiB chunks
upload() {
	local off=0 size
	size=$(stat -c %s "$4")
	while [ "$off" -lt "$size" ]; do
		dd if="$4" bs=1M skip=$((off / 1048576)) count=1 status=none >"$T/chunk"
		curl -sS --fail --cacert "$T/srv/ca.pem" -H "Authorization: Bearer $ADMIN" \
			-H 'Content-Type: application/octet-stream' -X PUT \
			--data-binary @"$T/chunk" \
			"https://127.0.0.1:$PORT/v1/admin/images/$1/$2/files/$3?offset=$off" \
			>/dev/null || fail "upload of $3 at $off"
		off=$((off + $(stat -c %s "$T/chunk")))
	done
}

# build_guest NAME DIR: a bootable guest (initrd, 16 MiB ext4 root running
# guest-rc.sh) named NAME, in DIR
build_guest() {
	mkdir -p "$2"
	echo "$1" >"$T/vmname"
	BUILD=$B "$S/guest/build-images" --init "$S/tests/e2e/device/guest-rc.sh" \
		--add "$T/vmname:/etc/vmname" --size 16 "$2" >/dev/null || fail "guest image $1"
}

# publish_work_image NAME VERSION: builds the work guest and publishes the
# Debian kernel (bzImage), its initrd and root disk as image NAME VERSION
publish_work_image() {
	local assets
	assets=$(BUILD=$B "$S/scripts/fetch-guest-assets" --print-dir)
	build_guest "$1" "$T/$1"
	upload "$1" "$2" kernel "$assets/vmlinuz"
	upload "$1" "$2" initrd "$T/$1/initrd.cpio.gz"
	upload "$1" "$2" disk "$T/$1/rootfs.ext4"
	admin POST "/v1/admin/images/$1/$2/publish" '{}' | jq -e .jws >/dev/null ||
		fail "publish $1 $2"
}

# first_device: the id of the first enrolled device, waiting up to 5 minutes
first_device() {
	local dev
	for _ in $(seq 600); do
		dev=$(admin GET /v1/admin/devices | jq -r '.devices[0].id // empty')
		[ -n "$dev" ] && { echo "$dev"; return 0; }
		sleep 0.5
	done
	return 1
}
