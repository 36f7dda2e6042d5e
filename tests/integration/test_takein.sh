# Intake taken in a batch at a time (fs/take.c, store/file_stage.c): after
# `submit --batch`, the first mount shows every ticket, each holding its own
# line's values, intake/ is empty, and the trail has exactly one intake
# entry for each ticket (with its client's address); a batch submitted
# while the daemon runs shows in full; an intake file that is back after
# its ticket was taken in (what a crash between the commit and the delete
# leaves) is recognised and just finished; and kill -9 of the daemon while
# it takes a batch in, again and again, loses none and duplicates none.
# Both backends (it_test_takein_pg).
. "$(dirname "$0")/lib.sh"

new_store
IP=192.0.2.77
# gen FROM TO: tickets FROM..TO, one JSON line each.
gen() {
	python3 - "$1" "$2" <<'PY'
import json, sys
for i in range(int(sys.argv[1]), int(sys.argv[2]) + 1):
    print(json.dumps({"username": "user-%d" % i, "subject": "subject %d" % i,
        "description": ("description of %d\n" % i) * (1 + i % 40),
        "email": "u%d@example.com" % i,
        "authorizations": [{"account": "acc-%d" % i, "password": "pw-%d" % i,
                            "expires": "2099-01-01T00:00:00Z"}]}))
PY
}
# stored: how many tickets the store holds.
stored() {
	if [ "$TS_BACKEND" = pg ]; then
		psql_do "$PGDB" "SELECT count(*) FROM ts_tickets"
	else
		ls "$STORE/tickets" | grep -vc '^\.'
	fi
}
# grew COUNT: the store holds more than COUNT tickets.
grew() {
	[ "$(stored)" -gt "$1" ]
}
# visible: how many tickets the agent sees.
visible() {
	as $AGENT ls "$MNT/tickets" | wc -l
}
# users_match IDS FROM: ticket i of IDS holds username user-(FROM+i-1).
users_match() {
	as $AGENT sh -c "while read -r id; do cat \"$MNT/tickets/\$id/username\"; done" \
		< "$1" > "$WORK/users"
	cmp -s "$WORK/users" <(seq "$2" $(( $2 + $(wc -l < "$1") - 1 )) | sed 's/^/user-/')
}
# trail_check IDS [exact]: every ticket of IDS has at most one trail entry
# "intake tickets/ID" (exact: exactly one, with the client's address) and,
# without exact, one of that or of its intake file found "already taken
# in" (taken in before a kill whose entry...).  Prints what is wrong.
trail_check() {
	trail_lines > "$WORK/trail"
	python3 - "$1" "$WORK/trail" "${2:-}" "$IP" <<'PY'
import json, sys
ids = [l.strip() for l in open(sys.argv[1]) if l.strip()]
want = set(ids)
exact, ip = sys.argv[3] == "exact", sys.argv[4]
taken, again, bad = {}, set(), []
for line in open(sys.argv[2]):
    e = json.loads(line)
    if e.get("op") != "intake":
        continue
    p = e.get("path", "")
    if p.startswith("tickets/") and p.count("/") == 1:
        taken[p[8:]] = taken.get(p[8:], 0) + 1
        if exact and p[8:] in want and e.get("client_ip") != ip:
            bad.append("%s without the client's address: %s" % (p, line.strip()[:400]))
    elif p.startswith("intake/") and e.get("detail") == "already taken in":
        again.add(p.rsplit("-t-", 1)[-1])
for i in ids:
    n = taken.get(i, 0)
    if n > 1:
        bad.append("%s: %d entries" % (i, n))
    elif n == 0 and (exact or i not in again):
        bad.append("%s: no entry" % i)
print("; ".join(bad[:5]) + (" (%d in all)" % len(bad) if len(bad) > 5 else ""))
sys.exit(1 if bad else 0)
PY
}

# trail_wait IDS [exact]: trail_check, retried for up to 15 s while the
# daemon runs (a shared store's trail reaches the database through the
# host's spool, shipped within a few seconds).
trail_wait() {
	local i
	for i in $(seq 30); do
		out=$(trail_check "$@") && return 0
		sleep 0.5
	done
	return 1
}

# 1. submit --batch, then the first mount takes it all in.
N=1200
gen 1 $N > "$WORK/b1.jsonl"
"$TICKETCTL" submit --batch --client-ip $IP "$STORE" "$WORK/b1.jsonl" > "$WORK/ids1" ||
	{ echo "submit failed"; exit 1; }
check "$N intake records wait" test "$(intake_waiting)" -eq $N
t0=${EPOCHREALTIME/./}
mount_fs || { echo "mount failed"; exit 1; }
echo "# first mount after $N: $(( (${EPOCHREALTIME/./} - t0) / 1000 )) ms"
check "the first mount shows all $N tickets to the agent" test "$(visible)" -eq $N
check "the agent sees exactly the submitted ids" cmp -s <(as $AGENT ls "$MNT/tickets") <(sort "$WORK/ids1")
check "ticket i holds line i's username, for every i" users_match "$WORK/ids1" 1
ok=0
for i in 1 2 255 256 257 600 $N; do
	id=$(sed -n "${i}p" "$WORK/ids1")
	[ "$(as $AGENT cat "$MNT/tickets/$id/subject")" == "subject $i" ] &&
	[ "$(as $AGENT cat "$MNT/tickets/$id/authorizations/a1/password")" == "pw-$i" ] &&
	[ "$(as $AGENT cat "$MNT/tickets/$id/description")" == "$(python3 -c "import sys; sys.stdout.write(('description of $i\n') * (1 + $i % 40))")" ] &&
		ok=$((ok + 1))
done
check "sampled tickets hold their subject, description and password" test $ok -eq 7
check "the reader sees them too" test "$(as $READER ls "$MNT/tickets" | wc -l)" -eq $N
check "intake is empty" test "$(intake_waiting)" -eq 0
check "nothing was rejected" test "$(intake_rejected)" -eq 0
if [ "$TS_BACKEND" != pg ]; then
	check "no staged temporary is left in tickets/ or keys/" \
		test -z "$(ls -A "$STORE/tickets" "$STORE/keys" | grep '^\.tmp-')"
	check "every ticket has its key file" test "$(ls "$STORE/keys" | wc -l)" -eq $N
fi
trail_wait "$WORK/ids1" exact
check "the trail has exactly one intake entry per ticket, with its client ($out)" test -z "$out"
umount_fs

# 2. A batch submitted while the daemon runs shows in full.
M=1500
mount_fs || { echo "mount failed"; exit 1; }
gen $((N + 1)) $((N + M)) > "$WORK/b2.jsonl"
"$TICKETCTL" submit --batch --client-ip $IP "$STORE" "$WORK/b2.jsonl" > "$WORK/ids2" ||
	{ echo "submit failed"; exit 1; }
t0=${EPOCHREALTIME/./}
check "a batch of $M submitted to the running daemon shows in full" \
	wait_within 60 sh -c "[ \$(setpriv --reuid=$AGENT --regid=$AGENT --clear-groups ls '$MNT/tickets' | wc -l) -eq $((N + M)) ]"
echo "# $M visible $(( (${EPOCHREALTIME/./} - t0) / 1000 )) ms after submit returned"
check "each holds its own line's username" users_match "$WORK/ids2" $((N + 1))
check "intake drains" wait_for test "$(intake_waiting)" -eq 0
trail_wait "$WORK/ids2" exact
check "one intake entry per ticket of the second batch ($out)" test -z "$out"
umount_fs

# 3. An intake file back after its ticket was taken in (a crash after the
# commit, before the delete): recognised, finished, not taken in twice.
if [ "$TS_BACKEND" != pg ]; then
	gen $((N + M + 1)) $((N + M + 1)) > "$WORK/b3.jsonl"
	"$TICKETCTL" submit --batch "$STORE" "$WORK/b3.jsonl" > "$WORK/ids3"
	f=$(ls "$STORE/intake" | grep -- "-t-$(cat "$WORK/ids3")$")
	cp -p "$STORE/intake/$f" "$WORK/$f"
	mount_fs || { echo "mount failed"; exit 1; }
	umount_fs
	mv "$WORK/$f" "$STORE/intake/$f"
	size=$(record_size "$(cat "$WORK/ids3")")
	mount_fs || { echo "mount failed"; exit 1; }
	check "a taken-in record back in intake/ is finished at the next mount" test "$(intake_waiting)" -eq 0
	check "its ticket is there once" test "$(visible)" -eq $((N + M + 1))
	check "and not written again" test "$(record_size "$(cat "$WORK/ids3")")" -eq "$size"
	check "the trail says it was already taken in" \
		grep -q "\"path\":\"intake/$f\".*\"detail\":\"already taken in\"" <(trail_lines)
	umount_fs

fi

# 4. kill -9 while the daemon takes a batch in (before it mounts: the
# first mount takes all waiting intake in), again and again; then all are
# there exactly once.
K=1500
base=$(stored)
gen 100001 $((100000 + K)) > "$WORK/b4.jsonl"
"$TICKETCTL" submit --batch --client-ip $IP "$STORE" "$WORK/b4.jsonl" > "$WORK/ids4" ||
	{ echo "submit failed"; exit 1; }
# Odd rounds kill as soon as a batch's commit shows in the store (the
# window between the commit and the intake's delete), even ones after a
# random delay (anywhere: loading, staging, committing).
mid=0 kills=0 prev=$base
while [ "$(intake_waiting)" -gt 0 ] && [ $kills -lt 12 ]; do
	"$TICKETFS" "$STORE" "$MNT" -o key="$KEY" "${MOUNT_OPTS[@]}" -f 2>>"$LOG" &
	pid=$!
	if [ $((kills % 2)) -eq 0 ]; then
		wait_within 30 grew "$prev"
		how="once a commit showed"
	else
		ms=$((300 + RANDOM % 2000))
		sleep "$((ms / 1000)).$(printf %03d $((ms % 1000)))"
		how="after $ms ms"
	fi
	kill -9 $pid 2>/dev/null && kills=$((kills + 1))
	wait $pid 2>/dev/null
	# mounted before the kill: a dead mount (ENOTCONN), unmounted
	fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null
	now=$(stored)
	[ "$now" -gt "$prev" ] && [ "$now" -lt $((base + K)) ] && mid=$((mid + 1))
	echo "# kill -9 $how: $((now - base)) of $K in the store"
	prev=$now
done
check "a kill -9 landed in the middle of a take-in ($mid of $kills)" test $mid -gt 0
mount_fs || { echo "mount failed"; exit 1; }
check "after the kills every ticket is there" wait_within 30 sh -c "[ \$(setpriv --reuid=$AGENT --regid=$AGENT --clear-groups ls '$MNT/tickets' | wc -l) -eq $((base + K)) ]"
check "exactly once: the agent sees each submitted id once" \
	test "$(as $AGENT ls "$MNT/tickets" | sort | uniq -d | wc -l)" -eq 0
check "none lost: every id of the killed batch is there" \
	test -z "$(comm -23 <(sort "$WORK/ids4") <(as $AGENT ls "$MNT/tickets"))"
check "each holds its own line's username" users_match "$WORK/ids4" 100001
check "intake is empty after the kills" wait_for test "$(intake_waiting)" -eq 0
check "nothing was rejected after the kills" test "$(intake_rejected)" -eq 0
if [ "$TS_BACKEND" != pg ]; then
	check "every ticket has its key file after the kills" \
		test "$(ls "$STORE/keys" | grep -vc '^\.')" -eq $((base + K))
fi
trail_wait "$WORK/ids4"
check "after the kills no ticket has two intake entries, and none none ($out)" test -z "$out"
trail_wait "$WORK/ids2" exact
check "the earlier batches' entries are still one each ($out)" test -z "$out"
umount_fs
check "fsck passes" "$TICKETCTL" fsck "$STORE" --key "$KEY"
finish
