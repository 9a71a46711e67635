#!/usr/bin/env bash
# Reference solution of lab 6.
# ANCHOR: all
set -euo pipefail
# ANCHOR: bridge
pier run -d --name lab6-bridge busybox sleep 3600
pier exec lab6-bridge ip -4 addr show eth0
pier exec lab6-bridge ip route
# ANCHOR_END: bridge
ip=$(pier exec lab6-bridge ip -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1)
pier lab answer 6 ip "$ip"
# ANCHOR: veth
# eth0@ifN: N is the index of the host's end of the pair.
peer=$(pier exec lab6-bridge ip -o link show eth0 | awk '{print $2}' | sed 's/.*@if//; s/:$//')
veth=$(ip -o link | awk -F': ' -v n="$peer" '$1 == n {print $2}' | cut -d@ -f1)
pier lab answer 6 veth "$veth"
# ANCHOR_END: veth
# ANCHOR: host
pier run -d --name lab6-host --network host busybox sleep 3600
pier exec lab6-host ip -4 addr show
# ANCHOR_END: host
# ANCHOR: usernet
pier network create lab6-net
pier run -d --name lab6-peer --network lab6-net busybox sleep 3600
pier exec lab6-peer ip -4 addr show eth0
# ANCHOR_END: usernet
# ANCHOR: measure-bridge
pier exec lab6-bridge sh -c 'mkdir -p /www && dd if=/dev/zero of=/www/big bs=1M count=100 2>/dev/null && httpd -p 80 -h /www'
pier run --rm --network host busybox sh -c "time wget -q -O /dev/null http://$ip/big" 2>&1 | tee /tmp/lab6-bridge.$$
# ANCHOR_END: measure-bridge
# ANCHOR: measure-host
pier exec lab6-host sh -c 'mkdir -p /www && dd if=/dev/zero of=/www/big bs=1M count=100 2>/dev/null && httpd -p 8086 -h /www'
pier run --rm --network host busybox sh -c 'time wget -q -O /dev/null http://127.0.0.1:8086/big' 2>&1 | tee /tmp/lab6-host.$$
# ANCHOR_END: measure-host
# busybox time prints "real	0m 0.21s": MB/s = 100 / seconds.
rate() { awk '/^real/ { split($2, m, "m"); s = m[1] * 60 + substr($3, 1, length($3) - 1); if (s < 0.001) s = 0.001; printf "%.0f\n", 100 / s }' "$1"; }
pier lab answer 6 bridge-mbps "$(rate /tmp/lab6-bridge.$$)"
pier lab answer 6 host-mbps "$(rate /tmp/lab6-host.$$)"
rm -f /tmp/lab6-bridge.$$ /tmp/lab6-host.$$
pier lab check 6
# ANCHOR_END: all
