#!/bin/bash
# Prefetch at the first open (issue 15, item 10): a caller who may read
# sealed values opening any of a ticket's files (status, which grep -r and
# tar open first) has the workers decrypt that ticket's sealed values, and
# those of the next ticket in tickets/' order, into the value cache before
# they are read: those reads are all cache hits (ticketctl stats).  An
# open by a caller who may not read sealed values (an auditor) decrypts
# nothing.
. "$(dirname "$0")/lib.sh"

new_store
for i in 1 2 3; do
	echo "{\"username\":\"u$i\",\"subject\":\"s$i\",\"email\":\"e$i@example.com\",\"confidential\":\"c$i\"}"
done | "$TICKETCTL" submit --batch "$STORE" | sort > "$WORK/ids"
A=$(sed -n 1p "$WORK/ids") B=$(sed -n 2p "$WORK/ids") C=$(sed -n 3p "$WORK/ids")
counts() {	# the mounted daemon's cache hits and misses, as published
	"$TICKETCTL" stats "$STORE" --json | jq -r '"\(.daemon.cache_hits) \(.daemon.cache_misses)"'
}

mount_fs
check "the three tickets taken in" wait_within 10 sh -c "test \$(setpriv --reuid=$AGENT --regid=$AGENT --clear-groups ls '$MNT/tickets' | wc -l) -eq 3"
expect_out $AUDITOR "open" "an auditor reads ticket 1's status" cat "$MNT/tickets/$A/status"
expect_out $AGENT "open" "an agent reads ticket 2's status" cat "$MNT/tickets/$B/status"
sleep 1.5	# the workers' time, then the daemon's next publication
check "no value read yet" test "$(counts)" = "0 0"
expect_out $AGENT "e2@example.com" "ticket 2's email" cat "$MNT/tickets/$B/email"
expect_out $AGENT "u2" "ticket 2's username" cat "$MNT/tickets/$B/username"
expect_out $AGENT "e3@example.com" "the next ticket's email" cat "$MNT/tickets/$C/email"
sleep 1.2
check "the three reads after the agent's open of a status: cache hits, no miss" test "$(counts)" = "3 0"
expect_out $AGENT "e1@example.com" "ticket 1's email" cat "$MNT/tickets/$A/email"
sleep 1.2
check "the auditor's open of ticket 1's status decrypted nothing: its email a miss" test "$(counts)" = "3 1"
expect_out $AGENT "c1" "then ticket 1's confidential, queued by that open: a hit" cat "$MNT/tickets/$A/confidential"
sleep 1.2
check "4 hits, 1 miss" test "$(counts)" = "4 1"
umount_fs
finish
