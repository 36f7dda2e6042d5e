#!/bin/bash
# The golden store fixtures (tests/fixtures/mkstores.sh): a store made by
# an earlier build keeps mounting and showing what it showed, with an
# index snapshot and without, the daemon saying which (and why not); fsck and the audit check pass on it; the
# damaged copy and the copy with a planted (forged) record are flagged by
# fsck, which names each bad record, and the daemon serves the rest.
. "$(dirname "$0")/lib.sh"
FIX=$(cd "$(dirname "$0")/../fixtures" && pwd)
read -r A B F < "$FIX/store_v1.ids"
STORE=$WORK/store
KEY=$WORK/store.key
install -m 0600 "$FIX/store_v1.key" "$KEY"

fresh() {	# fresh NAME: a private copy of fixture NAME as $STORE
	rm -rf "$STORE"
	cp -a "$FIX/$1" "$STORE"
	chmod 0700 "$STORE"
	# Each fixture is another trail under the same key: to the daemon a
	# store put back from a copy is a rollback unless its checkpoint copy
	# goes too.
	rm -f "$KEY.checkpoint"
}

# Compares every file the mount shows with store_v1.expect.
shows_expected() {
	local path want got bad=0 n=0
	while IFS=$'\t' read -r path want; do
		got=$(as $AGENT cat "$MNT/tickets/$path" 2>&1 | tr '\n' '|')
		n=$((n + 1))
		[ "$got" == "$want" ] || { echo "  $path: got '$got', want '$want'" >&2; bad=1; }
	done < "$FIX/store_v1.expect"
	[ $n -gt 20 ] && [ $bad -eq 0 ]
}

# says_snapshot TEXT DESCRIPTION: the daemon's one line about the index
# snapshot, at the mount just made (mount_log), is "index snapshot TEXT".
says_snapshot() {
	local got
	got=$(grep -o 'index snapshot .*' "$LOG")
	if [ "$got" == "index snapshot $1" ]; then pass "$2"; else
		fail "$2 (the daemon said '$got', want 'index snapshot $1')"; fi
}
mount_log() { : > "$LOG"; mount_fg; }
READ_ALL="2 tickets read from their records"

fresh store_v1
check "fsck --key passes on the golden store" "$TICKETCTL" fsck "$STORE" --key "$KEY"
check "its audit trail verifies" "$TICKETCTL" audit verify "$STORE"
# The checked-in snapshot is authentic (its format still decodes) but its
# stamp names the inodes of the tree mkstores.sh made, not of this copy.
mount_log
says_snapshot "refused: tickets/ changed since it was taken; $READ_ALL" \
	"the fixture's own snapshot, on a copy: refused, the daemon says why"
check "it mounts and shows what it showed, reading every record" shows_expected
expect_out $AGENT "$A
$B" "both tickets are listed" ls "$MNT/tickets"
umount_fs
check "a snapshot is saved at unmount" test -s "$STORE/index.snap"
mount_log
says_snapshot "used: 2 entries, 2 tickets taken from it, 0 read from their records" \
	"remounted, the daemon says it used that snapshot"
check "and shows what it showed, from the snapshot" shows_expected
umount_fs
# A create and an unlink in tickets/, in a later tick of the coarse clock
# that stamps directory times, and the mtime left as they made it.
sleep 0.05
touch "$STORE/tickets/notes.txt"
rm "$STORE/tickets/notes.txt"
mount_log
says_snapshot "refused: tickets/ changed since it was taken; $READ_ALL" \
	"tickets/ changed since the unmount: refused, the daemon says why"
check "and shows what it showed" shows_expected
umount_fs
rm "$STORE/index.snap"
mount_log
says_snapshot "refused: no snapshot; $READ_ALL" "without a snapshot: the daemon says so"
check "and without the snapshot, reading every record" shows_expected
umount_fs

# Its tickets are of before per-ticket keys (sealed for the store key):
# fsck counts them, and a write converts one, ticket by ticket.
fresh store_v1
out=$("$TICKETCTL" fsck "$STORE" --key "$KEY")
check "fsck counts the fixture's 2 tickets of before" \
	grep -q "^2 tickets of before per-ticket keys; converted when rewritten$" <<<"$out"
mount_log
check "rm of A's mobile (a write of a ticket of before)" as $AGENT rm "$MNT/tickets/$A/mobile"
check "A is converted: it has its own key file" test -f "$STORE/keys/$A"
check "B, not rewritten, has none" test ! -e "$STORE/keys/$B"
grep -v "^$A/mobile	" "$FIX/store_v1.expect" > "$WORK/expect.converted"
shows_converted() {
	local path want got bad=0
	while IFS=$'\t' read -r path want; do
		got=$(as $AGENT cat "$MNT/tickets/$path" 2>&1 | tr '\n' '|')
		[ "$got" == "$want" ] || { echo "  $path: got '$got', want '$want'" >&2; bad=1; }
	done < "$WORK/expect.converted"
	[ $bad -eq 0 ]
}
check "every other value still shows what it showed" shows_converted
umount_fs
out=$("$TICKETCTL" fsck "$STORE" --key "$KEY"); rc=$?
if [ $rc -eq 0 ] && grep -q "^1 ticket of before per-ticket keys" <<<"$out"; then
	pass "fsck --key passes on the converted store, 1 ticket of before left"
else
	fail "fsck --key on the converted store (exit $rc: $out)"
fi
mount_log
check "remounted, the converted ticket shows what it showed" shows_converted
umount_fs

fresh store_v1_damaged
out=$("$TICKETCTL" fsck "$STORE" --key "$KEY"); rc=$?
if [ $rc -eq 1 ] && [[ $out == *"$A"* ]] && [[ $out == *"$B"* ]]; then
	pass "fsck flags both damaged records, exit 1"
else
	fail "fsck flags both damaged records (exit $rc: $out)"
fi
mount_log
says_snapshot "refused: no snapshot; $READ_ALL" "the damaged copy has no snapshot: the daemon says so"
expect_err $AGENT "Input/output error" "a damaged record answers EIO" cat "$MNT/tickets/$A/subject"
expect_err $AGENT "Input/output error" "a cut record answers EIO" cat "$MNT/tickets/$B/subject"
umount_fs

fresh store_v1_forged
out=$("$TICKETCTL" fsck "$STORE"); rc=$?
if [ $rc -eq 0 ]; then pass "without the key, the planted record looks well formed"; else
	fail "without the key, the planted record looks well formed (exit $rc: $out)"; fi
out=$("$TICKETCTL" fsck "$STORE" --key "$KEY"); rc=$?
if [ $rc -eq 1 ] && [[ $out == *"$F"*"not authenticated"* ]] && [[ $out != *"$A"* ]]; then
	pass "fsck --key flags the planted record as not authenticated, only it"
else
	fail "fsck --key flags the planted record (exit $rc: $out)"
fi
mount_fg
expect_err $AGENT "Input/output error" "the planted ticket answers EIO" cat "$MNT/tickets/$F/subject"
check "the daemon says why" grep -q "ticket $F: record not authenticated" "$LOG"
expect_out $AGENT "alice@example.com" "the genuine tickets still serve" cat "$MNT/tickets/$A/email"
umount_fs
finish
