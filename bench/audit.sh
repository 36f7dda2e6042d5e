#!/bin/bash
# What the audit trail costs: `grep -r` over N tickets (default 3000) as an
# agent, with the daemon and with the same daemon built without auditing
# (ticketfs-noaudit, -DTS_BENCH=ON), alternating, R rounds (default 5),
# cold (kernel caches dropped, remounted) and warm.  Prints medians and the
# ratio.  Run as root: bench/audit.sh [N] [R]
set -eu
cd "$(dirname "$0")/.."
N=${1:-3000}
R=${2:-5}
AGENT=61001
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DTS_BENCH=ON -DBUILD_TESTING=OFF >/dev/null
cmake --build build-bench -j"$(nproc)" >/dev/null
BIN=$(pwd)/build-bench/bin
W=$(mktemp -d /tmp/ticketfs-bench.XXXXXX)
trap 'fusermount3 -u "$W/mnt" 2>/dev/null; rm -rf "$W"' EXIT
mkdir -p "$W/mnt"; chmod 755 "$W"
"$BIN/ticketctl" init "$W/store" "$W/key" >/dev/null
echo "$AGENT agent" >> "$W/store/whitelist"
python3 - "$N" > "$W/batch" <<'PY'
import json, sys
for i in range(int(sys.argv[1])):
    print(json.dumps({"username": "user%d" % i, "subject": "subject %d" % i,
        "description": "line of text %d " % i * 40, "email": "u%d@example.com" % i,
        "mobile": "+86 138 %08d" % i, "confidential": "card 6222 %012d" % i,
        "authorizations": [{"account": "acc%d" % i, "password": "pw%d" % i,
            "resource": "ecs-%d" % i, "expires": "2099-01-01T00:00:00Z"}]}))
PY
"$BIN/ticketctl" submit --batch "$W/store" "$W/batch" >/dev/null
# Take the intake in once, so both variants start from the same store.
"$BIN/ticketfs" "$W/store" "$W/mnt" -o key="$W/key"; fusermount3 -u "$W/mnt"

run() {	# run DAEMON cold|warm -> seconds of one grep -r
	"$BIN/$1" "$W/store" "$W/mnt" -o key="$W/key"
	if [ "$2" = warm ]; then
		setpriv --reuid=$AGENT --regid=$AGENT --clear-groups grep -r -q nomatch "$W/mnt/tickets" || true
	else
		sync; echo 3 > /proc/sys/vm/drop_caches
	fi
	local t0 t1
	t0=$(date +%s.%N)
	setpriv --reuid=$AGENT --regid=$AGENT --clear-groups grep -r nomatch "$W/mnt/tickets" >/dev/null || true
	t1=$(date +%s.%N)
	fusermount3 -u "$W/mnt"
	echo "$t1 - $t0" | bc -l
}
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

files=$(( N * 9 ))
echo "grep -r over $N tickets (~$files sealed files), $R rounds, medians:"
printf '%-6s %12s %12s %8s\n' mode audited no-audit ratio
for mode in cold warm; do
	: > "$W/a"; : > "$W/b"
	for r in $(seq "$R"); do
		run ticketfs "$mode" >> "$W/a"
		run ticketfs-noaudit "$mode" >> "$W/b"
	done
	a=$(median < "$W/a"); b=$(median < "$W/b")
	printf '%-6s %11.3fs %11.3fs %8.3f\n' "$mode" "$a" "$b" "$(echo "$a / $b" | bc -l)"
done
echo "audit trail: $(cat "$W"/store/audit/*.log | wc -l) entries, $(du -sh "$W/store/audit" | cut -f1)"
