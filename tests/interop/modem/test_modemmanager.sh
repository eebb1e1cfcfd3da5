#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Interop: Debian's ModemManager drives two pocketvm virtual modems (two VMs)
# served by pocketvm-modemd on the simulated network, and the network sees
# what the VMs did. Checks detection, enable, registration, calls both ways,
# SMS both ways, USSD, and that nothing of one VM shows up in the other.
#
# Everything runs in a private temp dir and a private D-Bus session; every
# process started here is stopped on exit, also on failure. Waits poll with
# timeouts, never fixed sleeps.
set -euo pipefail

BUILD=${POCKETVM_BUILD:-$(cd "$(dirname "$0")/../../.." && pwd)/build}
MODEMD=$BUILD/src/modem/pocketvm-modemd
SIMCTL=$BUILD/src/modem/pocketvm-simctl
NUM_A=+15550101
NUM_B=+15550102
FAR=+15559999

if [ "${1:-}" != "--inner" ]; then
	for tool in ModemManager mmcli dbus-run-session gdbus; do
		if ! command -v "$tool" >/dev/null; then
			echo "SKIP: $tool is not installed (scripts/install-deps)"
			exit 77
		fi
	done
	TMP=$(mktemp -d /tmp/pocketvm-mm.XXXXXX)
	MODEMD_PID=
	cleanup() {
		# ModemManager, should the D-Bus session have been cut short.
		if [ -s "$TMP/mm.pid" ]; then
			kill "$(cat "$TMP/mm.pid")" 2>/dev/null || true
		fi
		if [ -n "$MODEMD_PID" ]; then
			kill "$MODEMD_PID" 2>/dev/null || true
			wait "$MODEMD_PID" 2>/dev/null || true
		fi
		[ -n "${POCKETVM_KEEP_TMP:-}" ] && echo "kept $TMP" || rm -rf "$TMP"
	}
	trap cleanup EXIT
	trap 'exit 1' TERM INT
	"$MODEMD" --radio "simnet:$TMP/simnet.sock" \
		--vm "a,$NUM_A,$TMP/a.sock" --vm "b,$NUM_B,$TMP/b.sock" 2>"$TMP/modemd.log" &
	MODEMD_PID=$!
	for _ in $(seq 100); do
		[ -S "$TMP/a.sock" ] && [ -S "$TMP/b.sock" ] && [ -S "$TMP/simnet.sock" ] && break
		sleep 0.05
	done
	status=0
	timeout 240 dbus-run-session -- "$0" --inner "$TMP" || status=$?
	if [ "$status" != 0 ]; then
		echo "--- modemd log"; tail -20 "$TMP/modemd.log"
		echo "--- ModemManager log (tail)"; tail -40 "$TMP/mm.log" 2>/dev/null || true
	fi
	if ! kill -0 "$MODEMD_PID" 2>/dev/null; then
		echo "FAIL: pocketvm-modemd died"; status=1
	fi
	exit "$status"
fi

# Inside the private D-Bus session.
TMP=$2
SIM="$SIMCTL $TMP/simnet.sock"
MM_PID=
cleanup_inner() {
	if [ -n "$MM_PID" ]; then
		kill "$MM_PID" 2>/dev/null || true
		wait "$MM_PID" 2>/dev/null || true
	fi
}
trap cleanup_inner EXIT
trap 'exit 1' TERM INT

mm() { mmcli --test-session "$@"; }
fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok: $*"; }

# poll SECONDS COMMAND...: retries the command until it succeeds.
poll() {
	local deadline=$((SECONDS + $1)); shift
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.2
	done
}

# key VALUE-KEY OBJECT-ARGS...: one value of mmcli's key-value output.
key() {
	local k=$1; shift
	mm "$@" -K 2>/dev/null | sed -n "s/^$k *: //p" | head -1
}

ModemManager --test-session --test-enable --no-auto-scan --test-no-udev --debug \
	>"$TMP/mm.log" 2>&1 &
MM_PID=$!
echo "$MM_PID" >"$TMP/mm.pid"
poll 20 gdbus introspect --session -d org.freedesktop.ModemManager1 \
	-o /org/freedesktop/ModemManager1 || fail "ModemManager did not come up on D-Bus"

for vm in a b; do
	gdbus call --session -d org.freedesktop.ModemManager1 -o /org/freedesktop/ModemManager1 \
		-m org.freedesktop.ModemManager1.Test.SetProfile "vm-$vm" generic \
		"['$TMP/$vm.sock']" >/dev/null
done
two_modems() { [ "$(mm -L | grep -c 'Modem/')" = 2 ]; }
poll 30 two_modems || fail "ModemManager did not detect both virtual modems"

# Which modem is which VM: by primary port.
MA= MB=
for m in $(mm -L | grep -o 'Modem/[0-9]*' | cut -d/ -f2); do
	case "$(key modem.generic.primary-port -m "$m")" in
	"$TMP/a.sock") MA=$m ;;
	"$TMP/b.sock") MB=$m ;;
	esac
done
[ -n "$MA" ] && [ -n "$MB" ] || fail "cannot tell the two modems apart"
ok "both modems detected (A=$MA, B=$MB)"

for m in $MA $MB; do
	[ "$(key modem.generic.manufacturer -m "$m")" = pocketvm ] || fail "modem $m manufacturer"
	mm -m "$m" -e >/dev/null || fail "enabling modem $m"
done
registered() { [ "$(key modem.generic.state -m "$1")" = registered ]; }
poll 30 registered "$MA" || fail "A did not register"
poll 30 registered "$MB" || fail "B did not register"
[ "$(key 'modem.generic.own-numbers.value\[1\]' -m "$MA")" = "$NUM_A" ] || fail "A's own number"
[ "$(key 'modem.generic.own-numbers.value\[1\]' -m "$MB")" = "$NUM_B" ] || fail "B's own number"
[ "$(key modem.3gpp.operator-name -m "$MA")" = PocketNet ] || fail "A's operator name"
ok "enabled and registered on PocketNet with numbers $NUM_A and $NUM_B"

# --- A places a call; the network sees it from A's number.
call_path() { mm -m "$1" --voice-create-call="number=$2" | grep -o 'Call/[0-9]*' | cut -d/ -f2; }
call_state() { key call.properties.state -o "$1"; }
state_is() { [ "$(call_state "$1")" = "$2" ]; }
C=$(call_path "$MA" "$FAR")
mm -o "$C" --start >/dev/null || fail "starting A's call"
line=$($SIM wait 5000 MO-CALL "from=$NUM_A" "to=$FAR") || fail "network never saw A's call"
ID=$(echo "$line" | grep -o 'id=[0-9]*' | cut -d= -f2)
$SIM answer "$ID" >/dev/null
poll 15 state_is "$C" active || fail "A's call not active after the far end answered ($(call_state "$C"))"
mm -o "$C" --hangup >/dev/null || fail "hanging up A's call"
$SIM wait 5000 "CALL id=$ID released by=$NUM_A" >/dev/null || fail "network did not see A hang up"
ok "outgoing call from A: network saw caller $NUM_A, answered, hung up"

# --- B receives a call: ring, answer, hang up. A sees nothing of it.
incoming_call() {
	mm -m "$1" --voice-list-calls | grep incoming | grep -q 'ringing-in'
}
out=$($SIM call +15558888 "$NUM_B") || fail "simnet refused the call to B"
ID=$(echo "$out" | grep -o '[0-9]*$')
poll 15 incoming_call "$MB" || fail "B never saw the incoming call ring"
C=$(mm -m "$MB" --voice-list-calls | grep 'ringing-in' | grep -o 'Call/[0-9]*' | cut -d/ -f2)
[ "$(key call.properties.number -o "$C")" = +15558888 ] || fail "B's caller ID"
if mm -m "$MA" --voice-list-calls | grep -q incoming; then fail "A saw B's incoming call"; fi
mm -o "$C" --accept >/dev/null || fail "accepting on B"
$SIM wait 5000 "CALL id=$ID answered by=$NUM_B" >/dev/null || fail "network did not see B answer"
poll 10 state_is "$C" active || fail "B's call not active"
mm -o "$C" --hangup >/dev/null || fail "hanging up on B"
$SIM wait 5000 "CALL id=$ID released by=$NUM_B" >/dev/null || fail "network did not see B hang up"
ok "incoming call to B: rang with caller ID, answered, hung up; A saw nothing"

# --- A sends an SMS; the network receives it from A's number.
S=$(mm -m "$MA" --messaging-create-sms="text='Meeting at 10, room 4',number='$FAR'" |
	grep -o 'SMS/[0-9]*' | cut -d/ -f2)
mm -s "$S" --send >/dev/null || fail "sending A's SMS"
$SIM wait 5000 SMS "from=$NUM_A" "to=$FAR" 'text="Meeting at 10, room 4"' >/dev/null ||
	fail "network did not receive A's SMS"
ok "SMS from A reached the network from $NUM_A"

# --- A asks for a delivery report; ModemManager gets it (+CDS) and says so.
S=$(mm -m "$MA" --messaging-create-sms="text='report please',number='$FAR',delivery-report-request=yes" |
	grep -o 'SMS/[0-9]*' | cut -d/ -f2)
mm -s "$S" --send >/dev/null || fail "sending A's SMS with a report request"
$SIM wait 5000 SMS-STATUS-REPORT "to=$NUM_A" delivered >/dev/null || fail "no status report sent"
# ModemManager 1.20 shows a report as its own SMS object (pdu type
# status-report) carrying the message reference of the SMS it is about.
MR=$(key sms.properties.message-reference -s "$S")
report_for() {
	local s
	for s in $(mm -m "$MA" --messaging-list-sms | grep -o 'SMS/[0-9]*' | cut -d/ -f2); do
		[ "$(key sms.properties.pdu-type -s "$s")" = status-report ] || continue
		[ "$(key sms.properties.message-reference -s "$s")" = "$1" ] || continue
		[ "$(key sms.properties.delivery-state -s "$s")" = completed-received ] && return 0
	done
	return 1
}
[ -n "$MR" ] && [ "$MR" != -- ] || fail "A's SMS has no message reference"
poll 15 report_for "$MR" || { mm -m "$MA" --messaging-list-sms; fail "no delivery report for MR $MR"; }
ok "delivery report for A's SMS (MR $MR) reached A: completed-received"

# --- B receives a long (concatenated, UCS2) SMS; A gets nothing.
LONG="Привет из сети! $(printf 'ёжик %.0s' $(seq 20))конец."
$SIM sms +15557777 "$NUM_B" "$LONG" >/dev/null || fail "simnet refused the SMS to B"
has_sms() {
	local s
	for s in $(mm -m "$1" --messaging-list-sms | grep received | grep -o 'SMS/[0-9]*' | cut -d/ -f2); do
		# Human output: -K escapes non-ASCII text.
		[ "$(mm -s "$s" | sed -n 's/^.*| *text: //p')" = "$2" ] && return 0
	done
	return 1
}
# Received messages (pdu type deliver; A also holds a status report).
delivers() {
	local s n=0
	for s in $(mm -m "$1" --messaging-list-sms | grep -o 'SMS/[0-9]*' | cut -d/ -f2); do
		[ "$(key sms.properties.pdu-type -s "$s")" = deliver ] && n=$((n + 1))
	done
	echo "$n"
}
poll 20 has_sms "$MB" "$LONG" || fail "B did not receive the whole concatenated SMS"
[ "$(delivers "$MA")" = 0 ] || fail "A saw an SMS sent to B"
ok "concatenated UCS2 SMS reached B whole; A has none"

# --- USSD: each VM asks for its number and hears its own.
for pair in "$MA:$NUM_A" "$MB:$NUM_B"; do
	m=${pair%%:*} num=${pair#*:}
	reply=$(mm -m "$m" --3gpp-ussd-initiate='*#100#') || fail "USSD on modem $m"
	echo "$reply" | grep -q "Your number is $num" || fail "USSD reply on $m: $reply"
done
ok "USSD *#100# answered each VM with its own number"

# --- Isolation: a call between A and B on the same radio, and SMS A -> B.
S=$(mm -m "$MA" --messaging-create-sms="text='psst',number='$NUM_B'" |
	grep -o 'SMS/[0-9]*' | cut -d/ -f2)
mm -s "$S" --send >/dev/null || fail "sending A->B SMS"
poll 20 has_sms "$MB" psst || fail "B did not get A's SMS"
[ "$(delivers "$MB")" = 2 ] || fail "B's SMS count"
[ "$(delivers "$MA")" = 0 ] || fail "A received its own SMS"
ok "SMS A->B delivered to B only"
# --- One radio: while A talks, a call to B is busy (DSDS) and B sees nothing.
C=$(call_path "$MA" "$FAR")
mm -o "$C" --start >/dev/null || fail "starting A's second call"
line=$($SIM wait 5000 MO-CALL "from=$NUM_A") || fail "network never saw A's second call"
line=$($SIM calls | grep "line=$NUM_A") || fail "A's call leg"
ID=$(echo "$line" | grep -o 'id=[0-9]*' | cut -d= -f2)
$SIM answer "$ID" >/dev/null
poll 15 state_is "$C" active || fail "A's second call not active"
out=$($SIM call +15556666 "$NUM_B") || fail "simnet refused the call to B"
ID_B=$(echo "$out" | grep -o '[0-9]*$')
$SIM wait 5000 "CALL id=$ID_B rejected cause=busy" >/dev/null || fail "call to B not busy"
if mm -m "$MB" --voice-list-calls | grep -q 'ringing-in'; then fail "B rang during A's call"; fi
mm -o "$C" --hangup >/dev/null || fail "hanging up A's second call"
$SIM wait 5000 "CALL id=$ID released by=$NUM_A" >/dev/null || fail "network did not see A hang up"
ok "one radio: a call to B while A talks is rejected busy, B never rings"
echo "PASS: ModemManager interop (2 VMs)"
