#!/bin/bash
# Crash consistency: kill -9 the daemon under writers, and `ticketctl
# submit --batch` mid-batch, many times; after each kill check that every
# acknowledged change survived, that nothing is half there, and that fsck
# and the audit trail's verification pass.
#
#   tools/crash.sh [--bin DIR] [ITERATIONS [SUBMITS]]    as root
#
# ITERATIONS (default 100) rounds of: fresh tickets, writers (as the agent
# uid) adding messages, moving statuses and removing fields, messages and
# authorizations, each logging what it started and, only once its command
# returned 0, what was acknowledged; kill -9 of the daemon 50-500 ms in;
# unmount the dead mount, remount, check.  Then SUBMITS (default 30) rounds
# of a 300-ticket `submit --batch` killed after a random delay (and every
# third time the daemon too, while it takes the batch in); remount, wait for
# intake/ to drain, check.  DIR defaults to build/bin.  The checks are in
# tools/crash_check.py; tests/integration/test_crash.sh runs a few rounds of
# this in the regular suite.  CRASH_SEED=N repeats a run's random choices
# (not its timing); CRASH_FULL_EVERY=N (default 10) re-checks every ticket
# so far every N rounds (each round checks its own tickets).
# Prints "ok"/"FAIL" lines, then a summary; exit 1 if anything failed.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
bin=$HERE/../build/bin
if [ "${1:-}" == "--bin" ]; then bin=$2; shift 2; fi
ITERATIONS=${1:-100}
SUBMITS=${2:-30}
BATCH=${CRASH_BATCH:-300}
WRITERS=3 PER_WRITER=2
FULL_EVERY=${CRASH_FULL_EVERY:-10}
SEED=${CRASH_SEED:-$((SRANDOM % 1000000))}
[ "$(id -u)" -eq 0 ] || { echo "crash.sh: run as root"; exit 2; }
set -- "$bin"
. "$HERE/../tests/integration/lib.sh"
CHECK="$HERE/crash_check.py"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)
C=$WORK/crash
STOP=$C/stop
mkdir -p "$C/logs" "$C/src" "$C/batch"
: > "$C/tickets"
WRITER_PIDS=() SUBMIT_PID=
stop_all() {
	touch "$STOP"
	[ -n "$SUBMIT_PID" ] && kill -9 "$SUBMIT_PID" 2>/dev/null
	for p in "${WRITER_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
}
EXTRA_CLEANUP=stop_all
RANDOM=$((SEED % 32768))
echo "# crash.sh: $ITERATIONS kill iterations, $SUBMITS killed submits, seed $SEED"

# Counters for the summary.
KILLS=0 HANGS=0 DEAD_WORST=0 ENOENT_AT_KILL=0 ACKED=0 STARTED=0 SUB_KILLED=0 SUB_DONE=0 SUB_DAEMON=0 PRINTED=0
VISIBLE=0 TMP_LEFT=0 T0=$SECONDS

msleep() { sleep "$(($1 / 1000)).$(printf %03d $(($1 % 1000)))"; }

# wait_long TENTHS COMMAND...: wait_for with a longer limit.
wait_long() {
	local n=$1 i; shift
	for ((i = 0; i < n; i++)); do
		"$@" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# The daemon in the foreground (its log in $LOG); ready when an agent can
# see tickets/ (a remount after a kill reads every record: no snapshot).
crash_mount() {
	"$TICKETFS" "$STORE" "$MNT" -o key="$KEY" "${MOUNT_OPTS[@]}" -f 2>>"$LOG" &
	DAEMON_PID=$!
	wait_long 300 as $AGENT test -d "$MNT/tickets" ||
		{ fail "remount within 30 s"; return 1; }
}

# Kills the daemon, checks its mount is dead, detaches it.
crash_kill() {
	local pid=$DAEMON_PID out t0 t1 bad= i
	date +%s%3N > "$C/killed_at"
	t0=${EPOCHREALTIME/./}
	kill -9 "$pid" 2>/dev/null
	KILLS=$((KILLS + 1))
	# Within 2 s its threads are gone and the mount fails with ENOTCONN
	# (ECONNABORTED: a request in flight).  Also when a thread was in the
	# kernel sending a notification (fuse_reverse_inval_entry waits for a
	# directory's lock that a request only the killed loop thread would
	# have answered holds): the watchdog then aborts the connection
	# (fs/watchdog.h).  A hang is a failure: the run shows where, aborts
	# the connection as an operator would, and goes on.  The probe runs in
	# the background: a hung one may wait for a lock no signal interrupts.
	# (The last kill's file goes first: the background shell truncates
	# it only once it runs, and the wait below must not read the old one.)
	rm -f "$C/probe"
	sh -c "stat '$MNT/tickets/probe-$KILLS' 2>&1 >/dev/null; echo rc=\$?" > "$C/probe" &
	local probe=$!
	wait_long 20 grep -q '^rc=' "$C/probe" || bad="a stat hung"
	t1=$(( (t0 + 2000000 - ${EPOCHREALTIME/./}) / 100000 ))
	wait_long $(( t1 > 0 ? t1 : 0 )) exited "$pid" ||
		bad="${bad:+$bad, }the daemon was not gone"
	if [ -n "$bad" ]; then
		HANGS=$((HANGS + 1))
		fail "kill $KILLS: within 2 s of kill -9 the daemon is gone and the mount fails ($bad):"
		for i in /proc/$pid/task/*; do
			echo "#   thread ${i##*/} $(awk '{print $3}' "$i/stat") in $(cat "$i/wchan")"
		done
		abort_conn
		wait_long 50 exited "$pid" ||
			fail "after kill -9 and an abort of the connection the daemon exits"
	else
		out=$(head -1 "$C/probe")
		[[ $out == *"not connected"* || $out == *"connection abort"* ]] ||
			fail "kill $KILLS: after kill -9 the mount is dead (ENOTCONN), said: $out"
		i=$(( (${EPOCHREALTIME/./} - t0) / 1000 ))
		[ "$i" -gt "$DEAD_WORST" ] && DEAD_WORST=$i
	fi
	wait "$probe" 2>/dev/null
	wait "$pid" 2>/dev/null
	DAEMON_PID=
	out=$(stat "$MNT/tickets" 2>&1 >/dev/null)
	[[ $out == *"not connected"* ]] ||
		fail "after kill -9 the mount is dead (ENOTCONN), said: $out"
	fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT"
}

# exited PID: all of the process's threads are gone (a zombie or reaped).
exited() {
	[ ! -e "/proc/$1/task" ] ||
	{ [ "$(ls "/proc/$1/task" | wc -l)" -le 1 ] &&
	  [ "$(awk '{print $3}' "/proc/$1/stat")" == Z ]; }
}

# abort_conn: aborts $MNT's FUSE connection (fusectl), failing every
# request that waits on it.
abort_conn() {
	local dev
	dev=$(awk -v m="$MNT" '$5 == m {print $3}' /proc/self/mountinfo | tail -1)
	mountpoint -q /sys/fs/fuse/connections ||
		mount -t fusectl fusectl /sys/fs/fuse/connections
	echo 1 > "/sys/fs/fuse/connections/${dev#*:}/abort" &&
		echo "#   aborted /sys/fs/fuse/connections/${dev#*:}"
}

# After a remount: fsck with the key and the audit trail's verification.
store_checks() {
	local what=$1 out
	out=$("$TICKETCTL" fsck "$STORE" --key "$KEY" 2>&1) ||
		fail "$what: fsck --key exits 0 (said: $out)"
	out=$("$TICKETCTL" audit verify "$STORE" 2>&1) ||
		fail "$what: audit verify exits 0 (said: $out)"
	[ "$(intake_rejected)" -eq 0 ] ||
		fail "$what: no intake rejected ($(intake_rejected) were)"
}

# run_check WHAT ARGS...: crash_check.py as the agent; counts its numbers.
run_check() {
	local what=$1 out rc; shift
	out=$(as $AGENT "$PY" "$CHECK" "$@" 2>&1); rc=$?
	if [ $rc -ne 0 ]; then
		fail "$what"
		grep PROBLEM <<<"$out" | head -20
	fi
	CHECK_OUT=$(tail -1 <<<"$out")
}

# --- writers ---

# wlog LINE: a writer's log line (appended only when it is true).
# op DESCRIPTION COMMAND...: logs S, runs the command as the agent, then
# logs A if it returned 0, else F with its error.
op() {
	local desc=$1 out; shift
	echo "S $desc" >> "$WLOG"
	if out=$(as $AGENT "$@" 2>&1); then
		echo "A $desc" >> "$WLOG"
	else
		echo "F $desc at=$(date +%s%3N) : ${out//$'\n'/ }" >> "$WLOG"
		return 1
	fi
}

# writer W ITER ID...: random changes to its own tickets until $STOP or a
# failure (the daemon is dead: every later command would fail too).
writer() {
	local w=$1 it=$2; shift 2
	local -a ids=("$@")
	local -A st fl au ms
	local id r seq=0 name n f a
	WLOG=$C/logs/i$it-w$w.log
	RANDOM=$(((SEED + it * 101 + w * 7919) % 32768))
	for id in "${ids[@]}"; do
		st[$id]=0 fl[$id]="description email mobile confidential"
		au[$id]="a1 a2 a3" ms[$id]=""
	done
	while [ ! -e "$STOP" ]; do
		id=${ids[RANDOM % ${#ids[@]}]}
		r=$((RANDOM % 100))
		T=$MNT/tickets/$id
		if [ $r -lt 12 ] && [ -n "${ms[$id]}" ]; then
			set -- ${ms[$id]}; name=${!#}	# the newest
			op "rmmsg $id $name" rm "$T/messages/$name" || return
			ms[$id]=${ms[$id]% $name}
		elif [ $r -lt 22 ] && [ -n "${fl[$id]}" ]; then
			set -- ${fl[$id]}; f=$1; shift; fl[$id]="$*"
			op "rmfield $id $f" rm "$T/$f" || return
		elif [ $r -lt 32 ] && [ -n "${au[$id]}" ]; then
			set -- ${au[$id]}; a=$1; shift; au[$id]="$*"
			op "rmauth $id $a" rm -r "$T/authorizations/$a" || return
		elif [ $r -lt 42 ] && [ "${st[$id]}" -lt 2 ]; then
			# open -> processing or processed; processing -> processed
			if [ "${st[$id]}" -eq 0 ] && [ $((RANDOM % 3)) -gt 0 ]; then
				st[$id]=1
				op "status $id processing" bash -c "echo processing > '$T/status'" || return
			else
				# the policy takes these at once: do not remove them
				st[$id]=2 au[$id]=""
				fl[$id]=$(for f in ${fl[$id]}; do
					case $f in email|mobile|confidential) ;; *) echo "$f" ;; esac
				done)
				op "status $id processed" bash -c "echo processed > '$T/status'" || return
			fi
		else
			# A message: mostly short, some of many writes (128 KiB each).
			seq=$((seq + 1)) name=w$w-$it-$seq
			case $((RANDOM % 20)) in
			0) n=$((65536 + RANDOM * 16)) ;;
			1|2|3|4|5) n=$((1 + RANDOM % 32768)) ;;
			*) n=$((1 + RANDOM % 300)) ;;
			esac
			head -c "$n" /dev/urandom | base64 -w 100 > "$C/src/$name"
			# cat checks close(): a shell's `printf > file` does not,
			# and close is where the message is stored.
			op "msg $id $name" sh -c 'exec cat "$1" > "$2"' _ \
			   "$C/src/$name" "$T/messages/$name" || return
			ms[$id]="${ms[$id]} $name"
		fi
	done
}

# --- one round of writers and a kill ---
write_round() {
	local it=$1 w k tags=() ids=() out i f0=$FAILED
	for ((w = 0; w < WRITERS; w++)); do
		for ((k = 0; k < PER_WRITER; k++)); do tags+=("i$it-$w-$k"); done
	done
	out=$("$PY" "$CHECK" gen "${tags[@]}" | "$TICKETCTL" submit --batch "$STORE") ||
		{ fail "round $it: submit"; return; }
	ids=($out)
	for ((i = 0; i < ${#ids[@]}; i++)); do
		echo "${ids[i]} ${tags[i]}" >> "$C/tickets"
	done
	for id in "${ids[@]}"; do
		wait_long 100 as $AGENT test -d "$MNT/tickets/$id" ||
			{ fail "round $it: ticket $id visible"; return; }
	done
	rm -f "$STOP"
	WRITER_PIDS=()
	for ((w = 0; w < WRITERS; w++)); do
		writer $w "$it" "${ids[@]:w*PER_WRITER:PER_WRITER}" &
		WRITER_PIDS+=($!)
	done
	msleep $((50 + RANDOM % 451))
	crash_kill
	touch "$STOP"
	wait "${WRITER_PIDS[@]}"
	WRITER_PIDS=()
	# A writer's command may only fail because the daemon died: after the
	# kill, and with ENOTCONN, ECONNABORTED (a request in flight) or, seen
	# at the moment of the kill, ENOENT for an open(O_CREAT).
	awk -v k="$(cat "$C/killed_at")" '/^F/ { t = 0
		for (i = 1; i <= NF; i++) if ($i ~ /^at=/) t = substr($i, 4) + 0
		if (t < k || $0 !~ /not connected|connection abort|No such file|nonexistent/)
			print }' "$C"/logs/i$it-*.log > "$C/unexpected"
	if [ -s "$C/unexpected" ]; then
		fail "round $it: a writer's command failed otherwise"
		head -5 "$C/unexpected"
	fi
	ENOENT_AT_KILL=$((ENOENT_AT_KILL + $(cat "$C"/logs/i$it-*.log | grep -c '^F.*\(No such file\|nonexistent\)')))
	crash_mount || return
	run_check "round $it: every acknowledged change is there, nothing half" \
		writes "$C" "$MNT" "$it"
	if [[ $CHECK_OUT == checked* ]]; then
		set -- $CHECK_OUT
		ACKED=$((ACKED + $2)) STARTED=$((STARTED + ${11}))
	fi
	if [ "$FULL_EVERY" -gt 0 ] && [ $((it % FULL_EVERY)) -eq 0 ]; then
		run_check "round $it: all rounds so far still hold" writes "$C" "$MNT"
	fi
	store_checks "round $it"
	[ "$FAILED" -eq "$f0" ] && pass "round $it: kill -9, remount: $CHECK_OUT, fsck and audit verify"
}

# --- a killed submit --batch ---
submit_round() {
	local j=$1 maxms=$2 ms=none when= rc tags=() i t0 f0=$FAILED
	for ((i = 0; i < BATCH; i++)); do tags+=("b$j-$i"); done
	"$PY" "$CHECK" gen "${tags[@]}" > "$C/batch/$j.jsonl"
	"$TICKETCTL" submit --batch "$STORE" "$C/batch/$j.jsonl" \
		> "$C/batch/$j.ids" 2>"$C/batch/$j.err" &
	SUBMIT_PID=$! t0=$(date +%s%N)
	# maxms: the time a whole batch takes; 0: leave it alone (to time it).
	# Sealing takes the first ~80 %, then come the temporary files, syncfs
	# and the renames: one kill in four at a random moment, the others a
	# random 0-40 ms after the first temporary file appeared (the files,
	# syncfs and the renames take ~20-50 ms).
	if [ "$maxms" -gt 0 ]; then
		if [ $((RANDOM % 4)) -eq 0 ] || [ "$TS_BACKEND" = pg ]; then
			ms=$(((RANDOM * 32768 + RANDOM) % maxms))
		else
			local tmps=() n=0
			shopt -s nullglob
			while tmps=("$STORE"/intake/.tmp-intake-*) &&
			      [ ${#tmps[@]} -le "$TMP_LEFT" ] && [ $n -lt 2000 ] &&
			      kill -0 "$SUBMIT_PID" 2>/dev/null; do
				sleep 0.002; n=$((n + 1))
			done
			shopt -u nullglob
			ms=$((RANDOM % 41)) when=" after its first temporary file"
		fi
		msleep "$ms"
		kill -9 "$SUBMIT_PID" 2>/dev/null
	fi
	{ wait "$SUBMIT_PID"; } 2>/dev/null; rc=$?
	SUBMIT_MS=$((($(date +%s%N) - t0) / 1000000))
	SUBMIT_PID=
	if [ $rc -eq 137 ]; then SUB_KILLED=$((SUB_KILLED + 1));
	elif [ $rc -eq 0 ]; then SUB_DONE=$((SUB_DONE + 1));
	else fail "submit $j: exit $rc ($(cat "$C/batch/$j.err"))"; fi
	# Every third round, kill the daemon too while it takes them in.
	if [ $((j % 3)) -eq 2 ]; then
		msleep $((RANDOM % 400))
		crash_kill
		SUB_DAEMON=$((SUB_DAEMON + 1))
		crash_mount || return
	fi
	# Wait until the daemon has taken in every whole record.
	wait_long 600 eval '[ "$(intake_waiting)" -eq 0 ]' ||
		fail "submit $j: intake drained within 60 s ($(intake_waiting) waiting)"
	run_check "submit $j (kill ${ms} ms$when, exit $rc): printed ids visible, every ticket whole" \
		batch "$MNT" "$C/batch/$j.jsonl" "$C/batch/$j.ids" "$C/known"
	if [[ $CHECK_OUT == checked* ]]; then
		set -- $CHECK_OUT
		PRINTED=$((PRINTED + $2)) VISIBLE=$((VISIBLE + $5))
	fi
	as $AGENT ls "$MNT/tickets" > "$C/known"
	[ "$TS_BACKEND" = pg ] ||
		TMP_LEFT=$(find "$STORE/intake" -maxdepth 1 -name '.tmp-*' | wc -l)
	store_checks "submit $j"
	[ "$FAILED" -eq "$f0" ] && pass "submit $j: kill ${ms} ms$when, exit $rc; $CHECK_OUT; fsck and audit verify; $TMP_LEFT .tmp- files in intake/"
}

# --- main ---
new_store
crash_mount || exit 1
for ((it = 1; it <= ITERATIONS; it++)); do
	write_round "$it"
done
if [ "$ITERATIONS" -gt 0 ]; then
	run_check "after all rounds: every acknowledged change is there" writes "$C" "$MNT"
	echo "# all rounds: $CHECK_OUT"
fi

if [ "$SUBMITS" -gt 0 ]; then
	# The tickets already there; then one batch left alone, to time it.
	as $AGENT ls "$MNT/tickets" > "$C/known"
	submit_round 0 0
	full=$SUBMIT_MS
	echo "# a whole batch of $BATCH: ~$full ms"
	for ((j = 1; j <= SUBMITS; j++)); do
		submit_round "$j" "$full"
	done
fi

# A clean unmount (saves the snapshot), a remount from it, all again.
umount_fs; DAEMON_PID=
crash_mount || exit 1
[ "$ITERATIONS" -gt 0 ] &&
	run_check "after a clean remount: every acknowledged change is there" writes "$C" "$MNT"
umount_fs; DAEMON_PID=
store_checks "at the end"
if grep -E 'ERROR: AddressSanitizer|runtime error:' "$LOG" | head -5 | grep .; then
	fail "the daemon's log shows sanitizer errors"
fi
check "the run made kills" test "$KILLS" -gt 0
echo "# summary: $((ITERATIONS)) write rounds, $KILLS kills of the daemon ($HANGS hung, each a failure; the mount was dead and the daemon gone at worst $DEAD_WORST ms after a kill; the watchdog aborted the connection of $(grep -c 'dying with the mount.s FUSE connection' "$LOG") daemons that would have hung; $ENOENT_AT_KILL writer commands failed with ENOENT at the kill), $ACKED acknowledged writes checked ($STARTED started), $SUB_KILLED submits killed mid-batch + $SUB_DONE finished before the kill ($SUB_DAEMON with the daemon killed during intake), $PRINTED printed ids and $VISIBLE visible batch tickets checked, $TMP_LEFT stale .tmp- files in intake/, $FAILED failures, $((SECONDS - T0)) s, seed $SEED"
finish
