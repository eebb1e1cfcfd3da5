#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# /etc/rc of the benchmark guest: reports when init started (guest uptime),
# measures virtio-blk with blkbench (the scratch disk /dev/vdb if there is one), then resets (both VMMs end on a reset).
mount -t proc proc /proc
read up idle < /proc/uptime
echo "BENCH: init uptime $up"
# A second disk is a scratch disk (bench/vmm/phone-bench.sh, encrypted vs
# raw): written, then read back. Otherwise the root disk is only read.
if [ -b /dev/vdb ]; then
	/bin/blkbench /dev/vdb 3 write
else
	/bin/blkbench /dev/vda 3
fi
echo "BENCH: done"
reboot -f
