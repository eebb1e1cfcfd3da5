#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# /etc/rc of the benchmark guest: reports when init started (guest uptime),
# measures virtio-blk with blkbench, then resets (both VMMs end on a reset).
mount -t proc proc /proc
read up idle < /proc/uptime
echo "BENCH: init uptime $up"
/bin/blkbench /dev/vda 3
echo "BENCH: done"
reboot -f
