#!/bin/bash
# Warm `grep -r` and `tar cf -` on ticketfs against the FUSE floor
# (bench/floor.c) serving the identical plaintext tree, in one run, with
# the kernel requests ticketfs served in each warm pass (from its counters,
# `ticketctl stats --json`).  A quick check of issue 15 item 9 (status
# cached by the kernel) without bench/run.sh's full run.
#
# Usage (root): bench/warm.sh [N] [ROUNDS] [BIN_DIR]
#   N tickets (default 2000), ROUNDS alternating warm rounds (default 3;
#   medians printed), BIN_DIR the build's bin/ (default: build-bench,
#   configured and built here).
set -eu
cd "$(dirname "$0")/.."
N=${1:-2000}
ROUNDS=${2:-3}
BIN=${3:-}
U=61001		# an agent of ticketfs, as in bench/run.sh
if [ -z "$BIN" ]; then
	cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DTS_BENCH=ON -DBUILD_TESTING=OFF >/dev/null
	cmake --build build-bench -j2 >/dev/null
	BIN=$(pwd)/build-bench/bin
fi
BIN=$(cd "$BIN" && pwd)
W=$(mktemp -d /var/tmp/ticketfs-warm.XXXXXX)
chmod 755 "$W"
cleanup() {
	for m in tfs floor; do
		mountpoint -q "$W/$m" 2>/dev/null && { fusermount3 -u "$W/$m" 2>/dev/null || umount -l "$W/$m"; }
	done
	rm -rf "$W"
}
trap cleanup EXIT
mkdir -p "$W"/{tfs,floor,plain}
as() { setpriv --reuid=$U --regid=$U --clear-groups "$@"; }
secs() { local t0 t1; t0=$(date +%s%N); "$@" >/dev/null 2>&1 || true; t1=$(date +%s%N); echo "scale=3; ($t1 - $t0) / 1000000000" | bc; }
# The daemon's requests served so far (its counters are published once a
# second: wait for a value newer than the pass).
requests() {
	sleep 1.2
	"$BIN/ticketctl" stats "$W/store" --json | python3 -c \
		'import json,sys; print(json.load(sys.stdin)["daemon"]["requests"])'
}
median() { tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

python3 bench/gen.py "$N" > "$W/batch"
"$BIN/ticketctl" init "$W/store" "$W/key" >/dev/null
echo "$U agent" >> "$W/store/whitelist"
"$BIN/ticketctl" submit --batch "$W/store" "$W/batch" > "$W/ids"
"$BIN/ticketfs" "$W/store" "$W/tfs" -o key="$W/key"
# One message a ticket, through the mount, as bench/run.sh does.
sed "s|.*|printf 'reply: we are looking into it.\\\\n' > $W/tfs/tickets/&/messages/m1|" "$W/ids" > "$W/msgs.sh"
as sh "$W/msgs.sh"
chown $U "$W/plain"
as cp -r "$W/tfs/tickets" "$W/plain/"
chmod -R u=rwX,go=rX "$W/plain"
"$BIN/ticketfs-floor" "$W/plain" "$W/floor"
FILES=$(find "$W/plain" -type f | wc -l)
declare -A T
for w in grep tar; do
	case $w in
	grep) cmd='grep -r zzzznomatch .' ;;
	tar) cmd='tar cf - . | cat >/dev/null' ;;
	esac
	# One pass each to warm them up (the first pass after the copy-out
	# is not warm for ticketfs: its atimes are stale, README Benchmark).
	for fs in floor tfs; do secs as sh -c "cd '$W/$fs/tickets' && $cmd" >/dev/null; done
	for ((r = 1; r <= ROUNDS; r++)); do
		for fs in floor tfs; do
			[ $fs = tfs ] && q0=$(requests)
			T[$fs,$w]+="$(secs as sh -c "cd '$W/$fs/tickets' && $cmd") "
			[ $fs = tfs ] && T[req,$w]+="$(( $(requests) - q0 )) "
		done
	done
done
printf '%d tickets, %d files; warm, %d rounds alternating, medians (all rounds)\n' "$N" "$FILES" "$ROUNDS"
for w in grep tar; do
	f=$(echo "${T[floor,$w]}" | median); t=$(echo "${T[tfs,$w]}" | median)
	q=$(echo "${T[req,$w]}" | median)
	printf '%-5s floor %7.3f s  ticketfs %7.3f s  ratio %5.2f  ticketfs requests/pass %d (%.1f a ticket)   [floor: %s| tfs: %s| req: %s]\n' \
		"$w" "$f" "$t" "$(echo "scale=3; $t / $f" | bc)" "$q" "$(echo "scale=2; $q / $N" | bc)" \
		"${T[floor,$w]}" "${T[tfs,$w]}" "${T[req,$w]}"
done
