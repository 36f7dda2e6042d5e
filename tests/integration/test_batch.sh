# submit --batch of many tickets: sealed by worker threads a chunk at a
# time (512 lines) while the chunk before is written, yet the ids come out
# one a line in input order, each ticket holds exactly its own line's
# values (the JSON fast path's UTF-8 and escapes, and jansson's \u
# escapes), and --client-ip reaches every intake entry; bad lines in
# different chunks are each told with their line number, and then nothing
# at all is submitted (no intake, no temporary file left).  Both backends
# (it_test_batch_pg).
. "$(dirname "$0")/lib.sh"

new_store
N=1300
IP=192.0.2.44
# Line i: values naming i, every 7th line written with \u escapes (jansson
# parses those), the others as UTF-8 with plain escapes (the fast path).
gen() {	# gen N [BADLINE...]: the batch on stdout
	python3 - "$@" <<'PY'
import json, sys
n, bad = int(sys.argv[1]), {int(a) for a in sys.argv[2:]}
for i in range(1, n + 1):
    t = {"username": "user-%d" % i, "subject": "subject %d \"q\" caf\u00e9" % i,
         "description": ("line %d\n\tdesc \u4e2d\u6587 \\ /" % i) * (1 + i % 50),
         "email": "u%d@example.com" % i,
         "authorizations": [{"account": "acc-%d" % i, "password": "pw-%d\u00fc" % i,
                             "expires": "2099-01-01T00:00:00Z"}]}
    if i in bad:
        if i % 2:
            t["nope"] = "1"
        else:
            del t["username"]
    print(json.dumps(t, ensure_ascii=(i % 7 == 0)))
PY
}
# The value a field of line i's ticket reads back as (the mount adds the
# final newline; $(...) drops it again).
want() {	# want I FIELD
	python3 - "$1" "$2" <<'PY'
import sys
i, f = int(sys.argv[1]), sys.argv[2]
print({"subject": "subject %d \"q\" caf\u00e9" % i,
       "description": ("line %d\n\tdesc \u4e2d\u6587 \\ /" % i) * (1 + i % 50),
       "password": "pw-%d\u00fc" % i}[f], end="")
PY
}

# Bad lines in the first and the third chunk: each told, nothing written.
gen $N 300 1201 > "$WORK/bad.jsonl"
out=$("$TICKETCTL" submit --batch "$STORE" "$WORK/bad.jsonl" 2>&1 >"$WORK/bad.ids"); rc=$?
check "a batch with bad lines exits 2" test $rc -eq 2
check "the bad line of the first chunk is told by its number" grep -q 'line 300: missing required key "username"' <<<"$out"
check "the bad line of the third chunk is told by its number" grep -q 'line 1201: unknown key "nope"' <<<"$out"
check "and the count: nothing was submitted" grep -q '2 tickets rejected; nothing was submitted' <<<"$out"
check "no id is printed" test ! -s "$WORK/bad.ids"
check "no intake waits" test "$(intake_waiting)" -eq 0
if [ "$TS_BACKEND" != pg ]; then
	check "no temporary file is left in intake/" test -z "$(ls -A "$STORE/intake" | grep -v '^rejected$')"
fi

# The good batch, with --client-ip.
gen $N > "$WORK/batch.jsonl"
"$TICKETCTL" submit --batch --client-ip $IP "$STORE" "$WORK/batch.jsonl" > "$WORK/ids"; rc=$?
check "submit --batch of $N exits 0" test $rc -eq 0
check "it prints $N ids" test "$(wc -l < "$WORK/ids")" -eq $N
check "the ids are distinct" test "$(sort -u "$WORK/ids" | wc -l)" -eq $N
check "the ids are in input order (they sort by time)" sort -c "$WORK/ids"
check "$N intake records wait" test "$(intake_waiting)" -eq $N
mount_fs || { echo "mount failed"; exit 1; }
check "all $N are taken in" wait_within 60 sh -c "[ \$(setpriv --reuid=$AGENT --regid=$AGENT --clear-groups ls '$MNT/tickets' | wc -l) -eq $N ]"
# Every ticket's username is its own line's (one reader for all of them).
as $AGENT sh -c "while read -r id; do cat \"$MNT/tickets/\$id/username\"; done" \
	< "$WORK/ids" > "$WORK/users"
check "ticket i of the ids holds line i's username, for every i" \
	cmp -s "$WORK/users" <(seq 1 $N | sed 's/^/user-/')
ok=0
for i in 1 7 300 511 512 513 1024 1025 1201 $N; do
	id=$(sed -n "${i}p" "$WORK/ids")
	[ "$(as $AGENT cat "$MNT/tickets/$id/subject")" == "$(want $i subject)" ] &&
	[ "$(as $AGENT cat "$MNT/tickets/$id/description")" == "$(want $i description)" ] &&
	[ "$(as $AGENT cat "$MNT/tickets/$id/authorizations/a1/password")" == "$(want $i password)" ] &&
		ok=$((ok + 1))
done
check "subject, description and password read back exactly, across the chunks" test $ok -eq 10
check "every intake entry carries --client-ip" test "$(as $AUDITOR cat "$MNT/audit.log" |
	jq -r 'select(.op=="intake") | .client_ip' | grep -cx "$IP")" -eq $N
umount_fs
finish
