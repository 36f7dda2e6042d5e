# The daemon's contract: key handling, option order, readiness on return,
# clean unmount on SIGTERM, recovery after kill -9, hardening, and damage
# contained to the damaged ticket.
. "$(dirname "$0")/lib.sh"

new_store
ID=$(echo '{"username":"dave","subject":"disk full","email":"dave@example.com"}' | "$TICKETCTL" submit "$STORE")
ID2=$(echo '{"username":"erin","subject":"other","email":"erin@example.com"}' | "$TICKETCTL" submit "$STORE")

expect_fail() {	# expect_fail TEXT DESCRIPTION COMMAND...
	local text=$1 what=$2 out rc; shift 2
	out=$("$@" 2>&1); rc=$?
	if [ $rc -ne 0 ] && [[ $out == *"$text"* ]] && ! mountpoint -q "$MNT"; then
		pass "$what"; else fail "$what (exit $rc: $out)"; fi
}

chmod 640 "$KEY"
expect_fail "too open" "a key readable by the group is refused" "$TICKETFS" "$STORE" "$MNT" -o key="$KEY"
chmod 604 "$KEY"
expect_fail "too open" "a key readable by others is refused" "$TICKETFS" "$STORE" "$MNT" -o key="$KEY"
chmod 600 "$KEY"
# A key another uid owns is refused as ssh refuses it, also by ticketctl.
chown $STRANGER "$KEY"
expect_fail "Bad owner or permissions on $KEY" "a key another uid owns is refused" "$TICKETFS" "$STORE" "$MNT" -o key="$KEY"
"$TICKETFS" "$STORE" "$MNT" -o key="$KEY" 2>/dev/null
check "a key another uid owns: exit 1" test $? -eq 1
expect_fail "Bad owner or permissions on $KEY" "fsck --key refuses a key another uid owns" "$TICKETCTL" fsck "$STORE" --key "$KEY"
expect_fail "Bad owner or permissions on $KEY" "audit verify --key refuses a key another uid owns" "$TICKETCTL" audit verify "$STORE" --key "$KEY"
chown 0 "$KEY"
chmod 644 "$KEY"
expect_fail "Permissions 0644 for '$KEY' are too open. It is required that your private key files are NOT accessible by others" "the mode refusal says what ssh says" "$TICKETFS" "$STORE" "$MNT" -o key="$KEY"
chmod 600 "$KEY"
expect_fail "no key" "no key option is refused" "$TICKETFS" "$STORE" "$MNT"
"$TICKETCTL" init "$WORK/other" "$WORK/other.key" >/dev/null
expect_fail "does not belong" "another store's key is refused" "$TICKETFS" "$STORE" "$MNT" -o key="$WORK/other.key"
expect_fail "unknown option" "an unknown option is refused" "$TICKETFS" "$STORE" "$MNT" -o key="$KEY",frobnicate
expect_fail "invalid parameter" "a cache size that is no number is refused" "$TICKETFS" "$STORE" "$MNT" -o key="$KEY",cache=lots
forked "$TICKETFS" "$STORE" "$MNT" -o key="$KEY",cache=0,prefetch=0
expect_out $AGENT "dave@example.com" "without cache and prefetch it serves" cat "$MNT/tickets/$ID/email"
umount_fs
forked "$TICKETFS" "$STORE" "$MNT" -o key="$KEY",cache=1,prefetch=4
for i in 1 2 3; do
	expect_out $AGENT "dave@example.com" "a tiny cache and 4 prefetchers serve (read $i)" cat "$MNT/tickets/$ID/email"
done
umount_fs
# A sealed value never enters the page cache: every read of one reaches
# the daemon (so it is decided by the uid reading, also on a descriptor
# opened before a revocation); created is pushed at open, read from cache.
mount_fg -d
n0=$(wc -l < "$LOG")
expect_out $AGENT "dave@example.com" "a sealed value reads right" cat "$MNT/tickets/$ID/email"
expect_out $AGENT "dave@example.com" "and again" cat "$MNT/tickets/$ID/email"
check "each read of it reached the daemon" test "$(tail -n +$n0 "$LOG" | grep -c 'opcode: READ ')" -ge 2
n1=$(wc -l < "$LOG")
check "created reads right" as $AGENT cat "$MNT/tickets/$ID/created"
check "created is pushed at open: no READ" sh -c "! tail -n +$n1 '$LOG' | grep -q 'opcode: READ '"
check "(the trace saw the opens)" sh -c "tail -n +$n0 '$LOG' | grep -q 'opcode: OPEN '"
umount_fs
expect_fail "cannot open store" "a missing store is refused" "$TICKETFS" "$WORK/nostore" "$MNT" -o key="$KEY"

# Options before or after the positional arguments; ready on return.
forked "$TICKETFS" -o key="$KEY" "$STORE" "$MNT"
check "options first: mounted on return" mountpoint -q "$MNT"
expect_out $AGENT "disk full" "options first: serves at once" cat "$MNT/tickets/$ID/subject"
umount_fs
forked "$TICKETFS" "$STORE" "$MNT" -o ro,key="$KEY"
check "fstab order with ro: mounted on return" mountpoint -q "$MNT"
expect_out $AGENT "disk full" "fstab order: serves at once" cat "$MNT/tickets/$ID/subject"
umount_fs
# mount(8) through mount.fuse3, as an fstab line does (the program by path).
if forked mount -t fuse "$TICKETFS#$STORE" "$MNT" -o key="$KEY"; then
	expect_out $AGENT "disk full" "mount(8) through mount.fuse3 works" cat "$MNT/tickets/$ID/subject"
	check "mount(8) shows the store as the source" grep -q "^ticketfs:$STORE $MNT fuse.ticketfs" /proc/mounts
	umount "$MNT"
	daemon_exit "mount(8)"
else
	fail "mount(8) through mount.fuse3 works"
fi

# Hardening: no core dumps, the key in locked memory.
mount_fs
PID=$(pgrep -nf "^$TICKETFS $STORE $MNT")
check "the daemon runs in the background" test -n "$PID"
check "core dumps are off" grep -Eq '^Max core file size +0 +0' "/proc/$PID/limits"
if ldd "$TICKETFS" | grep -q libasan; then
	echo "skip - the key sits in locked memory (ASan makes mlock a no-op)"
else
	check "the key sits in locked memory" awk '/^VmLck:/ { exit !($2 > 0) }' "/proc/$PID/status"
fi
check "allow_other is implied" grep -q "$MNT .*allow_other" /proc/mounts

# SIGTERM unmounts cleanly.
kill -TERM "$PID"
check "SIGTERM unmounts" wait_for sh -c "! mountpoint -q '$MNT'"
check "SIGTERM ends the daemon" wait_for sh -c "! kill -0 $PID"
daemon_exit "SIGTERM"

# kill -9: the mount goes stale; after cleanup a new mount serves it all.
mount_fs
PID=$(pgrep -nf "^$TICKETFS $STORE $MNT")
kill -9 "$PID"
wait_for sh -c "! kill -0 $PID"
daemon_forget
fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT"
mount_fs
expect_out $AGENT "dave@example.com" "after kill -9 and remount the data is there" cat "$MNT/tickets/$ID/email"
umount_fs
check "fsck --key passes after kill -9" "$TICKETCTL" fsck "$STORE" --key "$KEY"

# A passphrase-protected key.  The passphrase file is checked like a key.
(umask 077; printf 'correct horse\n' > "$WORK/pass"; printf 'wrong\n' > "$WORK/badpass")
chmod 644 "$WORK/pass"
expect_fail "Permissions 0644 for '$WORK/pass' are too open. It is required that your passphrase files are NOT accessible by others" \
	"init refuses a world-readable passphrase file" "$TICKETCTL" init "$WORK/ps" "$WORK/ps.key" --passphrase-file "$WORK/pass"
check "(and writes no key)" test ! -e "$WORK/ps.key"
chmod 600 "$WORK/pass"
"$TICKETCTL" init "$WORK/ps" "$WORK/ps.key" --passphrase-file "$WORK/pass" >/dev/null
chmod 640 "$WORK/pass"
expect_fail "Permissions 0640 for '$WORK/pass' are too open" "the daemon refuses a group-readable passphrase file" "$TICKETFS" "$WORK/ps" "$MNT" -o key="$WORK/ps.key",passfile="$WORK/pass"
chmod 644 "$WORK/pass"
"$TICKETFS" "$WORK/ps" "$MNT" -o key="$WORK/ps.key",passfile="$WORK/pass" 2>/dev/null
check "a world-readable passphrase file: exit 1" test $? -eq 1
check "(nothing mounted)" sh -c "! mountpoint -q '$MNT'"
expect_fail "Permissions 0644 for '$WORK/pass' are too open" "fsck refuses a world-readable passphrase file" "$TICKETCTL" fsck "$WORK/ps" --key "$WORK/ps.key" --passphrase-file "$WORK/pass"
chmod 600 "$WORK/pass"; chown $STRANGER "$WORK/pass"
expect_fail "Bad owner or permissions on $WORK/pass" "a passphrase file another uid owns is refused" "$TICKETFS" "$WORK/ps" "$MNT" -o key="$WORK/ps.key",passfile="$WORK/pass"
chown 0 "$WORK/pass"
cp "$STORE/whitelist" "$WORK/ps/whitelist"
check "the wrapped key file holds no raw key" sh -c "! grep -q 'TKFSSK' '$WORK/ps.key'"
expect_fail "needs a passphrase" "a wrapped key without passphrase is refused" \
	sh -c "'$TICKETFS' '$WORK/ps' '$MNT' -o key='$WORK/ps.key' </dev/null"
expect_fail "wrong passphrase" "a wrong passphrase is refused" "$TICKETFS" "$WORK/ps" "$MNT" -o key="$WORK/ps.key",passfile="$WORK/badpass"
forked "$TICKETFS" "$WORK/ps" "$MNT" -o key="$WORK/ps.key",passfile="$WORK/pass"
check "the right passphrase mounts" mountpoint -q "$MNT"
umount_fs
check "fsck --key takes a passphrase file" "$TICKETCTL" fsck "$WORK/ps" --key "$WORK/ps.key" --passphrase-file "$WORK/pass"

# Damage is contained: one damaged record answers EIO, the rest serve.
rec=$STORE/tickets/$ID
size=$(stat -c %s "$rec")
# The end of the last box: before the MAC item (6 + 32 bytes) and the
# 8-byte checksum.
# Flip its bits (XOR), so the byte always changes (an 'X' written over it
# left it as it was one time in 256).
old=$(od -An -tu1 -j $((size - 47)) -N1 "$rec" | tr -d ' ')
printf "\\$(printf %03o $((old ^ 255)))" | dd of="$rec" bs=1 seek=$((size - 47)) conv=notrunc 2>/dev/null
check "the damaged byte changed" test "$(od -An -tu1 -j $((size - 47)) -N1 "$rec" | tr -d ' ')" -eq $((old ^ 255))
# The index snapshot of the last unmount still holds the ticket's metadata
# (damage in place changes no inode): only the damaged box answers EIO.
check "an index snapshot was saved at unmount" test -s "$STORE/index.snap"
mount_fg
eio=0
for f in $(as $AGENT ls "$MNT/tickets/$ID"); do
	[ "$f" = messages ] || [ "$f" = authorizations ] && continue
	out=$(as $AGENT cat "$MNT/tickets/$ID/$f" 2>&1) ||
		[[ $out != *"Input/output error"* ]] || eio=$((eio + 1))
done
check "with the snapshot, the damaged box answers EIO" test $eio -eq 1
check "the bad box is logged" grep -q "ticket $ID: .* does not open" "$LOG"
expect_out $AGENT "open" "the rest of the ticket serves" cat "$MNT/tickets/$ID/status"
umount_fs
# Without it (as after a crash) the record is read and refused whole.
rm "$STORE/index.snap"
mount_fg
expect_err $AGENT "Input/output error" "a damaged ticket answers EIO" cat "$MNT/tickets/$ID/status"
check "the damaged ticket is still listed" sh -c "setpriv --reuid=$AGENT --regid=$AGENT --clear-groups ls '$MNT/tickets' | grep -q '$ID'"
expect_out $AGENT "erin@example.com" "the other ticket still serves" cat "$MNT/tickets/$ID2/email"
check "the damage is logged" grep -q "ticket $ID: damaged record" "$LOG"
umount_fs
out=$("$TICKETCTL" fsck "$STORE"); rc=$?
if [ $rc -eq 1 ] && [[ $out == *"BAD $ID"* ]]; then pass "fsck names the damaged record, exit 1"; else
	fail "fsck names the damaged record (exit $rc: $out)"; fi

# A record copied over another ticket's name is refused like damage.
cp "$STORE/tickets/$ID2" "$STORE/tickets/$ID"
mount_fs
expect_err $AGENT "Input/output error" "a record under another ticket's name answers EIO" cat "$MNT/tickets/$ID/email"
umount_fs
finish
