#!/bin/bash
# The audit spool of a PostgreSQL store's daemon (-o audit_spool=FILE,
# store/pg_audit_ship.c): appends go to a local file and are shipped to
# the database within 20 ms, fail closed.  As users and an operator see it:
#  1. kill -9 right after many reads (grep -r): after the remount every
#     read's entry is in audit.log and `ticketctl audit verify URI` exits 0.
#  2. kill -9 while the database holds the entries back (a session holds
#     the audit order lock): the reads succeeded, their entries are in the
#     spool (mode 0600, no value in it), not in the database; an edited
#     copy of that spool refuses the mount, saying so, the database
#     unchanged; another host's refuses it too; the spool as it was, with
#     a line cut short at its end, is shipped at the mount (logged), the
#     cut line dropped (logged), and the trail verifies.
#  3. The database holds entries back over 2 s: reads fail EIO (the
#     backlog's bound); released, they work again.
#  4. The database stopped: a read of a value already read (in the
#     daemon's cache, no database needed but for its audit entry) fails
#     EIO within a second; started again, it works within 5 s.
#  5. A second daemon on one spool is refused, naming it.
# Usage: test_pg_spool.sh BUILD/bin.  Run as root.
. "$(dirname "$0")/lib.sh" "$1"
# Part 4 stops its database server: a cluster of its own (pg_lib.sh starts
# one when TS_PG_DIR is unset and stops it at exit).
unset TS_PG_DIR
. "$LIBDIR/pg_lib.sh"

pg_newdb || { echo "no database"; exit 1; }
"$TICKETCTL" init "$PGURI" "$KEY" >/dev/null || { echo "init failed"; exit 1; }
cp -p "$KEY.fss" "$WORK/h2.fss"
WL=$WORK/whitelist
cat > "$WL" <<WL
$AGENT   agent
$READER  reader
$AUDITOR auditor
WL
chmod 644 "$WL"
SPOOL=$WORK/h1.spool
PID= HOLDER= DB_STOPPED=0
EXTRA_CLEANUP="spool_cleanup; $EXTRA_CLEANUP"
spool_cleanup() {
	[ -n "$HOLDER" ] && kill "$HOLDER" 2>/dev/null
	[ "$DB_STOPPED" = 1 ] && sh "$PG_FIXTURE" start-again "$TS_PG_DIR"
	mountpoint -q "$MNT" 2>/dev/null && { fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT"; }
	[ -n "$PID" ] && kill "$PID" 2>/dev/null
	:
}
# up [HOST [SPOOL]]: a daemon (default h1, its spool $SPOOL) on $MNT in
# the foreground, its log in $WORK/HOST.log; 0 once mounted, 1 if it
# exited (its status in UP_RC).
up() {
	local h=${1:-h1} sp=${2:-$SPOOL}
	"$TICKETFS" "$PGURI" "$MNT" -f -o key="$KEY",whitelist="$WL",hostname=$h,checkpoint_copy="$WORK/$h.checkpoint",fss="$WORK/$h.fss",audit_spool="$sp" 2>>"$WORK/$h.log" &
	PID=$!
	UP_RC=
	while ! mountpoint -q "$MNT"; do
		if ! kill -0 "$PID" 2>/dev/null; then
			wait "$PID"; UP_RC=$?; PID=
			return 1
		fi
		sleep 0.05
	done
}
down() {	# a clean unmount; the daemon's exit status checked
	local rc
	fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT"
	wait "$PID"; rc=$?; PID=
	[ $rc -eq 0 ] || fail "the daemon exited with status $rc"
}
kill9() {
	kill -9 "$PID"; wait "$PID" 2>/dev/null; PID=
	fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT"
}
sq() { psql_do "$PGDB" "$1"; }
rows() { sq "SELECT count(*) FROM ts_audit WHERE host = '$1'"; }
db_digest() { sq "SELECT md5(string_agg(host || seq || line, ',' ORDER BY gseq)) FROM ts_audit"; }
verify() {
	local out rc
	out=$("$TICKETCTL" audit verify "$PGURI" 2>&1); rc=$?
	if [ $rc -eq 0 ]; then pass "$1 ($out)"; else fail "$1 (exit $rc: $out)"; fi
}
# reads_logged LIST: every path in file LIST has a read (op open, the
# reader's uid) in audit.log; the missing ones in MISSING.
reads_logged() {
	as $AUDITOR cat "$MNT/audit.log" |
		jq -r --argjson u "$READER" 'select(.op == "open" and .uid == $u and .result == "ok") | .path' |
		sort -u > "$WORK/logged"
	MISSING=$(sort -u "$1" | comm -23 - "$WORK/logged" | head -n 5)
	[ -z "$MISSING" ]
}
# hold SECONDS: a session holds the audit order lock (every host's appends
# wait on it) for SECONDS; returns once it holds it.
hold() {
	psql -X -q -At "$PGURI" -c "SELECT pg_advisory_lock(hashtext('ticketfs-audit-order'), 0)" -c "SELECT pg_sleep($1)" >/dev/null 2>&1 &
	HOLDER=$!
	wait_within 5 sh -c "[ \"\$(psql -X -At '$PGURI' -c \"SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objid = 0\")\" -ge 1 ]"
}

N=20
python3 "$LIBDIR/../../bench/gen.py" $N > "$WORK/batch"
"$TICKETCTL" submit --batch "$PGURI" < "$WORK/batch" > "$WORK/ids" ||
	{ echo "submit failed"; exit 1; }
# The sealed values (subject, description, email), for "no value in the
# spool".
jq -r '.subject, .description, .email' "$WORK/batch" > "$WORK/values"
up || { echo "h1 did not mount"; cat "$WORK/h1.log"; exit 1; }
check "$N tickets taken in" wait_within 10 sh -c "[ \$(setpriv --reuid=$READER --regid=$READER --clear-groups ls '$MNT/tickets' | wc -l) -eq $N ]"
st=$(stat -c '%a %U' "$SPOOL")
check "the spool is there, mode 600, root's ($st)" test "$st" == "600 root"

# ---- 1. kill -9 right after many reads ----
as $READER grep -r -l . "$MNT/tickets" | sed "s|^$MNT/||" > "$WORK/read1.all"
# The sealed values' reads are audited (plain metadata's are not).
grep -v -E '/(status|created|expires)$' "$WORK/read1.all" > "$WORK/read1"
nread=$(wc -l < "$WORK/read1")
check "grep -r read every value ($nread sealed files)" test "$nread" -ge $(( N * 5 ))
kill9
echo "# kill -9 right after grep -r: $(wc -l < "$SPOOL") lines were in the spool, $(rows h1) entries in the database"
up || fail "h1 mounts again after kill -9 (exit $UP_RC: $(tail -n 2 "$WORK/h1.log"))"
if reads_logged "$WORK/read1"; then
	pass "after the remount every read's entry is in audit.log ($nread)"
else
	fail "after the remount a read's entry is missing from audit.log: $MISSING"
fi
check "the spool is empty once shipped" wait_within 1 sh -c "[ ! -s '$SPOOL' ]"
down
verify "audit verify URI passes after kill -9 and the remount"

# ---- 2. kill -9 while the database holds the entries back ----
# The lock is held 5 s: the batch the killed daemon had sent waits on
# it, and fails at the session's lock_timeout (4 s), never committed.
up || fail "h1 mounts"
before=$(rows h1)
hold 5 || fail "a session holds the audit order lock"
t0=${EPOCHREALTIME/./}
: > "$WORK/read2"
for id in $(head -n 8 "$WORK/ids"); do
	if as $READER cat "$MNT/tickets/$id/subject" >/dev/null; then
		echo "tickets/$id/subject" >> "$WORK/read2"
	fi
done
ms=$(( (${EPOCHREALTIME/./} - t0) / 1000 ))
check "with the entries held back, reads succeed (8 in $ms ms, under the 2 s bound)" test "$(wc -l < "$WORK/read2")" -eq 8
kill9
inspool=0
while read -r p; do grep -q "\"path\":\"$p\"" "$SPOOL" && inspool=$((inspool + 1)); done < "$WORK/read2"
check "their entries are in the spool ($inspool of 8)" test $inspool -eq 8
check "no value in the spool" sh -c "! grep -q -F -f '$WORK/values' '$SPOOL'"
wait "$HOLDER" 2>/dev/null; HOLDER=
check "and not in the database (the lock released)" test "$(rows h1)" -eq "$before"
first=$(head -n 1 "$SPOOL" | jq .seq) last=$(tail -n 1 "$SPOOL" | jq .seq)
# spool_in_db: the saved spool's lines are the database's rows of their
# seqs, text for text, once each.
spool_in_db() {
	[ "$(sq "SELECT string_agg(line, E'\n' ORDER BY seq) FROM ts_audit WHERE host = 'h1' AND seq BETWEEN $first AND $last")" == "$(cat "$WORK/saved.spool")" ]
}
cp -p "$SPOOL" "$WORK/saved.spool"
dg=$(db_digest)
# Edited: one entry's uid changed.
sed '2s/"uid":\([0-9]*\)/"uid":1\1/' "$WORK/saved.spool" > "$SPOOL"
if up; then
	fail "a spool with an edited entry refuses the mount"; down
else
	pass "a spool with an edited entry refuses the mount (exit $UP_RC)"
fi
check "... saying so" grep -q "audit spool $SPOOL is damaged (line 2 (entry [0-9]*): hash chain broken): the database is unchanged" "$WORK/h1.log"
check "... the database unchanged" test "$(db_digest)" == "$dg"
check "... the spool left as it was" sh -c "sed '2s/\"uid\":\([0-9]*\)/\"uid\":1\1/' '$WORK/saved.spool' | cmp -s - '$SPOOL'"
# A line removed from the middle.
sed '3d' "$WORK/saved.spool" > "$SPOOL"
up && { fail "a spool with an entry removed refuses the mount"; down; }
check "a spool with an entry removed refuses the mount, saying so" grep -q "is damaged (line 3 is entry" "$WORK/h1.log"
# Another host's: h2's chain does not go on from it.
if up h2 "$WORK/saved.spool"; then
	fail "h1's spool given to host h2 refuses the mount"; down
else
	pass "h1's spool given to host h2 refuses the mount (exit $UP_RC)"
fi
check "... saying so" grep -q "audit spool $WORK/saved.spool starts at entry [0-9]* but this host's chain in the database ends at entry 0" "$WORK/h2.log"
check "... the database unchanged" test "$(db_digest)" == "$dg"
# The spool as the kill left it, and half a line after it (a crash in the
# middle of a write): shipped, the half line dropped, both logged.
cp -p "$WORK/saved.spool" "$SPOOL"
printf '{"seq":99,"time":"2026-1' >> "$SPOOL"
up || fail "the killed run's spool is shipped at the mount (exit $UP_RC: $(tail -n 2 "$WORK/h1.log"))"
check "... logged" grep -q "audit spool $SPOOL: the last run's unshipped entries shipped, up to entry [0-9]*; its last line, cut short (24 bytes, never acknowledged), dropped" "$WORK/h1.log"
if reads_logged "$WORK/read2"; then
	pass "the held-back reads' entries are in audit.log"
else
	fail "a held-back read's entry is missing from audit.log: $MISSING"
fi
check "the database has the spool's lines (entries $first to $last), as they were" spool_in_db
down
verify "audit verify URI passes after the recovery"
# A spool whose every line is in the database already (a kill between a
# batch's commit and the spool's truncation): nothing shipped twice.
cp -p "$WORK/saved.spool" "$SPOOL"
n0=$(rows h1) nlog=$(grep -c 'unshipped entries shipped' "$WORK/h1.log")
up || fail "a spool already shipped mounts (exit $UP_RC: $(tail -n 2 "$WORK/h1.log"))"
check "... nothing shipped (nor logged)" sh -c "[ \$(grep -c 'unshipped entries shipped' '$WORK/h1.log') -eq $nlog ]"
check "... its entries as they were" spool_in_db
check "... the chain goes on" wait_within 1 sh -c "[ \$(psql -X -At '$PGURI' -c \"SELECT count(*) FROM ts_audit WHERE host = 'h1'\") -gt $n0 ]"

# ---- 3. entries held back over the bound ----
ID1=$(head -n 1 "$WORK/ids")
hold 3.5 || fail "a session holds the audit order lock"
as $READER cat "$MNT/tickets/$ID1/subject" >/dev/null
sleep 2.2
t0=${EPOCHREALTIME/./}
err=$(as $READER cat "$MNT/tickets/$ID1/subject" 2>&1 >/dev/null); rc=$?
ms=$(( (${EPOCHREALTIME/./} - t0) / 1000 ))
check "entries held back over 2 s: a read fails EIO at once ($ms ms: $err)" test $rc -ne 0 -a "${err##*: }" == "Input/output error" -a $ms -lt 1000
wait "$HOLDER" 2>/dev/null; HOLDER=
reads_subject() { as $READER cat "$MNT/tickets/$ID1/subject" >/dev/null; }
check "released: reads work again within 5 s" wait_within 5 reads_subject

# ---- 4. the database stopped ----
ID2=$(sed -n 2p "$WORK/ids")
check "a value read (now in the daemon's cache)" as $READER cat "$MNT/tickets/$ID2/description"
sh "$PG_FIXTURE" stop-keep "$TS_PG_DIR" || fail "pg_ctl stop"
DB_STOPPED=1
s0=${EPOCHREALTIME/./}
eio() { ! as $READER cat "$MNT/tickets/$ID2/description" >/dev/null 2>"$WORK/err" && grep -q "Input/output error" "$WORK/err"; }
if wait_within 1 eio; then
	pass "db down: the read of a cached value fails EIO (its entry cannot be shipped) within 1 s ($(( (${EPOCHREALTIME/./} - s0) / 1000 )) ms)"
else
	fail "db down: the read of a cached value fails EIO within 1 s ($(cat "$WORK/err"))"
fi
check "db down: and again 1 s later" sh -c "sleep 1; ! setpriv --reuid=$READER --regid=$READER --clear-groups cat '$MNT/tickets/$ID2/description' >/dev/null 2>&1"
sh "$PG_FIXTURE" start-again "$TS_PG_DIR" || fail "pg_ctl start"
DB_STOPPED=0
s0=${EPOCHREALTIME/./}
reads_again() { as $READER cat "$MNT/tickets/$ID2/description" >/dev/null; }
if wait_within 5 reads_again; then
	pass "db up: the read works again ($(( (${EPOCHREALTIME/./} - s0) / 1000 )) ms after pg_ctl start returned)"
else
	fail "db up: the read works again within 5 s"
fi

# ---- 5. one daemon a spool ----
mkdir -p "$WORK/mnt2"
out=$(timeout 15 "$TICKETFS" "$PGURI" "$WORK/mnt2" -f -o key="$KEY",whitelist="$WL",hostname=h2,checkpoint_copy="$WORK/h2.checkpoint",fss="$WORK/h2.fss",audit_spool="$SPOOL" 2>&1); rc=$?
mountpoint -q "$WORK/mnt2" && { fusermount3 -u "$WORK/mnt2" || umount -l "$WORK/mnt2"; }
check "a second daemon on h1's spool is refused (exit $rc)" test $rc -eq 1
check "... naming the spool" grep -q "audit spool $SPOOL is in use by another ticketfs" <<<"$out"
down
verify "audit verify URI passes at the end"
check "no sanitizer report in the logs" sh -c "! grep -E -q '$SAN_RE' '$WORK/h1.log' '$WORK/h2.log'"
if [ "$FAILED" -gt 0 ]; then
	echo "# h1's log:"; tail -n 30 "$WORK/h1.log" | sed 's/^/#   /'
fi
finish
