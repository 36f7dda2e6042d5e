#!/bin/bash
# Crypto-shredding (issue 13, item 3): a deletion reaches the backups.
# Back up the store (tar); delete ticket A (rm -r through the mount) and
# remove B's email (rm); put the old tickets/ back with today's keys/:
# nothing of A nor B's old email opens, `ticketctl fsck --key` names them
# shredded (not damage, exit 0), and every other ticket reads back exactly.
. "$(dirname "$0")/lib.sh"

new_store
submit() { "$TICKETCTL" submit "$STORE"; }
A=$(jq -cn '{username:"ann", subject:"A subject", email:"ann@example.com",
  confidential:"A secret", authorizations:[{account:"a-acc", password:"a-pw",
  expires:"2099-01-01T00:00:00Z"}]}' | submit)
B=$(jq -cn '{username:"bob", subject:"B subject", email:"bob@example.com",
  mobile:"+1 555 0101"}' | submit)
C=$(jq -cn '{username:"cat", subject:"C subject", email:"cat@example.com",
  description:"C description", authorizations:[{account:"c-acc",
  password:"c-pw", resource:"c-res", expires:"2099-01-01T00:00:00Z"}]}' | submit)
echo "a message for C" | "$TICKETCTL" message "$STORE" "$C" >/dev/null
: > "$LOG"
mount_fg
check "the three tickets are taken in" wait_for as $AGENT test -e "$MNT/tickets/$C/messages"
wait_for sh -c "[ \$(ls '$MNT/tickets/$C/messages' | wc -l) -eq 1 ]"
check "each new ticket has its own key file in keys/" \
	test -f "$STORE/keys/$A" -a -f "$STORE/keys/$B" -a -f "$STORE/keys/$C"
check "keys/ is the daemon's alone (0700)" test "$(stat -c %a "$STORE/keys")" = 700
echo "an agent's reply" | as $AGENT sh -c "cat > '$MNT/tickets/$C/messages/reply'"

# Every file of ticket $1 as the mount shows it: "path<TAB>content".
dump() {
	as $AGENT sh -c 'cd "$1" && find . -type f | sort | while read -r f; do
		printf "%s\t%s\n" "$f" "$(cat "$f" | tr "\n" "|")"; done' sh "$MNT/tickets/$1"
}
dump "$C" > "$WORK/C.before"
check "C reads back before (it has 10+ files)" test "$(wc -l < "$WORK/C.before")" -ge 10
expect_out $AGENT "bob@example.com" "B's email reads" cat "$MNT/tickets/$B/email"

# The backup: taken while the daemon runs, as an operator would.
tar -C "$STORE" -cf "$WORK/backup.tar" tickets keys
cp "$STORE/keys/$B" "$WORK/B.key.before"

check "rm -r of ticket A" as $AGENT rm -r "$MNT/tickets/$A"
check "rm of B's email" as $AGENT rm "$MNT/tickets/$B/email"
check "A's key file is gone at once" test ! -e "$STORE/keys/$A"
check "B's key file was replaced: a fresh key for what B keeps" \
	sh -c "! cmp -s '$STORE/keys/$B' '$WORK/B.key.before'"
check "no key file waits half-promoted" sh -c "! ls '$STORE/keys' | grep -q '\\.next\$'"
expect_out $AGENT "B subject" "B's other values still read" cat "$MNT/tickets/$B/subject"
expect_out $AGENT "+1 555 0101" "B's mobile still reads" cat "$MNT/tickets/$B/mobile"
umount_fs

# Today's keys/ with yesterday's tickets/.
rm -rf "$STORE/tickets" "$STORE/index.snap"
tar -C "$STORE" -xf "$WORK/backup.tar" tickets
check "the old records of A and B are back in tickets/" \
	test -f "$STORE/tickets/$A" -a -f "$STORE/tickets/$B"

out=$("$TICKETCTL" fsck "$STORE" --key "$KEY"); rc=$?
echo "$out" | sed 's/^/# /'
if [ $rc -eq 0 ]; then pass "fsck --key: exit 0 (shredded is not damage)"; else
	fail "fsck --key: exit 0 (exit $rc)"; fi
if grep -q "^SHREDDED $A: its key is gone" <<<"$out" &&
   grep -q "^SHREDDED $B: its key is gone" <<<"$out"; then
	pass "fsck names A and B's old record as shredded"
else
	fail "fsck names A and B's old record as shredded"
fi
check "fsck counts them apart from problems" grep -q "^3 records checked with the key, 0 problems$" <<<"$out"
check "fsck says 2 shredded tickets" grep -q "^2 shredded tickets (their key is gone: not damage)$" <<<"$out"
check "and that no ticket is of before" grep -q "^0 tickets of before per-ticket keys" <<<"$out"
if [[ $out != *"$C"* ]]; then pass "C is not named"; else fail "C is not named"; fi

# Nothing of A, nor B's old email, opens: not with the store's key either.
: > "$LOG"
mount_fg
expect_err $AGENT "Input/output error" "A's subject does not open" cat "$MNT/tickets/$A/subject"
expect_err $AGENT "Input/output error" "A's password does not open" \
	cat "$MNT/tickets/$A/authorizations/a1/password"
expect_err $AGENT "Input/output error" "B's old email does not open" cat "$MNT/tickets/$B/email"
check "the daemon logs A as shredded" grep -q "ticket $A: shredded (its key is gone)" "$LOG"
check "and B" grep -q "ticket $B: shredded (its key is gone)" "$LOG"
expect_err $AGENT "Input/output error" "A's subject still does not open" cat "$MNT/tickets/$A/subject"
n=$(grep -c "ticket $A: shredded (its key is gone)" "$LOG")
check "A is logged once for its three reads (once a minute): $n line(s)" test "$n" -eq 1
dump "$C" > "$WORK/C.after"
if cmp -s "$WORK/C.before" "$WORK/C.after"; then pass "C reads back exactly"; else
	fail "C reads back exactly: $(diff "$WORK/C.before" "$WORK/C.after" | head -5)"; fi
# A shredded ticket can still be removed: its record goes, no key to delete.
check "the shredded A can be removed" as $AGENT rm -r "$MNT/tickets/$A"
umount_fs

# With the backup's own keys/ too (kept beyond 30 days: what README
# forbids), the old values do open: the keys are what shreds.
rm -rf "$STORE/keys"
tar -C "$STORE" -xf "$WORK/backup.tar" keys
rm -f "$STORE/index.snap"
: > "$LOG"
mount_fg
expect_out $AGENT "bob@example.com" "with the old keys/ as well, B's old email opens (so keys/ must not be kept)" \
	cat "$MNT/tickets/$B/email"
umount_fs

# A burst of removals is re-sealed once, not once each: rm -r of a ticket
# of 300 messages.  And the old key outlives a removal by at most ~2 s.
D=$(jq -cn '{username:"dee", subject:"D subject"}' | submit)
E=$(jq -cn '{username:"eve", subject:"E subject", email:"eve@example.com",
  mobile:"+1 555 0102", confidential:"E secret"}' | submit)
: > "$LOG"
mount_fg
check "(D and E are taken in)" wait_for as $AGENT test -e "$MNT/tickets/$E/email"
as $AGENT sh -c 'for i in $(seq 300); do echo "note $i" > "$1/m$i"; done' sh "$MNT/tickets/$D/messages"
check "(D holds 300 messages)" test "$(as $AGENT ls "$MNT/tickets/$D/messages" | wc -l)" -eq 300
t0=${EPOCHREALTIME/./}
check "rm -r of a ticket of 300 messages exits 0" as $AGENT rm -r "$MNT/tickets/$D"
echo "# rm -r of 300 messages: $(( (${EPOCHREALTIME/./} - t0) / 1000 )) ms"
check "its key file is gone" test ! -e "$STORE/keys/$D"
as $AGENT rm "$MNT/tickets/$E/email"
k1=$(sha256sum < "$STORE/keys/$E")
as $AGENT rm "$MNT/tickets/$E/mobile"
check "a second removal right after: E's key is replaced within 2.5 s" \
	wait_within 2.5 sh -c "[ \"\$(sha256sum < '$STORE/keys/$E')\" != '$k1' ]"
check "and no next key is left" test ! -e "$STORE/keys/$E.next"
expect_out $AGENT "E secret" "E's confidential reads back" cat "$MNT/tickets/$E/confidential"
umount_fs
check "fsck --key passes after it" "$TICKETCTL" fsck "$STORE" --key "$KEY"
finish
