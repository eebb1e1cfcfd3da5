# SPDX-License-Identifier: Apache-2.0
# Scenario (inside the phone): two jailed Debian guests at once. A is on a
# tap in a network namespace of its own with a TCP echo server; B is on
# passt reaching a phone-side service; both talk to host programs over
# vsock and neither reaches the other's vsock or network. Then the jail is
# inspected, a third VMM dies of SIGSYS while A and B keep running, and A's
# balloon is inflated while the phone's memory is measured.
set -u
# pivot_root (passt's sandbox and our jail) refuses an initramfs root, and a
# chrooted process may not make user namespaces (passt does): in a mount
# namespace of our own, move a bind mount of the root over "/" and enter it,
# as switch_root does. Then the root is an ordinary mount.
if [ ! -e /.pvm-root ]; then
	exec unshare -m sh -c 'mount --make-rprivate / && mkdir -p /newroot &&
		mount --rbind / /newroot && touch /newroot/.pvm-root && cd /newroot &&
		mount --move . / && exec chroot . /bin/sh -c \
		"cd /pocketvm && PATH=$PATH exec sh /pocketvm/scenario.sh"'
fi
# passt drops to nobody when started as root: it looks the user up, and its
# socket directory must allow that user.
echo 'nobody:x:65534:65534:nobody:/:/bin/false' >> /etc/passwd
echo 'nogroup:x:65534:' >> /etc/group
mkdir -p /run/passt && chmod 777 /run/passt
passt -f -s /run/passt/sock > /tmp/passt.log 2>&1 &
logs() { for v in A B; do echo "--- VM $v log"; cat /tmp/vm$v.log; done; echo "--- passt";
	grep -v 'Failed to send' /tmp/passt.log; }
fail() { echo "FAIL: $*"; logs; exit 1; }
wait_for() { # FILE TEXT SECONDS
	for i in $(seq $(($3 * 10))); do
		grep -qF -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
mem_used_kib() { awk '/^MemTotal/ {t=$2} /^MemAvailable/ {a=$2} END {print t - a}' /proc/meminfo; }
rss_kib() { awk '/^VmRSS/ {print $2}' /proc/$1/status; }

insmod /pocketvm/tun.ko 2>/dev/null
mkdir -p /run/vmA /run/vmB
# The jailed VMMs run as nobody: host-side sockets must be connectable by it.
umask 000
pvm-nettool host-listen /run/vmA/v.sock_1234 host-A &
pvm-nettool host-listen /run/vmB/v.sock_1234 host-B &
pvm-nettool tcp-echo 127.0.0.1 8080 phone-svc &
umask 022
# A sparse 200 MiB disk: reading it fills most of A's 256 MiB with page
# cache the VMM wrote (resident on the phone), so the balloon must take back
# memory the phone really holds. Free page reporting has already returned
# A's other free pages by then, so they cannot count for the balloon.
truncate -s 200M /tmp/vmA.img

unshare -n sh /pocketvm/tapns.sh &
for i in $(seq 50); do [ -S /run/passt/sock ] && break; sleep 0.1; done
[ -S /run/passt/sock ] || { cat /tmp/passt.log; fail "passt did not start"; }
sleep 100000 | pocketvm-jail --pid-file /run/vmB.pid --env ASAN_OPTIONS=detect_leaks=0 -- \
	/pocketvm/pocketvm-vmm --kernel /pocketvm/vmlinux --initrd /pocketvm/guest.cpio.gz \
	--cmdline "console=ttyS0 quiet name=B role=passt other_cid=3" --mem 128 \
	--console stdio --net passt:/run/passt/sock,mac=52:54:00:00:00:0b \
	--vsock 4,/run/vmB/v.sock --jail > /tmp/vmB.log 2>&1 &

wait_for /tmp/vmA.log "guest-A: ready" 400 || fail "VM A did not get ready"
wait_for /tmp/vmB.log "guest-B: ready" 240 || fail "VM B did not get ready"
logs
A=$(cat /run/vmA.pid) B=$(cat /run/vmB.pid)

echo "--- host programs connect to the guests"
echo "host->A: $(pvm-nettool host-connect /run/vmA/v.sock 5000 ping 2>&1)"
echo "host->B: $(pvm-nettool host-connect /run/vmB/v.sock 5000 ping 2>&1)"

echo "--- the jail"
for p in $A $B; do
	echo "vmm $p: $(grep -E '^(Uid|NoNewPrivs|Seccomp|CapEff|CapBnd):' /proc/$p/status |
		tr -s '\t ' ' ' | tr '\n' ' ')"
	for t in /proc/$p/task/*; do
		echo "vmm $p thread $(cat $t/comm): seccomp $(awk '/^Seccomp:/ {print $2}' $t/status)"
	done
	for n in mnt pid net ipc uts; do
		[ "$(readlink /proc/$p/ns/$n)" != "$(readlink /proc/self/ns/$n)" ] &&
			echo "vmm $p: own $n namespace"
	done
	echo "vmm $p: root has $(ls -A /proc/$p/root | wc -l) entries"
done

echo "--- a VMM breaking its allowlist"
pvm-nettool tiny-kernel /tmp/tiny.elf
pocketvm-jail --env ASAN_OPTIONS=detect_leaks=0 -- /pocketvm/pocketvm-vmm \
	--kernel /tmp/tiny.elf --mem 32 --console none --no-rng --jail --jail-selftest \
	> /tmp/vmC.log 2>&1
echo "selftest VMM exit status: $?"
kill -0 $A && kill -0 $B && echo "A and B still running"
echo "host->A again: $(pvm-nettool host-connect /run/vmA/v.sock 5000 again 2>&1)"

echo "--- balloon"
wait_for /tmp/vmA.log "guest-A: read the disk" 120 || fail "guest A did not read its disk"
sleep 1
# 180 MiB of A's 256: the guest must give up the page cache it filled.
used0=$(mem_used_kib) rss0=$(rss_kib $A)
echo "VM A resident before inflating: $((rss0 / 1024)) MiB"
echo "balloon: $(pvm-nettool unix-send /run/vmA/balloon 'size 180')"
for i in $(seq 240); do
	st=$(pvm-nettool unix-send /run/vmA/balloon stats)
	case "$st" in *" actual_kib=184320 "*) break ;; esac
	sleep 0.5
done
used1=$(mem_used_kib) rss1=$(rss_kib $A)
echo "balloon stats: $st"
echo "phone used memory: ${used0} KiB before, ${used1} KiB after inflating 180 MiB"
echo "VM A resident: ${rss0} KiB before, ${rss1} KiB after"
echo "phone used memory dropped by $(( (used0 - used1) / 1024 )) MiB"
echo "VM A resident memory dropped by $(( (rss0 - rss1) / 1024 )) MiB"
echo "VM A resident with the balloon inflated: $((rss1 / 1024)) MiB"
echo "--- free page reporting"
echo "balloon: $(pvm-nettool unix-send /run/vmA/balloon 'size 0')"
for i in $(seq 60); do
	case "$(pvm-nettool unix-send /run/vmA/balloon stats)" in *" actual_kib=0 "*) break ;; esac
	sleep 0.5
done
umask 000
pvm-nettool host-listen /run/vmA/v.sock_1236 go &
umask 022
wait_for /tmp/vmA.log "guest-A: filled 120 MiB" 120 || fail "guest A did not fill its memory"
rss2=$(rss_kib $A)
wait_for /tmp/vmA.log "guest-A: freed 120 MiB" 60 || fail "guest A did not free its memory"
sleep 10
rss3=$(rss_kib $A)
echo "reporting stats: $(pvm-nettool unix-send /run/vmA/balloon stats)"
echo "VM A resident: ${rss2} KiB with 120 MiB filled, ${rss3} KiB 10 s after the guest freed it"
echo "free page reporting gave back $(( (rss2 - rss3) / 1024 )) MiB"
kill -9 $A $B 2>/dev/null
echo "scenario done"
