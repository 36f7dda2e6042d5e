#!/bin/bash
# Progress bars and --json (issue 15, item 4): submit --batch, fsck and
# audit verify draw a bar (rate, time left) on stderr in a terminal (a pty:
# script(1)) and add nothing to stderr otherwise; fsck --json and audit
# verify --json print one object with the documented keys, on the golden
# fixture and on the damaged one, with the exit status of the text form.
. "$(dirname "$0")/lib.sh"

FIX=$(cd "$(dirname "$0")/../fixtures" && pwd)
read -r A B F < "$FIX/store_v1.ids"
install -m 0600 "$FIX/store_v1.key" "$KEY"
fresh() {	# fresh NAME: a private copy of fixture NAME as $STORE
	rm -rf "$STORE"
	cp -a "$FIX/$1" "$STORE"
	chmod 0700 "$STORE"
}
FSCK_KEYS='["findings","legacy","ok","problems","records","shredded","with_key"]'
AUDIT_KEYS='["chain_ok","checkpoint_copy","entries","message","ok","seals"]'

# --- fsck --json, audit verify --json: the golden store ----------------
fresh store_v1
"$TICKETCTL" fsck "$STORE" --key "$KEY" --json > "$WORK/f.json" 2> "$WORK/f.err"; rc=$?
check "fsck --json on the golden store: exit 0, nothing on stderr" test $rc -eq 0 -a ! -s "$WORK/f.err"
check "its output is one JSON object with the documented keys" \
	jq -e "keys == $FSCK_KEYS" "$WORK/f.json"
check "it says 2 records with the key, no problem" \
	jq -e '.records == 2 and .with_key and .problems == 0 and .findings == [] and .ok' "$WORK/f.json"
check "the text form counts the same records" \
	sh -c "'$TICKETCTL' fsck '$STORE' --key '$KEY' | grep -q '^2 records checked with the key, 0 problems'"
"$TICKETCTL" fsck "$STORE" --json > "$WORK/f.json"; rc=$?
check "fsck --json without the key: with_key false, legacy null" \
	jq -e '.with_key == false and .legacy == null and .ok' "$WORK/f.json"
"$TICKETCTL" audit verify "$STORE" --json > "$WORK/a.json" 2> "$WORK/a.err"; rc=$?
check "audit verify --json on the golden store: exit 0, nothing on stderr" test $rc -eq 0 -a ! -s "$WORK/a.err"
check "its output has the documented keys" jq -e "keys == $AUDIT_KEYS" "$WORK/a.json"
check "it says intact, as the text form" sh -c "jq -e '.ok and .chain_ok and .entries > 0 and .seals == null and .checkpoint_copy == null' '$WORK/a.json' >/dev/null &&
	test \"\$(jq -r .message '$WORK/a.json')\" = \"\$('$TICKETCTL' audit verify '$STORE')\""

# --- the damaged store -------------------------------------------------
fresh store_v1_damaged
"$TICKETCTL" fsck "$STORE" --key "$KEY" --json > "$WORK/f.json"; rc=$?
check "fsck --json on the damaged store: exit 1, as the text form" test $rc -eq 1
check "it names both damaged records" \
	jq -e --arg a "$A" --arg b "$B" '.ok == false and .problems == 2 and ([.findings[].id] | sort) == ([$a, $b] | sort) and all(.findings[]; .problem | length > 0)' "$WORK/f.json"
fresh store_v1
script -qec "'$TICKETCTL' audit verify '$STORE'" /dev/null > "$WORK/tty.out" 2>&1
check "audit verify of a short trail in a terminal: a bar ending full" \
	grep -aq 'audit  *\[#\{30\}\] \([0-9]*\)/\1  [0-9]*/s' "$WORK/tty.out"
sed -i '2s/"uid":0/"uid":7/' "$STORE"/audit/000001.log
"$TICKETCTL" audit verify "$STORE" --json > "$WORK/a.json"; rc=$?
check "audit verify --json on an edited trail: exit 1" test $rc -eq 1
check "it says not intact, naming the entry" \
	jq -e '.ok == false and .chain_ok == false and (.message | test("entry 2"))' "$WORK/a.json"
echo garbage > "$WORK/copy"
"$TICKETCTL" audit verify "$STORE" --checkpoint "$WORK/copy" --json > "$WORK/a.json"; rc=$?
check "a damaged checkpoint copy: exit 1, the object says so" \
	sh -c "test $rc -eq 1 && jq -e '.ok == false and .checkpoint_copy.path == \"$WORK/copy\" and .checkpoint_copy.seq == null' '$WORK/a.json' >/dev/null"

# --- progress bars: in a terminal only ---------------------------------
STORE=$WORK/big KEY=$WORK/big.key
new_store
for i in $(seq 3000); do echo "{\"username\":\"u$i\",\"subject\":\"s$i\",\"email\":\"e$i@example.com\"}"; done > "$WORK/batch"
"$TICKETCTL" submit --batch "$STORE" "$WORK/batch" > "$WORK/ids" 2> "$WORK/sub.err"
check "submit --batch, stderr no terminal: stderr empty" test ! -s "$WORK/sub.err"
check "and 3,000 ids" test "$(wc -l < "$WORK/ids")" -eq 3000
script -qec "'$TICKETCTL' submit --batch '$STORE' '$WORK/batch' >/dev/null" /dev/null > "$WORK/tty.out" 2>&1
check "submit --batch in a terminal: a bar with rate and time left" \
	grep -aq 'submit  *\[#*\.*\] [0-9]*/[0-9]*  [0-9]*/s, [0-9]*:[0-9][0-9] left' "$WORK/tty.out"
check "which ends full at 3000/3000" grep -aq 'submit  *\[#\{30\}\] 3000/3000' "$WORK/tty.out"
check "stdout in a terminal holds the ids only" \
	sh -c "script -qec \"'$TICKETCTL' submit --batch '$STORE' '$WORK/batch' 2>/dev/null\" /dev/null | tr -d '\r' | grep -vc '^[0-9A-Za-z-]*\$' | grep -qx 0"
mount_fs
check "the tickets are taken in" wait_within 60 sh -c "test \$(ls -A '$STORE/tickets' | wc -l) -ge 9000"
umount_fs
"$TICKETCTL" fsck "$STORE" --key "$KEY" > "$WORK/fsck.out" 2> "$WORK/fsck.err"
check "fsck, stderr no terminal: stderr empty" test ! -s "$WORK/fsck.err"
script -qec "'$TICKETCTL' fsck '$STORE' --key '$KEY'" /dev/null > "$WORK/tty.out" 2>&1
check "fsck in a terminal: a bar ending full" grep -aq 'fsck  *\[#\{30\}\] 9000/9000  [0-9]*/s' "$WORK/tty.out"
check "and the same report" grep -aq '^9000 records checked with the key, 0 problems' "$WORK/tty.out"
"$TICKETCTL" audit verify "$STORE" > "$WORK/av.out" 2> "$WORK/av.err"
check "audit verify, stderr no terminal: stderr empty" test ! -s "$WORK/av.err"
script -qec "'$TICKETCTL' audit verify '$STORE'" /dev/null > "$WORK/tty.out" 2>&1
check "audit verify in a terminal: a bar" grep -aq 'audit  *\[#*\.*\] [0-9]*/[0-9]*  [0-9]*/s' "$WORK/tty.out"
check "and the verdict" grep -aq 'audit trail intact' "$WORK/tty.out"
finish
