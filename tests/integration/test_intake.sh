# Intake: strict validation that writes nothing on bad input, tickets and
# messages that appear within a second whether or not the daemon runs, and
# no plaintext anywhere under the store.
. "$(dirname "$0")/lib.sh"

new_store
CANARY=CANARY-7f3e9a
good='{"username":"alice","subject":"ok"}'

# Bad input of every kind: exit 2, a message naming the problem, and the
# store byte-for-byte unchanged.
before=$(store_digest)
bad_case() {
	local what=$1 text=$2 input=$3; shift 3
	local out rc
	out=$(printf '%s' "$input" | "$TICKETCTL" "$@" 2>&1); rc=$?
	if [ $rc -eq 2 ] && [[ $out == *"$text"* ]]; then pass "$what"; else
		fail "$what (exit $rc: $out)"; fi
}
bad_case "missing username" 'missing required key "username"' '{"subject":"x"}' submit "$STORE"
bad_case "missing subject" 'missing required key "subject"' '{"username":"x"}' submit "$STORE"
bad_case "unknown key" 'unknown key "colour"' '{"username":"x","subject":"y","colour":"red"}' submit "$STORE"
bad_case "wrong type" '"email" must be a string' '{"username":"x","subject":"y","email":42}' submit "$STORE"
bad_case "invalid UTF-8" 'unable to decode byte 0xff' $'{"username":"x\xff","subject":"y"}' submit "$STORE"
bad_case "oversize value" '"subject" is 2000 bytes, over its limit' "{\"username\":\"x\",\"subject\":\"$(head -c 2000 /dev/zero | tr '\0' a)\"}" submit "$STORE"
bad_case "empty value" '"email" is empty' '{"username":"x","subject":"y","email":""}' submit "$STORE"
bad_case "past expires" '"expires" is in the past' '{"username":"x","subject":"y","authorizations":[{"account":"a","password":"p","expires":"2001-01-01T00:00:00Z"}]}' submit "$STORE"
bad_case "bad expires" 'not an RFC 3339 time' '{"username":"x","subject":"y","authorizations":[{"account":"a","password":"p","expires":"tomorrow"}]}' submit "$STORE"
bad_case "authorizations not a list" '"authorizations" must be a list' '{"username":"x","subject":"y","authorizations":{}}' submit "$STORE"
bad_case "authorization missing password" 'authorizations[0]: missing required key "password"' '{"username":"x","subject":"y","authorizations":[{"account":"a","expires":"2099-01-01T00:00:00Z"}]}' submit "$STORE"
bad_case "not JSON" 'invalid JSON' 'username: x' submit "$STORE"
bad_case "not an object" 'expected a JSON object' '["x"]' submit "$STORE"
bad_case "duplicate key" 'duplicate' '{"username":"x","username":"z","subject":"y"}' submit "$STORE"
bad_case "batch with one bad line" 'line 3: unknown key "nope"' \
	"$(printf '%s\n%s\n%s\n' "$good" "$good" '{"username":"x","subject":"y","nope":"1"}')" submit --batch "$STORE"
bad_case "bad usage" 'usage' '' submit
bad_case "no such store" 'cannot open store' "$good" submit "$WORK/nostore"
bad_case "message for no ticket" 'no ticket' 'hello' message "$STORE" 20990101-000000-000000-aaaa
check "bad input left the store byte-for-byte unchanged" test "$before" == "$(store_digest)"

# Submitted while the daemon is down: there when it starts.
ID1=$(jq -cn --arg c "$CANARY" '{username:("u-"+$c), subject:("s-"+$c),
  description:("d-"+$c), email:("e-"+$c), mobile:("m-"+$c),
  confidential:("c-"+$c), authorizations:[{account:("a-"+$c),
  password:("p-"+$c), resource:("r-"+$c), expires:"2099-01-01T00:00:00Z"}]}' |
  "$TICKETCTL" submit "$STORE")
check "submit prints an id" grep -Eq '^[A-Za-z0-9-]+$' <<<"$ID1"
check "no plaintext in the intake area" sh -c "! grep -r '$CANARY' '$STORE'"
before=$(store_digest)
bad_case "authorize with bad JSON" 'invalid JSON' '{"account":' authorize "$STORE" "$ID1"
bad_case "authorize without expires" 'missing required key "expires"' '{"account":"a","password":"p"}' authorize "$STORE" "$ID1"
bad_case "empty message" 'the message is empty' '' message "$STORE" "$ID1"
bad_case "message with invalid UTF-8" 'not valid UTF-8' $'caf\xe9' message "$STORE" "$ID1"
bad_case "revoke with a bad name" 'invalid authorization name' '' revoke "$STORE" "$ID1" "../x"
check "bad items left the store byte-for-byte unchanged" test "$before" == "$(store_digest)"
mount_fs || { echo "mount failed"; exit 1; }
check "a ticket submitted before mount is there" as $AGENT test -d "$MNT/tickets/$ID1"
expect_out $AGENT "e-$CANARY" "its email reads back" cat "$MNT/tickets/$ID1/email"
check "the intake area is empty after pickup" test -z "$(ls "$STORE/intake" | grep -v rejected)"

# Submitted while it runs: visible within a second.
ids=$(printf '%s\n\n%s\n' "$good" '{"username":"bob","subject":"second"}' |
	"$TICKETCTL" submit --batch "$STORE")
check "batch prints two ids" test "$(wc -l <<<"$ids")" -eq 2
for id in $ids; do
	check "batch ticket $id visible within 1 s" wait_within 1.2 as $AGENT test -d "$MNT/tickets/$id"
done
check "listing sorts by submission time" test "$(as $AGENT ls "$MNT/tickets" | tail -2)" == "$ids"

MSG=$(printf 'msg-%s\nsecond line\n' "$CANARY" | "$TICKETCTL" message "$STORE" "$ID1")
check "message visible within 1 s" wait_within 1.2 as $AGENT test -f "$MNT/tickets/$ID1/messages/$MSG"
expect_out $READER "$(printf 'msg-%s\nsecond line' "$CANARY")" "message reads back" cat "$MNT/tickets/$ID1/messages/$MSG"
AUTH=$(echo "{\"account\":\"a2-$CANARY\",\"password\":\"p2\",\"expires\":\"2099-06-01T12:00:00+02:00\"}" |
	"$TICKETCTL" authorize "$STORE" "$ID1")
check "authorization visible within 1 s" wait_within 1.2 as $AGENT test -d "$MNT/tickets/$ID1/authorizations/$AUTH"
expect_out $AGENT "2099-06-01T10:00:00Z" "expires shown in UTC" cat "$MNT/tickets/$ID1/authorizations/$AUTH/expires"
check "resource not given is absent" as $AGENT sh -c "! test -e '$MNT/tickets/$ID1/authorizations/$AUTH/resource'"
"$TICKETCTL" revoke "$STORE" "$ID1" "$AUTH"
check "revoked authorization gone within 1 s" wait_within 1.2 as $AGENT sh -c "! test -e '$MNT/tickets/$ID1/authorizations/$AUTH'"
check "the other authorization stays" as $AGENT test -d "$MNT/tickets/$ID1/authorizations/a1"

# A damaged intake record is set aside, not taken in, and nothing breaks.
printf 'garbage' > "$STORE/intake/20990101-000000-000000-0000-t-20990101-000000-000000-dead"
check "damaged intake moved to intake/rejected within 1 s" wait_within 1.2 test -f "$STORE/intake/rejected/20990101-000000-000000-0000-t-20990101-000000-000000-dead"
check "the mount still serves" as $AGENT cat "$MNT/tickets/$ID1/status"

# No plaintext anywhere under the store, for any field.
check "the canary is nowhere under STORE" sh -c "! grep -ra '$CANARY' '$STORE'"
umount_fs
check "fsck --key passes" "$TICKETCTL" fsck "$STORE" --key "$KEY"
check "the canary is nowhere under STORE after unmount" sh -c "! grep -ra '$CANARY' '$STORE'"
# Hostile intake: whoever may write intake/ (a front end) drops things that
# are no record.  None may block, be followed or be read: each is removed
# (logged and audited with the reason) and the poll goes on.
mount_fg || { echo "mount failed"; exit 1; }
mkdir -p "$WORK/stage/intake"
cp "$STORE/public.key" "$WORK/stage/"
SYM=$(echo '{"username":"sym","subject":"via a symlink"}' | "$TICKETCTL" submit "$WORK/stage")
HARD=$(echo '{"username":"hard","subject":"via a hard link"}' | "$TICKETCTL" submit "$WORK/stage")
symrec=$(ls "$WORK/stage/intake" | grep -- "-t-$SYM\$")
hardrec=$(ls "$WORK/stage/intake" | grep -- "-t-$HARD\$")
odd() { echo "20260101-000000-00000$1-0000-t-20260101-000000-00000$1-0bad"; }
mkfifo "$STORE/intake/$(odd 1)"
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$STORE/intake/$(odd 2)"
mkdir "$STORE/intake/$(odd 3)"; echo x > "$STORE/intake/$(odd 3)/inner"
mknod "$STORE/intake/$(odd 4)" c 1 3
ln -s "$WORK/stage/intake/$symrec" "$STORE/intake/$symrec"
ln "$WORK/stage/intake/$hardrec" "$STORE/intake/$hardrec"
check "(the daemon met the FIFO within 1 s)" wait_within 1.2 grep -q "intake $(odd 1): not a regular file" "$LOG"
check "ls MOUNT/tickets returns at once with a FIFO, socket, device, link in intake/" \
	timeout -k 1 5 setpriv --reuid=$AGENT --regid=$AGENT --clear-groups ls "$MNT/tickets"
for n in "$(odd 1)" "$(odd 2)" "$(odd 3)" "$(odd 4)" "$symrec" "$hardrec"; do
	check "intake/$n removed" wait_for sh -c "! test -e '$STORE/intake/$n' && ! test -L '$STORE/intake/$n'"
	check "intake/$n not kept in rejected/" sh -c "! test -e '$STORE/intake/rejected/$n'"
done
check "a FIFO is logged as such" grep -q "intake $(odd 1): not a regular file: a FIFO, socket or device node; removed unread" "$LOG"
check "a directory is logged as such" grep -q "intake $(odd 3): not a regular file: a directory" "$LOG"
check "a symlink is logged as such" grep -q "intake $symrec: not a regular file: a symbolic link" "$LOG"
check "a hard link is logged as such" grep -q "intake $hardrec: not a regular file: a file with other hard links" "$LOG"
check "the symlink's target was not taken in" as $AGENT sh -c "! test -e '$MNT/tickets/$SYM'"
check "the hard link's record was not taken in" as $AGENT sh -c "! test -e '$MNT/tickets/$HARD'"
check "what the links named is untouched" test -f "$WORK/stage/intake/$symrec" -a -f "$WORK/stage/intake/$hardrec"
trail() { as $AUDITOR cat "$MNT/audit.log"; }
audited() {	# NAME WORDS: an intake refusal of NAME whose detail says WORDS
	trail | jq -e -s --arg p "intake/$1" --arg w "$2" \
		'map(select(.op == "intake" and .path == $p and .result == "error" and (.detail // "" | contains($w)))) | length == 1' >/dev/null
}
check "the FIFO is audited" wait_for audited "$(odd 1)" "a FIFO, socket or device node"
check "the socket is audited" audited "$(odd 2)" "a FIFO, socket or device node"
check "the directory is audited" audited "$(odd 3)" "a directory"
check "the device node is audited" audited "$(odd 4)" "a FIFO, socket or device node"
check "the symlink is audited" audited "$symrec" "a symbolic link"
check "the hard link is audited" audited "$hardrec" "other hard links"
AFTER=$(echo "$good" | "$TICKETCTL" submit "$STORE")
check "a ticket submitted after them shows within a second" wait_within 1.2 as $AGENT test -d "$MNT/tickets/$AFTER"

# The front end's clock sets no deadline: a stamp over 5 min ahead of the
# daemon's is refused; one in the past is dated at take-in.  (faketime
# preloads itself: an ASan build of ticketctl must be told to allow it.)
faketime() { ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 command faketime "$@"; }
FUT=$(echo "$good" | faketime '2099-01-01 00:00:00' "$TICKETCTL" submit "$STORE")
PAST=$(echo '{"username":"p","subject":"past","email":"old@example.com"}' |
	faketime '2001-01-01 00:00:00' "$TICKETCTL" submit "$STORE")
FMSG=$(echo "from the future" | faketime '2099-01-01 00:00:00' "$TICKETCTL" message "$STORE" "$AFTER")
check "a ticket stamped in the past shows" wait_within 1.2 as $AGENT test -d "$MNT/tickets/$PAST"
expect_out $AGENT "old@example.com" "its email is kept (retention from take-in)" cat "$MNT/tickets/$PAST/email"
created_today() { as $AGENT cat "$MNT/tickets/$1/created" | grep -q "^$(date -u +%Y-%m-%d)T"; }
check "its created time is the take-in, not 2001" created_today "$PAST"
check "a ticket stamped in 2099 is moved to rejected/" wait_for sh -c "ls '$STORE/intake/rejected' | grep -q -- '-t-$FUT\$'"
check "and is not taken in" as $AGENT sh -c "! test -e '$MNT/tickets/$FUT'"
check "a message stamped in 2099 is moved to rejected/" wait_for sh -c "ls '$STORE/intake/rejected' | grep -q -- '-m-$AFTER\$'"
check "and is not taken in" as $AGENT sh -c "! test -e '$MNT/tickets/$AFTER/messages/$FMSG'"
check "the refusal is logged with its reason" grep -q "intake .*-t-$FUT: Invalid argument: created 2099-01-01T00:00:0.Z is over 5 min after take-in: the front end's clock is ahead" "$LOG"
check "the refusal is audited with its reason" wait_for audited "$(ls "$STORE/intake/rejected" | grep -- "-t-$FUT\$")" "clock is ahead"
umount_fs
finish
