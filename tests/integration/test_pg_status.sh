# status cached by the kernel (issue 15, item 9) on a shared PostgreSQL
# store, two hosts (daemons h1 and h2 on two mountpoints, as in
# test_pg_cross): a status h2's reader has cat'ed and stat'ed reads the
# move h1 made within 1 s (the bound for every change of another host), and
# its size with it; once processed (final), both hosts serve it from the
# kernel's cache.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pg_lib.sh"

pg_newdb || { echo "no database"; exit 1; }
"$TICKETCTL" init "$PGURI" "$KEY" >/dev/null || { echo "init failed"; exit 1; }
WL=$WORK/whitelist
printf '%s agent\n%s reader\n' $AGENT $READER > "$WL"
M1=$WORK/m1
M2=$WORK/m2
mkdir -p "$M1" "$M2"
PID1= PID2=
EXTRA_CLEANUP="$EXTRA_CLEANUP; two_cleanup"
two_cleanup() {
	local m
	for m in "$M1" "$M2"; do
		mountpoint -q "$m" 2>/dev/null && { fusermount3 -u "$m" 2>/dev/null || umount -l "$m"; }
	done
	[ -n "$PID1" ] && kill "$PID1" 2>/dev/null
	[ -n "$PID2" ] && kill "$PID2" 2>/dev/null
	:
}
host() {	# host N: daemon hN on mN in the foreground, its log hN.log
	local n=$1 m=$WORK/m$1
	"$TICKETFS" "$PGURI" "$m" -f -o key="$KEY",whitelist="$WL",hostname=h$n,checkpoint_copy="$WORK/h$n.checkpoint",fss="$WORK/h$n.fss",audit_spool="$WORK/h$n.spool" 2>>"$WORK/h$n.log" &
	eval PID$n=$!
	wait_within 10 mountpoint -q "$m"
}
unhost() {
	local n=$1 pid
	eval pid=\$PID$n
	fusermount3 -u "$WORK/m$n" 2>/dev/null || umount -l "$WORK/m$n"
	wait_within 10 sh -c "! kill -0 $pid" || fail "daemon h$n did not exit"
	wait "$pid" || fail "daemon h$n exited with status $?"
	eval PID$n=
}
host 1 || { echo "h1 did not mount"; cat "$WORK/h1.log"; exit 1; }
host 2 || { echo "h2 did not mount"; cat "$WORK/h2.log"; exit 1; }
rd() { as $READER "$@"; }
now_ms() { echo $(( ${EPOCHREALTIME/./} / 1000 )); }
requests() {	# requests N: what daemon hN served so far
	sleep 1.2
	"$TICKETCTL" stats "$PGURI" --json --host h$1 | jq .daemon.requests
}
cats50() {	# cats50 FILE: the requests 50 cats of FILE cost h2
	local r0 r1
	r0=$(requests 2)
	for i in $(seq 50); do rd cat "$1" >/dev/null; done
	r1=$(requests 2)
	echo $(( r1 - r0 ))
}
# seen MOUNT ID WANT: how long until a cat of status on MOUNT reads WANT
# (ms), at most 1 s; 1 if never.
seen() {
	local t0 t
	t0=$(now_ms)
	while :; do
		[ "$(rd cat "$1/tickets/$2/status")" = "$3" ] && break
		t=$(now_ms)
		[ $(( t - t0 )) -le 1000 ] || return 1
		sleep 0.005
	done
	echo $(( $(now_ms) - t0 ))
}

ID=$(echo '{"username":"alice","subject":"two hosts"}' | "$TICKETCTL" submit "$PGURI")
check "the ticket is on h1" wait_within 2 rd test -e "$M1/tickets/$ID/status"
check "and on h2" wait_within 2 rd test -e "$M2/tickets/$ID/status"
T2=$M2/tickets/$ID
expect_out $READER "open" "h2's reader reads open" cat "$T2/status"
rd cat "$T2/status" "$T2/created" >/dev/null
rd stat "$T2/status" "$T2/created" >/dev/null
rc=$(cats50 "$T2/created")
rs=$(cats50 "$T2/status")
check "h2 reads an open status from the daemon, it may move ($rs requests for 50 cats, created $rc)" \
	test "$rs" -ge $(( rc + 2 * 50 ))

check "h1's agent moves it to processing" as $AGENT sh -c "echo processing > '$M1/tickets/$ID/status'"
if ms=$(seen "$M2" "$ID" processing); then
	pass "(d) h2's reader, who had cat'ed it, reads processing ${ms} ms after h1's move"
else
	fail "(d) h2 still reads $(rd cat "$T2/status") 1 s after h1's move"
fi
expect_out $READER "11" "and its size on h2" stat -c %s "$T2/status"
check "h2's agent moves it to processed" as $AGENT sh -c "echo processed > '$T2/status'"
expect_out $READER "processed" "h2 reads processed at once" cat "$T2/status"
if ms=$(seen "$M1" "$ID" processed); then
	pass "h1's reader reads processed ${ms} ms after h2's move"
else
	fail "h1 still reads $(rd cat "$M1/tickets/$ID/status") 1 s after h2's move"
fi
expect_out $READER "10" "and its size on h1" stat -c %s "$M1/tickets/$ID/status"
sleep 2.2	# processed is final: its page may be cached 2 s after the move
for n in 1 2; do
	rd cat "$WORK/m$n/tickets/$ID/status" >/dev/null
	rd stat "$WORK/m$n/tickets/$ID/status" >/dev/null
done
rs=$(cats50 "$T2/status")
check "h2 serves the processed status from the kernel's cache, as created ($rs requests for 50 cats, created $rc)" \
	test "$rs" -le $(( rc + 10 ))
expect_out $READER "processed" "(and reads processed)" cat "$T2/status"

unhost 2
unhost 1
check "no daemon crashed (no sanitizer report in the logs)" sh -c "! grep -E -q '$SAN_RE' '$WORK/h1.log' '$WORK/h2.log'"
[ "$FAILED" -gt 0 ] && for n in 1 2; do echo "# h$n's log:"; tail -n 20 "$WORK/h$n.log" | sed 's/^/#   /'; done
finish
