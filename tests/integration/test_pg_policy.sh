# The policy of a shared store lives in the database: ticketctl policy URI
# prints it and sets it (checked first: a bad one is refused naming its
# line, nothing changed); every daemon on the store applies a new one
# within a second and audits it, each in its own chain, naming the text's
# hash.  Two daemons on two mountpoints, the second in a UTS namespace of
# its own (another host name, as another host has).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pg_lib.sh"

pg_newdb
"$TICKETCTL" init "$PGURI" "$KEY" >/dev/null || { echo "init failed"; exit 1; }
# One sealing state a host: these two share the key, so neither seals.
rm -f "$KEY.fss"
printf '%s agent\n%s auditor\n' $AGENT $AUDITOR > "$WORK/whitelist"
ID=$(echo '{"username":"u","subject":"s","email":"e@example.com","mobile":"+1 555"}' | "$TICKETCTL" submit "$PGURI")
MNT2=$WORK/mnt2
mkdir -p "$MNT2"
LOG2=$WORK/daemon2.log
HOST1=$(hostname)
# Each daemon in the foreground, its own checkpoint copy (its own chain).
# The second starts once the first took the ticket in: it loads it then
# (what one host takes in later reaches the other by fs/sync.c, not tested
# here).
"$TICKETFS" "$PGURI" "$MNT" -f -o key="$KEY",whitelist="$WORK/whitelist",checkpoint_copy="$WORK/cp1",audit_spool="$WORK/sp1" 2>>"$LOG" &
D1=$!
EXTRA_CLEANUP="fusermount3 -u '$MNT2' 2>/dev/null; kill $D1 2>/dev/null; $EXTRA_CLEANUP"
check "daemon 1 is up" wait_within 10 mountpoint -q "$MNT"
check "daemon 1 took the ticket in" wait_for as $AGENT test -e "$MNT/tickets/$ID/email"
unshare --uts sh -c "hostname h2 && exec '$TICKETFS' '$PGURI' '$MNT2' -f -o key='$KEY',whitelist='$WORK/whitelist',checkpoint_copy='$WORK/cp2',audit_spool='$WORK/sp2'" 2>>"$LOG2" &
D2=$!
EXTRA_CLEANUP="kill $D2 2>/dev/null; $EXTRA_CLEANUP"
check "daemon 2 (host h2) is up" wait_within 10 mountpoint -q "$MNT2"
ag() { as $AGENT "$@"; }
check "both show the ticket's email" wait_for ag sh -c "test -e '$MNT/tickets/$ID/email' && test -e '$MNT2/tickets/$ID/email'"
check "policy URI prints the store's (the default)" sh -c "'$TICKETCTL' policy '$PGURI' | grep -q '^email  *processed, 90d, forgotten$'"
audited() {	# audited TAG: the number of hosts that audited policy TAG
	psql_do "$PGDB" "SELECT count(DISTINCT host) FROM ts_audit WHERE line LIKE '%\"op\":\"policy-reload\"%' AND line LIKE '%\"result\":\"ok\"%' AND line LIKE '%\"detail\":\"policy $1\"%'"
}
check "each daemon's mount entry names the policy it started with" test "$(psql_do "$PGDB" "SELECT count(DISTINCT host) FROM ts_audit WHERE line LIKE '%\"op\":\"mount\"%' AND line LIKE '%\"detail\":\"policy %'")" -eq 2

# A bad policy: refused, naming the line; nothing changed.
before=$("$TICKETCTL" policy "$PGURI")
printf 'email 1s\nmobile sometimes\n' > "$WORK/bad"
out=$("$TICKETCTL" policy "$PGURI" "$WORK/bad" 2>&1); rc=$?
check "a bad policy is refused with exit 2" test $rc -eq 2
check "naming the line ($out)" grep -q 'line 2: unknown event "sometimes"' <<<"$out"
check "the store's policy is unchanged" test "$before" == "$("$TICKETCTL" policy "$PGURI")"

# A good one: both daemons apply it within a second and audit it.
printf 'email 1s\nticket processed+30d\n' > "$WORK/new"
t0=${EPOCHREALTIME/./}
out=$("$TICKETCTL" policy "$PGURI" "$WORK/new"); rc=$?
TAG=$(sed -n 's/.*(policy \([0-9a-f]*\)).*/\1/p' <<<"$out")
check "policy URI FILE sets it ($out)" test $rc -eq 0 -a ${#TAG} -eq 12
check "it reads back as set" sh -c "'$TICKETCTL' policy '$PGURI' | cmp - '$WORK/new'"
if wait_within 1.0 sh -c "test \"\$(psql -X -At '$PGURI' -c \"SELECT count(DISTINCT host) FROM ts_audit WHERE line LIKE '%policy $TAG%'\")\" -eq 2"; then
	pass "both daemons applied and audited it within a second ($(( (${EPOCHREALTIME/./} - t0) / 1000 )) ms)"
else
	fail "both daemons applied and audited it within a second (hosts: $(audited "$TAG"))"
fi
check "each in its own chain, as policy-reload ok naming the hash" test "$(audited "$TAG")" -eq 2
check "the hosts are this one and h2" test "$(psql_do "$PGDB" "SELECT string_agg(DISTINCT host, ' ' ORDER BY host) FROM ts_audit WHERE line LIKE '%policy $TAG%'")" == "$(printf '%s\n' "$HOST1" h2 | sort | tr '\n' ' ' | sed 's/ $//')"
check "the entries hold no policy text" test "$(psql_do "$PGDB" "SELECT count(*) FROM ts_audit WHERE line LIKE '%processed+30d%'")" -eq 0
check "email (1 s) is gone on both mounts" wait_within 2 ag sh -c "! test -e '$MNT/tickets/$ID/email' && ! test -e '$MNT2/tickets/$ID/email'"
check "mobile (no rule now) stays on both" ag sh -c "test -e '$MNT/tickets/$ID/mobile' && test -e '$MNT2/tickets/$ID/mobile'"
check "daemon 1 logs it as the store's" grep -q "policy of the store loaded (policy $TAG)" "$LOG"
check "daemon 2 too" grep -q "policy of the store loaded (policy $TAG)" "$LOG2"

# Set by hand in the database, and bad: each daemon refuses it (logged,
# audited), the one in force stays.
psql_do "$PGDB" "UPDATE ts_meta SET value = E'email 1s\\nfrobnicate 2d\\n' WHERE name = 'policy'"
check "daemon 1 refuses a bad policy set by hand, naming the line" wait_within 1.5 grep -q 'policy of the store refused.*line 2: unknown item "frobnicate"' "$LOG"
check "daemon 2 too" wait_within 1.5 grep -q 'policy of the store refused.*line 2: unknown item "frobnicate"' "$LOG2"
check "both audit the refusal" wait_for sh -c "test \"\$(psql -X -At '$PGURI' -c \"SELECT count(DISTINCT host) FROM ts_audit WHERE line LIKE '%\\\"op\\\":\\\"policy-reload\\\"%' AND line LIKE '%\\\"result\\\":\\\"error\\\"%'\")\" -eq 2"
check "mobile still stays (the old policy in force)" ag test -e "$MNT2/tickets/$ID/mobile"

fusermount3 -u "$MNT"; fusermount3 -u "$MNT2"
check "daemon 1 exits 0" wait $D1
check "daemon 2 exits 0" wait $D2
check "the store's audit trail verifies, both chains" "$TICKETCTL" audit verify "$PGURI"
finish
