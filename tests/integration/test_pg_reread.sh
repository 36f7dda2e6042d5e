#!/bin/bash
# A PostgreSQL store's warm reads do not reach the database.  A daemon
# with no value cache (-o cache=0: every read of a sealed value reaches
# the store) reads every value of N tickets twice: the first pass makes
# about one statement a ticket (its record and key row in one), the
# second none beyond the daemon's own background ones (the same daemon
# counted over an idle interval as long), by `ticketctl stats`'s
# db_statements.  Another host (a second daemon) writing a message into
# one ticket and removing a message of another (which re-seals that
# ticket for a fresh key): this host shows both within a second and
# reads every value of both right, their records read afresh.
# Usage: test_pg_reread.sh BUILD/bin.  Run as root.
. "$(dirname "$0")/lib.sh" "$1"
. "$LIBDIR/pg_lib.sh"

pg_newdb
WL=$WORK/whitelist
printf '%s agent\n%s reader\n' "$AGENT" "$READER" > "$WL"
chmod 644 "$WL"
MNT2=$WORK/mnt2
mkdir -p "$MNT2"
EXTRA_CLEANUP="$EXTRA_CLEANUP; mountpoint -q '$MNT2' && umount -l '$MNT2'"
N=40

"$TICKETCTL" init "$PGURI" "$KEY" >/dev/null || { fail "ticketctl init URI"; finish; }
for i in $(seq 1 $N); do
	jq -cn --arg c "$i" '{username:("u-"+$c), subject:("s-"+$c),
	  description:("d-"+$c+" "+("x" * 3000)), email:("e-"+$c),
	  mobile:("m-"+$c), confidential:("c-"+$c),
	  authorizations:[{account:("a-"+$c), password:("p-"+$c),
	    resource:("r-"+$c), expires:"2099-01-01T00:00:00Z"}]}'
done > "$WORK/batch"
"$TICKETCTL" submit --batch "$PGURI" "$WORK/batch" > "$WORK/ids" ||
	fail "submit --batch of $N tickets"
forked "$TICKETFS" "$PGURI" "$MNT" -o key="$KEY",whitelist="$WL",hostname=hA,cache=0,checkpoint_copy="$WORK/a.checkpoint",fss="$WORK/a.fss",audit_spool="$WORK/a.spool" ||
	{ fail "host A mounts with -o cache=0"; finish; }
count() { [ "$(as $READER ls "$MNT/tickets" | wc -l)" -eq $N ]; }
check "host A takes in the $N tickets" wait_within 20 count

# The daemon's published count (rewritten every second).
stmts() {
	"$TICKETCTL" stats "$PGURI" --host hA --json | jq -e '.daemon.db_statements'
}
# Every value of every ticket, sorted, as the reader sees it.
read_all() {
	as $READER grep -r '' "$MNT/tickets" | sort > "$1"
}
sleep 1.1
s0=$(stmts)
check "ticketctl stats shows host A's database statements ($s0)" test -n "$s0"
t0=${EPOCHREALTIME/./}
read_all "$WORK/pass1"
sleep 1.1
s1=$(stmts)
read_all "$WORK/pass2"
sleep 1.1
s2=$(stmts)
t1=${EPOCHREALTIME/./}
sleep "$(awk -v u=$(( (t1 - t0) / 2 )) 'BEGIN { printf "%.3f", u / 1e6 }')"
s3=$(stmts)
first=$((s1 - s0)) second=$((s2 - s1)) idle=$((s3 - s2))
echo "# statements: first pass $first, second pass $second, idle as long $idle ($N tickets)"
check "the first pass read every value" test "$(grep -c '/confidential:c-' "$WORK/pass1")" -eq $N
check "... the description whole" test "$(grep -c '/description:d-[0-9]* x\{3000\}$' "$WORK/pass1")" -eq $N
check "... and the passwords" test "$(grep -c '/password:p-' "$WORK/pass1")" -eq $N
check "the second pass read the same" cmp -s "$WORK/pass1" "$WORK/pass2"
check "the first pass reached the database, a statement a ticket or more ($first)" test $first -ge $N
check "the second did not: at most the idle daemon's count and 5 ($second, idle $idle)" test $second -le $((idle + 5))

# Another host rewrites two records.
forked "$TICKETFS" "$PGURI" "$MNT2" -o key="$KEY",whitelist="$WL",hostname=hB,checkpoint_copy="$WORK/b.checkpoint",fss="$WORK/b.fss",audit_spool="$WORK/b.spool" 2>"$WORK/b.err" ||
	{ fail "host B mounts ($(tail -n 3 "$WORK/b.err"))"; finish; }
T1=$(sed -n 1p "$WORK/ids") T2=$(sed -n 2p "$WORK/ids")
check "host B sees the tickets" wait_within 20 as $READER test -d "$MNT2/tickets/$T2"
check "host B: a message into ticket 1" as $AGENT sh -c "printf 'from B\n' > '$MNT2/tickets/$T1/messages/b-1'"
check "host B: a message into ticket 2" as $AGENT sh -c "printf 'doomed\n' > '$MNT2/tickets/$T2/messages/b-2'"
rd() { [ "$(as $READER cat "$1" 2>/dev/null)" == "$2" ]; }
check "host A shows ticket 1's new message within 1 s" wait_within 1 rd "$MNT/tickets/$T1/messages/b-1" "from B"
check "host A shows ticket 2's within 1 s" wait_within 1 rd "$MNT/tickets/$T2/messages/b-2" "doomed"
key2() { psql -X -At "$PGURI" -c "SELECT md5(key) FROM ts_ticket_keys WHERE id = '$T2' AND NOT next"; }
k0=$(key2)
check "host B removes ticket 2's message (a fresh ticket key)" as $AGENT rm "$MNT2/tickets/$T2/messages/b-2"
gone() { ! as $READER test -e "$MNT/tickets/$T2/messages/b-2"; }
check "host A no longer shows it within 1 s" wait_within 1 gone
# Within the shredding batch (about 2 s) host B re-seals what is left.
rekeyed() { k=$(key2); [ -n "$k" ] && [ "$k" != "$k0" ]; }
check "ticket 2's key is replaced in the database" wait_within 5 rekeyed
sleep 1
for T in "$T1" "$T2"; do
	want=$(grep "/$T/" "$WORK/pass1" | sed "s|^$MNT/tickets/$T/||")
	got=$(as $READER grep -r '' "$MNT/tickets/$T" | sort | sed "s|^$MNT/tickets/$T/||" | grep -v '^messages/')
	check "host A reads every value of ${T:0:22}... right after B's writes" test "$got" == "$want"
done
check "and ticket 1's new message" rd "$MNT/tickets/$T1/messages/b-1" "from B"
fusermount3 -u "$MNT2"
umount_fs
finish
