#!/bin/bash
# What per-ticket keys cost: cold `grep -r` over N tickets (default 1000)
# as an agent, with this tree's daemon (every value sealed for its
# ticket's own key, one key file a ticket) and with the daemon of REV
# (default 03bdcc2, the last before per-ticket keys: every value sealed
# for the store's key), each over a store its own ticketctl filled with
# the same tickets; alternating, R rounds (default 5), kernel caches
# dropped and remounted each round.  Prints the medians of the wall time
# and of the daemon's CPU time (utime + stime, steadier on a shared
# machine) and their ratios.  Run as root: bench/shred.sh [N] [R] [REV]
set -eu
cd "$(dirname "$0")/.."
N=${1:-1000}
R=${2:-5}
REV=${3:-03bdcc2}
AGENT=61001
W=$(mktemp -d /tmp/ticketfs-bench.XXXXXX)
cleanup() {
	for m in new old; do fusermount3 -u "$W/mnt-$m" 2>/dev/null || true; done
	git worktree remove --force "$W/src-old" 2>/dev/null || true
	rm -rf "$W"
}
trap cleanup EXIT
chmod 755 "$W"
mkdir -p "$W/mnt-new" "$W/mnt-old"
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DTS_BENCH=ON -DBUILD_TESTING=OFF >/dev/null
cmake --build build-bench -j"$(nproc)" >/dev/null
git worktree add -q --detach "$W/src-old" "$REV"
cmake -S "$W/src-old" -B "$W/build-old" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
cmake --build "$W/build-old" -j"$(nproc)" >/dev/null
declare -A BIN=([new]=$(pwd)/build-bench/bin [old]=$W/build-old/bin)
python3 - "$N" > "$W/batch" <<'PY'
import json, sys
for i in range(int(sys.argv[1])):
    print(json.dumps({"username": "user%d" % i, "subject": "subject %d" % i,
        "description": "line of text %d " % i * 40, "email": "u%d@example.com" % i,
        "mobile": "+86 138 %08d" % i, "confidential": "card 6222 %012d" % i,
        "authorizations": [{"account": "acc%d" % i, "password": "pw%d" % i,
            "resource": "ecs-%d" % i, "expires": "2099-01-01T00:00:00Z"}]}))
PY
for v in new old; do
	"${BIN[$v]}/ticketctl" init "$W/store-$v" "$W/key-$v" >/dev/null
	echo "$AGENT agent" >> "$W/store-$v/whitelist"
	"${BIN[$v]}/ticketctl" submit --batch "$W/store-$v" "$W/batch" >/dev/null
	# Take the intake in once: the rounds measure reading, not intake.
	"${BIN[$v]}/ticketfs" "$W/store-$v" "$W/mnt-$v" -o key="$W/key-$v"
	fusermount3 -u "$W/mnt-$v"
done

run() {	# run new|old -> "wall-seconds cpu-seconds" of one cold grep -r
	local v=$1 pid t0 t1 cpu
	"${BIN[$v]}/ticketfs" "$W/store-$v" "$W/mnt-$v" -o key="$W/key-$v"
	pid=$(pgrep -n -f -- "ticketfs $W/store-$v ")
	sync; echo 3 > /proc/sys/vm/drop_caches
	cpu=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
	t0=$(date +%s.%N)
	setpriv --reuid=$AGENT --regid=$AGENT --clear-groups grep -r nomatch "$W/mnt-$v/tickets" >/dev/null || true
	t1=$(date +%s.%N)
	cpu=$(( $(awk '{ print $14 + $15 }' "/proc/$pid/stat") - cpu ))
	fusermount3 -u "$W/mnt-$v"
	while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
	echo "$(echo "$t1 - $t0" | bc -l) $(echo "$cpu / $(getconf CLK_TCK)" | bc -l)"
}
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

: > "$W/new"; : > "$W/old"
for r in $(seq "$R"); do
	run new >> "$W/new"
	run old >> "$W/old"
done
echo "cold grep -r over $N tickets (~$(( N * 9 )) sealed files), $R rounds, medians:"
printf '%-12s %14s %14s %8s\n' "" "per-ticket" "$REV" ratio
for col in 1 2; do
	a=$(cut -d' ' -f$col "$W/new" | median); b=$(cut -d' ' -f$col "$W/old" | median)
	printf '%-12s %13.3fs %13.3fs %8.3f\n' "$([ $col = 1 ] && echo wall || echo daemon-cpu)" \
		"$a" "$b" "$(echo "$a / $b" | bc -l)"
done
echo "key files: $(ls "$W/store-new/keys" | wc -l), $(du -sh "$W/store-new/keys" | cut -f1)"
