#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# /etc/rc of the personal guest: says hello on its console, echoes one line
# it is sent through `pocketvm console`, and powers off.
mount -t proc proc /proc
echo "GUEST: personal VM up, root $(awk '$2 == "/" { print $1 }' /proc/mounts | tail -n1)"
# pocketvm-vmm feeds its console input to the virtio console when the guest has one.
in=/dev/console
[ -c /dev/hvc0 ] && in=/dev/hvc0
if read -t 60 line < $in; then
	echo "GUEST: got '$line'"
fi
poweroff -f
