#!/bin/bash
# The benchmark of issue 5: the same synthetic tree of N tickets (13 files,
# 4 directories each) under every contender, measured in one run:
#
#   tmpfs      the plaintext tree on tmpfs, no FUSE
#   floor      bench/floor.c: a trivial in-memory low-level FUSE daemon
#   bindfs     FUSE passthrough over the plaintext tree on disk
#   gocryptfs  an encrypted FUSE filesystem holding the plaintext tree
#   ticketfs   the real thing, filled through `ticketctl submit --batch`
#   tfs-pg     the same on a PostgreSQL store (a private cluster in the
#              run's directory, fsync on), filled the same way
#
# Workloads, cold (page cache dropped, FUSE remounted) and warm (again at
# once): ls -lR, find -type f, grep -r, tar cf -, du -s.  Then the
# open+read+close and lstat latency (p50/p99, C loop), mount time, daemon
# RSS, submit --batch throughput and submit-to-visible time.  Prints one
# table with ticketfs's ratio to each contender, and tfs-pg's to the
# directory store; --chart draws a PNG.  For the PostgreSQL store also:
# intake from 4 concurrent `submit --batch`, and change-to-visible on a
# second daemon (another host's mount of the same database) under 100
# writes a second.
#
# Rounds (--rounds R, default 1): every cold and warm measurement is taken
# R times, the rounds alternating between the contenders (round r runs
# workload w on each contender in turn, starting one further along each
# round), so that whatever else the machine does hits all of them alike.
# The table shows each median; with R > 1 a second table the spread
# (min-max) and ticketfs's ratio to each peer in its worst round.
#
# Usage (root): bench/run.sh [N] [--rounds R] [--workloads W,...]
#                            [--contenders C,...] [--chart FILE]
#   N             tickets (default 10000)
#   --rounds R    measurements of each cold / warm cell (default 1)
#   --workloads   any of ls,find,grep,tar,du (default all)
#   --contenders  any of tmpfs,floor,bindfs,gcrypt,tfs,tfspg (default all;
#                 ticketfs's store is always built: the others' tree is
#                 copied out of it)
#   --chart FILE  a PNG of the cold and warm medians (installs gnuplot
#                 with apt-get if it is missing)
set -eu
cd "$(dirname "$0")/.."
usage() {
	sed -n '/^# Usage/,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'
	exit "${1:-2}"
}
N=10000
CHART=
ROUNDS=1
WORKLOADS="ls find grep tar du"
CONTENDERS="tmpfs floor bindfs gcrypt tfs tfspg"
while [ $# -gt 0 ]; do
	case $1 in
	--chart) [ $# -ge 2 ] || usage; CHART=$2; shift 2 ;;
	--rounds) [ $# -ge 2 ] || usage; ROUNDS=$2; shift 2 ;;
	--workloads) [ $# -ge 2 ] || usage; WORKLOADS=$(echo "$2" | tr , ' '); shift 2 ;;
	--contenders) [ $# -ge 2 ] || usage; CONTENDERS=$(echo "$2" | tr , ' '); shift 2 ;;
	-h|--help) usage 0 ;;
	-*) usage ;;
	*) N=$1; shift ;;
	esac
done
case $ROUNDS in ''|*[!0-9]*|0) echo "run.sh: --rounds takes a number >= 1" >&2; exit 2 ;; esac
case $N in ''|*[!0-9]*|0) echo "run.sh: N must be a number >= 1" >&2; exit 2 ;; esac
for w in $WORKLOADS; do
	case $w in ls|find|grep|tar|du) ;; *) echo "run.sh: unknown workload $w" >&2; exit 2 ;; esac
done
for c in $CONTENDERS; do
	case $c in tmpfs|floor|bindfs|gcrypt|tfs|tfspg) ;; *) echo "run.sh: unknown contender $c" >&2; exit 2 ;; esac
done
has() { case " $CONTENDERS " in *" $1 "*) return 0 ;; esac; return 1; }
U=61001		# every workload runs as this uid, an agent of ticketfs
# What the peers and the chart need, installed as tools/deps.sh does.
need=
for p in bindfs gocryptfs; do command -v $p >/dev/null || need="$need $p"; done
[ -z "$CHART" ] || command -v gnuplot >/dev/null || need="$need gnuplot-nox"
if [ -n "$need" ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get -o DPkg::Lock::Timeout=300 update -qq
	apt-get -o DPkg::Lock::Timeout=300 install -y -qq $need >/dev/null
fi
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DTS_BENCH=ON -DBUILD_TESTING=OFF >/dev/null
cmake --build build-bench -j"$(nproc)" >/dev/null
BIN=$(pwd)/build-bench/bin
W=$(mktemp -d /var/tmp/ticketfs-bench.XXXXXX)
chmod 755 "$W"
cleanup() {
	for m in tfs tfspg tfspg2 floor bindfs gcrypt tmpfs; do
		mountpoint -q "$W/$m" 2>/dev/null && { fusermount3 -u "$W/$m" 2>/dev/null || umount -l "$W/$m"; }
	done
	sh tests/pg_fixture.sh stop "$W/pg" >/dev/null 2>&1 || true
	rm -rf "$W"
}
trap cleanup EXIT
mkdir -p "$W"/{tfs,tfspg,tfspg2,floor,bindfs,gcrypt,tmpfs,plain,gcipher}
as() { setpriv --reuid=$U --regid=$U --clear-groups "$@"; }
step() { echo "# $(date +%T) $*" >&2; }
umount_one() {	# and waits for a ticketfs daemon to exit (its store lock)
	[ "$1" = tmpfs ] && return
	fusermount3 -u "$W/$1"
	case $1 in tfs*) while pgrep -f "ticketfs .* $W/$1 " >/dev/null; do sleep 0.05; done ;; esac
}
secs() { local t0 t1; t0=$(date +%s%N); "$@" >/dev/null 2>&1 || true; t1=$(date +%s%N); echo "scale=3; ($t1 - $t0) / 1000000000" | bc; }

# --- the tree, through ticketfs's own intake ---
python3 bench/gen.py "$N" > "$W/batch"
"$BIN/ticketctl" init "$W/store" "$W/key" >/dev/null
echo "$U agent" >> "$W/store/whitelist"
t0=$(date +%s%N)
"$BIN/ticketctl" submit --batch "$W/store" "$W/batch" > "$W/ids"
t1=$(date +%s%N)
SUBMIT_RATE=$(echo "$N * 1000000000 / ($t1 - $t0)" | bc)
t0=$(date +%s%N)
"$BIN/ticketfs" "$W/store" "$W/tfs" -o key="$W/key"
t1=$(date +%s%N)
INTAKE_MOUNT=$(echo "scale=3; ($t1 - $t0) / 1000000000" | bc)
# One message a ticket, through the mount (so 13 files a ticket).
msgs() {	# msgs MOUNT IDS: writes the messages through the mount
	python3 - "$1/tickets" "$2" > "$W/msgs.sh" <<'PY'
import sys
for i, line in enumerate(open(sys.argv[2])):
    print("printf 'reply %d: we are looking into it.\\n' > %s/%s/messages/m1" % (i, sys.argv[1], line.strip()))
PY
	as sh "$W/msgs.sh"
}
msgs "$W/tfs" "$W/ids"
if has tfspg; then
	step "the tree on a PostgreSQL store"
	# The same tree on a PostgreSQL store: its own cluster, fsync on.
	TS_PG_FSYNC=on sh tests/pg_fixture.sh start "$W/pg"
	PGURI="postgresql:///postgres?host=$W/pg&user=postgres"
	psql -X -q "$PGURI" -c "CREATE DATABASE tsbench"
	PGURI="postgresql:///tsbench?host=$W/pg&user=postgres"
	"$BIN/ticketctl" init "$PGURI" "$W/keypg" >/dev/null
	echo "$U agent" > "$W/pg.whitelist"
	t0=$(date +%s%N)
	"$BIN/ticketctl" submit --batch "$PGURI" "$W/batch" > "$W/ids.pg"
	t1=$(date +%s%N)
	PG_SUBMIT_RATE=$(echo "$N * 1000000000 / ($t1 - $t0)" | bc)
	t0=$(date +%s%N)
	"$BIN/ticketfs" "$PGURI" "$W/tfspg" -o key="$W/keypg",whitelist="$W/pg.whitelist",hostname=bench1
	until [ "$(as ls "$W/tfspg/tickets" | wc -l)" -ge "$N" ]; do sleep 0.05; done
	t1=$(date +%s%N)
	PG_INTAKE_MOUNT=$(echo "scale=3; ($t1 - $t0) / 1000000000" | bc)
	msgs "$W/tfspg" "$W/ids.pg"
	umount_one tfspg
fi
# The identical plaintext tree, copied out by the agent.
chown $U "$W/plain"
as cp -r "$W/tfs/tickets" "$W/plain/"
# The mount's modes come from its ACLs; the copies get plain ones.
chmod -R u=rwX,go=rX "$W/plain"
umount_one tfs
chown -R $U "$W/plain"
if has tmpfs; then
	mount -t tmpfs -o size=50% tmpfs "$W/tmpfs"
	cp -r "$W/plain/tickets" "$W/tmpfs/"
	chown -R $U "$W/tmpfs"
fi
if has gcrypt; then
	echo pw > "$W/pass"
	gocryptfs -q -init -passfile "$W/pass" "$W/gcipher" >/dev/null
	gocryptfs -q -passfile "$W/pass" -allow_other "$W/gcipher" "$W/gcrypt"
	cp -r "$W/plain/tickets" "$W/gcrypt/"
	chown -R $U "$W/gcrypt"
	fusermount3 -u "$W/gcrypt"
fi
FILES=$(find "$W/plain" -type f | wc -l)
DIRS=$(find "$W/plain" -type d | wc -l)
SIZE=$(du -sm "$W/plain" | cut -f1)

mount_one() {	# mount_one NAME -> prints ms
	local t0 t1
	t0=$(date +%s%N)
	case $1 in
	tfs) "$BIN/ticketfs" "$W/store" "$W/tfs" -o key="$W/key" ;;
	tfspg) "$BIN/ticketfs" "$PGURI" "$W/tfspg" -o key="$W/keypg",whitelist="$W/pg.whitelist",hostname=bench1 ;;
	floor) "$BIN/ticketfs-floor" "$W/plain" "$W/floor" ;;
	bindfs) bindfs -o allow_other "$W/plain" "$W/bindfs" ;;
	gcrypt) gocryptfs -q -passfile "$W/pass" -allow_other "$W/gcipher" "$W/gcrypt" ;;
	tmpfs) : ;;
	esac
	t1=$(date +%s%N)
	echo $(( (t1 - t0) / 1000000 ))
}
cmd_of() {
	case $1 in
	ls) echo 'ls -lR .' ;; find) echo 'find . -type f' ;;
	grep) echo 'grep -r zzzznomatch .' ;;
	# GNU tar writing to /dev/null itself skips reading the files.
	tar) echo 'tar cf - . | cat >/dev/null' ;;
	du) echo 'du -s .' ;;
	esac
}
declare -A R	# R[fs,w,cold|warm] the median, R[fs,w,m,r] round r's
C=($CONTENDERS)
NC=${#C[@]}
for fs in $CONTENDERS; do
	step "$fs: mount"
	R[$fs,mount]=$(mount_one $fs)
	umount_one $fs
done
# Round r runs each workload on every contender in turn, the order
# rotated by one each round: none is always first after another's run.
for r in $(seq "$ROUNDS"); do
	for w in $WORKLOADS; do
		cmd=$(cmd_of $w)
		k=$(( (r - 1) % NC ))
		for fs in "${C[@]:k}" "${C[@]:0:k}"; do
			step "round $r/$ROUNDS $w $fs"
			sync; echo 3 > /proc/sys/vm/drop_caches
			mount_one $fs >/dev/null
			R[$fs,$w,cold,$r]=$(secs as sh -c "cd '$W/$fs/tickets' && $cmd")
			R[$fs,$w,warm,$r]=$(secs as sh -c "cd '$W/$fs/tickets' && $cmd")
			umount_one $fs
		done
	done
done
median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) printf "%.3f\n", v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
spread() { tr ' ' '\n' | grep . | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { if (NR == 0) print "-"; else printf "%.3f-%.3f\n", lo, hi }'; }
for fs in $CONTENDERS; do
	for w in $WORKLOADS; do
		for m in cold warm; do
			all=
			for r in $(seq "$ROUNDS"); do all="$all ${R[$fs,$w,$m,$r]}"; done
			R[$fs,$w,$m]=$(echo $all | median)
			R[$fs,$w,$m,spread]=$(echo $all | spread)
		done
	done
done
for fs in $CONTENDERS; do
	step "$fs: latency, RSS"
	mount_one $fs >/dev/null
	as sh -c "cd '$W/$fs/tickets' && ls -lR . >/dev/null 2>&1; find . -type f -name email | head -2000" > "$W/paths.$fs" || true
	R[$fs,open]=$(as sh -c "cd '$W/$fs/tickets' && '$BIN/ts-lat' open 3" < "$W/paths.$fs")
	R[$fs,stat]=$(as sh -c "cd '$W/$fs/tickets' && '$BIN/ts-lat' stat 3" < "$W/paths.$fs")
	case $fs in
	tfs) pat="ticketfs $W/store" ;; tfspg) pat="ticketfs .* $W/tfspg " ;; floor) pat="ticketfs-floor $W/plain" ;;
	bindfs) pat="bindfs .*$W/bindfs" ;; gcrypt) pat="gocryptfs .*$W/gcrypt" ;;
	*) pat= ;;
	esac
	pid=$([ -n "$pat" ] && pgrep -nf "$pat" || true)
	R[$fs,rss]=$([ -n "$pid" ] && awk '/^VmRSS:/ { print $2 }' /proc/$pid/status || echo 0)
	if [ $fs = tfs ]; then
		t0=$(date +%s%N)
		id=$(echo '{"username":"late","subject":"visible?"}' | "$BIN/ticketctl" submit "$W/store")
		until as test -d "$W/tfs/tickets/$id"; do sleep 0.01; done
		t1=$(date +%s%N)
		VISIBLE=$(( (t1 - t0) / 1000000 ))
	fi
	if [ $fs = tfspg ]; then
		t0=$(date +%s%N)
		id=$(echo '{"username":"late","subject":"visible?"}' | "$BIN/ticketctl" submit "$PGURI")
		until as test -d "$W/tfspg/tickets/$id"; do sleep 0.01; done
		t1=$(date +%s%N)
		PG_VISIBLE=$(( (t1 - t0) / 1000000 ))
		# Another host: a second daemon on the same database.  The
		# agent writes 100 messages a second on bench1; bench2 polls
		# for each (stat of the message) and notes when it appears.
		"$BIN/ticketfs" "$PGURI" "$W/tfspg2" -o key="$W/keypg",whitelist="$W/pg.whitelist",hostname=bench2,checkpoint_copy=$W/keypg.bench2.checkpoint,fss=$W/keypg.bench2.fss,audit_spool=$W/keypg.bench2.spool
		PG_CROSS=$(as /usr/bin/python3 bench/cross.py "$W/tfspg/tickets" "$W/tfspg2/tickets" "$W/ids.pg" 300 100)
		umount_one tfspg2
	fi
	umount_one $fs
done

# Intake into PostgreSQL from 4 concurrent submit --batch (N/4 each).
if has tfspg; then
	psql -X -q "postgresql:///postgres?host=$W/pg&user=postgres" -c "CREATE DATABASE tsbench4"
	PGURI4="postgresql:///tsbench4?host=$W/pg&user=postgres"
	"$BIN/ticketctl" init "$PGURI4" "$W/key4" >/dev/null
	split -n l/4 -d "$W/batch" "$W/quarter."
	t0=$(date +%s%N)
	for q in "$W"/quarter.0*; do "$BIN/ticketctl" submit --batch "$PGURI4" "$q" >/dev/null & done
	wait
	t1=$(date +%s%N)
	PG_SUBMIT4_RATE=$(echo "$N * 1000000000 / ($t1 - $t0)" | bc)
fi

ratio() {	# ratio A B: A / B, or - if either is missing
	case "${1:--}${2:--}" in *-*) echo - ; return ;; esac
	echo "scale=2; $1 / $2" | bc 2>/dev/null || echo -
}
ALL="tmpfs floor bindfs gcrypt tfs tfspg"
cell() { has "$1" && echo "${R[$1,$2]:--}" || echo -; }
if [ "$ROUNDS" -eq 1 ]; then
	what="one measurement each"
else
	what="medians of $ROUNDS rounds, alternating between the contenders"
fi
printf '\n%d tickets: %d files, %d directories, %d MB; %s, all in this run (s)\n' "$N" "$FILES" "$DIRS" "$SIZE" "$what"
printf '%-8s %13s %13s %13s %13s %13s %13s | %-24s | %s\n' workload tmpfs floor bindfs gocryptfs ticketfs tfs-pg "ticketfs / floor bindfs gocryptfs" "tfs-pg / ticketfs"
for w in $WORKLOADS; do
	for m in cold warm; do
		printf '%-8s' "$w-$m"
		for fs in $ALL; do printf ' %13s' "$(cell $fs $w,$m)"; done
		printf ' | %6s %6s %6s | %6s\n' "$(ratio "$(cell tfs $w,$m)" "$(cell floor $w,$m)")" \
			"$(ratio "$(cell tfs $w,$m)" "$(cell bindfs $w,$m)")" "$(ratio "$(cell tfs $w,$m)" "$(cell gcrypt $w,$m)")" \
			"$(ratio "$(cell tfspg $w,$m)" "$(cell tfs $w,$m)")"
	done
done
if [ "$ROUNDS" -gt 1 ]; then
	# The spread, and ticketfs's ratio to each peer in its worst round
	# (the largest of the R ratios taken round by round).
	worst() {	# worst PEER W M
		local r q out=-
		for r in $(seq "$ROUNDS"); do
			q=$(ratio "$(cell tfs $2,$3,$r)" "$(cell $1 $2,$3,$r)")
			if [ "$q" = - ]; then echo -; return 0; fi
			if [ "$out" = - ] || [ "$(echo "$q > $out" | bc)" = 1 ]; then out=$q; fi
		done
		echo "$out"
	}
	printf '\nspread over the %d rounds, min-max (s)\n' "$ROUNDS"
	printf '%-8s %13s %13s %13s %13s %13s %13s | %s\n' workload tmpfs floor bindfs gocryptfs ticketfs tfs-pg "ticketfs / bindfs gocryptfs, worst round"
	for w in $WORKLOADS; do
		for m in cold warm; do
			printf '%-8s' "$w-$m"
			for fs in $ALL; do printf ' %13s' "$(cell $fs $w,$m,spread)"; done
			printf ' | %6s %6s\n' "$(worst bindfs $w $m)" "$(worst gcrypt $w $m)"
		done
	done
	printf '\nround by round (s)\n'
	for r in $(seq "$ROUNDS"); do
		for w in $WORKLOADS; do
			for m in cold warm; do
				printf '%-8s %-8s' "round$r" "$w-$m"
				for fs in $ALL; do printf ' %13s' "$(cell $fs $w,$m,$r)"; done
				echo
			done
		done
	done
fi
for k in open stat; do
	printf '%-8s' "$k-us"
	for fs in $ALL; do printf ' %13s' "$(cell $fs $k | awk '{ print (NF > 1 ? $1 "/" $2 : "-") }')"; done
	printf '   (p50/p99 of open+read+close or lstat, warm)\n'
done
printf '%-8s' mount-ms; for fs in $ALL; do printf ' %13s' "$(cell $fs mount)"; done; echo
printf '%-8s' rss-MB; for fs in $ALL; do printf ' %13s' "$(has $fs && echo $(( ${R[$fs,rss]:-0} / 1024 )) || echo -)"; done; echo
echo "submit --batch: $SUBMIT_RATE tickets/s; first mount taking in all $N: ${INTAKE_MOUNT}s${VISIBLE:+; submit to visible: $VISIBLE ms}"
if has tfspg; then
	echo "tfs-pg: submit --batch $PG_SUBMIT_RATE tickets/s, 4 concurrent $PG_SUBMIT4_RATE tickets/s; first mount taking in all $N: ${PG_INTAKE_MOUNT}s; submit to visible: ${PG_VISIBLE} ms"
	echo "tfs-pg: change on one host to visible on the other, 100 writes/s: $PG_CROSS"
fi
if [ -n "$CHART" ]; then
	# One bar a contender measured (PostgreSQL's are in the table only).
	plot= col=1
	for fs in tmpfs floor bindfs gcrypt tfs; do
		has $fs || continue
		col=$((col + 1))
		case $fs in floor) t="FUSE floor" ;; gcrypt) t=gocryptfs ;; tfs) t=ticketfs ;; *) t=$fs ;; esac
		if [ $col = 2 ]; then plot="\"$W/chart.dat\" using 2:xtic(1) title \"$t\""
		else plot="$plot, \"\" using $col title \"$t\""; fi
	done
	for w in $WORKLOADS; do
		for m in cold warm; do
			printf '%s' "$w-$m"
			for fs in tmpfs floor bindfs gcrypt tfs; do has $fs && printf ' %s' "$(cell $fs $w,$m)"; done
			echo
		done
	done > "$W/chart.dat"
	gnuplot <<GP
set terminal png size 1000,500
set output "$CHART"
set datafile missing "-"
set style data histograms
set style histogram cluster gap 1
set style fill solid border -1
set ylabel "seconds"
set yrange [0:*]
set title "ticketfs vs peers, $N tickets$([ "$ROUNDS" -gt 1 ] && echo ", medians of $ROUNDS rounds")"
set xtics rotate by -30
plot $plot
GP
	echo "chart: $CHART"
fi
