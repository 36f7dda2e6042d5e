#!/bin/bash
# How ticketfs grows with the number of tickets (issue 5, "Scale"): for
# each N, the same synthetic tickets as bench/run.sh, then
#   submit     ticketctl submit --batch, tickets a second
#   intake     the first mount, which takes all N in from intake/ (s)
#   cold       a remount with the page cache dropped (s): the snapshot
#              saved at the last unmount is what it reads
#   nosnap     the same without the snapshot: every record file read (s)
#   warm       a remount at once (s)
#   rss        the daemon's RSS after `find` over the whole mount (MB)
#   find       that find, cold (s)
#
# Usage (root): bench/scale.sh [N...]      default: 1000 10000 100000
set -eu
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- 1000 10000 100000
U=61001
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DTS_BENCH=ON -DBUILD_TESTING=OFF >/dev/null
cmake --build build-bench -j"$(nproc)" >/dev/null
BIN=$(pwd)/build-bench/bin
W=$(mktemp -d /var/tmp/ticketfs-scale.XXXXXX)
chmod 755 "$W"
cleanup() {
	mountpoint -q "$W/mnt" 2>/dev/null && fusermount3 -u "$W/mnt"
	rm -rf "$W"
}
trap cleanup EXIT
mkdir "$W/mnt"
as() { setpriv --reuid=$U --regid=$U --clear-groups "$@"; }
now() { date +%s%N; }
secs() { echo "scale=3; ($2 - $1) / 1000000000" | bc; }
mnt() { "$BIN/ticketfs" "$W/store" "$W/mnt" -o key="$W/key"; }
umnt() {	# unmounts and waits for the daemon to exit (it saves the snapshot)
	local pid
	pid=$(pgrep -nf "ticketfs $W/store" || true)
	fusermount3 -u "$W/mnt"
	while [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
}
printf '%8s %10s %9s %9s %9s %9s %9s %9s\n' tickets submit/s intake-s cold-s nosnap-s warm-s find-s rss-MB
for N in "$@"; do
	rm -rf "$W/store" "$W/key"
	python3 bench/gen.py "$N" > "$W/batch"
	"$BIN/ticketctl" init "$W/store" "$W/key" >/dev/null
	echo "$U agent" >> "$W/store/whitelist"
	t0=$(now); "$BIN/ticketctl" submit --batch "$W/store" "$W/batch" >/dev/null; t1=$(now)
	rm "$W/batch"	# 100,000 tickets: 3.3 GB
	rate=$(echo "$N * 1000000000 / ($t1 - $t0)" | bc)
	t0=$(now); mnt; t1=$(now); intake=$(secs $t0 $t1); umnt
	sync; echo 3 > /proc/sys/vm/drop_caches
	t0=$(now); mnt; t1=$(now); cold=$(secs $t0 $t1)
	t0=$(now); as find "$W/mnt/tickets" -type f | wc -l >/dev/null; t1=$(now); find=$(secs $t0 $t1)
	pid=$(pgrep -nf "ticketfs $W/store")
	rss=$(( $(awk '/^VmRSS:/ { print $2 }' /proc/$pid/status) / 1024 ))
	umnt
	t0=$(now); mnt; t1=$(now); warm=$(secs $t0 $t1); umnt
	mv "$W/store/index.snap" "$W/snap.keep"
	sync; echo 3 > /proc/sys/vm/drop_caches
	t0=$(now); mnt; t1=$(now); nosnap=$(secs $t0 $t1); umnt
	printf '%8d %10d %9s %9s %9s %9s %9s %9d\n' "$N" "$rate" "$intake" "$cold" "$nosnap" "$warm" "$find" "$rss"
done
