# Revocation that revokes: descriptors held across a whitelist change, or
# passed to another uid, are decided by the list in force and the uid
# using them; a failed write stores nothing; unlisted uids learn nothing
# below the mount root; listxattr works; item numbers are not used up.
. "$(dirname "$0")/lib.sh"

new_store
ID=$(echo '{"username":"alice","subject":"s","email":"alice@example.com"}' |
	"$TICKETCTL" submit "$STORE")
mount_fg || { echo "mount failed"; exit 1; }
T=$MNT/tickets/$ID
ag() { as $AGENT "$@"; }
PY=/usr/bin/python3
GO=$WORK/go
HOLD=$WORK/hold.py

# The trail's entries (as root, from the store), one JSON object a line.
trail() { trail_lines; }
# denied_count OPS PATH-SUFFIX UID: refusals of an op in OPS (a regex)
# on a path ending so.
denied_count() {
	trail | jq -c --arg op "^($1)\$" --arg p "$2" --argjson u "$3" \
		'select((.op | test($op)) and .uid == $u and .result == "denied" and
		        (.path | endswith($p)))' | wc -l
}
# started FILE: waits (10 s at most) for a holder to say "ready" in FILE.
started() {
	local i
	for i in $(seq 100); do
		grep -qx ready "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# hold.py: opens every kind of handle, says "ready", waits for $GO, then
# uses each and prints what it got: "NAME ok" or "NAME EACCES" etc.
cat > "$HOLD" <<'PY'
import errno, os, sys, time
mnt, tid, go, kinds = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(",")
t = f"{mnt}/tickets/{tid}"
fds = {}
def opn(name, path, flags):
    fds[name] = os.open(path, flags)
for k in kinds:
    if k == "dir": opn(k, f"{mnt}/tickets", os.O_RDONLY | os.O_DIRECTORY)
    if k == "email": opn(k, f"{t}/email", os.O_RDONLY)
    if k == "created": opn(k, f"{t}/created", os.O_RDONLY)
    if k == "status": opn(k, f"{t}/status", os.O_RDONLY)
    if k == "status-w": opn(k, f"{t}/status", os.O_WRONLY)
    if k == "audit": opn(k, f"{mnt}/audit.log", os.O_RDONLY)
    if k == "msg-late": opn(k, f"{t}/messages/late", os.O_WRONLY | os.O_CREAT)
    if k == "msg-early":
        opn(k, f"{t}/messages/early", os.O_WRONLY | os.O_CREAT)
        os.write(fds[k], b"written before the revocation\n")
# Read what can be read once, so the kernel caches it.
for k in ("email", "created", "status", "audit"):
    if k in fds: os.pread(fds[k], 4096, 0)
if "dir" in fds: os.listdir(fds["dir"])
print("ready", flush=True)
while not os.path.exists(go): time.sleep(0.02)
def res(name, f):
    try:
        f()
        print(name, "ok", flush=True)
    except OSError as e:
        print(name, errno.errorcode[e.errno], flush=True)
for k in kinds:
    fd = fds[k]
    if k == "dir": res(k, lambda: os.listdir(fd))
    if k in ("email", "created", "status", "audit"): res(k, lambda: os.pread(fd, 4096, 0))
    if k == "status-w": res(k, lambda: os.write(fd, b"processing\n"))
    if k == "msg-late":
        res(k + "-write", lambda: os.write(fd, b"after\n"))
        res(k + "-close", lambda: os.close(fd))
    if k == "msg-early": res(k + "-close", lambda: os.close(fd))
PY
chmod 644 "$HOLD"

# wait_revoked UID: polls (1.2 s at most, the promise is a second) until
# UID is refused a new listing.
wait_revoked() {
	local i
	for i in $(seq 12); do
		as "$1" ls "$MNT/tickets" >/dev/null 2>&1 || return 0
		sleep 0.1
	done
	return 1
}

# --- 1. descriptors held across the revocation ---
rm -f "$GO"
as $AGENT $PY "$HOLD" "$MNT" "$ID" "$GO" dir,email,created,status,status-w,msg-early,msg-late >"$WORK/agh.out" 2>&1 &
AGH=$!
as $AUDITOR $PY "$HOLD" "$MNT" "$ID" "$GO" audit >"$WORK/auh.out" 2>&1 &
AUH=$!
check "the agent's holder opened every kind of handle" started "$WORK/agh.out"
check "the auditor's holder opened audit.log" started "$WORK/auh.out"
printf '%s reader\n' $READER > "$WHITELIST"	# agent and auditor out
check "the revocation takes effect within a second" wait_revoked $AGENT
check "for the auditor too" wait_revoked $AUDITOR
ID2=$(echo '{"username":"carol","subject":"after the revocation"}' | "$TICKETCTL" submit "$STORE")
wait_for as $READER test -d "$MNT/tickets/$ID2"
# A listed reader reads the same sealed file meanwhile: what it reads must
# not become readable through the revoked agent's descriptor.
expect_out $READER "alice@example.com" "a listed reader still reads email" cat "$T/email"
touch "$GO"
wait $AGH; rc_agh=$?; wait $AUH; rc_auh=$?
check "the holders ran to their end (exit 0, exit 0)" test "$rc_agh $rc_auh" = "0 0"
out=$(cat "$WORK/agh.out")
aout=$(cat "$WORK/auh.out")
echo "# agent's holder: $(echo $out)"; echo "# auditor's holder: $(echo $aout)"
for k in dir email created status status-w msg-late-write msg-late-close msg-early-close; do
	check "a held $k handle is refused (EACCES) after the revocation" \
		grep -qx "$k EACCES" <<<"$out"
done
check "a held audit.log handle reads no more entries" grep -qx "audit EACCES" <<<"$aout"
expect_out $READER "open" "the held status writer changed nothing" cat "$T/status"
check "neither held message was stored" test -z "$(as $READER ls "$T/messages")"
check "the refused listing is in the trail" test "$(denied_count readdir tickets $AGENT)" -ge 1
check "the refused read of email is in the trail" test "$(denied_count 'read|stat' "$ID/email" $AGENT)" -ge 1
check "the refused status write is in the trail" test "$(denied_count write "$ID/status" $AGENT)" -ge 1
check "the refused close of a message is in the trail" test "$(denied_count flush messages/early $AGENT)" -ge 1
check "the refused trail read is in the trail" test "$(denied_count read audit.log $AUDITOR)" -ge 1

# --- 2. descriptors passed (SCM_RIGHTS) to an unlisted uid ---
cat > "$WHITELIST" <<WL
$AGENT   agent
$READER  reader
$AUDITOR auditor
WL
wait_for as $AGENT ls "$MNT/tickets" >/dev/null
PASS=$WORK/pass.py
cat > "$PASS" <<'PY'
import errno, os, socket, sys, time
mode, sock = sys.argv[1], sys.argv[2]
def res(name, f):
    try:
        f()
        print(name, "ok", flush=True)
    except OSError as e:
        print(name, errno.errorcode[e.errno], flush=True)
if mode == "send":
    t = sys.argv[3]
    names = ["status", "email", "status-w", "dir"]
    fds = [os.open(f"{t}/status", os.O_RDONLY), os.open(f"{t}/email", os.O_RDONLY),
           os.open(f"{t}/status", os.O_WRONLY),
           os.open(os.path.dirname(t), os.O_RDONLY | os.O_DIRECTORY)]
    os.pread(fds[1], 4096, 0)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    for i in range(100):
        try:
            s.connect(sock); break
        except OSError: time.sleep(0.05)
    socket.send_fds(s, [",".join(names).encode()], fds)
    s.recv(1)
else:
    go = sys.argv[3]
    l = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    l.bind(sock); os.chmod(sock, 0o777); l.listen(1)
    c, _ = l.accept()
    msg, fds, _, _ = socket.recv_fds(c, 1024, 8)
    names = msg.decode().split(",")
    got = dict(zip(names, fds))
    res("passed-status", lambda: os.pread(got["status"], 100, 0))
    res("passed-status-w", lambda: os.write(got["status-w"], b"processing\n"))
    res("passed-status-w-close", lambda: os.close(got["status-w"]))
    res("passed-email-now", lambda: os.pread(got["email"], 100, 0))
    print("half", flush=True)
    while not os.path.exists(go): time.sleep(0.02)
    res("passed-email", lambda: os.pread(got["email"], 100, 0))
    res("passed-dir", lambda: os.listdir(got["dir"]))
    c.send(b"x")
PY
chmod 644 "$PASS"
rm -f "$GO.p"
mkdir -m 1777 "$WORK/s"
SOCK=$WORK/s/fdsock
as $STRANGER $PY "$PASS" recv "$SOCK" "$GO.p" >"$WORK/rcv.out" 2>&1 &
RCV=$!
as $AGENT $PY "$PASS" send "$SOCK" "$T" &
SENDER=$!
for i in $(seq 100); do grep -qx half "$WORK/rcv.out" && break; sleep 0.1; done
half=$(cat "$WORK/rcv.out")
check "a passed status descriptor reads nothing for the unlisted uid" grep -qx "passed-status EACCES" <<<"$half"
check "a passed status writer writes nothing for the unlisted uid" grep -qx "passed-status-w EACCES" <<<"$half"
check "a passed sealed descriptor reads nothing for the unlisted uid, though the agent read it" grep -qx "passed-email-now EACCES" <<<"$half"
# What the kernel serves from its caches (a listing) goes at the next
# whitelist change: then every listing reaches the daemon.
loads() { grep -c "whitelist .* loaded" "$LOG"; }
n_loads=$(loads)
touch "$WHITELIST"
reloaded() { [ "$(loads)" -gt "$n_loads" ]; }
check "the touched whitelist reloads within a second" wait_within 1.2 reloaded
touch "$GO.p"
wait $RCV; rc_rcv=$?; wait $SENDER; rc_snd=$?
check "the receiver and the sender ran to their end (exit 0, exit 0)" test "$rc_rcv $rc_snd" = "0 0"
rest=$(cat "$WORK/rcv.out")
check "a passed sealed descriptor reads nothing after a whitelist change" grep -qx "passed-email EACCES" <<<"$rest"
check "a passed directory lists nothing after a whitelist change" grep -qx "passed-dir EACCES" <<<"$rest"
expect_out $AGENT "open" "the passed writer changed nothing" cat "$T/status"
check "the unlisted uid's refusals are in the trail" test "$(denied_count read "$ID/status" $STRANGER)" -ge 1

# --- 3. a failed write stores nothing ---
head -c 1048577 /dev/zero | tr '\0' 'a' > "$WORK/big"
chmod 644 "$WORK/big"
expect_err $AGENT "File too large" "cp of a 1 MiB + 1 byte file fails with EFBIG" cp "$WORK/big" "$T/messages/big"
check "and no truncated message is stored" ag sh -c "! test -e '$T/messages/big'"
head -c 1048575 /dev/zero | tr '\0' 'b' > "$WORK/max"
chmod 644 "$WORK/max"
check "a message of 1 MiB (with its newline) is stored" ag cp "$WORK/max" "$T/messages/big"
check "whole" test "$(ag stat -c %s "$T/messages/big")" -eq 1048576
check "the refused message is in the trail, not stored" \
	test "$(trail | jq -c 'select(.op == "message" and .detail == "not stored")' | wc -l)" -ge 1

# --- 4. unlisted uids learn nothing below the mount root ---
ag ls -lR "$MNT" >/dev/null
as $AUDITOR cat "$MNT/audit.log" >/dev/null
expect_err $STRANGER "Permission denied" "an unlisted uid cannot read the trail's ACL" getfattr -n system.posix_acl_access "$MNT/audit.log"
expect_err $STRANGER "Permission denied" "nor tickets/' ACL after the agent walked it" getfattr -n system.posix_acl_access "$MNT/tickets"
expect_err $STRANGER "Permission denied" "nor the trail's size" stat "$MNT/audit.log"
expect_err $STRANGER "Permission denied" "nor list the root" ls "$MNT"
check "but may stat the mount root itself" as $STRANGER stat "$MNT"
expect_err 0 "Permission denied" "root (unlisted) cannot stat the trail" stat "$MNT/audit.log"
check "a listed uid reads an ACL" sh -c "setpriv --reuid=$READER --regid=$READER --clear-groups getfattr -n system.posix_acl_access '$MNT/tickets' | grep -q posix_acl"

# --- 5. listxattr ---
check "listxattr on the mount root succeeds (agent)" ag getfattr -d -m - "$MNT"
check "listxattr on the mount root succeeds (root)" $PY -c "import os,sys; os.listxattr(sys.argv[1])" "$MNT"
check "listxattr below the root names the ACL" sh -c "setpriv --reuid=$AGENT --regid=$AGENT --clear-groups $PY -c 'import os,sys; print(os.listxattr(sys.argv[1]))' '$T/email' | grep -q posix_acl_access"

# --- 6. item numbers: what was never stored is not used up ---
ag sh -c "echo one > '$T/messages/m1'"
i1=$(ag stat -c %i "$T/messages/m1")
for n in $(seq 40); do ag touch "$T/messages/t$n" 2>/dev/null; done
ag sh -c "echo two > '$T/messages/m2'"
i2=$(ag stat -c %i "$T/messages/m2")
# The kernel sends a RELEASE after close(2) returns: the last touch's
# number may still be out when m2 is created (it is kept spare then).
check "40 touches used no item number ($i1 -> $i2)" test $((i2 - i1)) -le 32

# --- 8. a whitelist larger than the kernel's ACL page fails closed ---
wl_n() {	# wl_n N: the agent and N - 1 more readers
	{ echo "$AGENT agent"; seq 70001 $((70000 + $1 - 1)) | sed 's/$/ reader/'; } > "$WHITELIST.new"
	mv "$WHITELIST.new" "$WHITELIST"
}
lists_ok() { as $AGENT ls "$MNT/tickets" >/dev/null 2>&1; }
refused_now() { ! lists_ok; }
wl_n 507
check "507 listed uids: the agent lists tickets" wait_for lists_ok
wl_n 508
check "508 listed uids: refused, nobody has a role" wait_for refused_now
check "and the daemon says why" wait_for grep -q "508 uids listed; at most 507" "$LOG"
cat > "$WHITELIST.new" <<WL
$AGENT   agent
$READER  reader
$AUDITOR auditor
WL
mv "$WHITELIST.new" "$WHITELIST"
check "a whitelist that fits applies again" wait_for lists_ok

# --- 9. a policy caught half-written removes nothing it should not ---
# (A shared store's policy is a row that `ticketctl policy` sets whole:
# it cannot be caught half-written.)
if [ "$TS_BACKEND" != pg ]; then
	ID3=$(echo '{"username":"dora","subject":"kept 30 days once processed"}' | "$TICKETCTL" submit "$STORE")
	wait_for as $AGENT test -d "$MNT/tickets/$ID3"
	as $AGENT sh -c "echo processed > '$MNT/tickets/$ID3/status'"
	cp "$STORE/policy" "$WORK/policy.orig"
	( grep -v '^ticket' "$WORK/policy.orig"; printf 'ticket processed'; sleep 1.5; printf '+30d\n' ) > "$STORE/policy" &
	WRITER=$!
	check "a policy whose last line has no newline yet is refused" wait_for grep -q "the last line has no newline" "$LOG"
	check "so the processed ticket is still there" as $AGENT test -d "$MNT/tickets/$ID3"
	wait $WRITER
	check "and in the store" in_store "$ID3"
	check "once the line is whole the policy loads" wait_for sh -c "tail -n 3 '$LOG' | grep -q 'policy .* loaded'"
	check "and the ticket stays (processed+30d)" as $AGENT test -d "$MNT/tickets/$ID3"
fi

# --- 7. an agent's failing loop cannot fill the trail either ---
before=$(trail | wc -c)
as $AGENT $PY -c "
import os, sys
for i in range(3000):
    try: os.rmdir(sys.argv[1])
    except OSError: pass
" "$T"
rmdirs() { trail | jq -s --argjson u $AGENT '[.[] | select(.op == "rmdir" and .uid == $u and .result != "ok") | (.count // 1)] | add'; }
# The fold writes its count once its one-second window is over.
all_counted() { test "$(rmdirs)" = 3000; }
check "every one of 3,000 failed rmdirs is counted in the trail" wait_for all_counted
after=$(trail | wc -c)
check "and they grow it by under 64 KiB ($((after - before)) bytes)" test $((after - before)) -lt 65536

[ "$FAILED" -eq 0 ] || trail | jq -c 'select(.result == "denied") | [.op, .uid, .path]' | tail -30
umount_fs
finish
