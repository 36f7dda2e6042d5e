# Faults of a shared store, as the users of two hosts see them: two daemons
# (-o hostname=h1 and h2) on two mountpoints of one PostgreSQL store.
#  1. pg_ctl restart -m fast while a writer on h1 adds messages: both
#     daemons serve again within seconds without a remount (h1's new
#     message seen on h2 within 1 s, values read, both chains appended and
#     verified); every write the writer saw succeed is there on both hosts;
#     every one that failed got EIO, each write returned within 10 s.
#  2. The database stopped a while: ls, stat and cat of status keep working
#     on both (the index), a value never read fails EIO, a write fails EIO
#     within 10 s, nothing hangs; started again: writes work within
#     seconds, the failed write is on neither host.
#  4. A partition: a third daemon h3 reaches the database through a proxy
#     that goes silent (pg_blackhole.py): its index keeps serving, a write
#     and a read of a value fail EIO and never hang; the proxy back, h3
#     writes again and shows what h1 wrote meanwhile.
#  3. kill -9 of h2: h1 keeps serving, takes in intake submitted after the
#     kill, and the intake h2's claims held (at once, not after the claims'
#     60 s); the email purge due while h2 is dead is made by h1 and audited
#     once (op expire); h2 mounted again catches up and its chain goes on.
# Every command on a mount runs under timeout 15, and the test asserts it
# did not time out.  Prints the measured times as "# ..." lines.
. "$(dirname "$0")/lib.sh"
# The test stops and restarts its database server: a cluster of its own
# (pg_lib.sh starts one when TS_PG_DIR is unset, stops it at exit), not
# the suite's shared one.
unset TS_PG_DIR
. "$(dirname "$0")/pg_lib.sh"

pg_newdb || { echo "no database"; exit 1; }
"$TICKETCTL" init "$PGURI" "$KEY" >/dev/null || { echo "init failed"; exit 1; }
cp -p "$KEY.fss" "$WORK/h1.fss"
cp -p "$KEY.fss" "$WORK/h2.fss"
cp -p "$KEY.fss" "$WORK/h3.fss"
cp -p "$KEY.fss" "$WORK/dup.fss"
WL=$WORK/whitelist
cat > "$WL" <<WL
$AGENT   agent
$READER  reader
$AUDITOR auditor
WL
chmod 644 "$WL"
# email goes 8 s after submission (part 3's purge while h2 is dead)
EMAIL_S=8
cat > "$WORK/policy" <<POL
username       forgotten
email          ${EMAIL_S}s, forgotten
mobile         processed, 90d, forgotten
confidential   processed
authorization  processed, expired
ticket         processed+30d
POL
"$TICKETCTL" policy "$PGURI" "$WORK/policy" >/dev/null || { echo "policy not set"; exit 1; }
M1=$WORK/m1
M2=$WORK/m2
mkdir -p "$M1" "$M2"
PID1= PID2= PID3= PROXY= WRITER=
# The database is started again at exit if a part left it stopped.
DB_STOPPED=0
EXTRA_CLEANUP="faults_cleanup; $EXTRA_CLEANUP"
faults_cleanup() {
	local m
	[ -n "$WRITER" ] && kill "$WRITER" 2>/dev/null
	[ "$DB_STOPPED" = 1 ] && sh "$PG_FIXTURE" start-again "$TS_PG_DIR"
	for m in "$M1" "$M2" "$WORK/m3"; do
		mountpoint -q "$m" 2>/dev/null && { fusermount3 -u "$m" 2>/dev/null || umount -l "$m"; }
	done
	[ -n "$PID1" ] && kill "$PID1" 2>/dev/null
	[ -n "$PID2" ] && kill "$PID2" 2>/dev/null
	[ -n "$PID3" ] && kill "$PID3" 2>/dev/null
	[ -n "$PROXY" ] && kill "$PROXY" 2>/dev/null
	:
}

# host N: mounts daemon hN on mN in the foreground, its log in $WORK/hN.log.
host() {
	local n=$1 m=$WORK/m$1
	"$TICKETFS" "$PGURI" "$m" -f -o key="$KEY",whitelist="$WL",hostname=h$n,checkpoint_copy="$WORK/h$n.checkpoint",fss="$WORK/h$n.fss",audit_spool="$WORK/h$n.spool" 2>>"$WORK/h$n.log" &
	eval PID$n=$!
	wait_within 10 mountpoint -q "$m"
}
unhost() {
	local n=$1 pid rc
	eval pid=\$PID$n
	fusermount3 -u "$WORK/m$n" 2>/dev/null || umount -l "$WORK/m$n"
	wait_within 10 sh -c "! kill -0 $pid" || fail "daemon h$n did not exit within 10 s of its unmount"
	wait "$pid"; rc=$?
	[ $rc -eq 0 ] || fail "daemon h$n exited with status $rc"
	eval PID$n=
}
host 1 || { echo "h1 did not mount"; cat "$WORK/h1.log"; exit 1; }
host 2 || { echo "h2 did not mount"; cat "$WORK/h2.log"; exit 1; }

PY=/usr/bin/python3
now_ms() { echo $(( ${EPOCHREALTIME/./} / 1000 )); }
submit() { "$TICKETCTL" submit "$PGURI"; }
ticket() {	# ticket TAG: a ticket with every field, its id printed
	jq -cn --arg c "$1" '{username:("u-"+$c), subject:("s-"+$c),
	  description:("d-"+$c), email:("e-"+$c), mobile:("m-"+$c),
	  confidential:("c-"+$c)}' | submit
}
# t UID COMMAND...: runs the command as UID under timeout 15: its stdout
# in T_OUT, stderr in T_ERR, status in T_RC, time taken in T_MS; a FAIL
# if it timed out (a hang).
t() {
	local u=$1 t0; shift
	t0=$(now_ms)
	T_OUT=$(timeout 15 setpriv --reuid="$u" --regid="$u" --clear-groups "$@" 2>"$WORK/t.err"); T_RC=$?
	T_MS=$(( $(now_ms) - t0 ))
	T_ERR=$(cat "$WORK/t.err")
	[ $T_RC -ne 124 ] || fail "hung (timeout 15 s): $*"
}
# t_ok DESCRIPTION UID COMMAND...: succeeds, in time.
t_ok() {
	local what=$1; shift
	t "$@"
	if [ $T_RC -eq 0 ]; then pass "$what"; else fail "$what (exit $T_RC: $T_ERR)"; fi
}
# t_out WANT DESCRIPTION UID COMMAND...: succeeds printing WANT.
t_out() {
	local want=$1 what=$2; shift 2
	t "$@"
	if [ $T_RC -eq 0 ] && [ "$T_OUT" == "$want" ]; then pass "$what"
	else fail "$what (exit $T_RC, got '$T_OUT', want '$want': $T_ERR)"; fi
}
# t_eio DESCRIPTION UID COMMAND...: fails with EIO within 10 s.
t_eio() {
	local what=$1; shift
	t "$@"
	if [ $T_RC -ne 0 ] && [[ $T_ERR == *"Input/output error"* ]] && [ $T_MS -lt 10000 ]; then
		pass "$what ($T_MS ms)"
	else
		fail "$what (exit $T_RC after $T_MS ms: $T_ERR)"
	fi
}
# msg MOUNT ID NAME TEXT: a message created (O_EXCL), written and closed
# (close returns once it is stored: its error is the write's); prints the
# error text, exit 1, if it failed.
msg() {
	$PY - "$1/tickets/$2/messages/$3" "$4" <<'PY'
import os, sys
try:
    fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, sys.argv[2].encode())
    finally:
        os.close(fd)
except OSError as e:
    sys.stderr.write(e.strerror + "\n"); sys.exit(1)
PY
}
# put FILE TEXT: writes TEXT to an existing file (a status move), closed.
put() {
	$PY - "$1" "$2" <<'PY'
import os, sys
try:
    fd = os.open(sys.argv[1], os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, sys.argv[2].encode())
    finally:
        os.close(fd)
except OSError as e:
    sys.stderr.write(e.strerror + "\n"); sys.exit(1)
PY
}
export -f msg put
# first_write N ID PREFIX SINCE_MS: tries a new message PREFIX-1, -2, ...
# on host N every 100 ms for up to 15 s until one succeeds: its name in
# FW_NAME, the try in FW_TRIES, the time from SINCE_MS in FW_MS.
first_write() {
	local n=$1 id=$2 p=$3 since=$4 i
	for i in $(seq 1 150); do
		if timeout 15 setpriv --reuid=$AGENT --regid=$AGENT --clear-groups bash -c "msg '$WORK/m$n' '$id' $p-$i 'text of $p-$i'" 2>/dev/null; then
			FW_NAME=$p-$i FW_TRIES=$i FW_MS=$(( $(now_ms) - since ))
			return 0
		fi
		[ $(( $(now_ms) - since )) -lt 15000 ] || break
		sleep 0.1
	done
	return 1
}
export PY
rd_is() {	# rd_is FILE TEXT: the reader reads TEXT from FILE
	[ "$(timeout 5 setpriv --reuid=$READER --regid=$READER --clear-groups cat "$1" 2>/dev/null)" == "$2" ]
}
both_are() {	# both_are PATH TEXT: rd_is on both mounts
	rd_is "$M1/$1" "$2" && rd_is "$M2/$1" "$2"
}
verify() {	# verify WHAT: ticketctl audit verify URI passes
	local out rc
	out=$(timeout 60 "$TICKETCTL" audit verify "$PGURI" 2>&1); rc=$?
	if [ $rc -eq 0 ]; then pass "$1"; else fail "$1 (exit $rc: $out)"; fi
}
# audit_n HOST: entries of HOST's chain in the database.
audit_n() { psql_do "$PGDB" "SELECT count(*) FROM ts_audit WHERE host = '$1'"; }

T=$(ticket t1)
check "a ticket taken in, on h1" wait_within 3 rd_is "$M1/tickets/$T/subject" s-t1
check "and on h2" wait_within 3 rd_is "$M2/tickets/$T/subject" s-t1

# ---- 1. pg_ctl restart -m fast under a writer on h1 ----
# The writer (as the agent) adds messages w-NNNN every 50 ms until told to
# stop, logging for each "ok NAME MS" or "err NAME MS STRERROR" as soon as
# the close returned; a write that does not return is caught by the test's
# check of the last line's age, and by the stop's deadline.
WLOG=$WORK/writer.log
STOP=$WORK/writer.stop
: > "$WLOG"
setpriv --reuid=$AGENT --regid=$AGENT --clear-groups $PY - "$M1/tickets/$T/messages" "$STOP" <<'PY' >"$WLOG" &
import os, sys, time
d, stop = sys.argv[1], sys.argv[2]
out = os.fdopen(1, "w", buffering=1)
i = 0
while not os.path.exists(stop):
    name = "w-%04d" % i
    t0 = time.monotonic()
    try:
        fd = os.open(os.path.join(d, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, ("text of %s\n" % name).encode())
        finally:
            os.close(fd)
        out.write("ok %s %d\n" % (name, (time.monotonic() - t0) * 1000))
    except OSError as e:
        out.write("err %s %d %s\n" % (name, (time.monotonic() - t0) * 1000, e.strerror))
    i += 1
    time.sleep(0.05)
PY
WRITER=$!
check "the writer writes before the restart" wait_within 5 grep -q '^ok ' "$WLOG"
sleep 1
r0=$(now_ms)
sh "$PG_FIXTURE" restart "$TS_PG_DIR" || fail "pg_ctl restart"
r1=$(now_ms)
echo "# pg_ctl restart -m fast took $(( r1 - r0 )) ms"
# Recovered: h1 takes a new message and h2 shows it within 1 s.
if first_write 1 "$T" probe "$r1"; then
	pass "h1 takes a write again $FW_MS ms after the restart returned (no remount; try $FW_TRIES)"
	echo "# recovery: h1's first write succeeded $FW_MS ms after pg_ctl restart returned ($(( FW_MS + r1 - r0 )) ms after it began), at try $FW_TRIES"
	check "within 5 s of the restart" test "$FW_MS" -lt 5000
	check "h2 shows it within 1 s" wait_within 1 rd_is "$M2/tickets/$T/messages/$FW_NAME" "text of $FW_NAME"
else
	fail "h1 takes no write within 15 s of the restart"
fi
check "the writer writes after the restart" wait_within 5 sh -c "tail -n 3 '$WLOG' | grep -q '^ok '"
sleep 1
touch "$STOP"
if wait_within 15 sh -c "! kill -0 $WRITER"; then
	pass "the writer ended (no write hung)"
else
	fail "the writer hung: $(tail -n 1 "$WLOG")"; kill -9 "$WRITER"
fi
wait "$WRITER" 2>/dev/null; WRITER=
nok=$(grep -c '^ok ' "$WLOG") nerr=$(grep -c '^err ' "$WLOG")
slow=$(awk '$3 >= 10000' "$WLOG" | wc -l)
maxw=$(awk '$3 > m { m = $3 } END { print m + 0 }' "$WLOG")
echo "# writer: $nok acknowledged, $nerr failed, slowest write $maxw ms"
grep '^err ' "$WLOG" | sed 's/^/#   /' | head -n 20
check "every write returned within 10 s ($maxw ms at most)" test "$slow" -eq 0
check "every failed write failed with EIO" sh -c "! grep '^err ' '$WLOG' | grep -v 'Input/output error\$' | grep -q ."
lost1= lost2= bad=
for n in $(awk '$1 == "ok" { print $2 }' "$WLOG"); do
	rd_is "$M1/tickets/$T/messages/$n" "text of $n" || lost1="$lost1 $n"
	rd_is "$M2/tickets/$T/messages/$n" "text of $n" || lost2="$lost2 $n"
done
anyway=
for n in $(awk '$1 == "err" { print $2 }' "$WLOG"); do
	rd_is "$M1/tickets/$T/messages/$n" "text of $n" && anyway="$anyway $n"
done
echo "# writes that failed (EIO) but were committed (outcome unknown to the writer): ${anyway:- none}"
check "every acknowledged write is there on h1 ($nok)${lost1:+: missing$lost1}" test -z "$lost1"
check "and on h2, with its text${lost2:+: missing$lost2}" test -z "$lost2"
ls1=$(timeout 15 setpriv --reuid=$AGENT --regid=$AGENT --clear-groups ls "$M1/tickets/$T/messages")
ls2=$(timeout 15 setpriv --reuid=$AGENT --regid=$AGENT --clear-groups ls "$M2/tickets/$T/messages")
check "both hosts list the same messages" test "$ls1" == "$ls2"
# Both chains go on: a read on each host appends its entry.
a1=$(audit_n h1) a2=$(audit_n h2)
t_out s-t1 "h1 reads a value after the restart" $READER cat "$M1/tickets/$T/subject"
t_out d-t1 "h2 reads a value after the restart" $READER cat "$M2/tickets/$T/description"
# (in the database within 20 ms, through each daemon's spool)
grown() { [ "$(audit_n "$1")" -gt "$2" ]; }
check "h1's chain grows after the restart (within 1 s)" wait_within 1 grown h1 "$a1"
check "h2's chain grows after the restart (within 1 s)" wait_within 1 grown h2 "$a2"
check "h2's read is in audit.log on h1 within 1 s" wait_within 1 sh -c "timeout 5 setpriv --reuid=$AUDITOR --regid=$AUDITOR --clear-groups cat '$M1/audit.log' | jq -e -s --arg p 'tickets/$T/description' 'map(select(.host == \"h2\" and .op == \"open\" and .path == \$p)) | length > 0' >/dev/null"
verify "audit verify URI passes after the restart"
# Each daemon took its host lock again on its new session: a second
# daemon of either name is still refused.
same_name_refused() {	# same_name_refused N: a daemon named hN is refused
	local out rc
	mkdir -p "$WORK/m3"
	out=$(timeout 15 "$TICKETFS" "$PGURI" "$WORK/m3" -f -o key="$KEY",whitelist="$WL",hostname=h$1,checkpoint_copy="$WORK/dup.checkpoint",fss="$WORK/dup.fss",audit_spool="$WORK/dup.spool" 2>&1); rc=$?
	mountpoint -q "$WORK/m3" && { fusermount3 -u "$WORK/m3" || umount -l "$WORK/m3"; }
	[ $rc -ne 0 ] && [ $rc -ne 124 ] && [[ $out == *"another daemon named h$1"* ]]
}
check "after the restart a second daemon named h1 is refused (h1's lock re-taken)" same_name_refused 1
check "and one named h2" same_name_refused 2

# ---- 2. the database down for a while ----
D=$(ticket d2)
check "a second ticket on both hosts" wait_within 3 both_are "tickets/$D/status" open
t_out s-d2 "h1 reads its subject (now in h1's value cache)" $READER cat "$M1/tickets/$D/subject"
st1=$(as $READER stat -c '%s %Y' "$M1/tickets/$D/description")
sh "$PG_FIXTURE" stop-keep "$TS_PG_DIR" || fail "pg_ctl stop"
DB_STOPPED=1
for n in 1 2; do
	M=$WORK/m$n
	t_ok "db down: h$n lists tickets/" $READER ls "$M/tickets"
	[[ $T_OUT == *"$D"* ]] || fail "db down: h$n's listing holds the ticket ($T_OUT)"
	t_ok "db down: h$n lists the ticket" $READER ls "$M/tickets/$D"
	t_ok "db down: h$n stats a value (size, mtime)" $READER stat -c '%s %Y' "$M/tickets/$D/description"
	[ "$T_OUT" == "$st1" ] || fail "db down: h$n's stat ($T_OUT) is what it was ($st1)"
	t_out open "db down: h$n reads status" $READER cat "$M/tickets/$D/status"
	t_eio "db down: h$n's read of a value never read fails EIO" $READER cat "$M/tickets/$D/description"
done
t_eio "db down: a write (a new message) on h1 fails EIO within 10 s" $AGENT bash -c "msg '$M1' '$D' down-1 'written while down'"
echo "# db down: a message write on h1 failed after $T_MS ms"
t_eio "db down: on h2 too" $AGENT bash -c "msg '$M2' '$D' down-2 'written while down'"
echo "# db down: a message write on h2 failed after $T_MS ms"
t_eio "db down: a status move on h1 fails EIO within 10 s" $AGENT bash -c "put '$M1/tickets/$D/status' processing"
echo "# db down: a status move on h1 failed after $T_MS ms"
t_eio "db down: echo > messages/x fails EIO within 10 s" $AGENT bash -c "echo x > '$M1/tickets/$D/messages/down-echo'"
sleep 2
t_out open "db down 2 s later: h2 still reads status" $READER cat "$M2/tickets/$D/status"
t_ok "and lists" $READER ls "$M2/tickets/$D/messages"
s0=$(now_ms)
sh "$PG_FIXTURE" start-again "$TS_PG_DIR" || fail "pg_ctl start"
DB_STOPPED=0
s1=$(now_ms)
echo "# pg_ctl start took $(( s1 - s0 )) ms"
for n in 1 2; do
	if first_write $n "$D" up-$n "$s1"; then
		pass "db up: h$n writes again within $FW_MS ms (try $FW_TRIES)"
		echo "# db up: h$n's first write succeeded $FW_MS ms after pg_ctl start returned, at try $FW_TRIES"
		check "db up: h$n within 5 s" test "$FW_MS" -lt 5000
		eval UP$n=$FW_NAME
	else
		fail "db up: h$n writes again within 15 s"
		eval UP$n=none
	fi
done
check "db up: h2 shows h1's message within 1 s" wait_within 1 rd_is "$M2/tickets/$D/messages/$UP1" "text of $UP1"
check "db up: h1 shows h2's" wait_within 1 rd_is "$M1/tickets/$D/messages/$UP2" "text of $UP2"
t_out d-d2 "db up: h1 reads the value it could not" $READER cat "$M1/tickets/$D/description"
t_out d-d2 "db up: h2 too" $READER cat "$M2/tickets/$D/description"
for n in 1 2; do
	t_ok "db up: h$n lists the messages" $READER ls "$WORK/m$n/tickets/$D/messages"
	case " $(echo $T_OUT) " in
	*" down-"*) fail "db up: a failed write is on h$n ($T_OUT)" ;;
	*) pass "db up: no failed write is on h$n" ;;
	esac
	t_out open "db up: the failed move is not on h$n" $READER cat "$WORK/m$n/tickets/$D/status"
done
t_ok "db up: h1 moves the status" $AGENT bash -c "put '$M1/tickets/$D/status' processing"
check "db up: h2 reads it within 1 s" wait_within 1 rd_is "$M2/tickets/$D/status" processing
verify "audit verify URI passes after the outage"
check "after the outage a second daemon named h1 is refused" same_name_refused 1
check "and one named h2" same_name_refused 2

# ---- 3. kill -9 of h2 ----
# Email goes EMAIL_S after submission: E is submitted just before the kill,
# so its purge falls due while h2 is dead.
E=$(ticket e3)
check "a ticket on both hosts before the kill" wait_within 3 both_are "tickets/$E/email" e-e3
esize=$(psql_do "$PGDB" "SELECT length(rec) FROM ts_tickets WHERE id = '$E'")
h2seq=$(audit_n h2)
kill -9 "$PID2"; wait "$PID2" 2>/dev/null; PID2=
fusermount3 -u "$M2" 2>/dev/null || umount -l "$M2"
k0=$(now_ms)
t_ok "h2 killed: h1 writes a message" $AGENT bash -c "msg '$M1' '$T' after-kill 'written while h2 is dead'"
t_out "written while h2 is dead" "h1 reads it" $READER cat "$M1/tickets/$T/messages/after-kill"
t_out s-t1 "h1 reads a value" $READER cat "$M1/tickets/$T/subject"
K=$(ticket k3)
if wait_within 3 rd_is "$M1/tickets/$K/subject" s-k3; then
	pass "intake submitted after the kill is taken in by h1 ($(( $(now_ms) - k0 )) ms after the kill)"
else
	fail "intake submitted after the kill is taken in by h1 within 3 s"
fi
# What a killed h2 leaves: intake rows claimed by h2 and never settled.
# h1 is held (SIGSTOP) while the rows are submitted and marked h2's, so
# that it cannot take them first; then it must take them over at once
# (h2 holds no host lock), not after the claims' 60 s.
kill -STOP "$PID1"
C1=$(ticket c1) C2=$(ticket c2)
psql_do "$PGDB" "UPDATE ts_intake SET claimed_by = 'h2', claimed_at = now() WHERE id IN ('$C1', '$C2')" >/dev/null
claimed=$(psql_do "$PGDB" "SELECT count(*) FROM ts_intake WHERE claimed_by = 'h2'")
kill -CONT "$PID1"
c0=$(now_ms)
check "two intake rows claimed by the dead h2" test "$claimed" -eq 2
if wait_within 5 sh -c "[ \"\$(psql -X -At '$PGURI' -c 'SELECT count(*) FROM ts_intake')\" -eq 0 ]" &&
   wait_within 2 rd_is "$M1/tickets/$C1/subject" s-c1 && rd_is "$M1/tickets/$C2/subject" s-c2; then
	pass "h1 takes over the dead h2's claimed intake at once ($(( $(now_ms) - c0 )) ms)"
else
	fail "h1 takes over the dead h2's claimed intake within 5 s (left: $(psql_do "$PGDB" "SELECT count(*) FROM ts_intake"))"
fi
# The purge of E's email, due while h2 is dead: made by h1, audited once.
due=$(( EMAIL_S * 1000 + 3000 ))
check "E's email is gone on h1 when due" wait_within $(( EMAIL_S + 3 )) sh -c "! timeout 5 setpriv --reuid=$READER --regid=$READER --clear-groups test -e '$M1/tickets/$E/email'"
check "and from the database within 2 s (its record shrank)" wait_within 3 sh -c "[ \"\$(psql -X -At '$PGURI' -c \"SELECT length(rec) FROM ts_tickets WHERE id = '$E'\")\" -lt $esize ]"
expires() {
	psql_do "$PGDB" "SELECT host FROM ts_audit WHERE line LIKE '%\"op\":\"expire\"%' AND line LIKE '%\"path\":\"tickets/$E/email\"%'"
}
sleep 1
check "the purge audited once, op expire, by h1 ($(expires | tr '\n' ' '))" test "$(expires | tr '\n' ' ')" == "h1 "
t_ok "h1 makes a status move while h2 is dead" $AGENT bash -c "put '$M1/tickets/$K/status' processing"
# h2 mounted again, same host name: caught up, and its chain goes on.
host 2 || fail "h2 mounts again (same host name)"
t_out "written while h2 is dead" "h2 shows the message written while it was dead" $READER cat "$M2/tickets/$T/messages/after-kill"
t_out s-k3 "h2 shows the ticket taken in while it was dead" $READER cat "$M2/tickets/$K/subject"
t_out s-c1 "and those taken over from its claims" $READER cat "$M2/tickets/$C1/subject"
t_out processing "and the status move" $READER cat "$M2/tickets/$K/status"
t "$READER" test -e "$M2/tickets/$E/email"
check "and E's email is gone on h2 too" test $T_RC -eq 1
t_ok "h2 lists the second ticket's messages (loaded from the database)" $READER ls "$M2/tickets/$D/messages"
case " $(echo $T_OUT) " in
*" down-"*) fail "a write that failed while the database was down is in the database ($T_OUT)" ;;
*) pass "no write that failed while the database was down is in the database" ;;
esac
check "h2's chain goes on from where it was" wait_within 1 grown h2 "$h2seq"
t_out d-k3 "h2 reads a value" $READER cat "$M2/tickets/$K/description"
t_ok "h1 writes a message" $AGENT bash -c "msg '$M1' '$K' after-return 'h2 is back'"
check "h2 shows it within 1 s" wait_within 1 rd_is "$M2/tickets/$K/messages/after-return" "h2 is back"
check "no intake waits" test "$(psql_do "$PGDB" "SELECT count(*) FROM ts_intake")" -eq 0
# ---- 4. a partition between h3 and the database ----
PX=$WORK/px
mkdir -p "$PX" "$WORK/m3"
chmod 755 "$PX"
FREEZE=$WORK/freeze
$PY "$LIBDIR/pg_blackhole.py" "$PX/.s.PGSQL.5432" "$TS_PG_DIR/.s.PGSQL.5432" "$FREEZE" 2>>"$WORK/proxy.log" &
PROXY=$!
wait_within 3 test -S "$PX/.s.PGSQL.5432" || fail "the proxy listens"
URI3="postgresql:///$PGDB?host=$PX&user=postgres"
"$TICKETFS" "$URI3" "$WORK/m3" -f -o key="$KEY",whitelist="$WL",hostname=h3,checkpoint_copy="$WORK/h3.checkpoint",fss="$WORK/h3.fss",audit_spool="$WORK/h3.spool" 2>>"$WORK/h3.log" &
PID3=$!
if wait_within 10 mountpoint -q "$WORK/m3"; then
	M3=$WORK/m3
	t_out s-k3 "h3 (through the proxy) reads a value" $READER cat "$M3/tickets/$K/subject"
	touch "$FREEZE"
	t_out processing "partition: h3 reads status (the index)" $READER cat "$M3/tickets/$K/status"
	t_ok "partition: h3 lists the messages" $READER ls "$M3/tickets/$K/messages"
	# A statement is given up after 4.5 s of silence (TS_PG_SILENCE_MS);
	# a write makes two (the record, then its audit entry on the trail's
	# own connection): it fails within 10 s.
	t0=$(now_ms)
	out=$(timeout 40 setpriv --reuid=$AGENT --regid=$AGENT --clear-groups bash -c "msg '$M3' '$K' cut-3 'written in the partition'" 2>&1); rc=$?
	ms=$(( $(now_ms) - t0 ))
	echo "# partition: a message write on h3 failed after $ms ms ($out)"
	check "partition: h3's write fails EIO within 10 s, no hang ($ms ms)" test $rc -eq 1 -a $ms -lt 10000 -a "$out" == "Input/output error"
	t0=$(now_ms)
	# Not K's: reading K's subject had the prefetcher open K's other
	# values (and keep its record); D's were never read on h3.
	out=$(timeout 40 setpriv --reuid=$READER --regid=$READER --clear-groups cat "$M3/tickets/$D/mobile" 2>&1); rc=$?
	ms=$(( $(now_ms) - t0 ))
	echo "# partition: a read of a value never read on h3 failed after $ms ms"
	check "partition: h3's read of a value fails EIO within 10 s, no hang ($ms ms)" test $rc -eq 1 -a $ms -lt 10000 -a "${out##*: }" == "Input/output error"
	# Later, a new connection is tried (connect_timeout 5 s) and fails.
	sleep 1
	t0=$(now_ms)
	out=$(timeout 40 setpriv --reuid=$READER --regid=$READER --clear-groups cat "$M3/tickets/$D/description" 2>&1); rc=$?
	ms=$(( $(now_ms) - t0 ))
	echo "# partition: a read 1 s later (a new connection tried) failed after $ms ms"
	check "partition: so does one a second later, within 10 s ($ms ms)" test $rc -eq 1 -a $ms -lt 10000 -a "${out##*: }" == "Input/output error"
	t_ok "partition: h1 is not held up (writes)" $AGENT bash -c "msg '$M1' '$K' during-cut 'written by h1 in the partition'"
	rm -f "$FREEZE"
	p0=$(now_ms)
	if first_write 3 "$K" healed "$p0"; then
		pass "partition over: h3 writes again within $FW_MS ms (try $FW_TRIES)"
		echo "# partition over: h3's first write succeeded $FW_MS ms after the proxy forwarded again"
	else
		fail "partition over: h3 writes again within 15 s"
	fi
	check "h3 shows h1's message of the partition" wait_within 3 rd_is "$M3/tickets/$K/messages/during-cut" "written by h1 in the partition"
	check "h1 shows h3's after it" wait_within 1 rd_is "$M1/tickets/$K/messages/$FW_NAME" "text of $FW_NAME"
	t "$READER" test -e "$M1/tickets/$K/messages/cut-3"
	check "the write that failed in the partition is not on h1" test $T_RC -eq 1
	unhost 3
else
	fail "h3 mounts through the proxy ($(tail -n 3 "$WORK/h3.log"))"
fi
kill "$PROXY"; wait "$PROXY" 2>/dev/null; PROXY=

unhost 1
unhost 2
verify "audit verify URI passes after h2's kill and return (both chains)"
check "no daemon crashed (no sanitizer report in the logs)" sh -c "! grep -E -q '$SAN_RE' '$WORK/h1.log' '$WORK/h2.log'"
if [ "$FAILED" -gt 0 ]; then
	for n in 1 2 3; do echo "# h$n's log:"; tail -n 40 "$WORK/h$n.log" 2>/dev/null | sed 's/^/#   /'; done
fi
finish
