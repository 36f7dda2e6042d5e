# A customer's rights through intake: account deletion (ticketctl forget)
# removes what the policy ties to `forgotten` from every ticket of the
# user, within a second or at the next start, audited by ticket and item,
# never by username; the customer's own erasure (ticketctl erase) of
# fields or of the whole ticket; the client's address (--client-ip,
# "client_ip") in the intake's audit entry only.
. "$(dirname "$0")/lib.sh"

new_store
C=CANARY-r1ght5
SEG=$STORE/audit
trail() { cat "$SEG"/*.log; }
ticket() {	# ticket USER TAG: a ticket of USER with every field
	jq -cn --arg u "$1" --arg c "$2-$C" '{username:$u, subject:("s-"+$c),
	  description:("d-"+$c), email:("e-"+$c), mobile:("m-"+$c),
	  confidential:("c-"+$c)}' | "$TICKETCTL" submit "$STORE"
}
U1="alice-$C"
U2="bob-$C"
A1=$(ticket "$U1" a1)
A2=$(ticket "$U1" a2)
B1=$(ticket "$U2" b1)
mount_fg || { echo "mount failed"; exit 1; }
ag() { as $AGENT "$@"; }
check "three tickets there" test "$(ag ls "$MNT/tickets" | wc -l)" -eq 3

# Bad input: exit 2, a message, nothing written.  The running daemon's own
# audit/ (its checkpoint timer) is left out of the comparison.
data_digest() { store_digest | grep -v -e '^\./audit' -e ' \./audit'; }
before=$(data_digest)
bad() {
	local what=$1 text=$2; shift 2
	local out rc
	out=$("$TICKETCTL" "$@" 2>&1 </dev/null); rc=$?
	if [ $rc -eq 2 ] && [[ $out == *"$text"* ]]; then pass "$what"; else
		fail "$what (exit $rc: $out)"; fi
}
bad "forget: bad usage" 'usage: ticketctl forget' forget "$STORE"
bad "forget: empty username" 'the username is empty' forget "$STORE" ""
bad "forget: a bad client_ip" '"client_ip" is not an IPv4 or IPv6 address: "10.0.0.300"' forget --client-ip 10.0.0.300 "$STORE" "$U1"
bad "erase: an unknown field is a usage error" 'unknown field "subject"' erase "$STORE" "$A1" subject
bad "erase: a field that is no field" 'unknown field "colour"' erase "$STORE" "$A1" email colour
bad "erase: an unknown ticket" "no ticket 20990101-000000-000000-aaaa in this store" erase "$STORE" 20990101-000000-000000-aaaa
bad "erase: an invalid id" 'invalid ticket id' erase "$STORE" ../x
bad "erase: a bad client_ip" 'is not an IPv4 or IPv6 address' erase --client-ip "::1::2" "$STORE" "$A1"
bad "submit: a bad --client-ip" 'is not an IPv4 or IPv6 address: "example.com"' submit --client-ip example.com "$STORE" <<<'{"username":"x","subject":"y"}'
out=$(echo '{"username":"x","subject":"y","client_ip":"1.2.3"}' | "$TICKETCTL" submit "$STORE" 2>&1); rc=$?
if [ $rc -eq 2 ] && [[ $out == *'"client_ip" is not an IPv4 or IPv6 address: "1.2.3"'* ]]; then pass "submit: a bad \"client_ip\" key"; else fail "submit: a bad \"client_ip\" key (exit $rc: $out)"; fi
out=$(echo '{"username":"x","subject":"y","client_ip":7}' | "$TICKETCTL" submit "$STORE" 2>&1); rc=$?
if [ $rc -eq 2 ] && [[ $out == *'"client_ip" must be a string'* ]]; then pass "submit: a client_ip that is no string"; else fail "submit: a client_ip that is no string (exit $rc: $out)"; fi
bad "message: a bad --client-ip" 'not an IPv4 or IPv6' message --client-ip 300.1.1.1 "$STORE" "$A1" <<<'hi'
bad "revoke: a bad --client-ip" 'not an IPv4 or IPv6' revoke --client-ip x "$STORE" "$A1" a1
check "bad requests wrote nothing" test "$before" == "$(data_digest)"
check "forget --help" sh -c "'$TICKETCTL' forget --help | grep -q 'usage: ticketctl forget'"
check "erase --help" sh -c "'$TICKETCTL' erase --help | grep -q 'usage: ticketctl erase'"

# Forget a user with two tickets: username, email and mobile (the default
# policy) gone from both within a second; the other user's untouched.
# Read first, so that the kernel holds their entries and pages.
expect_out $READER "$U1" "the username reads back before" cat "$MNT/tickets/$A1/username"
expect_out $READER "e-a1-$C" "the email reads back before" cat "$MNT/tickets/$A1/email"
n0=$(trail | wc -l)
out=$("$TICKETCTL" forget --client-ip 2001:db8::7 "$STORE" "$U1" 2>&1); rc=$?
check "forget prints nothing and exits 0" test $rc -eq 0 -a -z "$out"
for id in $A1 $A2; do
	check "$id: username gone within 1 s" wait_within 1.2 ag sh -c "! test -e '$MNT/tickets/$id/username'"
	check "$id: not readable either" as $READER sh -c "! cat '$MNT/tickets/$id/username' '$MNT/tickets/$id/email' 2>/dev/null"
	check "$id: email and mobile gone" ag sh -c "! test -e '$MNT/tickets/$id/email' && ! test -e '$MNT/tickets/$id/mobile'"
	check "$id: subject, description, confidential stay" ag sh -c "cat '$MNT/tickets/$id/subject' '$MNT/tickets/$id/description' '$MNT/tickets/$id/confidential' >/dev/null"
done
expect_out $AGENT "$U2" "the other user's username stays" cat "$MNT/tickets/$B1/username"
expect_out $AGENT "e-b1-$C" "the other user's email stays" cat "$MNT/tickets/$B1/email"
new=$(trail | tail -n +$((n0 + 1)))
check "each removal audited as forget with ticket and item" test "$(jq -r 'select(.op=="forget") | .path' <<<"$new" | sort | tr '\n' ' ')" == "$(printf '%s\n' "tickets/$A1/email" "tickets/$A1/mobile" "tickets/$A1/username" "tickets/$A2/email" "tickets/$A2/mobile" "tickets/$A2/username" | sort | tr '\n' ' ')"
check "the request has its own entry" test "$(jq -r 'select(.op=="intake" and (.path|test("-f-"))) | .detail' <<<"$new")" == "forget: 2 tickets"
check "the forget entries carry the client's address" test "$(jq -r 'select(.op=="forget" or .op=="intake") | .client_ip' <<<"$new" | sort -u)" == "2001:db8::7"
check "no audit entry names the username" sh -c "! grep -q 'alice-' '$SEG'/*.log"
check "the daemon's log does not name it" sh -c "! grep -q 'alice-' '$LOG'"

# An unknown user: success, nothing changes, one entry without the name.
n0=$(trail | wc -l)
before_t=$(ag find "$MNT/tickets" | sort)
check "forget of an unknown user exits 0" "$TICKETCTL" forget "$STORE" "nobody-$C"
check "its request is taken in within 1 s" wait_within 1.2 sh -c "test -z \"\$(ls '$STORE/intake' | grep -- -f-)\""
sleep 0.3
new=$(trail | tail -n +$((n0 + 1)))
check "one entry for it" test "$(jq -c . <<<"$new" | wc -l)" -eq 1
check "it says no ticket, not who" test "$(jq -r .detail <<<"$new")" == "forget: no ticket of that user"
check "nothing changed" test "$before_t" == "$(ag find "$MNT/tickets" | sort)"
check "the unknown name is in no entry" sh -c "! grep -q 'nobody-' '$SEG'/*.log"

# erase of fields, then of a whole ticket: the customer's own rm.
n0=$(trail | wc -l)
out=$("$TICKETCTL" erase --client-ip 192.0.2.10 "$STORE" "$B1" email confidential 2>&1); rc=$?
check "erase prints nothing and exits 0" test $rc -eq 0 -a -z "$out"
check "erased email gone within 1 s" wait_within 1.2 ag sh -c "! test -e '$MNT/tickets/$B1/email'"
check "erased confidential gone" ag sh -c "! test -e '$MNT/tickets/$B1/confidential'"
expect_out $AGENT "m-b1-$C" "mobile, not named, stays" cat "$MNT/tickets/$B1/mobile"
new=$(trail | tail -n +$((n0 + 1)))
check "erase audited per field, with the client's address" test "$(jq -r 'select(.op=="erase") | .path + " " + .client_ip' <<<"$new" | sort | tr '\n' ' ')" == "tickets/$B1/confidential 192.0.2.10 tickets/$B1/email 192.0.2.10 "
"$TICKETCTL" erase "$STORE" "$A2"
check "erase of the whole ticket: gone within 1 s" wait_within 1.2 ag sh -c "! test -e '$MNT/tickets/$A2'"
check "its record is gone from the store" test ! -e "$STORE/tickets/$A2"
check "audited as erase of the ticket" sh -c "cat '$SEG'/*.log | jq -r 'select(.op==\"erase\") | .path' | grep -qx 'tickets/$A2'"

# client_ip of a ticket: in its intake entry, never in the store.
IP=198.51.100.77
T=$(echo "{\"username\":\"carol\",\"subject\":\"s\",\"client_ip\":\"$IP\"}" | "$TICKETCTL" submit "$STORE")
T2=$(echo '{"username":"carol","subject":"s2"}' | "$TICKETCTL" submit --client-ip 2001:db8::99 "$STORE")
check "the ticket arrives" wait_within 1.2 ag test -d "$MNT/tickets/$T2"
check "its intake entry carries client_ip" sh -c "cat '$SEG'/*.log | jq -r 'select(.op==\"intake\" and .path==\"tickets/$T\") | .client_ip' | grep -qx '$IP'"
check "--client-ip goes in the same way" sh -c "cat '$SEG'/*.log | jq -r 'select(.op==\"intake\" and .path==\"tickets/$T2\") | .client_ip' | grep -qx 2001:db8::99"
check "the address is not in the ticket's record" sh -c "! grep -qa '$IP' '$STORE/tickets/$T'"
M=$(echo hi | "$TICKETCTL" message --client-ip 203.0.113.5 "$STORE" "$T")
check "a message's entry carries it" wait_within 1.2 sh -c "cat '$SEG'/*.log | jq -r 'select(.op==\"intake\" and .path==\"tickets/$T/messages/$M\") | .client_ip' | grep -qx 203.0.113.5"
check "the addresses are nowhere in the store but the trail" sh -c "! grep -rqaE '$IP|2001:db8::99|203.0.113.5|192.0.2.10|2001:db8::7' --exclude-dir=audit '$STORE'"

# A front end's uid, not root, with the store's directory readable and
# intake/ writable (ACLs) and nothing else, runs both.
D1=$(echo "{\"username\":\"dave-$C\",\"subject\":\"s\",\"email\":\"e-d1-$C\",\"mobile\":\"m-d1-$C\"}" | "$TICKETCTL" submit "$STORE")
D2=$(echo '{"username":"erin","subject":"s","email":"erin@example.com"}' | "$TICKETCTL" submit "$STORE")
check "their tickets arrive" wait_within 1.2 ag test -d "$MNT/tickets/$D2"
setfacl -m u:$STRANGER:rx "$STORE" && setfacl -m u:$STRANGER:rwx "$STORE/intake"
expect_err $STRANGER "Permission denied" "the front end cannot read tickets/" ls "$STORE/tickets"
check "the front end's forget exits 0" as $STRANGER "$TICKETCTL" forget --client-ip 192.0.2.55 "$STORE" "dave-$C"
check "the front end's erase exits 0" as $STRANGER "$TICKETCTL" erase "$STORE" "$D2" email
check "its forget applied within 1 s" wait_within 1.2 ag sh -c "! test -e '$MNT/tickets/$D1/username' && ! test -e '$MNT/tickets/$D1/email' && ! test -e '$MNT/tickets/$D1/mobile'"
check "its erase applied within 1 s" wait_within 1.2 ag sh -c "! test -e '$MNT/tickets/$D2/email'"
expect_out $AGENT "erin" "erin's username stays" cat "$MNT/tickets/$D2/username"
setfacl -b "$STORE" "$STORE/intake"
printf 'erin\n' | "$TICKETCTL" forget "$STORE" -
check "forget - reads the username from stdin" wait_within 1.2 ag sh -c "! test -e '$MNT/tickets/$D2/username'"

# Forget while the daemon is down: applied at its next start.
umount_fs
"$TICKETCTL" forget "$STORE" "$U2"
check "the request waits in intake" sh -c "ls '$STORE/intake' | grep -q -- -f-"
mount_fg || { echo "mount failed"; exit 1; }
check "at the next start: username gone" ag sh -c "! test -e '$MNT/tickets/$B1/username'"
check "at the next start: mobile gone" ag sh -c "! test -e '$MNT/tickets/$B1/mobile'"
check "the subject stays" ag cat "$MNT/tickets/$B1/subject"
umount_fs

# Gone from the store: every record checks, no plaintext of what went.
check "fsck --key passes" "$TICKETCTL" fsck "$STORE" --key "$KEY"
for v in "$U1" "$U2" "dave-$C" "e-d1-$C" "e-a1-$C" "m-a1-$C" "e-b1-$C" "c-b1-$C" "s-a2-$C"; do
	check "no plaintext of '$v' under STORE" sh -c "! grep -rqa -- '$v' '$STORE'"
done
check "the canary is nowhere under STORE" sh -c "! grep -rqa -- '$C' '$STORE'"
check "the trail verifies" "$TICKETCTL" audit verify "$STORE"
finish
