#!/bin/bash
# ticketctl stats (issue 15, item 5), on a directory store and (ctest's
# it_test_stats_pg) on a PostgreSQL one: tickets by status and items due
# as submitted and moved, intake waiting, the trail, --json's keys; not
# mounted, and mounted (the daemon's requests and cache hit rate).
. "$(dirname "$0")/lib.sh"

KEYS='["daemon","damaged","due","intake","mounted","status","tickets","trail"]'
new_store
# email goes 30 minutes after submission: within the hour and the day.
policy_set <<'P'
email          processed, 30m
ticket         processed+30d
P
for i in $(seq 20); do echo "{\"username\":\"u$i\",\"subject\":\"s$i\",\"email\":\"e$i@example.com\"}"; done |
	"$TICKETCTL" submit --batch "$STORE" > "$WORK/ids"
HOST=()	# a shared store: the daemon's host name (lib.sh's it1)
[ "$TS_BACKEND" = pg ] && HOST=(--host it1)
stats() { "$TICKETCTL" stats "$STORE" --json "${HOST[@]}"; }

stats > "$WORK/s.json" 2> "$WORK/s.err"; rc=$?
check "not mounted: exit 0, nothing on stderr" test $rc -eq 0 -a ! -s "$WORK/s.err"
check "--json has the documented keys" jq -e "keys == $KEYS" "$WORK/s.json"
check "20 tickets waiting in intake, none taken in, not mounted, no daemon" \
	jq -e '.intake.waiting == 20 and .intake.rejected == 0 and .tickets == 0 and .mounted == false and .daemon == null' "$WORK/s.json"
check "intake as the store holds it" test "$(jq .intake.waiting "$WORK/s.json")" -eq "$(intake_waiting)"

mount_fs
check "mounted: the 20 tickets taken in" wait_within 10 sh -c "'$TICKETCTL' stats '$STORE' --json | jq -e '.tickets == 20 and .intake.waiting == 0' >/dev/null"
for id in $(head -2 "$WORK/ids"); do
	as $AGENT sh -c "echo processing > '$MNT/tickets/$id/status'"
done
stats > "$WORK/s.json"
check "2 moved to processing, 18 open" jq -e '.status == {"open": 18, "processing": 2, "processed": 0}' "$WORK/s.json"
check "20 emails due within the hour and the day, no ticket" \
	jq -e '.due.hour == {"tickets": 0, "items": 20} and .due.day == {"tickets": 0, "items": 20} and .due.overdue == 0' "$WORK/s.json"
id=$(sed -n 3p "$WORK/ids")
as $AGENT sh -c "echo processing > '$MNT/tickets/$id/status' && echo processed > '$MNT/tickets/$id/status'"
check "one processed: its email goes at once, its ticket within 30 days" wait_within 3 sh -c \
	"'$TICKETCTL' stats '$STORE' --json ${HOST[*]} | jq -e '.status.processed == 1 and .due.hour.items == 19 and .due.day.tickets == 0' >/dev/null"
for id in $(sed -n 4,8p "$WORK/ids"); do
	as $AGENT cat "$MNT/tickets/$id/email" "$MNT/tickets/$id/email" > /dev/null
done
sleep 1.2	# the daemon publishes once a second
stats > "$WORK/s.json"
check "mounted, with the daemon's counters" jq -e '.mounted and .daemon.requests > 0' "$WORK/s.json"
check "the cache read: hits and misses, a rate between 0 and 1" \
	jq -e '.daemon.cache_hits + .daemon.cache_misses > 0 and .daemon.cache_hit_rate >= 0 and .daemon.cache_hit_rate <= 1' "$WORK/s.json"
r1=$(jq .daemon.requests "$WORK/s.json")
as $AGENT ls -lR "$MNT/tickets" > /dev/null
sleep 1.2
check "requests served grow with use" test "$(stats | jq .daemon.requests)" -gt "$r1"
check "the trail: bytes, its last entry checkpointed within a second or so" wait_within 3 sh -c \
	"'$TICKETCTL' stats '$STORE' --json ${HOST[*]} | jq -e '.trail.bytes > 0 and .trail.checkpoint_seq > 0 and .trail.last_seq == .trail.checkpoint_seq and .trail.checkpoint_age_s < 5' >/dev/null"
out=$("$TICKETCTL" stats "$STORE" "${HOST[@]}")
check "the text form: tickets by status" grep -q '^tickets: 20 (open 17, processing 2, processed 1)$' <<<"$out"
check "the text form: the daemon's line" grep -q '^daemon: [0-9]* requests served, value cache hit rate' <<<"$out"
if [ "$TS_BACKEND" != pg ]; then
	check "the counters file is root's alone, and holds no id" sh -c \
		"test \$(stat -c %a /run/ticketfs) = 700 && ! grep -rqF '$id' /run/ticketfs"
	# What ticketctl stats takes for the daemon's counters: only a file
	# like the daemon's own.  The daemon is stopped meanwhile (it would
	# put its own back within a second).
	F=/run/ticketfs/d-$(stat -c %D-%i "$STORE").stats
	PID=$(jq .pid "$F")
	kill -STOP "$PID"
	EXTRA_CLEANUP="$EXTRA_CLEANUP; kill -CONT $PID 2>/dev/null"
	cp -p "$F" "$WORK/stats.bak"
	fresh() { printf '{"pid":1,"updated_ms":%s,"requests":5%s}\n' "$(date +%s%3N)" "$1"; }
	fresh "" > "$F"		# no cache counts
	timeout 10 "$TICKETCTL" stats "$STORE" --json > "$WORK/s.json" 2> "$WORK/s.err"; rc=$?
	check "a counters file without the cache counts: exit 0, no daemon counters (exit $rc: $(cat "$WORK/s.err"))" \
		sh -c "test $rc -eq 0 && jq -e '.mounted and .daemon == null' '$WORK/s.json' >/dev/null"
	fresh ',"cache_hits":1,"cache_misses":1' > "$F"
	chown 65534 "$F"
	check "one of another owner: not shown" sh -c "'$TICKETCTL' stats '$STORE' --json | jq -e '.mounted and .daemon == null' >/dev/null"
	chown 65534 "$STORE"
	check "one of the store's owner (the service user the daemon runs as): shown" sh -c "'$TICKETCTL' stats '$STORE' --json | jq -e '.daemon.requests == 5' >/dev/null"
	chown 0 "$STORE"
	chown 0 "$F"
	check "(the same, root's, is shown)" sh -c "'$TICKETCTL' stats '$STORE' --json | jq -e '.daemon.requests == 5' >/dev/null"
	rm -f "$F"; mkfifo -m 600 "$F"
	timeout 10 "$TICKETCTL" stats "$STORE" --json > "$WORK/s.json" 2>&1; rc=$?
	check "a FIFO in its place does not block stats (exit $rc)" \
		sh -c "test $rc -eq 0 && jq -e '.daemon == null' '$WORK/s.json' >/dev/null"
	rm -f "$F"; { printf '{"pid":1,"updated_ms":%s,"requests":5,"cache_hits":1,"cache_misses":1,"pad":"' "$(date +%s%3N)"
		head -c 1000000 /dev/zero | tr '\0' x; echo '"}'; } > "$F"
	check "(a valid JSON object)" jq -e '.requests == 5' "$F"
	check "a huge one: not read" sh -c "'$TICKETCTL' stats '$STORE' --json | jq -e '.mounted and .daemon == null' >/dev/null"
	mv -f "$WORK/stats.bak" "$F"
	kill -CONT "$PID"
fi
umount_fs
stats > "$WORK/s.json"
check "unmounted again: the counts stay, no daemon" \
	jq -e '.tickets == 20 and .mounted == false and .daemon == null and .status.processed == 1' "$WORK/s.json"
# It takes no lock, not for an instant: a daemon starting while stats
# runs back to back is never refused as "in use".
(while :; do "$TICKETCTL" stats "$STORE" "${HOST[@]}" >/dev/null 2>&1; done) &
LOOP=$!
EXTRA_CLEANUP="$EXTRA_CLEANUP; kill $LOOP 2>/dev/null"
ok=0
for i in 1 2 3 4 5; do
	mount_fs && ok=$((ok + 1))
	umount_fs
done
kill $LOOP; wait $LOOP 2>/dev/null
check "5 mounts while stats runs back to back: none refused" test $ok -eq 5
if [ "$TS_BACKEND" != pg ] && command -v strace >/dev/null; then
	mount_fs
	strace -f -e trace=flock -o "$WORK/strace" "$TICKETCTL" stats "$STORE" >/dev/null
	check "mounted: stats still says so" sh -c "'$TICKETCTL' stats '$STORE' --json | jq -e .mounted >/dev/null"
	check "and makes no flock call (strace)" sh -c "! grep -q flock '$WORK/strace'"
	umount_fs
fi
check "a bad option: exit 2" sh -c "'$TICKETCTL' stats '$STORE' --nope 2>/dev/null; test \$? -eq 2"
finish
