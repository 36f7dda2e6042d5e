# Tickets live: messages and status moves through the mount, removals on
# request, and retention rules that take items away on time, from the
# mount, the kernel's caches and the store, also across restarts.
. "$(dirname "$0")/lib.sh"

new_store
policy_set <<'POL'
# second-scale periods for the test
email          processed, 4s
mobile         processed, 90d
confidential   processed
authorization  processed, expired
ticket         processed+3s
POL
submit() { "$TICKETCTL" submit "$STORE"; }
now_ms() { echo $(( ${EPOCHREALTIME/./} / 1000 )); }
# sleep_until MS: sleeps until the epoch time MS (milliseconds).
sleep_until() {
	local d=$(( $1 - $(now_ms) ))
	[ $d -le 0 ] || sleep "$(awk -v d=$d 'BEGIN { printf "%.3f", d / 1000 }')"
}
# there_before DEADLINE WHAT COMMAND...: 400 ms before DEADLINE (epoch ms)
# the command (as the agent) succeeds, and it returned before DEADLINE.
there_before() {
	local dl=$1 what=$2 t; shift 2
	sleep_until $(( dl - 400 ))
	if as $AGENT "$@" >/dev/null 2>&1; then
		t=$(now_ms)
		if [ "$t" -lt "$dl" ]; then pass "$what ($(( dl - t )) ms before its deadline)"
		else fail "$what (checked $(( t - dl )) ms too late to tell)"; fi
	else
		fail "$what ($(( dl - $(now_ms) )) ms before its deadline: gone)"
	fi
}
# gone_after DEADLINE WHAT PATH: by 200 ms after DEADLINE, stat of PATH (as
# the agent) fails with ENOENT.
gone_after() {
	local dl=$1 what=$2 path=$3
	sleep_until "$dl"
	if wait_within 0.2 sh -c "setpriv --reuid=$AGENT --regid=$AGENT --clear-groups stat '$path' 2>&1 >/dev/null | grep -q 'No such file or directory'"; then
		pass "$what ($(( $(now_ms) - dl )) ms after its deadline)"
	else
		fail "$what (at $(( $(now_ms) - dl )) ms after its deadline: $(err_of $AGENT stat "$path"))"
	fi
}
full='{"username":"alice","subject":"s","description":"d","email":"a@example.com","mobile":"+1 555","confidential":"card 1","authorizations":[{"account":"acc","password":"pw","resource":"r","expires":"2099-01-01T00:00:00Z"}]}'
ID=$(echo "$full" | submit)
mount_fg || { echo "mount failed"; exit 1; }
T=$MNT/tickets/$ID
ag() { as $AGENT "$@"; }

# --- messages written through the mount ---
check "an agent writes a message" ag sh -c "printf 'We are on it.\n' > '$T/messages/reply-1'"
expect_out $READER "We are on it." "a reader reads it back" cat "$T/messages/reply-1"
check "its mtime is when it was stored" test $(( $(date +%s) - $(ag stat -c %Y "$T/messages/reply-1") )) -le 5
check "its size is exact" test "$(ag stat -c %s "$T/messages/reply-1")" -eq 14
check "a text without final newline gets one" ag sh -c "printf 'no newline' > '$T/messages/reply-2'"
expect_out $AGENT "$(printf 'no newline\n' | od -c)" "reply-2 ends in a newline" sh -c "od -c < '$T/messages/reply-2'"
# A stored message's permission bits say read-only, so the kernel refuses.
expect_err $AGENT "Permission denied" "a stored message cannot be overwritten" sh -c "echo x > '$T/messages/reply-1'"
expect_err $AGENT "Permission denied" "nor appended to" sh -c "echo x >> '$T/messages/reply-1'"
expect_err $AGENT "Permission denied" "nor truncated" truncate -s 0 "$T/messages/reply-1"
expect_err 0 "Permission denied" "nor by root" sh -c "echo x >> '$T/messages/reply-1'"
expect_err $AGENT "Operation not permitted" "nor renamed" mv "$T/messages/reply-1" "$T/messages/reply-9"
expect_out $READER "We are on it." "and it is unchanged" cat "$T/messages/reply-1"
expect_err $AGENT "Invalid argument" "a bad message name is refused" sh -c "echo x > '$T/messages/bad name'"
ag touch "$T/messages/empty" 2>/dev/null
check "but an empty file never becomes a message" ag sh -c "! test -e '$T/messages/empty'"
expect_err $AGENT "Operation not permitted" "a file outside messages/ is refused" sh -c "echo x > '$T/newfield'"
check "messages appear in listings" test "$(ag ls "$T/messages" | tr '\n' ' ')" == "reply-1 reply-2 "

# --- status moves ---
expect_err $AGENT "Invalid argument" "an invalid word fails with EINVAL" bash -c "echo done > '$T/status'"
expect_out $AGENT "open" "and status is unchanged" cat "$T/status"
# A reader holding status open reads the status of the moment it opened,
# across read(2)s, while an agent moves it meanwhile.
torn=$(ag /usr/bin/python3 -c "
import os, subprocess, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
first = os.read(fd, 2)
subprocess.run(['sh', '-c', 'echo processing > ' + sys.argv[1]], check=True)
rest = b''
while True:
    b = os.read(fd, 2)
    if not b: break
    rest += b
print((first + rest).decode().strip())
" "$T/status" 2>&1)
check "a status read across a move is whole: what it was at open" test "$torn" = open
expect_out $AGENT "processing" "and the move was made" cat "$T/status"
check "open -> processing (again: no change, no error)" ag sh -c "echo processing > '$T/status'"
expect_out $READER "processing" "status reads processing" cat "$T/status"
expect_err $AGENT "Operation not permitted" "processing -> open fails with EPERM" bash -c "echo open > '$T/status'"
expect_out $AGENT "processing" "and status is unchanged" cat "$T/status"
rec_before=$(record_size "$ID")

# --- processing removes what the policy ties to it, at once ---
tp0=$(now_ms)
check "processing -> processed" ag sh -c "echo processed > '$T/status'"
tp1=$(now_ms)
for f in email mobile confidential authorizations/a1; do
	check "processing removed $f at once" ag sh -c "! test -e '$T/$f'"
done
for f in subject description username messages/reply-1; do
	check "processing kept $f" ag test -e "$T/$f"
done
check "the record shrank in the store at once" test "$(record_size "$ID")" -lt "$rec_before"
expect_err $AGENT "Operation not permitted" "processed -> processing fails" bash -c "echo processing > '$T/status'"
# ticket processed+3s: the whole ticket goes, not before.
there_before $(( tp0 + 3000 )) "the processed ticket is there until 3 s later" cat "$T/subject"
gone_after $(( tp1 + 3000 )) "the processed ticket goes 3 s later: ENOENT" "$T"
check "and its record leaves the store within 2 s" wait_within 2 eval "! in_store $ID"

# --- email 4 s after submission; an authorization at its expires; a
# descriptor opened before the deadline reads before it, fails after ---
EXP=$(( $(date +%s) + 4 ))
ts0=$(now_ms)
ID2=$(echo '{"username":"bob","subject":"s2","email":"b@example.com","authorizations":[{"account":"x","password":"secret-pw","expires":"'"$(date -u -d "@$EXP" +%Y-%m-%dT%H:%M:%SZ)"'"}]}' | submit)
ts1=$(now_ms)
T2=$MNT/tickets/$ID2
check "new ticket visible within 1 s" wait_within 1.2 ag test -e "$T2/email"
ag ls -lR "$T2" >/dev/null	# the kernel caches entries and attributes
ag /usr/bin/python3 -c "
import os, sys, time
exp = int(sys.argv[3]) * 1000
def now(): return time.time() * 1000
def until(ms):
    if ms > now(): time.sleep((ms - now()) / 1000)
fd = os.open(sys.argv[1], os.O_RDONLY)
dfd = os.open(sys.argv[2], os.O_RDONLY | os.O_DIRECTORY)
print('opened_ms_before', int(exp - now()))
until(exp - 400)
print('read_before', os.pread(fd, 100, 0).decode().strip())
print('list_before', ' '.join(sorted(os.listdir(dfd))))
print('checked_ms_before', int(exp - now()))
until(exp + 200)
try: print('read_after', os.pread(fd, 100, 0).decode().strip())
except OSError as e: print('read_after', os.strerror(e.errno))
print('list_after', ' '.join(sorted(os.listdir(dfd))))
" "$T2/authorizations/a1/password" "$T2/authorizations" $EXP > "$WORK/late" 2>&1 &
late=$!
there_before $(( ts0 + 4000 )) "the email is there until 4 s after submission" cat "$T2/email"
gone_after $(( ts1 + 4000 )) "the email goes 4 s after submission: ENOENT" "$T2/email"
wait $late; rc=$?
late_val() { sed -n "s/^$1 //p" "$WORK/late"; }
check "the expiry reader ran (exit 0)" test $rc -eq 0
check "its descriptors were opened before the deadline" test "$(late_val opened_ms_before)" -gt 0
check "its checks before the deadline were made before it" test "$(late_val checked_ms_before)" -gt 0
check "a descriptor opened before expiry reads the value before it" test "$(late_val read_before)" = secret-pw
check "a directory opened before expiry lists it before" test "$(late_val list_before)" = a1
check "a read on that descriptor after expiry fails with ENOENT" test "$(late_val read_after)" = "No such file or directory"
check "and returns nothing of it" sh -c "! grep -q 'read_after secret-pw' '$WORK/late'"
check "the directory opened before expiry lists without it after" grep -qx 'list_after ' "$WORK/late"
check "the expired authorization is absent from listings" sh -c "test -z \"\$(setpriv --reuid=$AGENT --regid=$AGENT --clear-groups ls '$T2/authorizations')\""
expect_err $AGENT "No such file" "and from lookups, cached or not" stat "$T2/authorizations/a1/password"
check "subject stays" ag test -e "$T2/subject"

# --- deletion on request ---
ID3=$(echo "$full" | submit)
T3=$MNT/tickets/$ID3
check "(ticket 3 visible within 1 s)" wait_within 1.2 ag test -d "$T3"
check "rm of a field" ag rm "$T3/mobile"
check "the field is gone" ag sh -c "! test -e '$T3/mobile'"
check "rm -r of an authorization (cancelled)" ag rm -r "$T3/authorizations/a1"
check "the authorization is gone" ag sh -c "! test -e '$T3/authorizations/a1'"
ag sh -c "echo note > '$T3/messages/n1'"
check "rm of a message" ag rm "$T3/messages/n1"
check "rmdir of a non-empty ticket fails" ag sh -c "! rmdir '$T3' 2>/dev/null"
check "rm -r of the ticket exits 0" ag rm -r "$T3"
check "the ticket is gone from the mount" ag sh -c "! test -e '$T3'"
check "and from the store" eval "! in_store $ID3"

# rm -r in whatever order: status first, files before directories, ...
for order in status-first depth-first find-delete; do
	id=$(echo "$full" | submit)
	d=$MNT/tickets/$id
	check "(ticket $order visible within 1 s)" wait_within 1.2 ag test -d "$d"
	ag sh -c "echo m > '$d/messages/m1'"
	case $order in
	status-first) ag sh -c "rm '$d/status' '$d/created' && rm -r '$d'" ;;
	depth-first) ag sh -c "rm -r '$d/authorizations' '$d/messages' && rm -r '$d'" ;;
	find-delete) ag find "$d" -delete ;;
	esac
	rc=$?
	check "rm -r in order $order exits 0" test $rc -eq 0
	check "rm -r in order $order removes it" eval "! in_store $id"
done

# --- deadlines survive a restart ---
EXP4=$(( $(date +%s) + 2 ))
ID4=$(echo '{"username":"carol","subject":"s4","authorizations":[{"account":"x","password":"y","expires":"'"$(date -u -d "@$EXP4" +%Y-%m-%dT%H:%M:%SZ)"'"}]}' | submit)
check "(ticket 4's authorization visible within 1 s)" wait_within 1.2 ag test -d "$MNT/tickets/$ID4/authorizations/a1"
umount_fs
sleep_until $(( EXP4 * 1000 + 500 ))
rec=$(record_size "$ID4")
mount_fg
check "an item that expired while the daemon was down is never shown" ag sh -c "! test -e '$MNT/tickets/$ID4/authorizations/a1'"
check "and was purged at startup" test "$(record_size "$ID4")" -lt "$rec"

# --- the policy reloads; a bad one is refused ---
check "(the subject is there before the policy change)" ag test -e "$MNT/tickets/$ID4/subject"
{ policy_get; echo "subject 1s"; } > "$WORK/policy.1"; policy_set < "$WORK/policy.1"
check "a policy change takes effect within 1 s (subject 1 s)" wait_within 1.2 ag sh -c "! test -e '$MNT/tickets/$ID4/subject'"
if [ "$TS_BACKEND" = pg ]; then
	# A shared store's policy is set by ticketctl policy, which checks it.
	{ policy_get; echo "frobnicate 1s"; } > "$WORK/policy.bad"
	expect_err 0 'line 8: unknown item "frobnicate"' "a bad policy is refused, naming the line" \
		"$TICKETCTL" policy "$STORE" "$WORK/policy.bad"
	check "and the store's policy is unchanged" cmp -s "$WORK/policy.1" <(policy_get)
else
	echo "frobnicate 1s" >> "$STORE/policy"
	check "a bad policy is refused within 1 s, naming the line" wait_within 1.2 grep -q 'policy .* refused.*line 8: unknown item "frobnicate"' "$LOG"
fi

# --- durability: what close() acknowledged survives kill -9 ---
ID5=$(echo '{"username":"dan","subject":"s5"}' | submit)
check "(ticket 5 visible within 1 s)" wait_within 1.2 ag test -d "$MNT/tickets/$ID5"
ag sh -c "echo 'durable reply' > '$MNT/tickets/$ID5/messages/d1' && echo processing > '$MNT/tickets/$ID5/status'"
kill -9 $DAEMON_PID; daemon_forget
fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT"
[ "$TS_BACKEND" = pg ] || sed -i '/frobnicate/d' "$STORE/policy"
mount_fg
expect_out $READER "durable reply" "a message acknowledged before kill -9 is there" cat "$MNT/tickets/$ID5/messages/d1"
expect_out $READER "processing" "a status acknowledged before kill -9 is there" cat "$MNT/tickets/$ID5/status"
# After every kind of removal, a remount shows nothing of the item.
check "remount: the processed ticket stays gone" eval "! in_store $ID && ! setpriv --reuid=$AGENT --regid=$AGENT --clear-groups test -e '$T'"
check "remount: the expired email stays gone" ag sh -c "! test -e '$T2/email'"
check "remount: the expired authorization stays gone" ag sh -c "! test -e '$T2/authorizations/a1'"
check "remount: the deleted ticket stays gone" ag sh -c "! test -e '$T3'"
check "remount: the policy-removed subject stays gone" ag sh -c "! test -e '$MNT/tickets/$ID4/subject'"
umount_fs
check "fsck --key passes after all of it" "$TICKETCTL" fsck "$STORE" --key "$KEY"
finish
