#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# /etc/rc of the modem e2e guest: finds the virtio-console port named
# "modem", talks AT to the virtual modem behind it as a telephony stack
# would, and prints the conversation between GUEST-MODEM lines for the host
# to check. Then powers off.
mount -t proc proc /proc
mount -t sysfs sys /sys
port=""
for d in /sys/class/virtio-ports/*; do
	[ "$(cat "$d/name" 2>/dev/null)" = modem ] && port=/dev/${d##*/}
done
if [ -z "$port" ]; then
	echo "GUEST: no console port named modem"
	poweroff -f
fi
echo "GUEST: modem port $port"
# A console port opens once at a time: one fd for both directions.
exec 3<>"$port"
cat <&3 > /tmp/modem.out &
reader=$!
at() {
	printf '%s\r' "$1" >&3
	sleep 1
}
at "ATE0"
at "AT+CMEE=1"
at "AT+CNUM"
at "AT+CREG?"
at "AT+CMGF=1"
at "AT+CNMI=2,2,0,0,0"
# A call out: the network must see this VM's number as the caller.
at "ATD+15559999;"
at "AT+CLCC"
at "ATH"
# The host sends an SMS to this VM's number meanwhile; wait for it.
i=0
while ! grep -q "+CMT:" /tmp/modem.out && [ $i -lt 20 ]; do
	sleep 1
	i=$((i + 1))
done
kill $reader
echo "GUEST-MODEM-BEGIN"
tr -d '\r' < /tmp/modem.out | grep -v '^$'
echo "GUEST-MODEM-END"
poweroff -f
