# Hostile intake: a directory nested past any depth with a file over the
# rejected/ cap in it, dotfiles, and a record copied back after it was
# taken in.  Nothing of it stays, in intake/ or rejected/, and the audit
# trail shows each.
. "$(dirname "$0")/lib.sh"

new_store
good='{"username":"alice","subject":"ok"}'
CAP=$((64 << 20))

# Dotfiles there before the daemon starts: a regular one over an hour old
# goes, a FIFO goes, a fresh regular one stays.
head -c 1M /dev/zero > "$STORE/intake/.junk"
touch -d '2 hours ago' "$STORE/intake/.junk"
mkfifo "$STORE/intake/.fifo"
echo x > "$STORE/intake/.fresh"
mount_fg || { echo "mount failed"; exit 1; }
trail() { as $AUDITOR cat "$MNT/audit.log"; }
audited() {	# NAME RESULT WORDS: one intake entry for NAME, RESULT, detail WORDS
	trail | jq -e -s --arg p "intake/$1" --arg r "$2" --arg w "$3" \
		'map(select(.op == "intake" and .path == $p and .result == $r and (.detail // "" | contains($w)))) | length == 1' >/dev/null
}
check "an hour-old dotfile is removed" wait_for sh -c "! test -e '$STORE/intake/.junk'"
check "a FIFO dotfile is removed" sh -c "! test -e '$STORE/intake/.fifo'"
check "a fresh dotfile stays" test -f "$STORE/intake/.fresh"
check "the old dotfile is logged" grep -q "intake .junk: a dotfile over an hour old; removed unread" "$LOG"
check "the old dotfile is audited" wait_for audited .junk error "over an hour old"
check "the FIFO dotfile is audited" audited .fifo error "a FIFO, socket or device node"
mkdir "$STORE/intake/.dir"; echo x > "$STORE/intake/.dir/inner"
check "a dotfile directory is removed at once" wait_for sh -c "! test -e '$STORE/intake/.dir'"
check "the dotfile directory is audited" wait_for audited .dir error "a directory"

# A directory 40 deep holding 70 MB at the bottom: gone, all of it, and
# nothing of it in rejected/.
deep=20260101-000000-000001-0000-t-20260101-000000-000001-deep
d=$WORK/$deep
for i in $(seq 40); do mkdir -p "$d"; echo x > "$d/f"; d=$d/d; done
mkdir -p "$d"; head -c 70M /dev/zero > "$d/big"
mv "$WORK/$deep" "$STORE/intake/"
check "a deep directory leaves intake/" wait_for sh -c "! test -e '$STORE/intake/$deep'"
check "nothing of it in rejected/" test -z "$(find "$STORE/intake/rejected" -mindepth 1 -print -quit)"
check "rejected/ within its cap in bytes" test "$(du -sb "$STORE/intake/rejected" | cut -f1)" -le $CAP
check "its trash is deleted within seconds" wait_for sh -c "test -d '$STORE/.trash' && test -z \"\$(find '$STORE/.trash' -mindepth 1 -print -quit)\""
check "the trash is the daemon's only" test "$(stat -c %a "$STORE/.trash")" = 700
check "the deep directory is audited" audited "$deep" error "a directory"

# A directory swapped into rejected/ (as a race between the check and the
# move could) does not stay either: the next refusal caps rejected/.
swap=20260101-000000-000002-0000-t-20260101-000000-000002-swap
mkdir -p "$STORE/intake/rejected/$swap"; head -c 70M /dev/zero > "$STORE/intake/rejected/$swap/big"
echo junk > "$STORE/intake/20260101-000000-000003-0000-t-20260101-000000-000003-junk"
check "a directory in rejected/ goes at the next refusal" wait_for sh -c "! test -e '$STORE/intake/rejected/$swap'"
check "and is logged as dropped" grep -q "intake/rejected/$swap dropped" "$LOG"
check "rejected/ holds only the refused record" test "$(ls -A "$STORE/intake/rejected")" = 20260101-000000-000003-0000-t-20260101-000000-000003-junk

# A ticket's and a message's record copied back after they were taken in:
# deleted, nothing changes, audited ok.
mkdir -p "$WORK/stage/intake" "$WORK/copy"
cp "$STORE/public.key" "$WORK/stage/"
put() {	# NAME: a copy of stage/intake/NAME into intake/, whole when it appears
	cp "$WORK/stage/intake/$1" "$WORK/copy/$1" && mv "$WORK/copy/$1" "$STORE/intake/"
}
ID=$(echo "$good" | "$TICKETCTL" submit "$WORK/stage")
trec=$(ls "$WORK/stage/intake" | grep -- "-t-$ID\$")
put "$trec"
check "the ticket is taken in" wait_for as $AGENT test -d "$MNT/tickets/$ID"
echo hello | "$TICKETCTL" message "$WORK/stage" "$ID" >/dev/null
msgrec=$(ls "$WORK/stage/intake" | grep -- "-m-$ID\$")
put "$msgrec"
check "the message is taken in" wait_for sh -c "setpriv --reuid=$AGENT --regid=$AGENT --clear-groups ls '$MNT/tickets/$ID/messages' | grep -q ."
nmsg=$(as $AGENT ls "$MNT/tickets/$ID/messages" | wc -l)
put "$trec"; put "$msgrec"
check "the copies are deleted" wait_for sh -c "! test -e '$STORE/intake/$trec' && ! test -e '$STORE/intake/$msgrec'"
check "nothing was rejected for them" sh -c "! test -e '$STORE/intake/rejected/$trec' && ! test -e '$STORE/intake/rejected/$msgrec'"
check "the ticket copy is audited ok" wait_for audited "$trec" ok "already taken in"
check "the message copy is audited ok" audited "$msgrec" ok "already taken in"
check "no second message" test "$(as $AGENT ls "$MNT/tickets/$ID/messages" | wc -l)" = "$nmsg"
umount_fs
finish
