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
# entry JQ-FILTER: some entry matches (for polls; read from the store, as
# root, so that it works while nobody has a role).
entry() { cat "$STORE"/audit/*.log | jq -e -s "map(select($1)) | length > 0" >/dev/null; }
# last_seq: the newest entry's seq, from the store (as root).
last_seq() { tail -qn1 "$STORE"/audit/*.log | jq -s 'map(.seq) | max'; }
# stopped: unmounts; the daemon must exit 0 (lib.sh's umount_fs may
# check that itself: then it has reaped the daemon and cleared DAEMON_PID).
stopped() {
	local pid=${DAEMON_PID:-} rc
	umount_fs
	if [ -n "$pid" ] && [ "${DAEMON_PID:-}" = "$pid" ]; then
		wait "$pid"; rc=$?
		DAEMON_PID=
		if [ $rc -eq 0 ]; then pass "the daemon exited 0 at the unmount"; else
			fail "the daemon exited 0 at the unmount (status $rc)"; fi
	fi
}
# tmpfs_at DIR: DIR is a tmpfs mount point (so dd into it cannot fill /tmp).
tmpfs_at() { mountpoint -q "$1" && [ "$(stat -f -c %T "$1")" = tmpfs ]; }
cp "$STORE/whitelist" "$WORK/whitelist.orig"

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
as 0 setfattr -n user.x -v 1 "$T/subject" 2>/dev/null
# Changes no one may make (EPERM from the daemon), and an rm -r.
ag touch "$T/new" 2>/dev/null
ag mv "$T/subject" "$T/moved" 2>/dev/null
ag ln "$T/status" "$T/hard" 2>/dev/null	# status: the agent may write it
ag ln -s subject "$T/soft" 2>/dev/null
ag mkdir "$T/dir" 2>/dev/null
ag mkfifo "$T/fifo" 2>/dev/null
ag rm -r "$T/authorizations/a1"
MSG=$(echo "customer text $CANARY" | "$TICKETCTL" message "$STORE" "$ID")
AUTH=$(echo '{"account":"x","password":"y","expires":"2099-01-01T00:00:00Z"}' | "$TICKETCTL" authorize "$STORE" "$ID")
wait_for ag test -e "$T/authorizations/$AUTH"
wait_for ag cat "$T/messages/$MSG" >/dev/null
# The revocation's entry is the second intake entry of that path: the
# authorization's own is in the trail before the revoke is written.
wait_for entry ".op == \"intake\" and .path == \"tickets/$ID/authorizations/$AUTH\""
AUTHSEQ=$(trail | jq -s "map(select(.op == \"intake\" and .path == \"tickets/$ID/authorizations/$AUTH\")) | .[0].seq")
"$TICKETCTL" revoke "$STORE" "$ID" "$AUTH"
wait_for ag sh -c "! test -e '$T/authorizations/$AUTH'"
# A refused intake record.
echo "not a record" > "$STORE/intake/bad-record"
wait_for entry ".op == \"intake\" and .path == \"intake/bad-record\""

# Descriptors held across a whitelist change that drops their uid: the
# listing, read, write and close on them are refused, and recorded.
cat > "$WORK/hold.py" <<'PY'
import errno, os, sys, time
t, go = sys.argv[1], sys.argv[2]
d = os.open(os.path.dirname(t), os.O_RDONLY | os.O_DIRECTORY)
os.listdir(d)
r = os.open(t + "/email", os.O_RDONLY)
os.pread(r, 4096, 0)
w = os.open(t + "/status", os.O_WRONLY)
m = os.open(t + "/messages/held", os.O_WRONLY | os.O_CREAT)
os.write(m, b"written before the change\n")
print("ready", flush=True)
while not os.path.exists(go): time.sleep(0.02)
for name, f in (("readdir", lambda: os.listdir(d)), ("read", lambda: os.pread(r, 4096, 0)),
                ("write", lambda: os.write(w, b"processing\n")), ("flush", lambda: os.close(m))):
    try:
        f(); print(name, "ok", flush=True)
    except OSError as e:
        print(name, errno.errorcode[e.errno], flush=True)
PY
chmod 644 "$WORK/hold.py"
as $AGENT /usr/bin/python3 "$WORK/hold.py" "$T" "$WORK/go" > "$WORK/hold.out" 2>&1 &
HOLDPID=$!
check "the holder opened its descriptors" wait_for grep -qx ready "$WORK/hold.out"
printf '%s reader\n%s auditor\n' $READER $AUDITOR > "$STORE/whitelist"
check "the agent is dropped from the whitelist" wait_for sh -c "! setpriv --reuid=$AGENT --regid=$AGENT --clear-groups ls '$MNT/tickets' >/dev/null 2>&1"
# The reader's stat brings fresh attributes into the kernel's cache, so the
# held descriptors' readdir and read reach the daemon as such (not as a
# refused stat first).
as $READER stat "$MNT/tickets" "$T/email" >/dev/null
touch "$WORK/go"
wait $HOLDPID; rc=$?
check "the holder exited 0 ($(tr '\n' ' ' < "$WORK/hold.out"))" test $rc -eq 0
for op in readdir read write flush; do
	check "a held descriptor's $op is refused (EACCES)" grep -qx "$op EACCES" "$WORK/hold.out"
done
cp "$WORK/whitelist.orig" "$STORE/whitelist"
check "the agent is listed again" wait_for ag ls "$MNT/tickets"
# A whitelist that gives no role is refused (nobody has one until it loads).
echo "bogus" >> "$STORE/whitelist"
check "a refused whitelist is in the trail" wait_for entry '.op == "whitelist-reload" and .result == "error"'
WLERR=$(last_seq)
cp "$WORK/whitelist.orig" "$STORE/whitelist"
check "the good whitelist is reloaded after it" wait_for entry ".op == \"whitelist-reload\" and .result == \"ok\" and .seq > $WLERR"
echo "# touched" >> "$STORE/whitelist"
cp "$STORE/policy" "$WORK/policy.orig"
{ echo "email 1s"; grep -v '^email' "$WORK/policy.orig"; } > "$STORE/policy"
check "the 1 s email policy took effect" wait_for entry ".op == \"expire\" and .path == \"tickets/$ID/email\""
echo "bogus line" >> "$STORE/policy"
check "the bogus policy was met" wait_for entry '.op == "policy-reload" and .result == "error"'

check "every line of audit.log is JSON (jq)" sh -c "setpriv --reuid=$AUDITOR --regid=$AUDITOR --clear-groups cat '$MNT/audit.log' | jq -e . >/dev/null"
check "every entry has seq, time, uid, pid, comm, op, path, result" sh -c "setpriv --reuid=$AUDITOR --regid=$AUDITOR --clear-groups cat '$MNT/audit.log' | jq -e -s 'all(has(\"seq\") and has(\"time\") and has(\"uid\") and has(\"pid\") and has(\"comm\") and has(\"op\") and has(\"path\") and has(\"result\"))' >/dev/null"
check "times are RFC 3339 UTC with milliseconds" sh -c "setpriv --reuid=$AUDITOR --regid=$AUDITOR --clear-groups cat '$MNT/audit.log' | jq -e -s 'all(.time | test(\"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\\\.[0-9]{3}Z$\"))' >/dev/null"
check "seq runs 1, 2, 3, ... without gaps" sh -c "setpriv --reuid=$AUDITOR --regid=$AUDITOR --clear-groups cat '$MNT/audit.log' | jq -e -s '[.[].seq] == [range(1; length + 1)]' >/dev/null"
has ".op == \"intake\" and .path == \"tickets/$ID\" and .uid == 0" "intake of a ticket"
has ".op == \"mount\" and .uid == 0 and .comm == \"ticketfs\" and .result == \"ok\"" "mount"
has ".op == \"open\" and .path == \"tickets/$ID/email\" and .uid == $AGENT and .comm == \"cat\" and .result == \"ok\"" "an agent's open of a sealed field"
has ".op == \"open\" and .path == \"tickets/$ID/email\" and .uid == 0 and .result == \"denied\" and .errno == 13" "root's refused open, with its errno"
has ".uid == 0 and (.op == \"lookup\" or .op == \"stat\" or .op == \"opendir\") and .result == \"denied\" and .errno == 13 and .path == \"tickets\"" "root's refused listing"
check "a stranger is refused at the mount root by the kernel: no entry" sh -c "! setpriv --reuid=$AUDITOR --regid=$AUDITOR --clear-groups cat '$MNT/audit.log' | jq -e 'select(.uid == $STRANGER)' | grep -q ."
has ".path == \"audit.log\" and .uid == 0 and .result == \"denied\"" "root's refused access to the trail"
has ".op == \"status\" and .uid == $AGENT and .comm == \"bash\" and .detail == \"processing\" and .result == \"ok\"" "a status change"
has ".op == \"status\" and .detail == \"open\" and .result == \"denied\" and .errno == 1" "a refused status move"
has ".op == \"message\" and .path == \"tickets/$ID/messages/r1\" and .result == \"ok\"" "a message stored"
has ".op == \"unlink\" and .path == \"tickets/$ID/messages/r1\" and .result == \"ok\"" "a removal"
has ".op == \"setattr\" and .uid == 0 and .result == \"denied\"" "root's refused chmod"
has ".op == \"intake\" and .path == \"tickets/$ID/messages/$MSG\"" "intake of a message"
has ".op == \"intake\" and .path == \"tickets/$ID/authorizations/$AUTH\" and .uid == 0 and .result == \"ok\" and (.detail // \"\") == \"\"" "intake of an authorization"
check "the authorization's intake entry was found (seq $AUTHSEQ)" test "$AUTHSEQ" -gt 0
[[ $AUTHSEQ =~ ^[0-9]+$ ]] || AUTHSEQ=999999999	# never "> null" (true in jq)
has ".op == \"intake\" and .path == \"tickets/$ID/authorizations/$AUTH\" and .uid == 0 and .result == \"ok\" and .seq > $AUTHSEQ" "revocation recorded (its own entry, after the authorization's)"
has ".op == \"intake\" and .path == \"intake/bad-record\" and .uid == 0 and .result == \"error\" and .errno == 74" "a refused intake record, with its errno"
has ".op == \"open\" and .path == \"tickets/$ID/messages/$MSG\" and .uid == $AGENT and .result == \"ok\"" "an agent's open of a message"
has ".op == \"open\" and .path == \"audit.log\" and .uid == $AUDITOR and .result == \"ok\"" "an auditor's open of the trail"
has ".op == \"create\" and .path == \"tickets/$ID/new\" and .uid == $AGENT and .result == \"denied\" and .errno == 1" "a refused create"
has ".op == \"rename\" and .path == \"tickets/$ID/subject\" and .uid == $AGENT and .result == \"denied\" and .errno == 1" "a refused rename"
has ".op == \"link\" and .path == \"tickets/$ID/status\" and .uid == $AGENT and .result == \"denied\" and .errno == 1" "a refused link"
has ".op == \"symlink\" and .path == \"tickets/$ID/soft\" and .uid == $AGENT and .result == \"denied\" and .errno == 1" "a refused symlink"
has ".op == \"mkdir\" and .path == \"tickets/$ID/dir\" and .uid == $AGENT and .result == \"denied\" and .errno == 1" "a refused mkdir"
has ".op == \"mknod\" and .path == \"tickets/$ID/fifo\" and .uid == $AGENT and .result == \"denied\" and .errno == 1" "a refused mknod"
has ".op == \"setxattr\" and .path == \"tickets/$ID/subject\" and .uid == 0 and .comm == \"setfattr\" and .result == \"denied\"" "root's refused setxattr"
has ".op == \"unlink\" and .path == \"tickets/$ID/authorizations/a1/password\" and .uid == $AGENT and .comm == \"rm\" and .result == \"ok\"" "rm -r of an authorization: its files"
has ".op == \"rmdir\" and .path == \"tickets/$ID/authorizations/a1\" and .uid == $AGENT and .comm == \"rm\" and .result == \"ok\"" "and its directory (rmdir)"
has ".op == \"readdir\" and .path == \"tickets\" and .uid == $AGENT and .result == \"denied\" and .errno == 13" "a held directory's refused listing"
has ".op == \"read\" and .path == \"tickets/$ID/email\" and .uid == $AGENT and .result == \"denied\" and .errno == 13" "a held descriptor's refused read"
has ".op == \"write\" and .path == \"tickets/$ID/status\" and .uid == $AGENT and .result == \"denied\" and .errno == 13" "a held descriptor's refused write"
has ".op == \"flush\" and .path == \"tickets/$ID/messages/held\" and .uid == $AGENT and .result == \"denied\" and .errno == 13" "a held message's refused close (flush)"
has ".op == \"whitelist-reload\" and .uid == 0 and .result == \"ok\"" "a whitelist reload"
has ".op == \"whitelist-reload\" and .uid == 0 and .result == \"error\" and (.detail | contains(\"bogus\"))" "a refused whitelist, with the reason"
has ".op == \"policy-reload\" and .uid == 0 and .result == \"ok\"" "a policy reload"
has ".op == \"policy-reload\" and .uid == 0 and .result == \"error\" and (.detail | length > 0)" "a refused policy, with the reason"
has ".op == \"expire\" and .path == \"tickets/$ID/email\" and .uid == 0" "an expiry (email, 1 s after submission)"
check "no entry holds a sealed value" sh -c "! grep -rq '$CANARY' '$STORE/audit'"

# tail -f sees new entries.
setpriv --reuid=$AUDITOR --regid=$AUDITOR --clear-groups \
	tail -n 0 -f "$MNT/audit.log" > "$WORK/tail" 2>/dev/null &
TAILPID=$!
# tail has reached the trail's end (its offset there is past 0).
tail_ready() {
	local f
	for f in /proc/$TAILPID/fd/*; do
		[ "$(readlink "$f")" = "$MNT/audit.log" ] || continue
		awk '/^pos:/ { exit !($2 > 0) }' "/proc/$TAILPID/fdinfo/${f##*/}" && return 0
	done
	return 1
}
check "tail -f has read to the trail's end" wait_for tail_ready
ag cat "$T/subject" >/dev/null
check "tail -f sees a new entry" wait_for grep -q "\"path\":\"tickets/$ID/subject\"" "$WORK/tail"
kill $TAILPID 2>/dev/null; wait $TAILPID 2>/dev/null

# Rotation: the trail spans segments and still verifies as one.
check "the trail was split into segments" test "$(ls "$STORE/audit" | grep -c '\.log$')" -ge 2
stopped
check "an untouched trail verifies" "$TICKETCTL" audit verify "$STORE"
check "unmount was recorded, last" sh -c "tail -n1 \$(ls '$STORE'/audit/*.log | tail -1) | jq -e '.op == \"unmount\" and .uid == 0 and .result == \"ok\"'"

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
has ".pid == $FPID and .uid == 0 and .result == \"denied\" and .errno == 13 and .count > 1 and (.count as \$n | .detail | startswith(\"folded: \(\$n) refusals from \"))" "a folded entry, with its count"
# Successful opens are never folded.
n0=$(trail | jq -s "[.[] | select(.op == \"open\" and .uid == $AGENT and .result == \"ok\")] | length")
for i in $(seq 20); do ag cat "$T/subject" >/dev/null; done
n1=$(trail | jq -s "[.[] | select(.op == \"open\" and .uid == $AGENT and .result == \"ok\")] | length")
check "20 reads in a second: 20 entries" test $((n1 - n0)) -eq 20
stopped
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
stopped
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
# If the tmpfs is not there, dd below would fill the disk under /tmp: stop.
if ! mount -t tmpfs -o size=256k tmpfs "$STORE/audit"; then
	fail "a 256 KiB tmpfs mounts on the trail's directory (the full-disk checks cannot run)"
	finish
fi
EXTRA_CLEANUP="umount -l '$STORE/audit' 2>/dev/null; $EXTRA_CLEANUP"
if ! tmpfs_at "$STORE/audit"; then
	fail "the trail's directory is a tmpfs (the full-disk checks cannot run)"
	finish
fi
cp -a "$WORK/audit.save/." "$STORE/audit/"
mount_fg -o audit_segment=1024
check "reads work while the trail has room" ag cat "$T/subject"
# Nearly full (under 5 % of 256 KiB free): syslog says so, once, before it is.
avail=$(df -B1 --output=avail "$STORE/audit" | tail -1)
tmpfs_at "$STORE/audit" || { fail "the trail's directory is still a tmpfs"; finish; }
dd if=/dev/zero of="$STORE/audit/filler" bs=1k count=$(( (avail - 8192) / 1024 )) 2>/dev/null
check "the daemon warns that the trail's disk is nearly full" wait_for grep -q "audit trail's disk is nearly full" "$LOG"
# Two more ticks (each looks at the free space): a new entry each time,
# and the signed checkpoint reaching it shows the tick ran.
signed_to() { [ "$(jq .seq "$STORE/audit/checkpoint")" -ge "$1" ]; }
for i in 1 2; do
	ag cat "$T/subject" >/dev/null
	check "a tick signed the trail to its end ($i)" wait_for signed_to "$(last_seq)"
done
check "once" test "$(grep -c "nearly full" "$LOG")" -eq 1
check "reads still work then" ag cat "$T/subject"
tmpfs_at "$STORE/audit" || { fail "the trail's directory is still a tmpfs"; finish; }
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
stopped
check "the trail verifies after the outage" "$TICKETCTL" audit verify "$STORE"
finish
