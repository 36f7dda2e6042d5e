#!/bin/bash
# Warm reads on a PostgreSQL store against the directory store, for two
# builds in one run (issue 14's "warm grep -r / tar within 1.2x"): the
# same N tickets in a directory store and in a PostgreSQL store (a
# private cluster, fsync on), each build's daemon mounted on each in
# turn, ROUNDS rounds; in each, grep -r and tar cf - once to warm the
# caches, then timed; then ts-lat open (open+read+close of every email,
# 3 times).  Prints each build's medians and the PostgreSQL/directory
# ratio measured in the same round, and for the PostgreSQL store the
# statements its daemon sent during the timed grep and tar (ticketctl
# stats's db_statements; "-" for a build that does not publish them) and
# the CPU of each daemon and of the database during the timed tar (from
# /proc).  Each build has a
# database of its own, made by its ticketctl.
#
# Usage (root): bench/pg_warm.sh N ROUNDS BIN_A [BIN_B]
#   BIN_*: a build's bin/ with ticketfs, ticketctl and ts-lat (-DTS_BENCH=ON)
set -eu
cd "$(dirname "$0")/.."
N=${1:-2000} ROUNDS=${2:-3}
shift 2
BINS=("$@")
U=61001
W=$(mktemp -d /var/tmp/ticketfs-pgwarm.XXXXXX)
chmod 755 "$W"
cleanup() {
	for m in dir pg; do
		mountpoint -q "$W/$m" 2>/dev/null && { fusermount3 -u "$W/$m" 2>/dev/null || umount -l "$W/$m"; }
	done
	sh tests/pg_fixture.sh stop "$W/pgc" >/dev/null 2>&1 || true
	rm -rf "$W"
}
trap cleanup EXIT
mkdir -p "$W/dir" "$W/pg"
as() { setpriv --reuid=$U --regid=$U --clear-groups "$@"; }
secs() { local t0 t1; t0=$(date +%s%N); "$@" >/dev/null 2>&1 || true; t1=$(date +%s%N); echo "scale=3; ($t1 - $t0) / 1000000000" | bc; }
B=${BINS[0]}
python3 bench/gen.py "$N" > "$W/batch"
"$B/ticketctl" init "$W/store" "$W/key" >/dev/null
echo "$U agent" >> "$W/store/whitelist"
"$B/ticketctl" submit --batch "$W/store" "$W/batch" > /dev/null
TS_PG_FSYNC=on sh tests/pg_fixture.sh start "$W/pgc" >/dev/null
echo "$U agent" > "$W/wl"
# A database a build, made by its own ticketctl: builds of two schema
# versions cannot share one (the older refuses the newer).
for i in "${!BINS[@]}"; do
	psql -X -q "postgresql:///postgres?host=$W/pgc&user=postgres" -c "CREATE DATABASE w$i"
	"${BINS[$i]}/ticketctl" init "postgresql:///w$i?host=$W/pgc&user=postgres" "$W/keypg$i" >/dev/null
	"${BINS[$i]}/ticketctl" submit --batch "postgresql:///w$i?host=$W/pgc&user=postgres" "$W/batch" > /dev/null
done
# dbcpu: CPU (ms, user + system) of the cluster's processes so far (the
# postmaster's children: the daemon's connections' backends and the
# background workers; a warm pass opens no new connection).
dbcpu() {
	local pm t=0 c f
	pm=$(head -n 1 "$W/pgc/data/postmaster.pid")
	for c in $(pgrep -P "$pm"); do
		f=$(sed 's/^.*) //' "/proc/$c/stat" 2>/dev/null) || continue
		set -- $f
		t=$((t + ${12} + ${13}))
	done
	echo $((t * 1000 / $(getconf CLK_TCK)))
}
# pcpu PID: its CPU (ms, user + system, all threads) so far.
pcpu() {
	local f
	f=$(sed 's/^.*) //' "/proc/$1/stat")
	set -- $f
	echo $(( (${12} + ${13}) * 1000 / $(getconf CLK_TCK) ))
}
mnt() {	# mnt BIN dir|pg
	URI="postgresql:///w$i?host=$W/pgc&user=postgres"
	case $2 in
	dir) "$1/ticketfs" "$W/store" "$W/dir" -o key="$W/key" ;;
	pg) "$1/ticketfs" "$URI" "$W/pg" -o key="$W/keypg$i",whitelist="$W/wl",hostname=warm ;;
	esac
	until [ "$(as ls "$W/$2/tickets" 2>/dev/null | wc -l)" -ge "$N" ]; do sleep 0.05; done
}
# stmts BIN: the PostgreSQL daemon's db_statements, once published
# (a second after the last activity), or "-".
stmts() {
	local n
	sleep 1.2
	n=$("$1/ticketctl" stats "$URI" --host warm --json 2>/dev/null |
		jq -r '.daemon.db_statements // "-"' 2>/dev/null)
	case $n in ''|*[!0-9]*) echo - ;; *) echo "$n" ;; esac
}
umnt() {
	fusermount3 -u "$W/$1"
	while pgrep -f "ticketfs .* $W/$1( |\$)" >/dev/null; do sleep 0.05; done
}
declare -A R
for r in $(seq 1 "$ROUNDS"); do
	for i in "${!BINS[@]}"; do
		for s in dir pg; do
			mnt "${BINS[$i]}" $s
			d="cd '$W/$s/tickets' &&"
			as sh -c "$d grep -r zzzznomatch . ; tar cf - . | cat" >/dev/null 2>&1 || true
			[ $s = pg ] && q0=$(stmts "${BINS[$i]}")
			g=$(secs as sh -c "$d grep -r zzzznomatch .")
			dp=$(pgrep -f "ticketfs .* $W/$s( |\$)" | head -n 1)
			c0=$(dbcpu) p0=$(pcpu "$dp")
			t=$(secs as sh -c "$d tar cf - . | cat >/dev/null")
			[ $s = pg ] && sleep 0.3	# the last batch shipped
			R[$i,$s,dcpu]="${R[$i,$s,dcpu]:-} $(($(pcpu "$dp") - p0))"
			if [ $s = pg ]; then
				R[$i,cpu]="${R[$i,cpu]:-} $(($(dbcpu) - c0))"
				q1=$(stmts "${BINS[$i]}")
				q="-"
				[ "$q0" != - ] && [ "$q1" != - ] && q=$((q1 - q0))
				R[$i,stm]="${R[$i,stm]:-} $q"
			fi
			as sh -c "$d find . -type f -name email | head -n 2000" > "$W/paths"
			l=$(as sh -c "$d '${BINS[$i]}/ts-lat' open 3" < "$W/paths")
			umnt $s
			R[$i,$s,grep]="${R[$i,$s,grep]:-} $g"
			R[$i,$s,tar]="${R[$i,$s,tar]:-} $t"
			R[$i,$s,lat]="${R[$i,$s,lat]:-}|$l"
			echo "# round $r build $i $s: grep $g s, tar $t s, open p50 p99 mean (us) $l" >&2
			if [ $s = dir ]; then gd=$g td=$t; else
				R[$i,rgrep]="${R[$i,rgrep]:-} $(echo "scale=2; $g / $gd" | bc)"
				R[$i,rtar]="${R[$i,rtar]:-} $(echo "scale=2; $t / $td" | bc)"
			fi
		done
	done
done
med() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
for i in "${!BINS[@]}"; do
	echo "build $i: ${BINS[$i]}"
	for w in grep tar; do
		d=$(echo "${R[$i,dir,$w]}" | med) p=$(echo "${R[$i,pg,$w]}" | med)
		echo "  warm $w: dir ${d} s, pg ${p} s (medians of $ROUNDS); pg/dir in each round:${R[$i,r$w]}"
	done
	for s in dir pg; do
		echo "  $s open+read+close p50 p99 mean (us), each round:${R[$i,$s,lat]}"
	done
	echo "  pg statements in the timed grep and tar, each round:${R[$i,stm]}"
	echo "  CPU (ms) in the timed tar, each round: dir daemon${R[$i,dir,dcpu]}; pg daemon${R[$i,pg,dcpu]}; database${R[$i,cpu]}"

done
