# status cached by the kernel (issue 15, item 9): a warm read of a
# processed status (final) costs an open and a release, as created's; one
# that may still move is read from the daemon; and whoever cat'ed it
# sees a move at once: after an agent's write on this mount, after another
# agent's (another uid), and once the ticker expired the ticket.  Also on
# a PostgreSQL store (it_test_status_pg); another host's move is in
# test_pg_status.
. "$(dirname "$0")/lib.sh"

AGENT2=61005
new_store
echo "$AGENT2 agent" >> "$WHITELIST"
policy_set <<'POL'
ticket         processed+8s
POL
now_ms() { echo $(( ${EPOCHREALTIME/./} / 1000 )); }
ID=$(echo '{"username":"alice","subject":"status cache"}' | "$TICKETCTL" submit "$STORE")
ID2=$(echo '{"username":"bob","subject":"expires"}' | "$TICKETCTL" submit "$STORE")
mount_fg || { echo "mount failed"; exit 1; }
T=$MNT/tickets/$ID
rd() { as $READER "$@"; }
# requests: what the daemon served so far (published once a second).
HOST=()	# a shared store: the daemon's host name (lib.sh's it1)
[ "$TS_BACKEND" = pg ] && HOST=(--host it1)
requests() {
	sleep 1.2
	"$TICKETCTL" stats "$STORE" --json "${HOST[@]}" | jq .daemon.requests
}

# --- the kernel serves a warm status, as it does created ---
expect_out $READER "open" "the reader reads open" cat "$T/status"
rd cat "$T/status" "$T/created" >/dev/null
rd stat "$T/status" "$T/created" >/dev/null
# cats50 FILE: the requests 50 cats of FILE cost.
cats50() {
	local r0 r1
	r0=$(requests)
	for i in $(seq 50); do rd cat "$1" >/dev/null; done
	r1=$(requests)
	echo $(( r1 - r0 ))
}
rc=$(cats50 "$T/created")
rs=$(cats50 "$T/status")
# Its page may not be cached while it may move (fs/status.c): an OPEN, two
# READs and a RELEASE, at least, where created's is an OPEN and a RELEASE.
check "50 cats of an open status reach the daemon ($rs requests, created $rc)" \
	test "$rs" -ge $(( rc + 2 * 50 ))
expect_out $READER "5" "its size is cached right" stat -c %s "$T/status"

# --- (a) an agent's own move, on this mount ---
expect_out $AGENT "open" "the agent reads open" cat "$T/status"
check "the agent moves it to processing" as $AGENT sh -c "echo processing > '$T/status'"
expect_out $AGENT "processing" "the agent reads processing at once" cat "$T/status"
expect_out $READER "processing" "so does the reader, who had cat'ed it" cat "$T/status"
expect_out $READER "11" "and its size at once" stat -c %s "$T/status"
# A reader holding status across a move reads the value of its open.
SYNC=$WORK/sync
mkdir -m 777 "$SYNC"
rd /usr/bin/python3 -c "
import os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
first = os.read(fd, 3)
open(sys.argv[2] + '/read', 'w').close()
while not os.path.exists(sys.argv[2] + '/moved'):
    time.sleep(0.01)
rest = b''
while True:
    b = os.read(fd, 3)
    if not b: break
    rest += b
print((first + rest).decode().strip())
" "$T/status" "$SYNC" > "$WORK/held" 2>&1 &
hp=$!
wait_for test -e "$SYNC/read"
check "another agent (uid) moves it to processed" as $AGENT2 sh -c "echo processed > '$T/status'"
touch "$SYNC/moved"
wait $hp
held=$(cat "$WORK/held")
check "a descriptor held across that move reads its open's value whole (got '$held')" test "$held" = processing

# --- (b) another agent's (uid) move ---
expect_out $READER "processed" "(b) the reader reads processed at once after the other uid's move" cat "$T/status"
expect_out $AGENT "processed" "and so does the first agent" cat "$T/status"
expect_out $READER "10" "its size too" stat -c %s "$T/status"
expect_out $READER "processed" "a grep -r sees it" sh -c "grep -rh process '$MNT/tickets/$ID/status'"
# Processed is final: 2 s after the move its page may be cached.
sleep 2.2
rd cat "$T/status" >/dev/null
rd stat "$T/status" >/dev/null
rs=$(cats50 "$T/status")
check "50 warm cats of a processed status cost what 50 of created do ($rs requests, created $rc)" \
	test "$rs" -le $(( rc + 10 ))
expect_out $READER "processed" "and read processed" cat "$T/status"
expect_out $READER "10" "sized 10" stat -c %s "$T/status"

# --- a move interleaved with cached reads, many times ---
bad=0
for i in $(seq 30); do
	id=$(echo '{"username":"carol","subject":"loop"}' | "$TICKETCTL" submit "$STORE")
	wait_for rd test -e "$MNT/tickets/$id/status" || { bad=$((bad + 1)); continue; }
	for want in open processing processed; do
		[ $want = open ] || as $AGENT2 sh -c "echo $want > '$MNT/tickets/$id/status'" || bad=$((bad + 1))
		for k in 1 2; do
			got=$(rd cat "$MNT/tickets/$id/status")
			[ "$got" = $want ] || { bad=$((bad + 1)); echo "# $id: got '$got', want $want"; }
		done
		got=$(rd stat -c %s "$MNT/tickets/$id/status")
		[ "$got" = $(( ${#want} + 1 )) ] || { bad=$((bad + 1)); echo "# $id: size $got for $want"; }
	done
done
check "30 tickets moved through every status by the other uid, each read right at once after each move ($bad wrong)" test "$bad" -eq 0

# --- moves racing cached reads: 200 tickets, a move every few ms, two
# readers (whole reads and 2-byte reads) and a writer reading back ---
for i in $(seq 200); do echo '{"username":"dave","subject":"race"}'; done > "$WORK/race.batch"
RACE=$WORK/race
mkdir -m 777 "$RACE"
"$TICKETCTL" submit --batch "$STORE" "$WORK/race.batch" > "$RACE/ids"
chmod 644 "$RACE/ids"
cp "$(dirname "$0")/status_race.py" "$RACE/"
chmod 644 "$RACE/status_race.py"
check "(the 200 tickets are there)" wait_within 5 rd test -e "$MNT/tickets/$(tail -1 "$RACE/ids")/status"
rd /usr/bin/python3 "$RACE/status_race.py" read "$MNT/tickets" 8 "$RACE/ids" > "$RACE/r1" 2>&1 & p1=$!
rd /usr/bin/python3 "$RACE/status_race.py" small "$MNT/tickets" 8 "$RACE/ids" > "$RACE/r2" 2>&1 & p2=$!
as $AGENT2 /usr/bin/python3 "$RACE/status_race.py" write "$MNT/tickets" 7 "$RACE/ids" > "$RACE/w" 2>&1; wr=$?
wait $p1; r1=$?
wait $p2; r2=$?
check "racing moves: the writer read every move back at once ($(tail -1 "$RACE/w"))" test $wr -eq 0
check "racing moves: every whole read was a whole status, never older ($(tail -1 "$RACE/r1"))" test $r1 -eq 0
check "racing moves: every 2-byte-read one too ($(tail -1 "$RACE/r2"))" test $r2 -eq 0
[ $((wr + r1 + r2)) -eq 0 ] || head -5 "$RACE/w" "$RACE/r1" "$RACE/r2" | sed 's/^/# /'

# --- (c) the ticker: a processed ticket expires 8 s later ---
expect_out $READER "open" "the second ticket reads open" cat "$MNT/tickets/$ID2/status"
check "it is processed" as $AGENT sh -c "echo processed > '$MNT/tickets/$ID2/status'"
t0=$(now_ms)
sleep 2.2
expect_out $READER "processed" "and read processed, cached" cat "$MNT/tickets/$ID2/status"
rd stat "$MNT/tickets/$ID2/status" >/dev/null
expect_out $READER "processed" "(again)" cat "$MNT/tickets/$ID2/status"
d=$(( t0 + 8000 - $(now_ms) ))
[ $d -gt 0 ] && sleep "$(awk -v d=$d 'BEGIN { printf "%.3f", d / 1000 }')"
if wait_within 0.2 sh -c "setpriv --reuid=$READER --regid=$READER --clear-groups cat '$MNT/tickets/$ID2/status' 2>&1 >/dev/null | grep -q 'No such file'"; then
	pass "(c) once the ticker expired it, its cached status is gone ($(( $(now_ms) - t0 - 8000 )) ms after the deadline)"
else
	fail "(c) the expired ticket's status still reads: $(rd cat "$MNT/tickets/$ID2/status" 2>&1)"
fi
expect_err $READER "No such file" "and stat of it fails too" stat "$MNT/tickets/$ID2/status"

umount_fs
finish
