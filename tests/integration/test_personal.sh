# The personal-data rules with the policy `ticketctl init` writes, at their
# real periods: the daemon is restarted with its clock moved on (faketime)
# 29, 31, 89 and 91 days after the tickets were taken in.  README,
# "Personal data", maps each rule to this test or another.
. "$(dirname "$0")/lib.sh"

new_store
ag() { as $AGENT "$@"; }
submit() { "$TICKETCTL" submit "$STORE"; }
# faketime preloads itself: an ASan build must be told to allow it.
faketime() { ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 command faketime "$@"; }
# mount_at OFFSET: the daemon in the foreground, its clock OFFSET ahead
# (libfaketime does not follow the daemon's fork: hence -f).
mount_at() {
	san_opts
	ASAN_OPTIONS=$SAN_ASAN:verify_asan_link_order=0 UBSAN_OPTIONS=$SAN_UBSAN \
		command faketime -f "$1" "$TICKETFS" "$STORE" "$MNT" -o key="$KEY" -o "$SEG" -f 2>>"$LOG" &
	DAEMON_PID=$!
	FG_PID=$DAEMON_PID
	wait_for mountpoint -q "$MNT"
}
# Small trail segments, so that whole ones can age out.
SEG=audit_segment=1024
has() { ag test -e "$MNT/tickets/$1/$2"; }
hasnt() { ag sh -c "! test -e '$MNT/tickets/$1/$2'"; }

check "the default policy is what README says" diff - "$STORE/policy" <<'POL'
# ticketfs retention policy: an item, then the events that remove it.
# Events: processed, expired, N<unit> after submission,
# processed+N<unit>, forgotten (the customer's account was deleted);
# units s m h d.  audit: the age after which trail segments go.
username       forgotten
email          processed, 90d, forgotten
mobile         processed, 90d, forgotten
confidential   processed
authorization  processed, expired
ticket         processed+30d
audit          365d
POL

EXP=$(date -u -d '+40 days' +%Y-%m-%dT%H:%M:%SZ)
full='"email":"e@example.com","mobile":"+1 555","confidential":"card 4111"'
auth='"authorizations":[{"account":"acc","password":"pw","expires":"'"$EXP"'"}]'
KEEP=$(echo '{"username":"kim","subject":"open one",'"$full"','"$auth"'}' | submit)
DONE=$(echo '{"username":"dan","subject":"processed one",'"$full"','"$auth"'}' | submit)
mount_fs -o "$SEG"
check "(both tickets taken in)" wait_within 1.2 has "$DONE" email
check "(each with its authorization a1)" has "$KEEP" authorizations/a1
check "(the second's too)" has "$DONE" authorizations/a1
check "(processing the second)" ag sh -c "echo processed > '$MNT/tickets/$DONE/status'"
for f in email mobile confidential authorizations/a1; do
	check "processed: $f is gone at once" hasnt "$DONE" $f
done
check "processed: the username stays" has "$DONE" username
check "processed: the subject stays" has "$DONE" subject
check "processed: messages stay" has "$DONE" messages
umount_fs

mount_at +29d
check "29 days after processing the ticket is still there" has "$DONE" subject
check "29 days after submission the open ticket keeps its email" has "$KEEP" email
umount_fs

mount_at +31d
check "31 days after processing the ticket is gone" hasnt "$DONE" ""
check "and its record is gone from the store" sh -c "! test -e '$STORE/tickets/$DONE'"
check "31 days: the open ticket keeps its email and mobile" has "$KEEP" mobile
umount_fs

mount_at +41d
check "41 days: the authorization expired (40 days) is gone" hasnt "$KEEP" authorizations/a1
check "41 days: email, mobile and confidential stay" has "$KEEP" confidential
umount_fs

mount_at +89d
check "89 days after submission the email is still there" has "$KEEP" email
umount_fs

mount_at +91d
check "91 days after submission the email is gone" hasnt "$KEEP" email
check "91 days: and the mobile" hasnt "$KEEP" mobile
check "91 days: confidential stays until processing" has "$KEEP" confidential
check "91 days: username and subject stay" has "$KEEP" username
umount_fs
check "(the trail spans several segments)" test "$(ls "$STORE/audit" | grep -c '\.log$')" -gt 2
check "the trail verifies, nothing pruned yet" sh -c "'$TICKETCTL' audit verify '$STORE' | grep -v pruned"
segs=$(ls "$STORE/audit" | grep -c '\.log$')

mount_at +364d
check "364 days: every segment is still there" test "$(ls "$STORE/audit" | grep -c '\.log$')" -ge "$segs"
umount_fs
mount_at +367d
check "367 days: the segments of the first year are pruned" wait_within 3 sh -c "test \$(ls '$STORE/audit' | grep -c '\.log\$') -lt $segs"
umount_fs
check "the trail verifies and says what was pruned" sh -c "'$TICKETCTL' audit verify '$STORE' | grep -q 'entries pruned before seq'"
check "the prune is itself in the trail" sh -c "cat '$STORE'/audit/*.log | jq -r .op | grep -qx prune"
check "the store still passes fsck" "$TICKETCTL" fsck "$STORE" --key "$KEY"
finish
