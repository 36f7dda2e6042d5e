# Audit retention and forward-secure sealing: the policy's `audit AGE`
# prunes whole segments at their deadline, `ticketctl audit prune` on
# demand (directly, and through a running daemon), never without the
# secret key; verify checks what remains from the signed anchor; tail -f
# keeps following across a prune; with the seed, verify finds a rewrite of
# a sealed epoch even when re-signed with every key the host holds.
. "$(dirname "$0")/lib.sh"

EPOCH=2
out=$("$TICKETCTL" init "$STORE" "$KEY" --fss-epoch $EPOCH)
SEED=$(printf '%s\n' "$out" | grep -E '^[0-9a-f]{64}-[0-9]+-[0-9]+$')
check "init prints the verification seed once, saying to keep it elsewhere" \
	sh -c "[ -n '$SEED' ] && printf '%s' '$out' | grep -q 'keep it elsewhere'"
check "the sealing state is beside the key, mode 0600" test "$(stat -c %a "$KEY.fss")" = 600
check "the sealing state does not hold the seed" sh -c "! grep -q '${SEED%%-*}' '$KEY.fss'"
cat > "$STORE/whitelist" <<WL
$AGENT   agent
$AUDITOR auditor
WL
sed -i 's/^audit .*/audit 3s/' "$STORE/policy"
ID=$(echo '{"username":"u","subject":"s","email":"e@x"}' | "$TICKETCTL" submit "$STORE")
T=$MNT/tickets/$ID
ag() { as $AGENT "$@"; }
segs() { ls "$STORE/audit" | grep -c '\.log$'; }
first_seg() { ls "$STORE/audit" | grep '\.log$' | head -1; }
anchor_seq() { jq .seq "$STORE/audit/anchor" 2>/dev/null || echo 0; }
entries() { cat "$STORE"/audit/*.log | jq -e -s "map(select($1)) | length > 0" >/dev/null; }

# -- retention by policy, with tail -f following the mount ---------------
mount_fg -o audit_segment=2048 || { echo "mount failed"; exit 1; }
# setpriv execs tail: $! is tail itself.
setpriv --reuid=$AUDITOR --regid=$AUDITOR --clear-groups \
	tail -n +1 -f "$MNT/audit.log" > "$WORK/tail" 2>"$WORK/tail.err" &
TAILPID=$!
for i in $(seq 40); do ag cat "$T/email" >/dev/null; done
check "the trail is split into several segments" test "$(segs)" -ge 3
first=$(first_seg)
check "the policy's audit age prunes the old segments (within 5 s)" \
	wait_within 6 sh -c "[ ! -e '$STORE/audit/$first' ] && [ -e '$STORE/audit/anchor' ]"
check "the prune is an entry of its own, by the policy" \
	wait_for entries '.op == "prune" and .path == "policy" and .uid == 0 and (.detail | test("entries in [0-9]+ segments? pruned before seq"))'
check "the current segment is never pruned" test "$(segs)" -ge 1
ag cat "$T/subject" >/dev/null
check "tail -f sees an entry written after the prune" \
	wait_within 5 grep -q "\"path\":\"tickets/$ID/subject\"" "$WORK/tail"
sleep 1.2
dups=$(grep -o '"seq":[0-9]*' "$WORK/tail" | sort | uniq -d | head -3)
check "tail -f saw no entry twice across the prune (${dups:-none})" test -z "$dups"
check "tail -f did not report a truncated file" sh -c "! grep -q truncated '$WORK/tail.err'"
n_tail=$(grep -c '"seq"' "$WORK/tail"); last=$(grep -o '"seq":[0-9]*' "$WORK/tail" | tail -1 | cut -d: -f2)
check "tail -f lost no entry ($n_tail lines, up to seq $last)" test "$n_tail" -eq "$last"
kill $TAILPID 2>/dev/null; wait $TAILPID 2>/dev/null
A=$(anchor_seq)
view_first() { as $AUDITOR head -n1 "$MNT/audit.log" | jq -e ".seq == $1"; }
check "audit.log shows what remains: it starts at seq $((A + 1))" view_first $((A + 1))
view_parses() { as $AUDITOR cat "$MNT/audit.log" | jq -e -s 'length > 0'; }
check "every line of audit.log parses" view_parses
umount_fs

out=$("$TICKETCTL" audit verify "$STORE" --checkpoint "$KEY.checkpoint" 2>&1); rc=$?
A=$(anchor_seq)
if [ $rc -eq 0 ] && [[ $out == *"$A entries pruned before seq $((A + 1))"* ]]; then
	pass "verify checks what remains and says what was pruned: $out"; else
	fail "verify after a prune (exit $rc: $out)"; fi

# -- ticketctl audit prune, no daemon -------------------------------------
sed -i 's/^audit .*/audit 365d/' "$STORE/policy"
mount_fg -o audit_segment=2048 || { echo "mount failed"; exit 1; }
for i in $(seq 30); do ag cat "$T/email" >/dev/null; done
umount_fs
expect_err 0 "usage" "prune without the secret key is refused" \
	"$TICKETCTL" audit prune "$STORE" --before 2099-01-01T00:00:00Z
expect_err 0 "not an RFC 3339 date" "prune wants an RFC 3339 date" \
	"$TICKETCTL" audit prune "$STORE" --before yesterday --key "$KEY"
sleep 1
before=$(segs)
out=$("$TICKETCTL" audit prune "$STORE" --before "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --key "$KEY" 2>&1); rc=$?
A=$(anchor_seq)
if [ $rc -eq 0 ] && [[ $out == *"entries pruned before seq $((A + 1))"* ]] && [ "$(segs)" -eq 1 ] &&
   [ "$before" -ge 3 ] && [[ $out != "pruned: 0 "* ]]; then
	pass "prune with no daemon: all but the current segment go ($out)"; else
	fail "prune with no daemon (exit $rc, $before -> $(segs) segments: $out)"; fi
check "the offline prune is an entry, by ticketctl" entries '.op == "prune" and .comm == "ticketctl"'
out=$("$TICKETCTL" audit verify "$STORE" --checkpoint "$KEY.checkpoint" 2>&1); rc=$?
if [ $rc -eq 0 ] && [[ $out == *"$A entries pruned before seq $((A + 1))"* ]]; then
	pass "verify after the offline prune: $out"; else fail "verify after the offline prune (exit $rc: $out)"; fi

# -- through a running daemon ---------------------------------------------
mount_fg -o audit_segment=2048 || { echo "mount failed"; exit 1; }
check "the daemon starts on a pruned trail with its checkpoint copy" mountpoint -q "$MNT"
for i in $(seq 30); do ag cat "$T/email" >/dev/null; done
sleep 1.1
A0=$(anchor_seq)
out=$("$TICKETCTL" audit prune "$STORE" --before "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --key "$KEY" 2>&1); rc=$?
A=$(anchor_seq)
if [ $rc -eq 0 ] && [[ $out == *"pruned by the daemon: $A entries pruned before seq $((A + 1))"* ]] && [ "$A" -gt "$A0" ]; then
	pass "prune through the daemon: $out"; else fail "prune through the daemon (exit $rc, anchor $A0 -> $A: $out)"; fi
check "the daemon's prune entry names the request" entries '.op == "prune" and (.path | startswith("intake/"))'

# A front end (public key and intake only) cannot prune: a PRUNE record
# without the secret key's MAC is refused, moved to rejected, audited.
FRONT=$(python3 - "$STORE/intake" <<'PY'
import ctypes, os, struct, sys, time
xx = ctypes.CDLL("libxxhash.so.0"); xx.XXH3_64bits.restype = ctypes.c_uint64
rid = time.strftime("%Y%m%d-%H%M%S-", time.gmtime()) + "f00d"
def tlv(tag, v): return struct.pack("<HI", tag, len(v)) + v
body = tlv(1, rid.encode()) + tlv(12, struct.pack("<q", int(time.time() * 1000)))
rec = b"TKFR" + struct.pack("<BBHI", 1, 7, 0, len(body)) + body
rec += struct.pack("<Q", xx.XXH3_64bits(rec, len(rec)))
name = time.strftime("%Y%m%d-%H%M%S-", time.gmtime()) + "0001-p-" + rid
open(os.path.join(sys.argv[1], ".t"), "wb").write(rec)
os.rename(os.path.join(sys.argv[1], ".t"), os.path.join(sys.argv[1], name))
print(name)
PY
)
check "an unauthenticated prune request is moved to intake/rejected" \
	wait_within 3 test -e "$STORE/intake/rejected/$FRONT"
check "and audited as refused" \
	wait_for entries ".path == \"intake/$FRONT\" and .result != \"ok\" and (.detail | test(\"MAC\"))"
check "and prunes nothing" test "$(anchor_seq)" = "$A"
ls "$STORE/intake/rejected" > /dev/null
umount_fs
check "an untouched pruned trail verifies" "$TICKETCTL" audit verify "$STORE" --checkpoint "$KEY.checkpoint"

# -- what verify refuses ---------------------------------------------------
tamper() {	# tamper DESCRIPTION WANT SCRIPT (run in the copy's audit dir)
	local what=$1 want=$2 script=$3 out rc
	rm -rf "$WORK/copy"; cp -a "$STORE" "$WORK/copy"
	(cd "$WORK/copy/audit" && eval "$script")
	out=$("$TICKETCTL" audit verify "$WORK/copy" 2>&1); rc=$?
	if [ $rc -eq 1 ] && [[ $out == *"$want"* ]]; then pass "$what: $out"; else
		fail "$what (exit $rc: $out)"; fi
}
tamper "a forged anchor" "anchor is damaged or not signed" "python3 -c \"
import json; c = json.load(open('anchor')); c['seq'] -= 1; json.dump(c, open('anchor', 'w'))\""
tamper "pruned segments without an anchor" "are gone and no signed anchor covers them" "rm anchor"
tamper "a gap the anchor does not cover" "are missing: the signed anchor covers" \
	"rm \$(ls *.log | head -1)"

# -- forward-secure sealing ------------------------------------------------
out=$("$TICKETCTL" audit verify "$STORE" --seed "$SEED" 2>&1); rc=$?
if [ $rc -eq 0 ] && [[ $out == *"forward-secure seals intact"* ]]; then
	pass "verify with the seed: $out"; else fail "verify with the seed (exit $rc: $out)"; fi
expect_err 0 "not a verification seed" "a bad seed is bad input" \
	"$TICKETCTL" audit verify "$STORE" --seed 1234
check "the sealing state moved on from epoch 0" sh -c "jq -e '.n > 1' '$KEY.fss'"
# The attacker holds the secret key and the state file as they are now,
# rewrites an entry of an early (sealed) epoch, recomputes the chain and
# lets the daemon sign it all anew.
attack() {	# attack DESCRIPTION SEALS-SCRIPT
	local what=$1 script=$2 out rc victim
	rm -rf "$WORK/evil" "$WORK/evil.key"*; cp -a "$STORE" "$WORK/evil"
	cp -a "$KEY" "$WORK/evil.key"; cp -a "$KEY.fss" "$WORK/evil.key.fss"
	victim=$(cd "$WORK/evil/audit" && python3 - <<'PY'
import hashlib, glob, json, re
segs = sorted(glob.glob('*.log'))
lines = [l for f in segs for l in open(f).read().splitlines()]
an = json.load(open('anchor'))
prev = bytes.fromhex(an['hash'])
victim = None
out = {f: [] for f in segs}
for f in segs:
    for line in open(f).read().splitlines():
        e = json.loads(line)
        if victim is None and e.get('uid') == 61001:
            line = re.sub(r'"uid":61001', '"uid":4', line); victim = e['seq']
        body = line[:line.rindex(',"hash":"')]
        h = hashlib.blake2b(prev + body.encode(), digest_size=32).digest()
        out[f].append(body + ',"hash":"' + h.hex() + '"}')
        prev = h
for f in segs:
    open(f, 'w').write('\n'.join(out[f]) + '\n')
print(victim)
PY
)
	(cd "$WORK/evil/audit" && rm -f checkpoint && eval "$script")
	"$TICKETFS" "$WORK/evil" "$MNT" -o key="$WORK/evil.key" -f 2>>"$LOG" &
	local pid=$!
	wait_for mountpoint -q "$MNT"; fusermount3 -u "$MNT"; wait $pid
	out=$("$TICKETCTL" audit verify "$WORK/evil" 2>&1); rc=$?
	if [ $rc -eq 0 ]; then pass "$what: without the seed the re-signed trail verifies"; else
		fail "$what: without the seed (exit $rc: $out)"; fi
	out=$("$TICKETCTL" audit verify "$WORK/evil" --seed "$SEED" 2>&1); rc=$?
	local a b
	a=$(printf '%s' "$out" | sed -n 's/.*entries \([0-9]*\) to \([0-9]*\) .*/\1/p' | tail -1)
	b=$(printf '%s' "$out" | sed -n 's/.*entries \([0-9]*\) to \([0-9]*\) .*/\2/p' | tail -1)
	if [ $rc -eq 1 ] && [[ $out == *BAD* ]] && { [ -z "$4" ] || { [ -n "$a" ] && [ "$a" -le "$victim" ] && [ "$victim" -le "$b" ]; }; } &&
	   [[ $out == *"$3"* ]]; then
		pass "$what: with the seed it fails (entry $victim rewritten): $(printf '%s' "$out" | grep BAD)"; else
		fail "$what: with the seed (exit $rc, entry $victim: $out)"; fi
}
attack "a rewritten sealed epoch" ":" "differ from their forward-secure seal" names
attack "a rewritten epoch, its seals removed" \
	"python3 -c \"
import glob, json; f = glob.glob('seals-*')[0]; L = open(f).read().splitlines()
open(f, 'w').write(L[0] + '\n')
s = json.load(open('../../evil.key.fss')); s['n'] = json.loads(L[0])['next']
open('../../evil.key.fss', 'w').write(json.dumps(s))\"" "forged" ""

# A key of before: no state, the daemon runs as before and says so;
# audit seal starts sealing.
rm -f "$KEY.fss"
mount_fg || { echo "mount failed"; exit 1; }
check "without a sealing state the daemon mounts and logs it" grep -q "no forward-secure sealing state" "$LOG"
umount_fs
out=$("$TICKETCTL" audit seal "$KEY"); rc=$?
SEED2=$(printf '%s\n' "$out" | grep -E '^[0-9a-f]{64}-[0-9]+-[0-9]+$')
check "audit seal starts sealing and prints a seed" test $rc -eq 0 -a -n "$SEED2" -a -e "$KEY.fss"
expect_err 0 "exists" "audit seal twice is refused" "$TICKETCTL" audit seal "$KEY"
mount_fg || { echo "mount failed"; exit 1; }
ag cat "$T/email" >/dev/null
umount_fs
out=$("$TICKETCTL" audit verify "$STORE" --seed "$SEED2" 2>&1); rc=$?
if [ $rc -eq 0 ] && [[ $out == *"forward-secure seals intact"* ]]; then
	pass "a store sealed late verifies with its seed: $out"; else fail "sealed late (exit $rc: $out)"; fi
check "a sealing started anew keeps seals of its own" test "$(ls "$STORE"/audit/seals-* | wc -l)" -eq 2

finish
