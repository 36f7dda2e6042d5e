# The audit trail: an entry for every operation on the data, with the right
# uid, program and result; tamper evidence that names the first bad entry;
# fail closed when the trail cannot be written; rotation; auditors only.
. "$(dirname "$0")/lib.sh"

new_store
CANARY=AUDITCANARY-51c2
ID=$(echo "{\"username\":\"u-$CANARY\",\"subject\":\"s-$CANARY\",\"email\":\"e-$CANARY\",\"authorizations\":[{\"account\":\"a\",\"password\":\"p-$CANARY\",\"expires\":\"2099-01-01T00:00:00Z\"}]}" | "$TICKETCTL" submit "$STORE")
mount_fg -o audit_segment=4096 || { echo "mount failed"; exit 1; }
T=$MNT/tickets/$ID
ag() { as $AGENT "$@"; }
trail() { as $AUDITOR cat "$MNT/audit.log"; }
# has JQ-FILTER DESCRIPTION: some entry matches the filter.
has() {
	if trail | jq -e -s "map(select($1)) | length > 0" >/dev/null; then
		pass "$2"; else fail "$2"; fi
}

ag cat "$T/email" >/dev/null
as 0 cat "$T/email" >/dev/null 2>&1
as $STRANGER ls "$MNT/tickets" >/dev/null 2>&1	# refused by the kernel
as 0 ls "$MNT/tickets" >/dev/null 2>&1
as 0 cat "$MNT/audit.log" >/dev/null 2>&1
ag bash -c "echo processing > '$T/status'"
ag bash -c "echo open > '$T/status'" 2>/dev/null
ag bash -c "printf 'reply text\n' > '$T/messages/r1'"
ag rm "$T/messages/r1"
ag ls "$T" >/dev/null	# so root's chmod reaches the daemon
as 0 chmod 600 "$T/subject" 2>/dev/null
MSG=$(echo "customer text $CANARY" | "$TICKETCTL" message "$STORE" "$ID")
AUTH=$(echo '{"account":"x","password":"y","expires":"2099-01-01T00:00:00Z"}' | "$TICKETCTL" authorize "$STORE" "$ID")
wait_for ag test -e "$T/authorizations/$AUTH"
"$TICKETCTL" revoke "$STORE" "$ID" "$AUTH"
wait_for ag sh -c "! test -e '$T/authorizations/$AUTH'"
echo "# touched" >> "$STORE/whitelist"
cp "$STORE/policy" "$WORK/policy.orig"
{ echo "email 1s"; grep -v '^email' "$WORK/policy.orig"; } > "$STORE/policy"
sleep 1.5
echo "bogus line" >> "$STORE/policy"
sleep 1

check "every line of audit.log is JSON (jq)" sh -c "setpriv --reuid=$AUDITOR --regid=$AUDITOR --clear-groups cat '$MNT/audit.log' | jq -e . >/dev/null"
check "every entry has seq, time, uid, pid, comm, op, path, result" sh -c "setpriv --reuid=$AUDITOR --regid=$AUDITOR --clear-groups cat '$MNT/audit.log' | jq -e -s 'all(has(\"seq\") and has(\"time\") and has(\"uid\") and has(\"pid\") and has(\"comm\") and has(\"op\") and has(\"path\") and has(\"result\"))' >/dev/null"
check "times are RFC 3339 UTC with milliseconds" sh -c "setpriv --reuid=$AUDITOR --regid=$AUDITOR --clear-groups cat '$MNT/audit.log' | jq -e -s 'all(.time | test(\"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\\\.[0-9]{3}Z$\"))' >/dev/null"
check "seq runs 1, 2, 3, ... without gaps" sh -c "setpriv --reuid=$AUDITOR --regid=$AUDITOR --clear-groups cat '$MNT/audit.log' | jq -e -s '[.[].seq] == [range(1; length + 1)]' >/dev/null"
has ".op == \"intake\" and .path == \"tickets/$ID\" and .uid == 0" "intake of a ticket"
has ".op == \"mount\"" "mount"
has ".op == \"open\" and .path == \"tickets/$ID/email\" and .uid == $AGENT and .comm == \"cat\" and .result == \"ok\"" "an agent's open of a sealed field"
has ".op == \"open\" and .path == \"tickets/$ID/email\" and .uid == 0 and .result == \"denied\" and .errno == 13" "root's refused open, with its errno"
has ".uid == 0 and (.op == \"lookup\" or .op == \"stat\" or .op == \"opendir\") and .result == \"denied\" and .path == \"tickets\"" "root's refused listing"
check "a stranger is refused at the mount root by the kernel: no entry" sh -c "! setpriv --reuid=$AUDITOR --regid=$AUDITOR --clear-groups cat '$MNT/audit.log' | jq -e 'select(.uid == $STRANGER)' | grep -q ."
has ".path == \"audit.log\" and .uid == 0 and .result == \"denied\"" "root's refused access to the trail"
has ".op == \"status\" and .uid == $AGENT and .comm == \"bash\" and .detail == \"processing\" and .result == \"ok\"" "a status change"
has ".op == \"status\" and .detail == \"open\" and .result == \"denied\" and .errno == 1" "a refused status move"
has ".op == \"message\" and .path == \"tickets/$ID/messages/r1\" and .result == \"ok\"" "a message stored"
has ".op == \"unlink\" and .path == \"tickets/$ID/messages/r1\" and .result == \"ok\"" "a removal"
has ".op == \"setattr\" and .uid == 0 and .result == \"denied\"" "root's refused chmod"
has ".op == \"intake\" and .path == \"tickets/$ID/messages/$MSG\"" "intake of a message"
has ".op == \"intake\" and .path == \"tickets/$ID/authorizations/$AUTH\" and (.detail // \"\") == \"\"" "intake of an authorization and its revocation"
has "(.op == \"intake\") and (.path == \"tickets/$ID/authorizations/$AUTH\")" "revocation recorded"
has ".op == \"whitelist-reload\" and .result == \"ok\"" "a whitelist reload"
has ".op == \"policy-reload\" and .result == \"ok\"" "a policy reload"
has ".op == \"policy-reload\" and .result == \"error\"" "a refused policy"
has ".op == \"expire\" and .path == \"tickets/$ID/email\" and .uid == 0" "an expiry (email, 1 s after submission)"
check "no entry holds a sealed value" sh -c "! grep -rq '$CANARY' '$STORE/audit'"

# tail -f sees new entries.
setpriv --reuid=$AUDITOR --regid=$AUDITOR --clear-groups \
	tail -n 0 -f "$MNT/audit.log" > "$WORK/tail" 2>/dev/null &
TAILPID=$!
sleep 0.5
ag cat "$T/subject" >/dev/null
check "tail -f sees a new entry" wait_for grep -q "\"path\":\"tickets/$ID/subject\"" "$WORK/tail"
kill $TAILPID 2>/dev/null; wait $TAILPID 2>/dev/null

# Rotation: the trail spans segments and still verifies as one.
check "the trail was split into segments" test "$(ls "$STORE/audit" | grep -c '\.log$')" -ge 2
umount_fs; wait $DAEMON_PID
check "an untouched trail verifies" "$TICKETCTL" audit verify "$STORE"
check "unmount was recorded" sh -c "tail -n1 \$(ls '$STORE'/audit/*.log | tail -1) | grep -q '\"op\":\"unmount\"'"

# Tampering, each on a fresh copy of the store: verify names the entry.
tamper() {	# tamper DESCRIPTION WANT SCRIPT (run in the copy's audit dir)
	local what=$1 want=$2 script=$3 out rc
	rm -rf "$WORK/copy"; cp -a "$STORE" "$WORK/copy"
	(cd "$WORK/copy/audit" && eval "$script")
	out=$("$TICKETCTL" audit verify "$WORK/copy" 2>&1); rc=$?
	if [ $rc -eq 1 ] && [[ $out == *"$want"* ]]; then pass "$what: $out"; else
		fail "$what (exit $rc: $out)"; fi
}
tamper "an edited byte" "entry 3 " "sed -i '3s/\"uid\":[0-9]*/\"uid\":4/' 000001.log"
tamper "a deleted line" "entry 4 " "sed -i '4d' 000001.log"
tamper "an inserted line" "entry 4 " "sed -i '3p' 000001.log"
tamper "two swapped lines" "entry 2 " "awk 'NR==2 { l = \$0; next } NR==3 { print; print l; next } { print }' 000001.log > x && mv x 000001.log"
tamper "a cut tail" "entries were removed" "f=\$(ls *.log | tail -1); sed -i '\$d' \$f"
tamper "a removed segment" "segment is missing" "rm 000001.log"
tamper "a rewritten chain" "differs from the signed checkpoint" "python3 - <<'PY'
import hashlib, glob, re
prev = bytes(32)
for f in sorted(glob.glob('*.log')):
    out = []
    for i, line in enumerate(open(f).read().splitlines()):
        if f.endswith('000001.log') and i == 2:
            line = re.sub(r'\"uid\":[0-9]+', '\"uid\":4', line)
        body = line[:line.rindex(',\"hash\":\"')]
        h = hashlib.blake2b(prev + body.encode(), digest_size=32).digest()
        out.append(body + ',\"hash\":\"' + h.hex() + '\"}')
        prev = h
    open(f, 'w').write('\n'.join(out) + '\n')
PY"
tamper "a forged checkpoint" "not signed by the store's key" "python3 -c \"
import json; c = json.load(open('checkpoint')); s = c['sig']
c['sig'] = ('1' if s[0] != '1' else '2') + s[1:]; json.dump(c, open('checkpoint', 'w'))\""
check "verify with the secret key agrees" "$TICKETCTL" audit verify "$STORE" --key "$KEY"
# A trail cut behind the daemon's back: it refuses to mount (and sign over it).
cp -a "$STORE" "$WORK/cut"
f=$(ls "$WORK/cut/audit/"*.log | tail -1); sed -i '$d' "$f"
cp "$WORK/policy.orig" "$WORK/cut/policy"
out=$("$TICKETFS" "$WORK/cut" "$MNT" -o key="$KEY" 2>&1); rc=$?
if [ $rc -ne 0 ] && [[ $out == *"shorter than its signed checkpoint"* ]]; then
	pass "a daemon refuses a trail cut below its checkpoint"; else
	fail "a daemon refuses a trail cut below its checkpoint (exit $rc: $out)"; fi

cp "$WORK/policy.orig" "$STORE/policy"
trail_bytes() { cat "$STORE"/audit/*.log | wc -c; }

# A flood of refusals is folded: a few entries a second, every refusal
# counted.  root is unlisted and the kernel lets it through to the daemon.
COPY=$KEY.checkpoint	# the daemon's default checkpoint copy
check "the daemon keeps a checkpoint copy beside the key, mode 0600" \
	test "$(stat -c %a "$COPY")" = 600
mount_fg
before=$(trail_bytes)
N=4000
read -r FPID REFUSED < <(as 0 python3 - "$MNT/tickets/$(printf 'n%.0s' $(seq 200))" $N <<'PY'
import os, sys
p, n, refused = sys.argv[1], int(sys.argv[2]), 0
for _ in range(n):
    try:
        os.stat(p)
    except PermissionError:
        refused += 1
print(os.getpid(), refused)
PY
)
check "all $N stats were refused (Permission denied)" test "$REFUSED" = $N
accounted() { trail | jq -s "[.[] | select(.pid == $FPID and .result == \"denied\") | (.count // 1)] | add"; }
folded_all() { [ "$(accounted)" = $N ]; }
wait_for folded_all	# the last window's count: written once it is over
got=$(accounted)
if [ "$got" = $N ]; then pass "the entries and their counts add up to the $N refusals"; else
	fail "the entries and their counts add up to the $N refusals (got $got)"; fi
grown=$(( $(trail_bytes) - before ))
# Unfolded: ~250 bytes a refusal, ~1 MB.  Folded: 6 entries a second.
if [ $grown -lt 65536 ]; then pass "$N refusals grew the trail by $grown bytes (< 64 KiB)"; else
	fail "$N refusals grew the trail by $grown bytes (want < 64 KiB)"; fi
has ".pid == $FPID and .count > 1 and (.detail | startswith(\"folded: \"))" "a folded entry, with its count"
# Successful opens are never folded.
n0=$(trail | jq -s "[.[] | select(.op == \"open\" and .uid == $AGENT and .result == \"ok\")] | length")
for i in $(seq 20); do ag cat "$T/subject" >/dev/null; done
n1=$(trail | jq -s "[.[] | select(.op == \"open\" and .uid == $AGENT and .result == \"ok\")] | length")
check "20 reads in a second: 20 entries" test $((n1 - n0)) -eq 20
umount_fs; wait $DAEMON_PID
check "the folded trail verifies" "$TICKETCTL" audit verify "$STORE"
check "and against the checkpoint copy" "$TICKETCTL" audit verify "$STORE" --checkpoint "$COPY"

# The replay: an old checkpoint saved, work done, the trail cut back to it
# and the old checkpoint put back.  The copy outside the store catches it.
cp "$STORE/audit/checkpoint" "$WORK/checkpoint.old"
OLDSEQ=$(jq .seq "$WORK/checkpoint.old")
mount_fg
ag cat "$T/subject" >/dev/null
newer_checkpoint() { [ "$(jq .seq "$STORE/audit/checkpoint")" -gt "$OLDSEQ" ]; }
check "a newer checkpoint" wait_for newer_checkpoint
umount_fs; wait $DAEMON_PID
NEWSEQ=$(jq .seq "$COPY")
cp -a "$STORE/audit" "$WORK/audit.uncut"
python3 - "$STORE/audit" "$OLDSEQ" <<'PY'
import glob, json, os, sys
d, keep = sys.argv[1], int(sys.argv[2])
for f in sorted(glob.glob(d + '/*.log')):
    lines = [l for l in open(f).read().splitlines(True) if json.loads(l)['seq'] <= keep]
    open(f, 'w').write(''.join(lines))
PY
cp "$WORK/checkpoint.old" "$STORE/audit/checkpoint"
check "without the copy, the replayed trail verifies (the documented limit)" "$TICKETCTL" audit verify "$STORE"
replay() {	# replay DESCRIPTION ARGS...: verify exits 1 naming the copy
	local what=$1 out rc; shift
	out=$("$TICKETCTL" audit verify "$STORE" "$@" --checkpoint "$COPY" 2>&1); rc=$?
	if [ $rc -eq 1 ] && [[ $out == *"ends at entry $OLDSEQ but the checkpoint copy covers entry $NEWSEQ"* ]] &&
	   [[ $out == *"$COPY"* ]]; then pass "$what: $out"; else fail "$what (exit $rc: $out)"; fi
}
replay "verify --checkpoint fails on the replayed trail"
replay "and so with --key" --key "$KEY"
out=$("$TICKETFS" "$STORE" "$MNT" -o key="$KEY" 2>&1); rc=$?
if [ $rc -eq 1 ] && [[ $out == *"ends at entry $OLDSEQ"*"$COPY covers entry $NEWSEQ"* ]]; then
	pass "the daemon refuses to start on it: $out"; else
	fail "the daemon refuses to start on it (exit $rc: $out)"; fi
check "the refused start left the copy as it was" test "$(jq .seq "$COPY")" = "$NEWSEQ"
# The old checkpoint alone put back over the whole trail.
rm -rf "$STORE/audit"; cp -a "$WORK/audit.uncut" "$STORE/audit"
cp "$WORK/checkpoint.old" "$STORE/audit/checkpoint"
out=$("$TICKETCTL" audit verify "$STORE" --checkpoint "$COPY" 2>&1); rc=$?
if [ $rc -eq 1 ] && [[ $out == *"an old checkpoint was put back"* ]]; then
	pass "an old checkpoint over the whole trail: $out"; else
	fail "an old checkpoint over the whole trail (exit $rc: $out)"; fi
expect_fail_start() {
	local out rc
	out=$("$TICKETFS" "$STORE" "$MNT" -o key="$KEY" 2>&1); rc=$?
	[ $rc -eq 1 ] && [[ $out == *"$1"* ]]
}
check "and the daemon refuses it" expect_fail_start "an old checkpoint was put back"
rm -rf "$STORE/audit"; cp -a "$WORK/audit.uncut" "$STORE/audit"
check "the whole trail verifies against the copy" "$TICKETCTL" audit verify "$STORE" --checkpoint "$COPY"
check "a copy elsewhere: -o checkpoint_copy" mount_fs -o checkpoint_copy="$WORK/elsewhere.cp"
umount_fs
check "is created there, mode 0600" test "$(stat -c %a "$WORK/elsewhere.cp")" = 600

# Fail closed: a trail that cannot be written refuses sealed reads (EIO).
cp -a "$STORE/audit" "$WORK/audit.save"
mount -t tmpfs -o size=256k tmpfs "$STORE/audit" &&
	EXTRA_CLEANUP="umount -l '$STORE/audit' 2>/dev/null; $EXTRA_CLEANUP"
cp -a "$WORK/audit.save/." "$STORE/audit/"
mount_fg -o audit_segment=1024
check "reads work while the trail has room" ag cat "$T/subject"
# Nearly full (under 5 % of 256 KiB free): syslog says so, once, before it is.
avail=$(df -B1 --output=avail "$STORE/audit" | tail -1)
dd if=/dev/zero of="$STORE/audit/filler" bs=1k count=$(( (avail - 8192) / 1024 )) 2>/dev/null
check "the daemon warns that the trail's disk is nearly full" wait_for grep -q "audit trail's disk is nearly full" "$LOG"
sleep 2.2
check "once" test "$(grep -c "nearly full" "$LOG")" -eq 1
check "reads still work then" ag cat "$T/subject"
dd if=/dev/zero of="$STORE/audit/filler" bs=1k 2>/dev/null
# The current segment's last page may still take a few entries; a new
# segment cannot be written.  From the first refusal on, every read fails.
first=0
for i in $(seq 40); do
	if ! ag cat "$T/subject" >/dev/null 2>"$WORK/err"; then first=$i; break; fi
done
check "a sealed read fails when the trail cannot be written (after $first)" test $first -gt 0
check "with EIO" grep -q "Input/output error" "$WORK/err"
expect_err $AGENT "Input/output error" "and keeps failing while it cannot" cat "$T/subject"
check "the daemon says why" grep -q "cannot write the audit trail" "$LOG"
rm -f "$STORE/audit/filler"
check "reads work again once it can" ag cat "$T/subject"
umount_fs; wait $DAEMON_PID
check "the trail verifies after the outage" "$TICKETCTL" audit verify "$STORE"
finish
