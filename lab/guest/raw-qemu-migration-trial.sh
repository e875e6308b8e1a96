#!/usr/bin/env bash
# Reproduces docs/lab-guest-crash.md without libvirt. Needs a lab image (npm run lab -- up) and socat.
# Usage: [IMG=dir with vmlinuz and initrd.img] [QEMU=/path/to/qemu-system-x86_64] [BW=40M] [DIRTY=8] [ACCEL="-accel tcg,thread=single"] lab/guest/raw-qemu-migration-trial.sh NAME
# One raw-QEMU trial: plain qemu-system-x86_64 (TCG), no libvirt; multi-pass pre-copy at 40 MiB/s.
# $1 = trial name, $2 = extra qemu args
set -u
name=$1; extra=${2:-}
img=${IMG:-/var/tmp/virt-balancer-lab/images}
cmd="console=ttyS0 quiet panic=0 mitigations=off vb.cpu=10 vb.mem=64 vb.dirty=${DIRTY:-8}"
rm -f $name-src.log $name-dst.log $name-src.sock $name-dst.sock
"${QEMU:-qemu-system-x86_64}" -machine pc ${ACCEL:--accel tcg} -m 256 -smp 1 $extra -kernel $img/vmlinuz -initrd $img/initrd.img -append "$cmd" \
  -display none -serial file:$name-src.log -monitor unix:$name-src.sock,server,nowait -daemonize -pidfile $name-src.pid
"${QEMU:-qemu-system-x86_64}" -machine pc ${ACCEL:--accel tcg} -m 256 -smp 1 $extra -kernel $img/vmlinuz -initrd $img/initrd.img -append "$cmd" \
  -display none -serial file:$name-dst.log -monitor unix:$name-dst.sock,server,nowait -incoming tcp:127.0.7.50:4444 -daemonize -pidfile $name-dst.pid
for i in $(seq 1 40); do grep -q "VB-HEARTBEAT seq=3" $name-src.log 2>/dev/null && break; sleep 0.5; done
hmp() { echo "$2" | socat - UNIX-CONNECT:$1 >/dev/null; }
hmp $name-src.sock "migrate_set_parameter max-bandwidth ${BW:-40M}"
t0=$(date +%s.%N)
hmp $name-src.sock "migrate -d tcp:127.0.7.50:4444"
for i in $(seq 1 120); do
  st=$(echo "info migrate" | socat - UNIX-CONNECT:$name-src.sock | grep -o "Migration status: [a-z-]*" | awk '{print $3}')
  [ "$st" = completed ] || [ "$st" = failed ] && break
  sleep 0.5
done
info=$(echo "info migrate" | socat - UNIX-CONNECT:$name-src.sock | grep -E "total time|downtime|transferred ram|dirty sync count" | tr -d '\r' | tr '\n' ' ')
sleep 12
hb=$(grep -c VB-HEARTBEAT $name-dst.log)
panic=$(grep -cE "Kernel panic|BUG: |Oops|general protection" $name-dst.log)
last=$(grep VB-HEARTBEAT $name-dst.log | tail -1 | cut -c1-60)
echo "$name qemu=$("${QEMU:-qemu-system-x86_64}" --version | head -n1 | awk '{print $4}') status=$st load=$(cut -d' ' -f1 /proc/loadavg) heartbeats_on_dst=$hb panics=$panic last='$last' $info"
kill $(cat $name-src.pid) $(cat $name-dst.pid) 2>/dev/null
