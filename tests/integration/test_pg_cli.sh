#!/bin/bash
# ticketctl against a PostgreSQL store (a libpq URI for STORE): init (and
# its refusal of a database that holds a store, or of none), submit and
# submit --batch (the rate of 2,000 tickets, beside a directory store's),
# message, authorize, revoke, forget, erase, fsck, exit statuses and
# output; a front end's role (INSERT on ts_intake only) submits; intake
# waits in the database while no daemon runs and is taken in when one
# mounts; two daemons (two mountpoints, hosts h1 and h2) take in 500
# tickets, each exactly once, both mounts listing all 500 (with and
# without a remount); the audit verbs and wait against the URI.
# Usage: test_pg_cli.sh BUILD/bin.  Run as root.
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

# run CMD...: sets RC, OUT (stdout), ERR (stderr).
run() {
	OUT=$("$@" 2>"$WORK/err")
	RC=$?
	ERR=$(cat "$WORK/err")
}

# expect RC WHERE TEXT DESCRIPTION CMD...: exit status RC, TEXT in WHERE
# (out or err).
expect() {
	local rc=$1 where=$2 text=$3 what=$4 got; shift 4
	run "$@"
	if [ "$where" = out ]; then got=$OUT; else got=$ERR; fi
	if [ "$RC" -eq "$rc" ] && [[ $got == *"$text"* ]]; then
		pass "$what"
	else
		fail "$what: rc=$RC (want $rc) out=[$OUT] err=[$ERR]"
	fi
}

waiting() { psql_do "$PGDB" "SELECT count(*) FROM ts_intake"; }
# rows KIND ID: intake rows of that kind for that id.
rows() { psql_do "$PGDB" "SELECT count(*) FROM ts_intake WHERE kind = $1 AND id = '$2'"; }

# --- init ---
expect 0 out "created; secret key in $KEY" "init on an empty database" \
	"$TICKETCTL" init "$PGURI" "$KEY"
check "the key file is mode 0600" test "$(stat -c %a "$KEY")" = 600
check "the schema is there, version 2" test "$(psql_do "$PGDB" 'SELECT version FROM ts_schema_version')" = 2
check "with the store's public key" test "$(psql_do "$PGDB" 'SELECT count(*) FROM ts_public_key')" = 1
expect 2 err "already holds a ticketfs store" "init again on that database is refused" \
	"$TICKETCTL" init "$PGURI" "$WORK/k2"
check "the refused init leaves no key file" test ! -e "$WORK/k2" -a ! -e "$WORK/k2.fss"
check "and the store is unchanged (still one public key)" test "$(psql_do "$PGDB" 'SELECT count(*) FROM ts_public_key')" = 1
NOSUCH=${PGDB}_nosuch
expect 2 err "database \"$NOSUCH\" does not exist" "init on a database that does not exist" \
	"$TICKETCTL" init "$(pg_uri "$NOSUCH")" "$WORK/k3"
check "... leaves no key file" test ! -e "$WORK/k3"
run "$TICKETCTL" init "postgresql://postgres:s3kr1t@/$NOSUCH?host=$TS_PG_DIR&password=s3kr1t" "$WORK/k4"
check "a URI's password is never shown" test $RC -eq 2 -a -n "$ERR" -a "${ERR/s3kr1t/}" = "$ERR"
check "... it reads ***" grep -q 'postgres:\*\*\*@' "$WORK/err"
expect 2 err "the database holds no ticketfs store" "a verb on a database without a store says so" \
	"$TICKETCTL" submit "$(pg_uri postgres)" /dev/null
# PostgreSQL 15: only the database's owner may create in schema public.
R=nocreate_$RANDOM
psql_do postgres "CREATE ROLE $R LOGIN"
psql_do postgres "CREATE DATABASE ${R}_db"
EXTRA_CLEANUP="$EXTRA_CLEANUP; psql -X -q '$(pg_uri postgres)' -c 'DROP DATABASE IF EXISTS ${R}_db WITH (FORCE)' -c 'DROP ROLE IF EXISTS $R' >/dev/null 2>&1"
expect 2 err "permission denied: the role may not create tables" "init as a role that may not create tables says why" \
	"$TICKETCTL" init "postgresql:///${R}_db?host=$TS_PG_DIR&user=$R" "$WORK/k5"
check "... leaves no key file" test ! -e "$WORK/k5"

# --- the intake verbs ---
GOOD='{"username":"alice","subject":"printer","email":"a@example.com","mobile":"+100","confidential":"c"}'
run sh -c "echo '$GOOD' | '$TICKETCTL' submit '$PGURI'"
ID1=$OUT
check "submit prints the new id" test $RC -eq 0 -a -n "$ID1"
check "... one ticket row waits in ts_intake" test "$(rows 1 "$ID1")" = 1
n0=$(waiting)
expect 2 err "invalid JSON" "submit of bad JSON is refused" \
	sh -c "echo '{\"username\":' | '$TICKETCTL' submit '$PGURI'"
check "... and writes nothing" test "$(waiting)" = "$n0"
run sh -c "echo 'hello from the front end' | '$TICKETCTL' message '$PGURI' '$ID1'"
MSG=$OUT
check "message prints its name" test $RC -eq 0 -a -n "$MSG"
check "... a message row waits" test "$(rows 2 "$ID1")" = 1
expect 2 err "no ticket 20990101-000000-000000-0000 in this store" \
	"message to an unknown ticket is refused" \
	sh -c "echo hi | '$TICKETCTL' message '$PGURI' 20990101-000000-000000-0000"
run sh -c "echo '{\"account\":\"acct\",\"password\":\"pw\",\"expires\":\"2099-06-01T12:00:00Z\"}' | '$TICKETCTL' authorize '$PGURI' '$ID1'"
AUTH=$OUT
check "authorize prints its name" test $RC -eq 0 -a -n "$AUTH"
check "... an authorization row waits" test "$(rows 3 "$ID1")" = 1
run sh -c "echo '{\"account\":\"acct2\",\"password\":\"pw2\",\"expires\":\"2099-06-01T12:00:00Z\"}' | '$TICKETCTL' authorize '$PGURI' '$ID1'"
AUTH2=$OUT
check "a second authorization" test $RC -eq 0 -a -n "$AUTH2" -a "$(rows 3 "$ID1")" = 2
expect 0 out "" "revoke" "$TICKETCTL" revoke "$PGURI" "$ID1" "$AUTH2"
check "... a revocation row waits" test "$(rows 4 "$ID1")" = 1
expect 0 out "" "forget" "$TICKETCTL" forget "$PGURI" nobody-at-all
check "... a forget row waits" test "$(psql_do "$PGDB" 'SELECT count(*) FROM ts_intake WHERE kind = 5')" = 1
expect 0 out "" "erase of a field" "$TICKETCTL" erase "$PGURI" "$ID1" mobile
check "... an erase row waits" test "$(rows 6 "$ID1")" = 1
expect 2 err "unknown field" "erase of no field is refused" \
	"$TICKETCTL" erase "$PGURI" "$ID1" colour
expect 2 err "no ticket 20990101-000000-000000-0000 in this store" \
	"erase of an unknown ticket is refused" \
	"$TICKETCTL" erase "$PGURI" 20990101-000000-000000-0000

# --- submit --batch: 2,000 tickets, into PostgreSQL and into a directory ---
for i in $(seq 1 2000); do
	printf '{"username":"user%d","subject":"batch %d","email":"u%d@example.com"}\n' "$i" "$i" "$i"
done > "$WORK/batch.jsonl"
rate() { awk -v n="$1" -v us="$2" 'BEGIN { printf "%.0f", n / (us / 1e6) }'; }
n0=$(waiting)
t0=${EPOCHREALTIME/./}
"$TICKETCTL" submit --batch "$PGURI" "$WORK/batch.jsonl" > "$WORK/ids.pg"; rc=$?
t1=${EPOCHREALTIME/./}
check "submit --batch of 2,000 into PostgreSQL" test $rc -eq 0 -a "$(wc -l < "$WORK/ids.pg")" -eq 2000
check "... all 2,000 wait in ts_intake" test "$(waiting)" -eq $((n0 + 2000))
check "... in one transaction" test "$(psql_do "$PGDB" "SELECT count(DISTINCT xmin::text) FROM ts_intake WHERE seq > (SELECT max(seq) - 2000 FROM ts_intake)")" = 1
check "... in the order of the input" test "$(psql_do "$PGDB" "SELECT id FROM ts_intake WHERE kind = 1 ORDER BY seq" | tail -2000)" = "$(cat "$WORK/ids.pg")"
"$TICKETCTL" init "$STORE" "$WORK/dir.key" >/dev/null
t2=${EPOCHREALTIME/./}
"$TICKETCTL" submit --batch "$STORE" "$WORK/batch.jsonl" > "$WORK/ids.dir"; rc=$?
t3=${EPOCHREALTIME/./}
check "submit --batch of 2,000 into a directory store" test $rc -eq 0 -a "$(wc -l < "$WORK/ids.dir")" -eq 2000
echo "# submit --batch, 2,000 tickets: PostgreSQL $(( (t1 - t0) / 1000 )) ms, $(rate 2000 $((t1 - t0))) tickets/s; directory store $(( (t3 - t2) / 1000 )) ms, $(rate 2000 $((t3 - t2))) tickets/s"
n0=$(waiting)
expect 2 err "nothing was submitted" "a batch with one bad line writes nothing" \
	sh -c "printf '%s\n%s\n' '$GOOD' '{\"subject\":\"no user\"}' | '$TICKETCTL' submit --batch '$PGURI'"
check "... not a row" test "$(waiting)" = "$n0"

# --- a front end's role (ticketctl grant): INSERT on ts_intake, nothing to
# read but the public key ---
FE=fe_$PGDB
psql_do "$PGDB" "CREATE ROLE $FE LOGIN"
EXTRA_CLEANUP="$EXTRA_CLEANUP; psql -X -q '$(pg_uri postgres)' -c 'DROP ROLE IF EXISTS $FE' >/dev/null 2>&1"
expect 0 out "" "ticketctl grant ROLE frontend" "$TICKETCTL" grant "$PGURI" "$FE" frontend
FEURI="postgresql:///$PGDB?host=$TS_PG_DIR&user=$FE"
run sh -c "echo '$GOOD' | '$TICKETCTL' submit '$FEURI'"
FEID=$OUT
check "submit as a front end's role" test $RC -eq 0 -a "$(rows 1 "$FEID")" = 1
expect 0 out "" "message as a front end's role (its ticket known through ts_ticket_known)" \
	sh -c "echo hi | '$TICKETCTL' message '$FEURI' '$FEID'"
expect 2 err "no ticket 20990101-000000-000000-0000 in this store" \
	"... and an unknown ticket refused for it" \
	sh -c "echo hi | '$TICKETCTL' message '$FEURI' 20990101-000000-000000-0000"
expect 2 err "ermission denied" "fsck as a front end's role: it may not read the tickets" \
	"$TICKETCTL" fsck "$FEURI"

# --- fsck, before any daemon ---
expect 0 out "0 records checked, 0 problems" "fsck against the URI" \
	"$TICKETCTL" fsck "$PGURI"
expect 2 err "does not belong to store" "fsck with another store's key" \
	"$TICKETCTL" fsck "$PGURI" --key "$WORK/dir.key"

# --- intake waits while no daemon runs ---
n0=$(waiting)
sleep 1.5
check "intake waits in the database while no daemon runs ($n0 rows)" test "$(waiting)" = "$n0" -a "$n0" -gt 2000

# pg_mount MNT HOST: a daemon of host HOST on MNT, in the foreground
# (its log $WORK/HOST.log); mounted on return.  Two hosts on one machine
# share the key file, so each keeps its checkpoint copy apart (the
# default is beside the key: one a key file, as one a host), and neither
# seals (the sealing state beside the key is one host's).
PIDS=
pg_mount() {
	"$TICKETFS" "$PGURI" "$1" -o key="$KEY",whitelist="$WL",hostname="$2",checkpoint_copy="$WORK/$2.checkpoint",fss="$WORK/$2.fss",audit_spool="$WORK/$2.spool" -f \
		2>>"$WORK/$2.log" &
	PIDS="$PIDS $!"
	eval "PID_$2=$!"
	wait_within 60 mountpoint -q "$1"
}
# pg_umount MNT HOST: unmounts; the daemon exits 0 within 30 s, its log
# free of sanitizer reports.
pg_umount() {
	local pid rc san
	eval "pid=\$PID_$2"
	fusermount3 -u "$1" 2>/dev/null || umount -l "$1"
	wait_within 30 sh -c "! kill -0 $pid" || kill -9 "$pid"
	wait "$pid"; rc=$?
	[ $rc -eq 0 ] || fail "the daemon of $2 exited with status $rc: $(tail -n 3 "$WORK/$2.log")"
	san=$(grep -E -m 3 "$SAN_RE" "$WORK/$2.log")
	[ -z "$san" ] || fail "the daemon of $2 logged a sanitizer report: $san"
}
EXTRA_CLEANUP="$EXTRA_CLEANUP; for m in '$MNT' '$MNT2'; do mountpoint -q \$m && { fusermount3 -u \$m || umount -l \$m; }; done; for p in \$PIDS; do kill \$p 2>/dev/null; done"

t0=${EPOCHREALTIME/./}
if ! pg_mount "$MNT" h1; then
	fail "a daemon mounts the store (log: $(tail -n 3 "$WORK/h1.log" | tr '\n' ' '))"
	finish
fi
pass "a daemon mounts the PostgreSQL store"
check "the waiting intake is taken in when it mounts" wait_within 60 sh -c "test \$(psql -X -At '$PGURI' -c 'SELECT count(*) FROM ts_intake') = 0"
t1=${EPOCHREALTIME/./}
echo "# $n0 intake records taken in by one daemon: $(( (t1 - t0) / 1000 )) ms from its start"
check "... none of it rejected" test "$(psql_do "$PGDB" 'SELECT count(*) FROM ts_intake_rejected')" = 0
check "the ticket is in ts_tickets" test "$(psql_do "$PGDB" "SELECT count(*) FROM ts_tickets WHERE id = '$ID1'")" = 1
check "... and on the mount" as $AGENT test -d "$MNT/tickets/$ID1"
check "its message too" as $AGENT test -f "$MNT/tickets/$ID1/messages/$MSG"
check "its authorization too" as $AGENT test -d "$MNT/tickets/$ID1/authorizations/$AUTH"
check "the revoked one is gone" as $AGENT test ! -e "$MNT/tickets/$ID1/authorizations/$AUTH2"
check "the erased field is gone" as $AGENT test ! -e "$MNT/tickets/$ID1/mobile"
expect_out $READER "alice" "the username reads back" cat "$MNT/tickets/$ID1/username"
check "all 2,000 of the batch are listed" test "$(as $AGENT ls "$MNT/tickets" | grep -cxFf "$WORK/ids.pg")" = 2000
nt=$(psql_do "$PGDB" 'SELECT count(*) FROM ts_tickets')
expect 0 out "$nt records checked with the key, 0 problems" "fsck --key against the URI, with a daemon running" \
	"$TICKETCTL" fsck "$PGURI" --key "$KEY"
pg_umount "$MNT" h1

# --- two daemons, one store: 500 tickets, each taken in exactly once ---
pg_mount "$MNT" h1 || fail "h1 mounts: $(tail -n 3 "$WORK/h1.log")"
pg_mount "$MNT2" h2 || fail "h2 mounts: $(tail -n 3 "$WORK/h2.log")"
head -500 "$WORK/batch.jsonl" > "$WORK/b500.jsonl"
subs=
for part in 0 1 2 3 4; do
	sed -n "$((part * 100 + 1)),$((part * 100 + 100))p" "$WORK/b500.jsonl" |
		"$TICKETCTL" submit --batch "$PGURI" > "$WORK/ids500.$part" &
	subs="$subs $!"
done
wait $subs
cat "$WORK"/ids500.* > "$WORK/ids500"
check "500 tickets submitted (5 batches at once)" test "$(wc -l < "$WORK/ids500")" = 500
ARR="{$(paste -sd, "$WORK/ids500")}"
if wait_within 60 sh -c "test \$(psql -X -At '$PGURI' -c 'SELECT count(*) FROM ts_intake') = 0"; then
	pass "ts_intake is empty after (both daemons running)"
else
	fail "ts_intake is empty after (both daemons running): $(psql_do "$PGDB" "SELECT count(*) || ' left, e.g. ' || min(seq) || ' kind ' || min(kind) || ' claimed by ' || coalesce(min(claimed_by), '-') FROM ts_intake")"
fi
check "every one of the 500 is in ts_tickets" test "$(psql_do "$PGDB" "SELECT count(*) FROM ts_tickets WHERE id = ANY ('$ARR'::text[])")" = 500
check "... each written once, by one host (ts_changes)" test "$(psql_do "$PGDB" "SELECT count(*) || ' ' || count(DISTINCT id) FROM ts_changes WHERE id = ANY ('$ARR'::text[])")" = "500 500"
check "... and audited once each, as intake, by the host that took it in" test "$(psql_do "$PGDB" "SELECT (SELECT count(*) FROM ts_audit WHERE line::json->>'op' = 'intake' AND line::json->>'path' IN (SELECT 'tickets/' || unnest('$ARR'::text[]))) || ' ' || (SELECT count(DISTINCT a.line::json->>'path') FROM ts_audit a JOIN ts_changes c ON a.line::json->>'path' = 'tickets/' || c.id AND a.host = c.host WHERE a.line::json->>'op' = 'intake' AND c.id = ANY ('$ARR'::text[]))")" = "500 500"
check "none rejected" test "$(psql_do "$PGDB" 'SELECT count(*) FROM ts_intake_rejected')" = 0
echo "# taken in by host: $(psql_do "$PGDB" "SELECT string_agg(host || ' ' || n, ', ' ORDER BY host) FROM (SELECT host, count(*) AS n FROM ts_changes WHERE id = ANY ('$ARR'::text[]) GROUP BY host) x")"
pg_umount "$MNT" h1
pg_umount "$MNT2" h2
pg_mount "$MNT" h1 || fail "h1 mounts again"
pg_mount "$MNT2" h2 || fail "h2 mounts again"
for m in "$MNT" "$MNT2"; do
	check "after a remount, $m lists all 500 once" test "$(as $AGENT ls "$m/tickets" | grep -xFf "$WORK/ids500" | sort | uniq | wc -l)" = 500
done
for m in "$MNT" "$MNT2"; do
	check "$m lists all 500 within a second, without a remount (the other host's take-in applied)" \
		wait_within 1.2 sh -c "test \$(setpriv --reuid=$AGENT --regid=$AGENT --clear-groups ls '$m/tickets' | grep -cxFf '$WORK/ids500') = 500"
done
expect 2 err "a ticketfs daemon of host h1 holds store" \
	"audit prune --host h1 while h1's daemon runs is refused" \
	"$TICKETCTL" audit prune "$PGURI" --before 2000-01-01T00:00:00Z --key "$KEY" --host h1 --fss "$WORK/h1.fss"
pg_umount "$MNT" h1
pg_umount "$MNT2" h2

# --- the audit verbs and wait, against the URI ---
expect 0 out "pruned: 0 entries" "audit prune --host h1 once it stopped" \
	"$TICKETCTL" audit prune "$PGURI" --before 2000-01-01T00:00:00Z --key "$KEY" --host h1 --fss "$WORK/h1.fss"
check "... its entry is in h1's chain, none in this machine's" test "$(psql_do "$PGDB" "SELECT string_agg(DISTINCT host, ',') FROM ts_audit WHERE line::json->>'op' = 'prune'")" = h1
expect 2 err "--host is for a shared" "audit prune --host on a directory store is refused" \
	"$TICKETCTL" audit prune "$STORE" --before 2000-01-01T00:00:00Z --key "$WORK/dir.key" --host h1
expect 0 out "audit trail intact" "audit verify against the URI" \
	"$TICKETCTL" audit verify "$PGURI" --key "$KEY"
if [[ $OUT == *h1:* && $OUT == *h2:* ]]; then pass "... it names both hosts' chains"
else fail "... it names both hosts' chains: $OUT"; fi
expect 0 out "" "wait against the URI, no daemon running" \
	"$TICKETCTL" wait "$PGURI" --timeout 5
finish
