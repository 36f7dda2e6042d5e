#!/bin/bash
# A PostgreSQL store mounted by one daemon, as the uids see it: tickets
# submitted to the URI are taken in and read back exactly by agents and
# readers, strangers get EACCES; an agent's message and status move are
# in the database and survive a remount; the database holds no
# plaintext; a second daemon of the same host name is refused (EBUSY, a
# clear message), as are a mount without -o whitelist=FILE and a bad
# -o hostname.
# Usage: test_pg_mount.sh BUILD/bin.  Run as root.
. "$(dirname "$0")/lib.sh" "$1"
. "$LIBDIR/pg_lib.sh"

pg_newdb
WL=$WORK/whitelist
cat > "$WL" <<WL
$AGENT   agent
$READER  reader
$AUDITOR auditor
WL
chmod 644 "$WL"
# The policy is the database's (ticketctl policy).  This test's trail is
# checkpointed, not sealed: fss= names no state.
OPTS=key=$KEY,whitelist=$WL,hostname=hostA,fss=$WORK/no.fss
MNT2=$WORK/mnt2
mkdir -p "$MNT2"
sq() { psql_do "$PGDB" "$1"; }
# pg_mount [OPTIONS]: the daemon, forked as a user starts it.
pg_mount() { forked "$TICKETFS" "$PGURI" "$MNT" -o "$OPTS" "$@"; }
# run CMD...: RC and OUT (stdout and stderr) of the command.
run() { OUT=$("$@" 2>&1); RC=$?; }
EXTRA_CLEANUP="$EXTRA_CLEANUP; mountpoint -q '$MNT2' && umount -l '$MNT2'"

run "$TICKETCTL" init "$PGURI" "$KEY"
check "ticketctl init URI KEY" test "$RC" -eq 0
CANARY=canary-$RANDOM$RANDOM-x
json=$(jq -cn --arg c "$CANARY" '{username:"alice", subject:"ECS unreachable",
  description:"line one\nline two", email:"alice@example.com",
  confidential:$c,
  authorizations:[{account:"alice-cloud", password:"s3cret!",
    resource:"ecs-1234", expires:"2099-12-01T00:00:00Z"}]}')
ID=$(echo "$json" | "$TICKETCTL" submit "$PGURI")
ID2=$(echo '{"username":"bob","subject":"minimal"}' | "$TICKETCTL" submit "$PGURI")
check "two tickets submitted to the URI" test -n "$ID" -a -n "$ID2"
check "they wait in ts_intake" test "$(sq "SELECT count(*) FROM ts_intake")" = 2

# Refusals before anything is served.
run "$TICKETFS" "$PGURI" "$MNT" -o key="$KEY"
check "without -o whitelist=FILE: exit 1" test "$RC" -eq 1
check "... saying a shared store needs -o whitelist=FILE" grep -q "whitelist=FILE" <<<"$OUT"
check "... and not mounted" sh -c "! mountpoint -q '$MNT'"
run "$TICKETFS" "$PGURI" "$MNT" -o "$OPTS",hostname=bad/name
check "a bad -o hostname: exit 1" test "$RC" -eq 1
check "... saying which characters a name takes" grep -q "bad -o hostname=bad/name" <<<"$OUT"
run "$TICKETFS" "postgresql:///nx_$PGDB?host=$TS_PG_DIR&user=postgres" "$MNT" -o "$OPTS"
check "a database that is not there: exit 1" test "$RC" -eq 1
check "... with the server's reason" grep -q "cannot open store postgresql:///nx_$PGDB?.*: cannot connect: .*does not exist" <<<"$OUT"

if ! pg_mount; then
	fail "the daemon mounts the URI"
	finish
fi
pass "the daemon mounts the URI"
T=$MNT/tickets/$ID
check "the intake is taken in" wait_within 10 as $AGENT test -d "$T"
check "... and leaves ts_intake" wait_within 10 test "$(sq "SELECT count(*) FROM ts_intake")" = 0
check "the tickets are rows of ts_tickets" test "$(sq "SELECT count(*) FROM ts_tickets")" = 2
mount_tbl=$(grep " $MNT " /proc/mounts)
check "the mount table names the store" grep -q "^ticketfs:postgresql:///$PGDB?host=" <<<"$mount_tbl"

for u in $AGENT $READER; do
	expect_out $u "$(printf '%s\n' "$ID" "$ID2" | sort)" "uid $u lists the tickets" ls "$MNT/tickets"
	expect_out $u "alice" "uid $u reads username" cat "$T/username"
	expect_out $u "ECS unreachable" "uid $u reads subject" cat "$T/subject"
	expect_out $u "$(printf 'line one\nline two')" "uid $u reads description" cat "$T/description"
	expect_out $u "$CANARY" "uid $u reads confidential" cat "$T/confidential"
	expect_out $u "s3cret!" "uid $u reads a password" cat "$T/authorizations/a1/password"
	expect_out $u "open" "uid $u reads status" cat "$T/status"
done
expect_out $AGENT "$T/subject" "grep -rl finds a value" grep -rl "ECS unreachable" "$T"
expect_out $AUDITOR "open" "the auditor reads status" cat "$T/status"
expect_err $AUDITOR "Permission denied" "... but no sealed field" cat "$T/subject"
expect_err $STRANGER "Permission denied" "a stranger cannot list" ls "$MNT/tickets"
expect_err $STRANGER "Permission denied" "... nor read a field" cat "$T/subject"

# An agent writes; the database has it, the mount shows it.
check "an agent writes a message" as $AGENT sh -c "printf 'We are on it.\n' > '$T/messages/reply-1'"
expect_out $READER "We are on it." "a reader reads it back" cat "$T/messages/reply-1"
check "an agent moves the status" as $AGENT sh -c "echo processing > '$T/status'"
expect_out $READER "processing" "status reads processing" cat "$T/status"
check "each write bumped the row's version" test "$(sq "SELECT ver FROM ts_tickets WHERE id = '$ID'")" -ge 3
check "... and was announced in ts_changes" test "$(sq "SELECT count(*) FROM ts_changes WHERE id = '$ID' AND host = 'hostA'")" -ge 2
check "the ticket's key is a row of ts_ticket_keys" test "$(sq "SELECT count(*) FROM ts_ticket_keys WHERE id = '$ID' AND NOT next")" = 1

# A second daemon of the same host name: refused, saying so.
run "$TICKETFS" "$PGURI" "$MNT2" -o "$OPTS"
check "a second daemon named hostA: exit 1" test "$RC" -eq 1
check "... saying another daemon named hostA holds the store" grep -q "another daemon named hostA holds store" <<<"$OUT"
check "... and not mounted" sh -c "! mountpoint -q '$MNT2'"

# No plaintext in the database: not as text, not as bytea hex.
dump=$("$PGBIN/pg_dump" "$PGURI")
check "pg_dump has the tickets" grep -q "$ID" <<<"$dump"
hex=$(printf '%s' "$CANARY" | od -An -tx1 | tr -d ' \n')
lacks() { ! grep -q -- "$1" <<<"$dump"; }
check "pg_dump holds no canary" lacks "$CANARY"
check "... nor its hex" lacks "$hex"
check "... nor the password" lacks 's3cret!'
check "(the check finds what is there: the ticket's id)" grep -q -- "$ID" <<<"$dump"

umount_fs
check "unmounted" sh -c "! mountpoint -q '$MNT'"
if ! pg_mount; then
	fail "remounted"
	finish
fi
expect_out $READER "We are on it." "after a remount the message is there" cat "$T/messages/reply-1"
expect_out $READER "processing" "... and the status" cat "$T/status"
expect_out $AGENT "alice" "... and the values" cat "$T/username"
umount_fs

# A password in the URI (against the README's advice): the daemon's own
# arguments, which every uid reads in /proc/PID/cmdline, do not show it.
PW=pw-canary-$RANDOM
if forked "$TICKETFS" "${PGURI/:\/\/\//://postgres:$PW@/}&password=$PW" "$MNT" -o "$OPTS"; then
	pass "mounted with a password in the URI"
	args=$(for f in /proc/[0-9]*/cmdline; do tr '\0' ' ' < "$f" 2>/dev/null; echo; done | grep -F -- "$MNT")
	check "the daemon's arguments are there ($args)" grep -q -- "password=" <<<"$args"
	check "... without the password" sh -c "! grep -q -- '$PW' <<'ARGS'
$args
ARGS"
	umount_fs
else
	fail "mounted with a password in the URI"
fi
finish
