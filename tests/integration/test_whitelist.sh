# The whitelist: uid, user name and @group entries; changes take effect
# within a second (file change or SIGHUP), in what the kernel cached too;
# a user or group that does not exist grants nothing and the rest applies;
# a whitelist that cannot be read or parsed grants nothing until it loads
# again (fail closed), except at mount, where it refuses the start.
. "$(dirname "$0")/lib.sh"

# Test users and a group of our own, removed at exit.
ALICE=tfs-it-alice; BOB=tfs-it-bob; GROUP=tfs-it-support; CAROL=tfs-it-carol
EXTRA_CLEANUP='userdel $ALICE 2>/dev/null; userdel $BOB 2>/dev/null; userdel $CAROL 2>/dev/null; groupdel $GROUP 2>/dev/null'
userdel $ALICE 2>/dev/null; userdel $BOB 2>/dev/null; userdel $CAROL 2>/dev/null
groupdel $GROUP 2>/dev/null
groupadd -g 61020 $GROUP && useradd -M -N -u 61010 -g 100 $ALICE 2>/dev/null &&
	useradd -M -N -u 61011 -g 100 -G $GROUP $BOB 2>/dev/null ||
	{ echo "cannot add users"; exit 1; }

new_store
cat > "$STORE/whitelist" <<WL
# a comment line

$ALICE   reader   # by name
@$GROUP  agent    # by group
$AUDITOR auditor
WL
ID=$(echo '{"username":"carol","subject":"hello","email":"carol@example.com"}' | "$TICKETCTL" submit "$STORE")
mount_fg || { echo "mount failed"; exit 1; }
T=$MNT/tickets/$ID

expect_out 61010 "carol@example.com" "a user listed by name reads" cat "$T/email"
expect_out 61011 "carol@example.com" "a member of a listed group reads" cat "$T/email"
expect_err $READER "Permission denied" "an unlisted uid cannot" cat "$T/email"

# Adding a uid: effective within a second.
as 61010 cat "$T/email" >/dev/null
echo "$READER reader" >> "$STORE/whitelist"
check "an added uid reads within 1 s" wait_within 1.2 as $READER cat "$T/email"

# Removing a uid: refused within a second, also on what it had cached.
as $READER ls -lR "$MNT/tickets" >/dev/null
sed -i "/^$ALICE/d" "$STORE/whitelist"
check "a removed user is refused within 1 s" wait_within 1.2 sh -c "! setpriv --reuid=61010 --regid=61010 --clear-groups cat '$T/email'"
expect_err 61010 "Permission denied" "a removed user cannot read a cached field" cat "$T/email"
expect_err 61010 "Permission denied" "a removed user cannot stat a cached field" stat "$T/email"
expect_err 61010 "Permission denied" "a removed user cannot list" ls "$MNT/tickets"

# Changing a role: reader -> auditor loses sealed fields, keeps status.
sed -i "s/^$READER reader/$READER auditor/" "$STORE/whitelist"
check "a role change applies within 1 s" wait_within 1.2 sh -c "! setpriv --reuid=$READER --regid=$READER --clear-groups cat '$T/email'"
expect_err $READER "Permission denied" "reader made auditor cannot read email" cat "$T/email"
expect_out $READER "open" "reader made auditor reads status" cat "$T/status"
check "access(2) follows the role change" as $READER sh -c "! test -r '$T/email'"

# soon COMMAND...: retries for up to 1.2 s ("within a second").
soon() { wait_within 1.2 "$@"; }
# hup_reload PATTERN: sends SIGHUP; within 1 s the log gains a whitelist
# line matching PATTERN followed at once by a policy line.  Only a SIGHUP
# reloads the policy, whose file nobody touches here: the file watch
# (which other tests' useradd can set off) reloads the whitelist alone.
hup_reload() {
	local n0
	n0=$(wc -l < "$LOG")
	kill -HUP $DAEMON_PID
	soon hup_seen "$n0" "$1"
}
hup_seen() {
	tail -n +$(( $1 + 1 )) "$LOG" | grep -A1 -- "$2" | grep -q 'policy .* \(loaded\|refused\)'
}
# denied UID COMMAND...: the command fails saying "Permission denied".
denied() {
	local u=$1 out; shift
	if out=$(as "$u" "$@" 2>&1); then return 1; fi
	[[ $out == *"Permission denied"* ]]
}
# reads UID: uid UID reads the ticket's email.
reads() { [ "$(as "$1" cat "$T/email" 2>/dev/null)" == "carol@example.com" ]; }
# put_wl TEXT: replaces the whitelist in one rename (one reload).
put_wl() { printf '%s' "$1" > "$STORE/whitelist.new" && mv "$STORE/whitelist.new" "$STORE/whitelist"; }
# log_more N PATTERN: the daemon's log has more than N lines matching PATTERN.
log_more() { [ "$(grep -c -- "$2" "$LOG")" -gt "$1" ]; }
# audit_has TEXT...: the auditor's audit.log has a line holding every TEXT.
audit_has() {
	local lines
	lines=$(as $AUDITOR cat "$MNT/audit.log") || return 1
	for t in "$@"; do lines=$(grep -F -- "$t" <<<"$lines") || return 1; done
}
# audit_count TEXT...: how many of the auditor's audit.log lines hold every TEXT.
audit_count() {
	local lines
	lines=$(as $AUDITOR cat "$MNT/audit.log")
	for t in "$@"; do lines=$(grep -F -- "$t" <<<"$lines"); done
	[ -z "$lines" ] && echo 0 || wc -l <<<"$lines"
}

# A whitelist that does not parse grants nothing, on every reload, until
# it parses again: fail closed, never the old list.
cp "$STORE/whitelist" "$WORK/good-whitelist"
refused0=$(audit_count '"op":"whitelist-reload"' '"result":"error"' 'nobody has a role: line 7: unknown role')
put_wl "$(cat "$WORK/good-whitelist")
$READER reader
someone nosuchrole
"
check "a bad whitelist: the agent is refused within 1 s" soon denied 61011 ls "$MNT/tickets"
expect_err 61011 "Permission denied" "a bad whitelist: the agent cannot read a field it read before" cat "$T/email"
expect_err $AUDITOR "Permission denied" "a bad whitelist: the auditor cannot read the trail" cat "$MNT/audit.log"
check "the refusal is logged, naming the line" grep -q 'refused, nobody has a role until it loads: line 7: unknown role "nosuchrole"' "$LOG"
check "a reload of the bad whitelist is refused again on SIGHUP, and logged" hup_reload 'refused, nobody has a role until it loads: line 7'
check "the agent is still refused" denied 61011 cat "$T/email"
# Fixing it restores access.
put_wl "$(cat "$WORK/good-whitelist")
"
check "a fixed whitelist restores the agent within 1 s" soon reads 61011
expect_out $AUDITOR "open" "and the auditor" cat "$T/status"
check "each refused reload is audited, with the line" test "$(audit_count '"op":"whitelist-reload"' '"result":"error"' 'nobody has a role: line 7: unknown role')" -eq $((refused0 + 2))

# A whitelist that cannot be read grants nothing as well.
mv "$STORE/whitelist" "$WORK/moved-whitelist"
check "a missing whitelist: the agent is refused within 1 s" soon denied 61011 ls "$MNT/tickets"
check "the missing whitelist is logged" grep -q "refused, nobody has a role until it loads: cannot read $STORE/whitelist: No such file or directory" "$LOG"
mv "$WORK/moved-whitelist" "$STORE/whitelist"
check "the whitelist back: the agent reads within 1 s" soon reads 61011
check "the missing whitelist is audited" audit_has '"op":"whitelist-reload"' '"result":"error"' '"errno":2,' "cannot read $STORE/whitelist"

# A deleted user freezes no later revocation: its line grants nothing,
# the rest applies, and a uid reused by a new account gets no rights.
put_wl "$ALICE reader
@$GROUP agent
$AUDITOR auditor
$READER reader
"
alice_and_reader_read() { reads 61010 && reads $READER; }
check "(alice and the reader read again)" soon alice_and_reader_read
userdel $ALICE
check "a deleted user's line is logged as granting nothing" soon grep -q "loaded: 3 uids; 1 line grants nothing: line 1: no such user \"$ALICE\"" "$LOG"
check "the deleted user's uid is refused" denied 61010 cat "$T/email"
check "it is audited, naming the line" audit_has '"op":"whitelist-reload"' '"result":"error"' "these grant nothing: line 1: no such user \\\"$ALICE\\\""
expect_out 61011 "carol@example.com" "the rest of the whitelist applies" cat "$T/email"
put_wl "$ALICE reader
@$GROUP agent
$AUDITOR auditor
"
check "a later revocation takes effect within 1 s" soon denied $READER cat "$T/email"
check "the revoked uid cannot list" denied $READER ls "$MNT/tickets"
# The uid reused by an account the whitelist does not name: no rights.
n=$(grep -c "line 1: no such user \"$ALICE\"" "$LOG")
useradd -M -N -u 61010 -g 100 $CAROL 2>/dev/null || fail "cannot add $CAROL"
check "(the reload after useradd)" soon log_more $n "line 1: no such user \"$ALICE\""
check "a reused uid has no rights: no read" denied 61010 cat "$T/email"
check "a reused uid has no rights: no listing" denied 61010 ls "$MNT/tickets"
put_wl "$CAROL reader
@$GROUP agent
$AUDITOR auditor
"
check "the new account named: it reads within 1 s" soon reads 61010

# A changed group applies within 1 s (the watch on /etc/group).
put_wl "$(cat "$WORK/good-whitelist")
"
check "(the good whitelist is back)" soon reads 61011
gpasswd -d $BOB $GROUP >/dev/null
check "a user removed from a listed group is refused within 1 s" soon denied 61011 cat "$T/email"
# SIGHUP reloads the unchanged whitelist.  Nothing it depends on can change
# unseen by the watch (it compares the stat of the file, /etc/passwd and
# /etc/group, ctime included): the reload is known as the signal's by the
# policy reload that comes with it (hup_reload).
check "SIGHUP reloads the unchanged whitelist (and the policy) within 1 s" hup_reload "whitelist $STORE/whitelist loaded"

check "the daemon survived SIGHUP" kill -0 $DAEMON_PID

# At mount, an unknown user grants nothing and the mount goes on, logged
# on stderr and audited.
umount_fs
put_wl "tfs-it-nosuch reader
@tfs-it-nosuch-group agent
$AUDITOR auditor
$READER reader
"
: > "$LOG"
mount_fg || fail "a whitelist with unknown names mounts"
check "the unknown names are logged at mount" grep -q "whitelist $STORE/whitelist: 2 lines grant nothing: line 1: no such user \"tfs-it-nosuch\"; line 2: no such group \"tfs-it-nosuch-group\"" "$LOG"
expect_out $READER "carol@example.com" "the rest applies at mount" cat "$T/email"
check "the unknown names are audited at mount" audit_has '"op":"whitelist-reload"' '"result":"error"' 'these grant nothing: line 1: no such user'
umount_fs

# The daemon refuses to start on a whitelist that does not parse, or that
# it cannot read: nothing was in force yet.
echo "x y z" > "$STORE/whitelist"
out=$("$TICKETFS" "$STORE" "$MNT" -o key="$KEY" 2>&1); rc=$?
if [ $rc -ne 0 ] && [[ $out == *"line 1"* ]]; then pass "mount refused on a bad whitelist"; else
	fail "mount refused on a bad whitelist (exit $rc: $out)"; fi
check "nothing mounted" sh -c "! mountpoint -q '$MNT'"
rm "$STORE/whitelist"
out=$("$TICKETFS" "$STORE" "$MNT" -o key="$KEY" 2>&1); rc=$?
if [ $rc -ne 0 ] && [[ $out == *"cannot read $STORE/whitelist"* ]]; then pass "mount refused without a whitelist"; else
	fail "mount refused without a whitelist (exit $rc: $out)"; fi
check "nothing mounted" sh -c "! mountpoint -q '$MNT'"
finish
