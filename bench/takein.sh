#!/bin/bash
# Take-in of a `submit --batch` (issue 15, item 7), for one or two builds in
# one run: for each N, the same bench/gen.py tickets submitted once into a
# template store, then for each build
#   first-s   the first mount of a copy of it: every ticket taken in (s)
#   cpu-s     the daemon's CPU time (user + system) by then (s)
#   live-s    with the daemon running on an empty store, how long after
#             `submit --batch` of the N returns the agent sees all N (s)
# Nothing is deleted until the end: on ext4 without a journal every inode
# freed in the last minute slows each inode allocation (README, Design,
# "Take-in is batched"), which would bill one build for the last one's
# clean-up.
#
# Usage (root): bench/takein.sh [--live] N BIN [BIN2]   e.g.
#   bench/takein.sh --live 3000 /tmp/before/bin build/bin
set -eu
LIVE=0
[ "${1:-}" = --live ] && { LIVE=1; shift; }
N=${1:?usage: $0 [--live] N BIN [BIN2]}; shift
[ $# -ge 1 ] || { echo "usage: $0 [--live] N BIN [BIN2]" >&2; exit 2; }
cd "$(dirname "$0")/.."
U=61001
W=$(mktemp -d /var/tmp/ticketfs-takein.XXXXXX)
chmod 755 "$W"
trap 'for m in "$W"/*/mnt; do fusermount3 -u "$m" 2>/dev/null; done; rm -rf "$W"' EXIT
now() { date +%s%N; }
secs() { echo "scale=2; ($2 - $1) / 1000000000" | bc; }
python3 bench/gen.py "$N" > "$W/batch"
"$1/ticketctl" init "$W/tmpl" "$W/key" >/dev/null
echo "$U agent" >> "$W/tmpl/whitelist"
"$1/ticketctl" submit --batch "$W/tmpl" "$W/batch" >/dev/null
printf '%8s %-40s %8s %8s %8s\n' tickets build first-s cpu-s live-s
i=0
for BIN in "$@"; do
	i=$((i + 1))
	R=$W/r$i
	mkdir -p "$R/mnt"
	cp -a "$W/tmpl" "$R/store"
	cp "$W/key" "$R/key"	# its own checkpoint (KEY.checkpoint) and trail
	sync
	t0=$(now)
	"$BIN/ticketfs" "$R/store" "$R/mnt" -o key="$R/key" -f 2>/dev/null &
	pid=$!
	while ! mountpoint -q "$R/mnt"; do
		kill -0 $pid 2>/dev/null || { echo "$BIN/ticketfs failed" >&2; exit 1; }
		sleep 0.01
	done
	t1=$(now)
	cpu=$(awk '{ printf "%.2f", ($14 + $15) / 100 }' /proc/$pid/stat)
	fusermount3 -u "$R/mnt"
	wait $pid || true
	live=-
	if [ $LIVE = 1 ]; then
		L=$W/l$i
		mkdir -p "$L/mnt"
		"$BIN/ticketctl" init "$L/store" "$L/key" >/dev/null
		echo "$U agent" >> "$L/store/whitelist"
		"$BIN/ticketfs" "$L/store" "$L/mnt" -o key="$L/key" -f 2>/dev/null &
		pid=$!
		while ! mountpoint -q "$L/mnt"; do
			kill -0 $pid 2>/dev/null || { echo "$BIN/ticketfs failed" >&2; exit 1; }
			sleep 0.01
		done
		"$BIN/ticketctl" submit --batch "$L/store" "$W/batch" >/dev/null
		t2=$(now)
		while [ "$(setpriv --reuid=$U --regid=$U --clear-groups ls "$L/mnt/tickets" | wc -l)" -lt "$N" ]; do
			sleep 0.2	# each ls is a readdir the daemon serves
		done
		live=$(secs "$t2" "$(now)")
		fusermount3 -u "$L/mnt"
		wait $pid || true
	fi
	printf '%8d %-40s %8s %8s %8s\n' "$N" "$BIN" "$(secs "$t0" "$t1")" "$cpu" "$live"
done
