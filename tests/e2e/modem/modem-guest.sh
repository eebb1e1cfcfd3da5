# SPDX-License-Identifier: Apache-2.0
#
# Phone scenario: pocketvm-modemd serves two virtual modems on one
# simulated radio; the work VM's modem is bridged by pocketvm-vmm into a
# Debian guest as the virtio-console port "modem". The guest dials out and
# receives an SMS; the personal VM's modem must see none of it.
set -u
./pocketvm-modemd --radio simnet:/tmp/simnet.sock \
	--vm personal,+15550001,/tmp/personal.modem \
	--vm work,+15550002,/tmp/work.modem --log-level warn &
mpid=$!
i=0
while [ ! -S /tmp/work.modem ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
# The personal VM's modem, set to report every call and SMS at once: it
# must answer its own commands and hear nothing of the work VM's traffic.
(printf 'ATE0\rAT+CNMI=2,2,0,0,0\rAT+CRC=1\rAT+CLIP=1\r'; sleep 120) |
	socat - UNIX-CONNECT:/tmp/personal.modem > /tmp/personal.out &
ppid=$!
# The network sends the work number an SMS once the guest is up.
( sleep 25; ./pocketvm-simctl /tmp/simnet.sock sms +15557777 +15550002 hello work VM ) \
	> /tmp/simctl-sms.out 2>&1 &
./pocketvm-vmm --kernel vmlinux --initrd initrd.cpio.gz --disk rootfs.ext4 \
	--cpus 1 --mem 256 --cmdline "console=ttyS0 root=/dev/vda quiet" --console stdio \
	--port name=modem,path=/tmp/work.modem < /dev/null
echo "SCENARIO: vmm exit $?"
echo "SCENARIO: simctl sms: $(cat /tmp/simctl-sms.out)"
./pocketvm-simctl /tmp/simnet.sock log 0 | sed 's/^/SCENARIO: network: /'
kill $ppid 2>/dev/null
echo "SCENARIO: personal modem said: $(tr -d '\r' < /tmp/personal.out | grep -v '^$' | tr '\n' ' ')"
kill $mpid
