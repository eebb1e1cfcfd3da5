#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# /etc/rc of the guests pocketvmd runs in the device scenarios and the demo:
# counts its boots on its own (encrypted, for a work VM) disk, says hello on
# the console and returns; busybox init then offers a shell on the console
# (press Enter), which `pocketvm console NAME` reaches.
mount -t proc proc /proc
mount -t sysfs sys /sys
hostname "$(cat /etc/vmname)"
n=$(cat /var/boots 2>/dev/null || echo 0)
n=$((n + 1))
mkdir -p /var && echo "$n" >/var/boots && sync
echo "GUEST: $(hostname) up, root $(awk '$2 == "/" { print $1 }' /proc/mounts | tail -n1)," \
	"boot $n of this disk"
