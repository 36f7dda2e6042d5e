#!/bin/bash
# The audit trail of a PostgreSQL store, two daemons (hosts h1 and h2, two
# mountpoints, one database): one chain a host in ts_audit, every entry
# naming its host; MOUNT/audit.log on h1 shows h2's entries too, in commit
# order, and grows within a second of an entry h2 makes (tail -f shows it
# at its next look, once a second);
# `ticketctl audit verify URI` checks both chains and lists them; a row
# edited in SQL fails verify (exit 1) naming its host and seq, a deleted
# one too; each host's forward-secure seals (verify --seed); kill -9 of
# one host, which restarted goes on from its chain's tail; a chain cut
# behind its checkpoint is refused at mount.
# Usage: test_pg_audit.sh BUILD/bin.  Run as root.
. "$(dirname "$0")/lib.sh" "$1"
. "$LIBDIR/pg_lib.sh"

pg_newdb
MNT2=$WORK/mnt2
WL=$WORK/whitelist
mkdir -p "$MNT2"
cat > "$WL" <<WL
$AGENT   agent
$READER  reader
$AUDITOR auditor
WL
chmod 644 "$WL"

# pg_mount MNT HOST: a daemon of host HOST on MNT in the foreground (log
# $WORK/HOST.log, checkpoint copy $WORK/HOST.checkpoint); mounted on return.
PIDS=
pg_mount() {
	"$TICKETFS" "$PGURI" "$1" -o key="$KEY",whitelist="$WL",hostname="$2",checkpoint_copy="$WORK/$2.checkpoint",fss="$WORK/$2.fss",audit_spool="$WORK/$2.spool" -f \
		2>>"$WORK/$2.log" &
	PIDS="$PIDS $!"
	eval "PID_$2=$!"
	wait_within 10 mountpoint -q "$1"
}
pg_umount() {
	local pid
	eval "pid=\$PID_$2"
	fusermount3 -u "$1" 2>/dev/null || umount -l "$1"
	wait_within 10 sh -c "! kill -0 $pid" || kill -9 "$pid"
	wait "$pid"
}
EXTRA_CLEANUP="$EXTRA_CLEANUP; for m in '$MNT' '$MNT2'; do mountpoint -q \$m && { fusermount3 -u \$m || umount -l \$m; }; done; for p in \$PIDS; do kill \$p 2>/dev/null; done"
# run CMD...: sets RC and OUT (stdout and stderr).
run() { OUT=$("$@" 2>&1); RC=$?; }
sq() { psql_do "$PGDB" "$1"; }

"$TICKETCTL" init "$PGURI" "$KEY" > "$WORK/init.out" || { fail "init"; finish; }
SEED=$(grep -E '^[0-9a-f]{64}-[0-9]+-[0-9]+$' "$WORK/init.out")
# Each host seals its own chain with its own copy of init's sealing state.
cp -p "$KEY.fss" "$WORK/h1.fss"
cp -p "$KEY.fss" "$WORK/h2.fss"
ID=$(echo '{"username":"alice","subject":"printer","email":"a@example.com"}' | "$TICKETCTL" submit "$PGURI")
check "a ticket submitted" test -n "$ID"

if ! pg_mount "$MNT" h1; then
	fail "h1 mounts (log: $(tail -n 3 "$WORK/h1.log" | tr '\n' ' '))"
	finish
fi
check "h1 takes the ticket in" wait_within 20 as $AGENT test -d "$MNT/tickets/$ID"
if ! pg_mount "$MNT2" h2; then
	fail "h2 mounts (log: $(tail -n 3 "$WORK/h2.log" | tr '\n' ' '))"
	finish
fi
check "h2 serves the ticket" wait_within 10 as $AGENT test -d "$MNT2/tickets/$ID"

# Operations on both hosts.
as $AGENT cat "$MNT/tickets/$ID/subject" >/dev/null
as $AGENT cat "$MNT2/tickets/$ID/email" >/dev/null
as $READER cat "$MNT2/tickets/$ID/username" >/dev/null
as $STRANGER ls "$MNT/tickets" >/dev/null 2>&1
# Entries reach the database through each daemon's spool, within 20 ms
# (not before the operation returns): the checks below wait up to 1 s.
h2_email() { [ "$(sq "SELECT count(*) FROM ts_audit WHERE host = 'h2' AND line LIKE '%\"op\":\"open\",\"path\":\"tickets/$ID/email\"%'")" = 1 ]; }
check "h2's open of the email reaches the database within 1 s" wait_within 1 h2_email
check "one chain a host: h1's entries in ts_audit" test "$(sq "SELECT count(*) FROM ts_audit WHERE host = 'h1'")" -gt 0
check "... and h2's" test "$(sq "SELECT count(*) FROM ts_audit WHERE host = 'h2'")" -gt 0
check "each chain counts from 1 with no gap" test "$(sq "SELECT count(*) FROM (SELECT host, max(seq) m, count(*) c, min(seq) f FROM ts_audit GROUP BY host) x WHERE m <> c OR f <> 1")" = 0
check "every line names its row's host" test "$(sq "SELECT count(*) FROM ts_audit WHERE line NOT LIKE '%,\"host\":\"' || host || '\",%'")" = 0
check "h2's open of the email is h2's entry" test "$(sq "SELECT count(*) FROM ts_audit WHERE host = 'h2' AND line LIKE '%\"op\":\"open\",\"path\":\"tickets/$ID/email\"%'")" = 1

# audit.log on h1 shows both hosts' entries, in commit order.
as $AUDITOR cat "$MNT/audit.log" > "$WORK/h1.audit"
check "h1's audit.log has h2's entries" grep -q "\"host\":\"h2\".*\"path\":\"tickets/$ID/email\"" "$WORK/h1.audit"
check "... and h1's own" grep -q "\"host\":\"h1\".*\"path\":\"tickets/$ID/subject\"" "$WORK/h1.audit"
check "... every line an entry (jq parses them all)" jq -e -s 'all(has("host") and has("seq"))' "$WORK/h1.audit"
sq "SELECT line FROM ts_audit ORDER BY gseq" > "$WORK/db.audit"
check "... in gseq order, as the database has them (a prefix: more may have come)" \
	cmp -n "$(stat -c %s "$WORK/h1.audit")" "$WORK/h1.audit" "$WORK/db.audit"
as $AUDITOR cat "$MNT2/audit.log" > "$WORK/h2.audit"
check "h2's audit.log is the same file" cmp -n "$(stat -c %s "$WORK/h1.audit")" "$WORK/h1.audit" "$WORK/h2.audit"
check "an agent may not read audit.log" sh -c "! setpriv --reuid=$AGENT --regid=$AGENT --clear-groups cat '$MNT/audit.log' 2>/dev/null"

# h1 sees what h2 does within a second: its audit.log's size, and tail -f.
setpriv --reuid=$AUDITOR --regid=$AUDITOR --clear-groups \
	tail -n 0 -f "$MNT/audit.log" > "$WORK/tail" 2>/dev/null &
TAILPID=$!
PIDS="$PIDS $TAILPID"
tail_ready() {
	local f
	for f in /proc/$TAILPID/fd/*; do
		[ "$(readlink "$f")" = "$MNT/audit.log" ] || continue
		awk '/^pos:/ { exit !($2 > 0) }' "/proc/$TAILPID/fdinfo/${f##*/}" && return 0
	done
	return 1
}
check "tail -f on h1 has read to the end" wait_for tail_ready
size_of() { setpriv --reuid=$AUDITOR --regid=$AUDITOR --clear-groups stat -c %s "$MNT/audit.log"; }
S0=$(size_of)
grown() { [ "$(size_of)" -gt "$S0" ]; }
t0=${EPOCHREALTIME/./}
as $READER cat "$MNT2/tickets/$ID/subject" >/dev/null
if wait_within 1 grown; then
	t1=${EPOCHREALTIME/./}
	pass "h1's audit.log grows within 1 s of h2's entry ($(( (t1 - t0) / 1000 )) ms)"
else
	fail "h1's audit.log grows within 1 s of h2's entry (size $S0, now $(size_of))"
fi
# tail -f itself looks once a second (GNU tail polls a FUSE file): the
# entry shows at its next look.
if wait_within 1.5 grep -q "\"host\":\"h2\".*\"path\":\"tickets/$ID/subject\"" "$WORK/tail"; then
	t1=${EPOCHREALTIME/./}
	pass "tail -f on h1 shows h2's entry ($(( (t1 - t0) / 1000 )) ms after it)"
else
	fail "tail -f on h1 shows h2's entry (got: $(tail -c 300 "$WORK/tail"))"
fi
kill $TAILPID 2>/dev/null; wait $TAILPID 2>/dev/null

# kill -9 of h2: h1 goes on; h2 restarted continues its own chain.
# (N2K after h2's spool is shipped, within 20 ms: what a kill leaves in
# it is test_pg_spool's.)
sleep 0.2
N2K=$(sq "SELECT max(seq) FROM ts_audit WHERE host = 'h2'")
kill -9 "$PID_h2"; wait "$PID_h2" 2>/dev/null
umount -l "$MNT2" 2>/dev/null
as $AGENT cat "$MNT/tickets/$ID/email" >/dev/null
h1_email() { [ "$(sq "SELECT count(*) FROM ts_audit WHERE host = 'h1' AND line LIKE '%\"uid\":$AGENT,%\"path\":\"tickets/$ID/email\"%'")" -ge 1 ]; }
check "with h2 killed, h1's operations are still audited (in the database within 1 s)" wait_within 1 h1_email
if pg_mount "$MNT2" h2; then
	as $AGENT cat "$MNT2/tickets/$ID/subject" >/dev/null
	mount_at() { [ "$(sq "SELECT min(seq) FROM ts_audit WHERE host = 'h2' AND line LIKE '%\"op\":\"mount\"%' AND seq > $N2K")" = $((N2K + 1)) ]; }
	check "h2 restarted goes on from its chain's tail (entry $((N2K + 1)) and on; in the database within 1 s)" \
		wait_within 1 mount_at
else
	fail "h2 restarts after kill -9 (log: $(tail -n 3 "$WORK/h2.log" | tr '\n' ' '))"
fi

# Both stop; both chains verify; verify lists them.
pg_umount "$MNT" h1
pg_umount "$MNT2" h2
check "each daemon's last entry is its unmount" test "$(sq "SELECT string_agg(host || ':' || (line LIKE '%\"op\":\"unmount\"%'), ',' ORDER BY host) FROM ts_audit a WHERE seq = (SELECT max(seq) FROM ts_audit b WHERE b.host = a.host)")" = "h1:true,h2:true"
N1=$(sq "SELECT count(*) FROM ts_audit WHERE host = 'h1'")
N2=$(sq "SELECT count(*) FROM ts_audit WHERE host = 'h2'")
run "$TICKETCTL" audit verify "$PGURI"
if [ $RC -eq 0 ] && [[ $OUT == *"$((N1 + N2)) entries in 2 host chains"* ]] &&
   [[ $OUT == *"h1: $N1 entries, signed checkpoint at entry $N1"* ]] &&
   [[ $OUT == *"h2: $N2 entries, signed checkpoint at entry $N2"* ]]; then
	pass "audit verify URI: both chains intact, listed ($OUT)"
else
	fail "audit verify URI (exit $RC: $OUT)"
fi
run "$TICKETCTL" audit verify "$PGURI" --checkpoint "$WORK/h2.checkpoint"
check "... and against h2's checkpoint copy (exit $RC)" test $RC -eq 0
run "$TICKETCTL" audit verify "$PGURI" --seed "$SEED"
if [ $RC -eq 0 ] && [[ $OUT == *"host h1: forward-secure seals"* ]] &&
   [[ $OUT == *"host h2: forward-secure seals"* ]]; then
	pass "... and each host's forward-secure seals ($OUT)"
else
	fail "audit verify URI --seed (exit $RC: $OUT)"
fi
check "both hosts sealed their chain at the unmount" test "$(sq "SELECT count(DISTINCT host) FROM ts_audit_seals")" = 2
# A host whose seals are another seed's: not checked with this one, no pass.
SEALS=$(sq "SELECT DISTINCT seals FROM ts_audit_seals WHERE host = 'h2'")
sq "UPDATE ts_audit_seals SET seals = 'ffffffffffffffff' WHERE host = 'h2'" >/dev/null
run "$TICKETCTL" audit verify "$PGURI" --seed "$SEED"
if [ $RC -eq 1 ] && [[ $OUT == *"host h2: sealed with another seed"* ]]; then
	pass "... a host sealed with another seed is named, exit 1"
else
	fail "a host sealed with another seed (exit $RC: $OUT)"
fi
sq "UPDATE ts_audit_seals SET seals = '$SEALS' WHERE host = 'h2'" >/dev/null

# Tampering, each undone after: verify names host and seq, exit 1.
LINE=$(sq "SELECT line FROM ts_audit WHERE host = 'h2' AND seq = 3")
sq "UPDATE ts_audit SET line = replace(line, '\"uid\":', '\"uid\":1') WHERE host = 'h2' AND seq = 3" >/dev/null
run "$TICKETCTL" audit verify "$PGURI"
if [ $RC -eq 1 ] && [[ $OUT == *"host h2: entry 3: hash chain broken"* ]]; then
	pass "a row edited in SQL: verify fails naming host and seq ($OUT)"
else
	fail "a row edited in SQL (exit $RC: $OUT)"
fi
echo "UPDATE ts_audit SET line = :'l' WHERE host = 'h2' AND seq = 3" |
	psql -X -q -v ON_ERROR_STOP=1 -v l="$LINE" "$(pg_uri "$PGDB")" >/dev/null
run "$TICKETCTL" audit verify "$PGURI"
check "... put back, it verifies again (exit $RC)" test $RC -eq 0
sq "CREATE TABLE saved AS SELECT * FROM ts_audit WHERE host = 'h1' AND seq = 2" >/dev/null
sq "DELETE FROM ts_audit WHERE host = 'h1' AND seq = 2" >/dev/null
run "$TICKETCTL" audit verify "$PGURI"
if [ $RC -eq 1 ] && [[ $OUT == *"host h1: entry 2: out of sequence"* ]]; then
	pass "a row deleted: verify fails naming host and seq ($OUT)"
else
	fail "a row deleted (exit $RC: $OUT)"
fi
sq "INSERT INTO ts_audit SELECT * FROM saved; DROP TABLE saved" >/dev/null

# A chain cut behind its signed checkpoint: that host will not start.
sq "CREATE TABLE saved AS SELECT * FROM ts_audit WHERE host = 'h2' AND seq = $N2" >/dev/null
sq "DELETE FROM ts_audit WHERE host = 'h2' AND seq = $N2" >/dev/null
run "$TICKETCTL" audit verify "$PGURI"
check "a cut tail fails verify (exit $RC)" test $RC -eq 1 -a -n "$(echo "$OUT" | grep 'host h2: the trail ends at entry')"
pg_mount "$MNT2" h2
check "h2 refuses to start on its cut chain" sh -c "! mountpoint -q '$MNT2'"
check "... saying why" grep -q "shorter than its signed checkpoint" "$WORK/h2.log"
sq "INSERT INTO ts_audit SELECT * FROM saved; DROP TABLE saved" >/dev/null
run "$TICKETCTL" audit verify "$PGURI"
check "restored, the trail verifies (exit $RC)" test $RC -eq 0
finish
