# The whitelist: uid, user name and @group entries; changes take effect
# within a second (file change or SIGHUP), in what the kernel cached too;
# a whitelist that does not parse is refused and the old one stays.
. "$(dirname "$0")/lib.sh"

# Test users and a group of our own, removed at exit.
ALICE=tfs-it-alice; BOB=tfs-it-bob; GROUP=tfs-it-support
EXTRA_CLEANUP='userdel $ALICE 2>/dev/null; userdel $BOB 2>/dev/null; groupdel $GROUP 2>/dev/null'
userdel $ALICE 2>/dev/null; userdel $BOB 2>/dev/null; groupdel $GROUP 2>/dev/null
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
check "an added uid reads within 1 s" wait_for as $READER cat "$T/email"

# Removing a uid: refused within a second, also on what it had cached.
as $READER ls -lR "$MNT/tickets" >/dev/null
sed -i "/^$ALICE/d" "$STORE/whitelist"
sleep 1.2
expect_err 61010 "Permission denied" "a removed user cannot read a cached field" cat "$T/email"
expect_err 61010 "Permission denied" "a removed user cannot stat a cached field" stat "$T/email"
expect_err 61010 "Permission denied" "a removed user cannot list" ls "$MNT/tickets"

# Changing a role: reader -> auditor loses sealed fields, keeps status.
sed -i "s/^$READER reader/$READER auditor/" "$STORE/whitelist"
sleep 1.2
expect_err $READER "Permission denied" "reader made auditor cannot read email" cat "$T/email"
expect_out $READER "open" "reader made auditor reads status" cat "$T/status"
check "access(2) follows the role change" as $READER sh -c "! test -r '$T/email'"

# A whitelist that does not parse is refused; the old one stays.
cp "$STORE/whitelist" "$WORK/good-whitelist"
printf '%s\n' "$READER reader" "someone nosuchrole" >> "$STORE/whitelist"
sleep 1.2
expect_err $READER "Permission denied" "a bad whitelist does not take effect" cat "$T/email"
expect_out 61011 "carol@example.com" "the old whitelist stays in force" cat "$T/email"
check "the refusal is logged, naming the line" grep -q 'refused.*line 7: unknown role "nosuchrole"' "$LOG"

# SIGHUP reloads even when the file's time did not move (a changed group).
cp "$WORK/good-whitelist" "$STORE/whitelist"
sleep 1.2
gpasswd -d $BOB $GROUP >/dev/null
sleep 1.2
expect_err 61011 "Permission denied" "a user removed from a listed group loses access" cat "$T/email"
loads=$(grep -c 'whitelist .* loaded' "$LOG")
kill -HUP $DAEMON_PID
sleep 1
check "SIGHUP reloads the unchanged whitelist" test "$(grep -c 'whitelist .* loaded' "$LOG")" -eq $((loads + 1))

check "the daemon survived SIGHUP" kill -0 $DAEMON_PID

# The daemon refuses to start on a whitelist that does not parse.
umount_fs
wait $DAEMON_PID; DAEMON_PID=
echo "x y z" > "$STORE/whitelist"
out=$("$TICKETFS" "$STORE" "$MNT" -o key="$KEY" 2>&1); rc=$?
if [ $rc -ne 0 ] && [[ $out == *"line 1"* ]]; then pass "mount refused on a bad whitelist"; else
	fail "mount refused on a bad whitelist (exit $rc: $out)"; fi
check "nothing mounted" sh -c "! mountpoint -q '$MNT'"
finish
