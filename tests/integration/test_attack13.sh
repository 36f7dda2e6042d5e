# Issue 13 under attack: what someone who can write the store's audit/
# and intake/ (no secret key) can make the daemon and ticketctl do with
# audit retention, and ticketctl's hidden options.
. "$(dirname "$0")/lib.sh"

new_store
cat > "$STORE/whitelist" <<WL
$AGENT   agent
$AUDITOR auditor
WL
ID=$(echo '{"username":"u","subject":"s","email":"e@x"}' | "$TICKETCTL" submit "$STORE")
T=$MNT/tickets/$ID
ag() { as $AGENT "$@"; }
segs() { ls "$STORE/audit" | grep -c '\.log$'; }
first_seg() { ls "$STORE/audit" | grep '\.log$' | head -1; }
anchor_seq() { jq .seq "$STORE/audit/anchor" 2>/dev/null || echo 0; }
now() { date -u +%Y-%m-%dT%H:%M:%SZ; }

# -- hand-made intake records from a front end -----------------------------
# craft KIND LETTER ID ITEMS-PYTHON: drops a record of kind KIND (items a
# python expression over tlv()), prints its name.
craft() {
	python3 - "$STORE/intake" "$1" "$2" "$3" "$4" <<'PY'
import ctypes, os, struct, sys, time
xx = ctypes.CDLL("libxxhash.so.0"); xx.XXH3_64bits.restype = ctypes.c_uint64
d, kind, letter, rid, items = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
def tlv(tag, v): return struct.pack("<HI", tag, len(v)) + v
body = tlv(1, rid.encode()) + eval(items)
rec = b"TKFR" + struct.pack("<BBHI", 1, kind, 0, len(body)) + body
rec += struct.pack("<Q", xx.XXH3_64bits(rec, len(rec)))
name = time.strftime("%Y%m%d-%H%M%S-", time.gmtime()) + os.urandom(3).hex() + "-" + letter + "-" + rid
open(os.path.join(d, ".t"), "wb").write(rec)
os.rename(os.path.join(d, ".t"), os.path.join(d, name))
print(name)
PY
}
refused() {	# refused DESCRIPTION NAME DETAIL-REGEX
	local what=$1 name=$2 re=$3
	if wait_within 3 test -e "$STORE/intake/rejected/$name" &&
	   wait_for sh -c "cat '$STORE'/audit/*.log | jq -e -s 'map(select(.path == \"intake/$name\" and .result != \"ok\" and (.detail // \"\" | test(\"$re\")))) | length == 1' >/dev/null"; then
		pass "$what: refused, moved to intake/rejected, audited"; else
		fail "$what (rejected: $(ls "$STORE/intake/rejected" | grep -c -- "$name"))"; fi
}
RID=$(date -u +%Y%m%d-%H%M%S)-000001-beef
mount_fg || { echo "mount failed"; exit 1; }
refused "an erase naming username and subject" \
	"$(craft 6 e "$ID" 'tlv(11, struct.pack("<I", 1 << 2 | 1 << 0))')" "may not erase"
refused "an erase naming no field there is" "$(craft 6 e "$ID" 'tlv(11, struct.pack("<I", 1 << 31))')" ""
refused "a record of a kind there is not" "$(craft 9 x "$ID" 'b""')" ""
refused "a forget whose username box opens for nobody" \
	"$(craft 5 f "$RID" 'tlv(16 + 2, os.urandom(80))')" ""
refused "a forget also carrying an erase mask" \
	"$(craft 5 f "$RID" 'tlv(16 + 2, os.urandom(80)) + tlv(11, struct.pack("<I", 8))')" ""
refused "a client_ip meant to break the trail's JSON" \
	"$(craft 6 e "$ID" 'tlv(10, b"1.2.3.4\",\"op\":\"x") + tlv(11, struct.pack("<I", 8))')" ""
refused "a prune with a forged MAC" \
	"$(craft 7 p "$RID" 'tlv(12, struct.pack("<q", 4102444800000)) + tlv(48, os.urandom(32))')" "MAC"
refused "a prune before 0" "$(craft 7 p "$RID" 'tlv(12, struct.pack("<q", 0))')" ""
keeps() { ag cat "$T/username" | grep -qx u && ag cat "$T/email" | grep -q e@x; }
check "the ticket keeps its username and email" keeps
check "nothing was pruned" test ! -e "$STORE/audit/anchor"
check "every trail line parses" sh -c "cat '$STORE'/audit/*.log | jq -e -s 'length > 0' >/dev/null"
umount_fs

# -- a segment's last time edited: no early prune under a signed anchor ---
mount_fg -o audit_segment=2048 || { echo "mount failed"; exit 1; }
for i in $(seq 30); do ag cat "$T/email" >/dev/null; done
umount_fs
check "the trail has several segments" test "$(segs)" -ge 3
first=$(first_seg)
# Whoever can write audit/ backdates the first segment's last entry,
# keeping its hash (what the next entry chains from).
python3 - "$STORE/audit/$first" <<'PY'
import re, sys
f = sys.argv[1]; L = open(f).read().splitlines()
L[-1] = re.sub(r'"time":"[^"]*"', '"time":"2000-01-01T00:00:00.000Z"', L[-1])
open(f, 'w').write('\n'.join(L) + '\n')
PY
out=$("$TICKETCTL" audit prune "$STORE" --before 2001-01-01T00:00:00Z --key "$KEY" 2>&1); rc=$?
if [ $rc -eq 1 ] && [[ $out == *"do not chain"* ]] && [ -e "$STORE/audit/$first" ] &&
   [ ! -e "$STORE/audit/anchor" ]; then
	pass "a backdated segment is not pruned: $out"; else
	fail "a backdated segment (exit $rc, $first $([ -e "$STORE/audit/$first" ] && echo kept || echo PRUNED): $out)"; fi
out=$("$TICKETCTL" audit verify "$STORE" 2>&1); rc=$?
check "and verify still names the edit (exit $rc: $out)" test $rc -eq 1
# The daemon's policy ticker leaves it alone too, and says why, once.
sed -i 's/^audit .*/audit 1s/' "$STORE/policy"
mount_fg -o audit_segment=2048 || { echo "mount failed"; exit 1; }
sleep 2.5
check "the policy does not prune the backdated segment" test -e "$STORE/audit/$first"
n=$(grep -c 'do not chain' "$LOG")
check "the daemon logs it once ($n)" test "$n" -eq 1
umount_fs

# -- a prune request replayed later prunes no more than it did ------------
rm -rf "$STORE" "$KEY"*
new_store
cat > "$STORE/whitelist" <<WL
$AGENT   agent
$AUDITOR auditor
WL
ID=$(echo '{"username":"u","subject":"s","email":"e@x"}' | "$TICKETCTL" submit "$STORE")
T=$MNT/tickets/$ID
mount_fg -o audit_segment=2048 || { echo "mount failed"; exit 1; }
for i in $(seq 30); do ag cat "$T/email" >/dev/null; done
umount_fs
sleep 1.1
# A running daemon (its lock held) makes ticketctl ask through intake; a
# front end that can read intake/ keeps a copy of the request.
exec 9<"$STORE/lock"; flock -x 9
"$TICKETCTL" audit prune "$STORE" --before 2099-01-01T00:00:00Z --key "$KEY" --timeout 0 >/dev/null 2>&1
REQ=$(ls "$STORE/intake" | grep -- '-p-' | head -1)
check "the prune request waits in intake ($REQ)" test -n "$REQ"
cp -a "$STORE/intake/$REQ" "$WORK/req.copy"
flock -u 9; exec 9<&-
mount_fg -o audit_segment=2048 || { echo "mount failed"; exit 1; }
check "the daemon takes the request in" wait_within 3 sh -c "[ ! -e '$STORE/intake/$REQ' ]"
A1=$(anchor_seq)
check "it pruned (anchor at $A1)" test "$A1" -gt 0
sleep 1.1
for i in $(seq 30); do ag cat "$T/email" >/dev/null; done
check "new segments since ($(segs))" test "$(segs)" -ge 3
# The first entry written after the request was made (its id's time).
S_NEW=$(cat "$STORE"/audit/*.log | python3 -c '
import json, sys, calendar, time
rid = sys.argv[1].split("-p-")[1]
t0 = calendar.timegm(time.strptime(rid[:15], "%Y%m%d-%H%M%S")) * 1000 + int(rid[16:22]) // 1000
for l in sys.stdin:
    e = json.loads(l)
    t = e["time"]
    ms = calendar.timegm(time.strptime(t[:19], "%Y-%m-%dT%H:%M:%S")) * 1000 + int(t[20:23])
    if ms >= t0:
        print(e["seq"]); break' "$REQ")
check "entries were written after the request was made (from seq $S_NEW)" test -n "$S_NEW"
cp -a "$WORK/req.copy" "$STORE/intake/.t" && mv "$STORE/intake/.t" "$STORE/intake/$REQ"
check "the replayed request is taken in" wait_within 3 sh -c "[ ! -e '$STORE/intake/$REQ' ]"
sleep 0.3
A2=$(anchor_seq)
if [ "$A2" -lt "${S_NEW:-0}" ]; then
	pass "the replay pruned nothing written after the request was made (anchor $A1 -> $A2)"; else
	fail "the replay pruned entries newer than the request (anchor $A1 -> $A2, the first newer is $S_NEW)"; fi
# Two readers of audit.log across a prune: one open (and read) before,
# one opened while the first is held; both then see the same bytes
# (blanks where the pruned part was, the rest where it was), every line
# blank or JSON; closed, the file is what remains.
for i in $(seq 30); do ag cat "$T/email" >/dev/null; done
sleep 1.1
RD=$WORK/readers; mkdir -p "$RD"; chmod 777 "$RD"
setpriv --reuid=$AUDITOR --regid=$AUDITOR --clear-groups /usr/bin/python3 - "$MNT/audit.log" "$RD" <<'PY' &
import json, os, sys, time
log, w = sys.argv[1], sys.argv[2]
a = open(log, "rb"); first = a.read(); open(w + "/opened", "w").close()
while not os.path.exists(w + "/go"): time.sleep(0.05)
b = open(log, "rb")
ra = first + a.read(); a.seek(0); whole_a = a.read(); rb = b.read()
# What a was past stays where it was; before it, the pruned part is blank.
ok = whole_a == rb and ra[len(first):] == whole_a[len(first):] and len(rb) >= len(first)
lines = rb.split(b"\n")[:-1]
for l in lines:
    if l.strip():
        json.loads(l)
blank = lines[0].strip() == b""
out = open(w + "/views", "w")
out.write("%d %d %d %d\n" % (ok, blank, len(first), len(rb)))
PY
READERS=$!
wait_for test -e "$RD/opened"
"$TICKETCTL" audit prune "$STORE" --before "$(now)" --key "$KEY" >/dev/null 2>&1
touch "$RD/go"
wait $READERS
same=0 blank=0 n0=1 n1=0
read -r same blank n0 n1 < "$RD/views"
check "two readers across a prune read the same bytes, all lines parse (${same:-?})" test "${same:-0}" = 1
check "and the pruned part reads as blanks ($n0 -> $n1 bytes)" test "${blank:-0}" = 1 -a "${n1:-0}" -ge "${n0:-1}"
A3=$(anchor_seq)
view_first() { as $AUDITOR head -n1 "$MNT/audit.log" | jq -e ".seq == $1"; }
check "closed, audit.log starts after the anchor (seq $((A3 + 1)))" wait_for view_first $((A3 + 1))
umount_fs
check "the trail verifies" "$TICKETCTL" audit verify "$STORE" --checkpoint "$KEY.checkpoint"

# -- a sealing state put back from a backup, or another trail's ----------
rm -f "$KEY.fss"; "$TICKETCTL" audit seal "$KEY" --epoch 1 >/dev/null
cp -a "$KEY.fss" "$WORK/fss.old"
mount_fg || { echo "mount failed"; exit 1; }
sleep 2.3
umount_fs
check "epochs were sealed" jq -e '.n > 0' "$KEY.fss"
cp -a "$KEY.fss" "$WORK/fss.now"
cp -a "$WORK/fss.old" "$KEY.fss"
out=$("$TICKETFS" "$STORE" "$MNT" -o key="$KEY" 2>&1); rc=$?
mountpoint -q "$MNT" && umount_fs
if [ $rc -eq 1 ] && [[ $out == *"rolled back"* ]]; then
	pass "the daemon refuses a sealing state rolled back: $out"; else
	fail "a rolled-back sealing state (exit $rc: $out)"; fi
cp -a "$WORK/fss.now" "$KEY.fss"
rm -f "$STORE"/audit/seals-*
out=$("$TICKETFS" "$STORE" "$MNT" -o key="$KEY" 2>&1); rc=$?
mountpoint -q "$MNT" && umount_fs
if [ $rc -eq 1 ] && [[ $out == *"another trail"* ]]; then
	pass "and one whose seals are not in this trail: $out"; else
	fail "a sealing state without its seals (exit $rc: $out)"; fi

# A loose or linked state is refused like a loose key.
refuses_fss() {	# refuses_fss DESCRIPTION WANT
	local out rc
	out=$("$TICKETFS" "$STORE" "$MNT" -o key="$KEY" 2>&1); rc=$?
	mountpoint -q "$MNT" && umount_fs
	if [ $rc -eq 1 ] && [[ $out == *"$2"* ]]; then pass "$1: $out"; else
		fail "$1 (exit $rc: $out)"; fi
}
cp -a "$WORK/fss.now" "$KEY.fss"; chmod 644 "$KEY.fss"
refuses_fss "the daemon refuses a sealing state others may read" "must be mode 0600"
mv "$KEY.fss" "$WORK/fss.elsewhere"; chmod 600 "$WORK/fss.elsewhere"
ln -s "$WORK/fss.elsewhere" "$KEY.fss"
refuses_fss "and one that is a symbolic link" "symbolic links"

# -- hidden test options are checked like any other -----------------------
# usage_err TEXT DESCRIPTION COMMAND...: exit 2, TEXT on stderr, no stdout.
usage_err() {
	local text=$1 what=$2 out err rc; shift 2
	out=$("$@" 2>"$WORK/err"); rc=$?; err=$(cat "$WORK/err")
	if [ $rc -eq 2 ] && [ -z "$out" ] && [[ $err == *"$text"* ]]; then
		pass "$what: $err"; else fail "$what (exit $rc, out '$out', err '$err')"; fi
}
for bad in abc 0 -1 99999999999; do
	rm -rf "$WORK/k2" "$WORK/k2.fss" "$WORK/s2" "$WORK/k3"*; cp -a "$KEY" "$WORK/k2"
	usage_err "--epoch" "audit seal --epoch $bad is bad usage" \
		"$TICKETCTL" audit seal "$WORK/k2" --epoch $bad
	check "and writes no state" test ! -e "$WORK/k2.fss"
	usage_err "--fss-epoch" "init --fss-epoch $bad is bad usage" \
		"$TICKETCTL" init "$WORK/s2" "$WORK/k3" --fss-epoch $bad
	check "and makes no store" test ! -e "$WORK/s2" -a ! -e "$WORK/k3"
done

finish
