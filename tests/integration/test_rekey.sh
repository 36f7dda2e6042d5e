#!/bin/bash
# ticketctl rekey (issue 15 item 3), on a directory store and, as
# it_test_rekey_pg (TS_BACKEND=pg), a PostgreSQL one: refused while a
# daemon holds the store, over an existing file, while intake waits, with
# another store's key; killed (SIGKILL, as kill -9) at each step of a
# rekey of 300 tickets, the store mounts with the old key (before the
# commit) or the new one (after it), and the rekey run again (or the
# daemon started with the new key) finishes it; after the last one every
# value reads the same through the mount with the new key, every old key
# is refused with a clear message and opens nothing (fsck --key OLD, even
# with the old public key put back), fsck and audit verify pass, the
# trail holds a hand-over entry per rekey; the progress bar on a
# terminal; the golden store of before (its boxes sealed for the store
# key) rekeyed and shown as it was.
. "$(dirname "$0")/lib.sh"
FIX=$(cd "$(dirname "$0")/../fixtures" && pwd)
new_store
N=300

# --- the store: 300 tickets, a few messages ---------------------------
for i in $(seq $N); do
	echo "{\"username\":\"user$i\",\"subject\":\"s$i\",\"email\":\"e$i@example.com\",\"confidential\":\"secret $i\"}"
done | "$TICKETCTL" submit --batch "$STORE" > "$WORK/ids" || fail "submit --batch"
for id in $(sed -n '1p;150p' "$WORK/ids"); do
	echo "a message for $id" | "$TICKETCTL" message "$STORE" "$id" >/dev/null || fail "message"
done
mount_fg
check "$N tickets taken in" wait_within 60 sh -c "test \$(setpriv --reuid=$AGENT --regid=$AGENT --clear-groups ls '$MNT/tickets' | wc -l) -eq $N"
check "the messages taken in" wait_within 10 sh -c "test \$(setpriv --reuid=$AGENT --regid=$AGENT --clear-groups ls '$MNT/tickets/$(head -1 "$WORK/ids")/messages' | wc -l) -eq 1"
# What a sample of the tickets shows: every field of every 25th ticket.
shown() {
	local id f
	for id in $(awk 'NR % 25 == 1' "$WORK/ids"); do
		for f in username email confidential subject \
		         $(as $AGENT ls "$MNT/tickets/$id/messages" 2>/dev/null | sed 's|^|messages/|'); do
			printf '%s\t%s\n' "$id/$f" "$(as $AGENT cat "$MNT/tickets/$id/$f" 2>&1)"
		done
	done
}
shown > "$WORK/expect"
check "no value of the sample fails to read" sh -c "! grep -q 'cat:' '$WORK/expect'"
check "the sample holds values and a message" sh -c "grep -q 'secret 1\$' '$WORK/expect' && grep -q 'a message for' '$WORK/expect'"

# --- refusals ---------------------------------------------------------
OTHER=$WORK/other
"$TICKETCTL" init "$OTHER" "$WORK/other.key" >/dev/null
# rekey_bad STATUS TEXT WHAT ARGS...: ticketctl rekey exits STATUS saying TEXT.
rekey_bad() {
	local st=$1 text=$2 what=$3 out rc; shift 3
	out=$("$TICKETCTL" rekey "$@" 2>&1); rc=$?
	if [ $rc -eq "$st" ] && [[ $out == *"$text"* ]]; then pass "$what"; else
		fail "$what (exit $rc: $out)"; fi
}
rekey_bad 2 "in use by a ticketfs daemon" "refused while the daemon holds the store, exit 2" \
	"$STORE" --key "$KEY" --new-key "$WORK/new0.key"
check "and no new key was made" test ! -e "$WORK/new0.key"
umount_fs
if [ "$TS_BACKEND" != pg ]; then
	# Another process holding the store lock as a second rekey would find
	# it (two run at once: the first's lock): not said to be a daemon.
	(exec 9< "$STORE/lock"; flock -x 9; exec sleep 30) &
	HOLDER=$!
	EXTRA_CLEANUP="$EXTRA_CLEANUP; kill $HOLDER 2>/dev/null"
	wait_for sh -c "grep -q ' FLOCK .* WRITE .*:$(stat -c %i "$STORE/lock") ' /proc/locks"
	rekey_bad 2 "in use by a ticketfs daemon or another ticketctl rekey" \
		"refused while another rekey holds the store, saying it may be one" \
		"$STORE" --key "$KEY" --new-key "$WORK/new0.key"
	kill $HOLDER; wait $HOLDER 2>/dev/null
	check "and no new key was made" test ! -e "$WORK/new0.key"
fi
touch "$WORK/exists.key"
rekey_bad 2 "exists: rekey makes the new key itself and never writes over a file" \
	"refused over an existing file, exit 2" "$STORE" --key "$KEY" --new-key "$WORK/exists.key"
check "which is left as it was" test ! -s "$WORK/exists.key"
rekey_bad 2 "does not belong to store" "refused with another store's key" \
	"$STORE" --key "$WORK/other.key" --new-key "$WORK/new0.key"
rekey_bad 2 "usage: ticketctl rekey" "refused without --new-key" "$STORE" --key "$KEY"
LATE=$(echo '{"username":"late","subject":"late","email":"late@example.com"}' | "$TICKETCTL" submit "$STORE")
rekey_bad 2 "1 intake record of store" "refused while intake waits (sealed for the old key)" \
	"$STORE" --key "$KEY" --new-key "$WORK/new0.key"
check "and no new key was made" test ! -e "$WORK/new0.key"
mount_fg
check "the waiting ticket taken in" wait_within 10 as $AGENT test -d "$MNT/tickets/$LATE"
umount_fs
echo "tickets/$LATE/email	late@example.com" >> "$WORK/expect"
shown_now() { shown; printf '%s\t%s\n' "tickets/$LATE/email" "$(as $AGENT cat "$MNT/tickets/$LATE/email" 2>&1)"; }

pubkey_of() {	# the store's public key file text
	if [ "$TS_BACKEND" = pg ]; then psql_do "$PGDB" "SELECT pk FROM ts_public_key"
	else cat "$STORE/public.key"; fi
}
journal() {
	if [ "$TS_BACKEND" = pg ]; then psql_do "$PGDB" "SELECT value FROM ts_meta WHERE name = 'rekey'"
	else cat "$STORE/rekey" 2>/dev/null; fi
}
journal_done() {
	local j
	j=$(journal)
	[[ $j == *"state done"* && $j != *oldkey* ]]
}
OLDPUB=$(pubkey_of)

# --- killed at each step, then resumed --------------------------------
# Each round rekeys the store from $KEY to a new key, killed at a point;
# then the store must mount with one of the two, and the rekey (run again,
# or by the daemon with the new key) finish.  Steps: one a ticket (its
# key files, then its record), 301 of them.
OLDKEYS=()
round=0
for point in begun keyfile handover commit 1 100 250 301; do
	round=$((round + 1))
	NEW=$WORK/key$round
	"$TICKETCTL" rekey "$STORE" --key "$KEY" --new-key "$NEW" --crash-at "$point" >/dev/null 2>"$WORK/rk.err"
	rc=$?
	check "round $round: killed at $point (status $rc)" test $rc -eq 137
	: > "$LOG"
	case $point in
	begun|keyfile|handover)
		# Before the commit: the old key's store, mounting as ever.
		mount_fg
		if mountpoint -q "$MNT"; then pass "round $round: mounts with the old key"
		else fail "round $round: mounts with the old key ($(tail -2 "$LOG"))"; fi
		shown_now > "$WORK/got"
		check "round $round: and shows every value" cmp -s "$WORK/expect" "$WORK/got"
		umount_fs
		out=$("$TICKETCTL" rekey "$STORE" --key "$KEY" --new-key "$NEW" 2>&1); rc=$?
		check "round $round: run again, it finishes ($out)" test $rc -eq 0
		;;
	*)
		# After it: the old key is refused, saying why; the new one
		# mounts (odd rounds: the daemon finishes the rekey) or the
		# rekey run again finishes it (even rounds).
		out=$("$TICKETFS" "$STORE" "$MNT" -o key="$KEY" "${MOUNT_OPTS[@]}" -f 2>&1); rc=$?
		check "round $round: the old key no longer mounts ($out)" test $rc -ne 0
		check "round $round: saying it is the old key" grep -q "is the old key of store" <<<"$out"
		if [ $((round % 2)) -eq 1 ]; then
			KEY0=$KEY KEY=$NEW
			mount_fg
			check "round $round: the new key mounts, the daemon finishing the rekey" \
				grep -q "finished the interrupted rekey" "$LOG"
			shown_now > "$WORK/got"
			check "round $round: every value reads the same" cmp -s "$WORK/expect" "$WORK/got"
			umount_fs
			KEY=$KEY0
		else
			out=$("$TICKETCTL" rekey "$STORE" --key "$KEY" --new-key "$NEW" 2>&1); rc=$?
			check "round $round: run again, it finishes ($out)" test $rc -eq 0
		fi
		;;
	esac
	check "round $round: the journal says done, without the old key" journal_done
	check "round $round: fsck --key NEW passes" "$TICKETCTL" fsck "$STORE" --key "$NEW"
	OLDKEYS+=("$KEY")
	KEY=$NEW
done

# Killed at the commit, finished by the daemon, which knows no key file's
# path: KEY.fss and KEY.checkpoint stay beside the old key until the same
# rekey, run again, carries them over.
NEW=$WORK/key-daemon
check "(the old key's sealing state is there)" test -e "$KEY.fss"
"$TICKETCTL" rekey "$STORE" --key "$KEY" --new-key "$NEW" --crash-at commit >/dev/null 2>&1
KEY0=$KEY KEY=$NEW
: > "$LOG"
mount_fg
# (all 301 tickets converted before it mounts: on a loaded machine, more
# than mount_fg's 3 s)
check "killed at the commit: the daemon finishes the rekey and mounts" wait_within 60 sh -c \
	"mountpoint -q '$MNT' && grep -q 'finished the interrupted rekey' '$LOG'"
umount_fs
KEY=$KEY0
out=$("$TICKETCTL" rekey "$STORE" --key "$KEY" --new-key "$NEW" 2>&1); rc=$?
check "then the same rekey run again exits 0 ($out)" test $rc -eq 0
check "having carried the sealing state over" sh -c "test -e '$NEW.fss' && test ! -e '$KEY.fss'"
out=$("$TICKETCTL" rekey "$STORE" --key "$KEY" --new-key "$WORK/other-new.key" 2>&1); rc=$?
if [ $rc -eq 2 ] && [[ $out == *"is the old key of store"* ]] && [ ! -e "$WORK/other-new.key" ]; then
	pass "another NEW after it: still refused as the old key"
else fail "another NEW after it: still refused as the old key (exit $rc: $out)"; fi
OLDKEYS+=("$KEY")
KEY=$NEW

# A real kill -9 at whatever moment, then resumed.
NEW=$WORK/key-async
"$TICKETCTL" rekey "$STORE" --key "$KEY" --new-key "$NEW" >/dev/null 2>&1 &
RK=$!
sleep 0.0$((RANDOM % 10))
kill -9 $RK 2>/dev/null
wait $RK 2>/dev/null
if [ -e "$NEW" ]; then
	out=$("$TICKETCTL" rekey "$STORE" --key "$KEY" --new-key "$NEW" 2>&1); rc=$?
	check "killed at a random moment, run again, it finishes ($out)" test $rc -eq 0
	OLDKEYS+=("$KEY")
	KEY=$NEW
else
	# A rekey killed this early may have begun its journal (naming the
	# current key and NEW) over the last one's: the key before the
	# current one is then no longer named as the store's old key.
	EARLY_KILL=1
	pass "killed at a random moment, before the new key was written: the old key's store"
fi

# --- after the last rekey ---------------------------------------------
check "the store's public key is the last key's" test "$(pubkey_of)" != "$OLDPUB"
mount_fg
shown_now > "$WORK/got"
check "every value reads the same through the mount with the new key" cmp -s "$WORK/expect" "$WORK/got"
check "new tickets are taken in under the new key" sh -c "echo '{\"username\":\"after\",\"subject\":\"after\",\"email\":\"after@example.com\"}' | '$TICKETCTL' submit '$STORE' > '$WORK/after'"
check "and read" wait_within 10 sh -c "test \"\$(setpriv --reuid=$AGENT --regid=$AGENT --clear-groups cat '$MNT/tickets/'\$(cat '$WORK/after')/email)\" = after@example.com"
umount_fs
for k in "${OLDKEYS[0]}" "${OLDKEYS[-1]}"; do
	out=$("$TICKETFS" "$STORE" "$MNT" -o key="$k" "${MOUNT_OPTS[@]}" -f 2>&1); rc=$?
	check "an old key ($(basename "$k")) does not mount: $out" test $rc -ne 0
done
if [ -n "${EARLY_KILL:-}" ] && ! grep -q "is the old key of store" <<<"$out"; then
	check "the last old key is refused as not the store's (a rekey killed early began a new journal)" grep -q "does not belong to store" <<<"$out"
else
	check "the last old key is named as the store's old key" grep -q "is the old key of store" <<<"$out"
fi
out=$("$TICKETCTL" fsck "$STORE" --key "${OLDKEYS[0]}" 2>&1); rc=$?
check "fsck --key OLD refuses the old key ($out)" test $rc -eq 2
# Even with the old public key put back, the old key opens nothing.
if [ "$TS_BACKEND" = pg ]; then
	CUR=$(pubkey_of)
	psql_do "$PGDB" "UPDATE ts_public_key SET pk = '$OLDPUB'"
else
	cp "$STORE/public.key" "$WORK/public.key.cur"
	printf '%s\n' "$OLDPUB" > "$STORE/public.key"
fi
out=$("$TICKETCTL" fsck "$STORE" --key "${OLDKEYS[0]}" 2>&1); rc=$?
total=$((N + 2))
probs=$(sed -n "s/^$total records checked with the key, \([0-9]*\) problems$/\1/p" <<<"$out")
check "with the old public key put back, fsck --key OLD fails every record (exit $rc, ${probs:-no} problems)" \
	test $rc -eq 1 -a "${probs:-0}" -ge $total
check "none of whose boxes opens" test "$(grep -c '^BAD .*MAC' <<<"$out")" -eq $total
"$TICKETFS" "$STORE" "$MNT" -o key="${OLDKEYS[0]}" "${MOUNT_OPTS[@]}" -f 2>"$WORK/old.err" &
OLDD=$!
if wait_within 3 mountpoint -q "$MNT"; then
	n=$(as $AGENT ls "$MNT/tickets" 2>/dev/null | wc -l)
	check "and a daemon with the old key shows no ticket ($n)" test "$n" -eq 0
	fusermount3 -u "$MNT"
else
	pass "and a daemon with the old key does not start ($(tail -1 "$WORK/old.err"))"
fi
wait $OLDD 2>/dev/null
if [ "$TS_BACKEND" = pg ]; then
	psql_do "$PGDB" "UPDATE ts_public_key SET pk = '$CUR'"
else
	cp "$WORK/public.key.cur" "$STORE/public.key"
fi
out=$("$TICKETCTL" fsck "$STORE" --key "$KEY" 2>&1); rc=$?
check "fsck --key NEW passes ($(head -1 <<<"$out"))" test $rc -eq 0
out=$("$TICKETCTL" audit verify "$STORE" 2>&1); rc=$?
check "audit verify passes across the rekeys ($out)" test $rc -eq 0
out=$("$TICKETCTL" audit verify "$STORE" --key "$KEY" 2>&1); rc=$?
check "audit verify --key NEW passes ($out)" test $rc -eq 0
out=$("$TICKETCTL" audit verify "$STORE" --key "${OLDKEYS[-1]}" 2>&1); rc=$?
check "audit verify --key OLD fails: the checkpoints are the new key's" test $rc -ne 0
if [ "$TS_BACKEND" = pg ]; then
	hand=$(psql_do "$PGDB" "SELECT count(*) FROM ts_audit WHERE line LIKE '%\"op\":\"rekey\"%'")
else
	hand=$(cat "$STORE"/audit/*.log | grep -c '"op":"rekey"')
fi
check "the trail holds a hand-over entry a rekey ($hand for ${#OLDKEYS[@]})" test "$hand" -ge "${#OLDKEYS[@]}"

# --- the progress bar -------------------------------------------------
NEW=$WORK/key-tty
script -qec "'$TICKETCTL' rekey '$STORE' --key '$KEY' --new-key '$NEW'" /dev/null > "$WORK/tty.out" 2>&1
check "on a terminal: a progress bar with rate, ending full" grep -aq 'rekey \[#\{30\}\] \([0-9]*\)/\1  [0-9]*/s' "$WORK/tty.out"
KEY=$NEW
NEW=$WORK/key-notty
"$TICKETCTL" rekey "$STORE" --key "$KEY" --new-key "$NEW" >/dev/null 2>"$WORK/notty.err"
check "not on a terminal: nothing on stderr" test ! -s "$WORK/notty.err"
KEY=$NEW
check "ticketctl --help lists rekey" sh -c "'$TICKETCTL' --help | grep -q 'rekey STORE --key OLD --new-key NEW'"

# --- a passphrase for the new key -------------------------------------
printf 'correct horse\n' > "$WORK/pass"; chmod 600 "$WORK/pass"
NEW=$WORK/key-pass
out=$("$TICKETCTL" rekey "$STORE" --key "$KEY" --new-key "$NEW" --new-passphrase-file "$WORK/pass" 2>&1); rc=$?
check "rekey to a key wrapped with a passphrase ($out)" test $rc -eq 0
check "which fsck opens with the passphrase" "$TICKETCTL" fsck "$STORE" --key "$NEW" --passphrase-file "$WORK/pass"
out=$("$TICKETCTL" fsck "$STORE" --key "$NEW" 2>&1 </dev/null); rc=$?
check "and not without it" test $rc -ne 0

# --- the golden store of before (boxes sealed for the store key) -------
if [ "$TS_BACKEND" != pg ]; then
	STORE=$WORK/v1
	cp -a "$FIX/store_v1" "$STORE"
	chmod 0700 "$STORE"
	KEY=$WORK/v1.key
	install -m 0600 "$FIX/store_v1.key" "$KEY"
	out=$("$TICKETCTL" rekey "$STORE" --key "$KEY" --new-key "$WORK/v1.new" 2>&1); rc=$?
	check "the store of before rekeyed ($out)" test $rc -eq 0
	check "its boxes resealed for the new key" grep -q "2 of them of before resealed" <<<"$out"
	check "fsck --key NEW passes on it" "$TICKETCTL" fsck "$STORE" --key "$WORK/v1.new"
	KEY=$WORK/v1.new
	mount_fg
	bad=0
	while IFS=$'\t' read -r path want; do
		got=$(as $AGENT cat "$MNT/tickets/$path" 2>&1 | tr '\n' '|')
		[ "$got" == "$want" ] || { echo "  $path: got '$got', want '$want'"; bad=1; }
	done < "$FIX/store_v1.expect"
	check "it shows what it showed" test $bad -eq 0
	umount_fs
	check "its trail verifies" "$TICKETCTL" audit verify "$STORE"
fi
finish
