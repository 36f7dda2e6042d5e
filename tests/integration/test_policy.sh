# ticketctl policy on a directory store: prints STORE/policy, sets it
# (checked first: a bad one is refused naming its line, nothing changed),
# and the daemon, reading the policy through the store (no -o policy),
# applies the new one within a second and audits it, naming its hash.
# -o policy=FILE keeps working as before.
. "$(dirname "$0")/lib.sh"

new_store
entries() { as $AUDITOR cat "$MNT/audit.log"; }
entry() { entries | jq -e -s "any(.[]; $1)" >/dev/null; }

check "policy prints STORE/policy" sh -c "'$TICKETCTL' policy '$STORE' | cmp - '$STORE/policy'"
printf 'email processed, 2s\nticket processed+30d\nfrobnicate 1s\n' > "$WORK/bad.policy"
before=$(store_digest)
out=$("$TICKETCTL" policy "$STORE" "$WORK/bad.policy" 2>&1); rc=$?
check "a bad policy is refused, exit 2 (bad input)" test $rc -eq 2
check "the refusal names the line and the problem ($out)" grep -q 'line 3: unknown item "frobnicate"' <<<"$out"
check "a refused policy changes nothing in the store" test "$before" == "$(store_digest)"
out=$("$TICKETCTL" policy "$STORE" /nonexistent 2>&1); rc=$?
check "an unreadable FILE is refused, exit 2 ($out)" test $rc -eq 2
expect_err 0 "usage: ticketctl policy" "policy with no STORE: usage" "$TICKETCTL" policy
expect_err 0 "usage: ticketctl policy" "policy with three operands: usage" "$TICKETCTL" policy "$STORE" a b
expect_err 0 "cannot open store" "policy of a store that is not there" "$TICKETCTL" policy "$WORK/nope"

ID=$(printf '{"username":"u","subject":"s","email":"e@x.example"}' | "$TICKETCTL" submit "$STORE")
mount_fg
ag() { as $AGENT "$@"; }
check "the mount is up with the store's policy" ag test -e "$MNT/tickets/$ID/email"
check "the mount entry names the policy it starts with" entry ".op == \"mount\" and (.detail | test(\"^policy [0-9a-f]{12}$\"))"
# A policy without the last newline is given one (the daemon refuses a
# last line without it as a file being written).
printf 'email 1s\nticket processed+30d' > "$WORK/new.policy"
out=$("$TICKETCTL" policy "$STORE" "$WORK/new.policy"); rc=$?
check "policy STORE FILE sets it, exit 0" test $rc -eq 0
TAG=$(sed -n 's/.*(policy \([0-9a-f]*\)).*/\1/p' <<<"$out")
check "it names the policy's hash ($out)" test ${#TAG} -eq 12
check "STORE/policy holds it, with its last newline" sh -c "printf 'email 1s\nticket processed+30d\n' | cmp - '$STORE/policy'"
check "STORE/policy stays mode 0600" test "$(stat -c %a "$STORE/policy")" = 600
check "policy prints the new one" sh -c "'$TICKETCTL' policy '$STORE' | cmp - '$STORE/policy'"
check "the daemon applies it within a second (email 1 s: gone)" wait_within 1.5 ag sh -c "! test -e '$MNT/tickets/$ID/email'"
check "the daemon audits the new policy, naming its hash" wait_for entry ".op == \"policy-reload\" and .result == \"ok\" and .detail == \"policy $TAG\""
check "the audit entry holds no policy text" sh -c "! setpriv --reuid=$AUDITOR --regid=$AUDITOR --clear-groups cat '$MNT/audit.log' | grep -q 'processed+30d'"
# An edit in place with another tool is noticed too (the file's identity).
echo "subject 1s" >> "$STORE/policy"
check "an edit of STORE/policy is applied within a second" wait_within 1.5 ag sh -c "! test -e '$MNT/tickets/$ID/subject'"
check "and logged as the store's" grep -q 'policy of the store loaded (policy [0-9a-f]*)' "$LOG"
echo "frobnicate 1s" >> "$STORE/policy"
check "a bad edit is refused, naming the line" wait_within 1.5 grep -q 'policy of the store refused.*line 4: unknown item "frobnicate"' "$LOG"
check "and audited as refused" wait_for entry '.op == "policy-reload" and .result == "error"'
umount_fs

# -o policy=FILE: that file, not the store's.
printf 'email processed\n' > "$WORK/own.policy"
printf 'email 1s\n' > "$STORE/policy"
ID2=$(printf '{"username":"u","subject":"s","email":"e@x.example"}' | "$TICKETCTL" submit "$STORE")
: > "$LOG"
mount_fg -o policy="$WORK/own.policy"
sleep 1.5
check "-o policy=FILE: the store's 1 s email rule is not applied" ag test -e "$MNT/tickets/$ID2/email"
echo "subject 1s" >> "$WORK/own.policy"
check "-o policy=FILE: an edit of FILE is applied within a second" wait_within 1.5 ag sh -c "! test -e '$MNT/tickets/$ID2/subject'"
check "and logged by its name" grep -q "policy $WORK/own.policy loaded" "$LOG"
umount_fs
finish
