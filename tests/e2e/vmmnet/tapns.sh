# SPDX-License-Identifier: Apache-2.0
# Runs in the phone under `unshare -n`: the tap network's own namespace.
# VM A (tap, CID 3) is started here so its tap0 is created in this
# namespace, which holds the TCP echo server at 10.10.0.1:7 and nothing else.
ip link set lo up
# stdin is a pipe: the stdio console watches it (epoll refuses /dev/null).
sleep 100000 | pocketvm-jail --host-net --pid-file /run/vmA.pid --env ASAN_OPTIONS=detect_leaks=0 -- \
	/pocketvm/pocketvm-vmm --kernel /pocketvm/vmlinux --initrd /pocketvm/guest.cpio.gz \
	--cmdline "console=ttyS0 quiet name=A role=tap other_cid=4" --mem 256 \
	--console stdio --net tap:name=tap0,mac=52:54:00:00:00:0a --disk /tmp/vmA.img \
	--vsock 3,/run/vmA/v.sock --balloon-control /run/vmA/balloon --jail \
	> /tmp/vmA.log 2>&1 &
for i in $(seq 900); do
	ip link show tap0 >/dev/null 2>&1 && break
	sleep 0.1
done
ip addr add 10.10.0.1/24 dev tap0
ip link set tap0 up
pvm-nettool tcp-echo 10.10.0.1 7 tap-echo &
wait
