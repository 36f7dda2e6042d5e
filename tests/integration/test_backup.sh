# Backups and Unix tools as they are: a real backup cycle as a listed user
# (tar, rsync -a twice, restore, diff -r), what root's walk gets, modes and
# times that copy well, tools that set times on a new message, and what an
# inotify watcher sees at an expiry.
. "$(dirname "$0")/lib.sh"

new_store
policy_set <<'POL'
email          processed, 90d
mobile         processed, 90d
confidential   processed
authorization  processed, expired
ticket         processed+30d
POL
full='{"username":"alice","subject":"ECS unreachable","description":"since the reboot","email":"alice@example.com","mobile":"+1 555","confidential":"card 6222","authorizations":[{"account":"alice-cloud","password":"s3cret!","resource":"ecs-1","expires":"2099-01-01T00:00:00Z"}]}'
ID=$(echo "$full" | "$TICKETCTL" submit "$STORE")
ID2=$(echo '{"username":"bob","subject":"second"}' | "$TICKETCTL" submit "$STORE")
mount_fg || { echo "mount failed"; exit 1; }
T=$MNT/tickets/$ID
ag() { as $AGENT "$@"; }
ag sh -c "echo 'We are on it.' > '$T/messages/reply-1'"
DEST=$WORK/dest
mkdir -p "$DEST" && chown $AGENT:$AGENT "$DEST"

# --- tar: exits 0, and two archives of an unchanged tree are identical ---
check "tar of tickets/ exits 0 (no 'file changed as we read it')" \
	ag sh -c "tar cf '$DEST/a.tar' -C '$MNT' tickets"
sleep 1.1	# a second later: times that moved with the clock would show
check "a second tar exits 0" ag sh -c "tar cf '$DEST/b.tar' -C '$MNT' tickets"
check "and is byte-identical" cmp -s "$DEST/a.tar" "$DEST/b.tar"
check "the mount root's and tickets/' times stay put" \
	test "$(stat -c %Y "$MNT") $(ag stat -c %Y "$MNT/tickets")" = "$(sleep 1.1; stat -c %Y "$MNT") $(ag stat -c %Y "$MNT/tickets")"

# --- rsync -a twice, a restore, diff -r: all as the agent ---
check "rsync -a of the tree exits 0" ag rsync -a "$MNT/tickets/" "$DEST/copy/"
check "the copy is readable by its owner" ag cat "$DEST/copy/$ID/email"
check "and its directories enterable" ag ls "$DEST/copy/$ID/authorizations/a1"
check "diff -r against the mount is clean" ag diff -r "$MNT/tickets" "$DEST/copy"
n=$(ag rsync -a --stats "$MNT/tickets/" "$DEST/copy/" | sed -n 's/^Number of regular files transferred: //p')
check "a second rsync -a transfers no file ($n)" test "$n" = 0
check "the archive restores elsewhere" ag sh -c "mkdir '$DEST/restore' && tar xf '$DEST/a.tar' -C '$DEST/restore'"
check "and matches the mount" ag diff -r "$MNT/tickets" "$DEST/restore/tickets"
check "ls -l shows modes that read at a glance" \
	sh -c "setpriv --reuid=$AGENT --regid=$AGENT --clear-groups ls -ld '$T' '$T/email' '$T/status' | awk '{print \$1}' | tr '\n' ' ' | grep -qx 'drwxrwx---+ -r--r-----+ -rw-rw----+ '"

# --- the access rules hold as before with these owner bits ---
expect_err $STRANGER "Permission denied" "a stranger still cannot walk in" ls "$MNT/tickets"
expect_err $STRANGER "Permission denied" "nor read a cached field" cat "$T/email"
expect_err $AUDITOR "Permission denied" "an auditor still cannot read a sealed field" cat "$T/email"
check "access(2): the auditor may not read email" as $AUDITOR sh -c "! test -r '$T/email'"
check "access(2): a reader may not write status" as $READER sh -c "! test -w '$T/status'"
check "access(2): the agent may write status" as $AGENT test -w "$T/status"
expect_err $READER "Permission denied" "a reader still cannot write status" sh -c "echo processed > '$T/status'"

# --- root, not listed: the same walk copies no plaintext, and says why ---
out=$(tar cf - -C "$MNT" tickets 2>&1 >"$WORK/root.tar"); rc=$?
check "root's tar fails (exit $rc)" test "$rc" -ne 0
check "saying Permission denied" grep -q "Permission denied" <<<"$out"
check "and holds no plaintext" sh -c "! grep -qa 'alice@example.com' '$WORK/root.tar'"
out=$(rsync -a "$MNT/tickets/" "$WORK/rootcopy/" 2>&1); rc=$?
check "root's rsync fails (exit $rc)" test "$rc" -ne 0
check "saying Permission denied" grep -q "Permission denied" <<<"$out"
check "and copies no plaintext" sh -c "! grep -rqa 'alice@example.com' '$WORK/rootcopy' 2>/dev/null"

# --- tools that set times on a new message ---
printf 'from a file\n' > "$WORK/r.txt"; chmod 644 "$WORK/r.txt"
check "cp -p into messages/ exits 0" ag cp -p "$WORK/r.txt" "$T/messages/cp-p"
check "rsync -t --inplace into messages/ exits 0" ag rsync -t --inplace "$WORK/r.txt" "$T/messages/rsync-t"
expect_err $AGENT "Invalid argument" "rsync -t without --inplace: its dot-named temporary is refused" rsync -t "$WORK/r.txt" "$T/messages/rsync-tmp"
check "install into messages/ exits 0" ag install "$WORK/r.txt" "$T/messages/installed"
for m in cp-p rsync-t installed; do
	expect_out $READER "from a file" "$m was stored once, whole" cat "$T/messages/$m"
done
check "touch of a new name exits 0" ag touch "$T/messages/touched"
check "and stores nothing" ag sh -c "! test -e '$T/messages/touched'"
expect_out $AGENT "$(printf '%s\n' cp-p installed reply-1 rsync-t)" "exactly these messages" ls "$T/messages"
mt=$(ag stat -c %Y "$T/messages/cp-p")
check "its author may set a stored message's times (rsync -t, install do)" ag touch -d 2000-01-01 "$T/messages/cp-p"
check "which are ignored: the mtime is when it was stored" test "$(ag stat -c %Y "$T/messages/cp-p")" = "$mt"
check "its author owns it (while the daemon runs)" test "$(ag stat -c %u "$T/messages/cp-p")" = $AGENT
echo "$READER agent" >> "$WHITELIST"
wait_within 1.2 as $READER test -w "$T/status"
expect_err $READER "Permission denied" "another agent may not set its times" touch -d 2000-01-01 "$T/messages/cp-p"
expect_err $AGENT "Operation not permitted" "nor may its author chown it" chown $READER "$T/messages/cp-p"

# --- README's claims about removals ---
check "rm of a field exits 0" ag rm "$T/mobile"
expect_err $AGENT "No such file or directory" "a second plain rm fails with ENOENT, as anywhere" rm "$T/mobile"
check "rm -f of it exits 0" ag rm -f "$T/mobile"
expect_err 0 "Permission denied" "root (unlisted) writing a sealed field: EACCES" sh -c "echo x > '$T/email'"
echo "0 agent" >> "$WHITELIST"
# (Within the reload's second: status's attributes are cached by the
# kernel now, so `test -w` of it no longer waits for the daemon.)
wait_within 1.2 ls "$T/messages" >/dev/null
check "root is an agent now" ls "$T/messages"
expect_err 0 "Permission denied" "root as an agent writing a sealed field: EACCES, as README says" sh -c "echo x > '$T/email'"

# --- what an inotify watcher sees at an expiry ---
EXP=$(date -u -d '+3 sec' +%Y-%m-%dT%H:%M:%SZ)
N=$(echo "{\"account\":\"x\",\"password\":\"y\",\"expires\":\"$EXP\"}" | "$TICKETCTL" authorize "$STORE" "$ID2")
T2=$MNT/tickets/$ID2
wait_within 1.2 ag test -d "$T2/authorizations/$N"
chmod 644 "$(dirname "$0")/inotify_watch.py"
events=$(ag /usr/bin/python3 "$(dirname "$0")/inotify_watch.py" 5 "$T2/authorizations" "$T2/authorizations/$N")
check "a watch on the expired authorization gets IN_DELETE_SELF" grep -q "^$N  DELETE_SELF" <<<"$events"
check "a watch on its directory gets nothing (the kernel sends no IN_DELETE)" sh -c "! grep -q '^authorizations ' <<EOF
$events
EOF"

umount_fs
finish
