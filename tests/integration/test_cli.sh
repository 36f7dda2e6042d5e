#!/bin/bash
# Command-line conventions of ticketfs and ticketctl (-h/--help, --version,
# unknown options exit 2 naming the program and the option, "not a ticketfs
# store"), and the store lock: one daemon a store, and `ticketctl wait`
# returns only once the daemon is done with it.
# Usage: test_cli.sh BUILD/bin.  Run as root.
set -u
BIN=$(cd "${1:?usage: $0 BUILD/bin}" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
TICKETFS=$BIN/ticketfs
TICKETCTL=$BIN/ticketctl
WORK=$(mktemp -d /tmp/ticketfs-cli.XXXXXX)
STORE=$WORK/store
KEY=$WORK/secret.key
MNT=$WORK/mnt
MNT2=$WORK/mnt2
PASSED=0
FAILED=0
DAEMON_PID=

cleanup() {
	for m in "$MNT" "$MNT2"; do
		grep -qs " $m fuse" /proc/self/mounts &&
			{ fusermount3 -u "$m" 2>/dev/null || umount -l "$m"; }
	done
	[ -n "$DAEMON_PID" ] && kill "$DAEMON_PID" 2>/dev/null
	[ -d "$STORE" ] && "$TICKETCTL" wait "$STORE" --timeout 10
	rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$MNT" "$MNT2" "$WORK/plain"

pass() { PASSED=$((PASSED + 1)); echo "ok - $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL - $*"; }
mounted() { grep -qs " $1 fuse" /proc/self/mounts; }

# run CMD...: sets RC, OUT (stdout), ERR (stderr).
run() {
	OUT=$("$@" 2>"$WORK/err")
	RC=$?
	ERR=$(cat "$WORK/err")
}

# expect RC WHERE TEXT DESCRIPTION CMD...: exit status RC and TEXT in
# WHERE (out or err); the other stream empty for --help / errors.
expect() {
	local rc=$1 where=$2 text=$3 what=$4; shift 4
	local got other
	run "$@"
	if [ "$where" = out ]; then got=$OUT other=$ERR; else got=$ERR other=$OUT; fi
	if [ "$RC" -eq "$rc" ] && [[ $got == *"$text"* ]] && [ -z "$other" ]; then
		pass "$what"
	else
		fail "$what: rc=$RC (want $rc) out=[$OUT] err=[$ERR]"
	fi
}

"$TICKETCTL" init "$STORE" "$KEY" >/dev/null || { fail "init"; exit 1; }

# --- help ---
for h in -h --help help; do
	expect 0 out "usage: ticketctl COMMAND" "ticketctl $h: usage on stdout, exit 0" \
		"$TICKETCTL" "$h"
done
for v in init submit message authorize revoke fsck audit wait; do
	expect 0 out "usage: ticketctl $v" "ticketctl $v -h: its usage, exit 0" \
		"$TICKETCTL" "$v" -h
	expect 0 out "usage: ticketctl $v" "ticketctl $v --help" \
		"$TICKETCTL" "$v" --help
done
for h in -h --help; do
	expect 0 out "usage: ticketfs STORE MOUNTPOINT" "ticketfs $h: usage on stdout, exit 0" \
		"$TICKETFS" "$h"
done

# --- version: the one from CMakeLists.txt ---
want=$(sed -n 's/^project(ticketfs VERSION \([0-9.]*\).*/\1/p' "$SRC/CMakeLists.txt")
expect 0 out "ticketctl $want" "ticketctl --version: ticketctl $want" "$TICKETCTL" --version
[ "$OUT" = "ticketctl $want" ] || fail "ticketctl --version prints [$OUT]"
expect 0 out "ticketfs $want" "ticketfs --version: ticketfs $want" "$TICKETFS" --version
[ "$OUT" = "ticketfs $want" ] || fail "ticketfs --version prints [$OUT]"
[ -n "$want" ] || fail "no VERSION in CMakeLists.txt's project()"

# --- unknown options and commands: exit 2, program and option named ---
expect 2 err "ticketctl: unknown option --bogus" "ticketctl --bogus" "$TICKETCTL" --bogus
expect 2 err 'ticketctl: unknown command "bogus"' "ticketctl bogus" "$TICKETCTL" bogus
before=$(ls "$STORE/intake" | wc -l)
run sh -c "echo '{\"username\":\"u\",\"subject\":\"s\"}' | '$TICKETCTL' submit --bogus '$STORE'"
if [ "$RC" -eq 2 ] && [[ $ERR == *"ticketctl submit: unknown option --bogus"* ]] &&
   [[ $ERR == *"usage: ticketctl submit [--batch] [--client-ip ADDR] STORE [FILE]"* ]] &&
   [ "$(ls "$STORE/intake" | wc -l)" -eq "$before" ]; then
	pass "submit --bogus STORE: exit 2, names the option, nothing submitted"
else
	fail "submit --bogus STORE: rc=$RC err=[$ERR]"
fi
expect 2 err "ticketctl submit: unknown option -x" "submit -x" "$TICKETCTL" submit -x "$STORE"
expect 2 err "ticketctl fsck: unknown option --bogus" "fsck --bogus" "$TICKETCTL" fsck "$STORE" --bogus
expect 2 err "ticketctl fsck: missing argument to --key" "fsck --key without a file" \
	"$TICKETCTL" fsck "$STORE" --key
expect 2 err "ticketctl audit: unknown option --bogus" "audit verify --bogus" \
	"$TICKETCTL" audit verify "$STORE" --bogus x
expect 2 err "ticketctl init: unknown option --bogus" "init --bogus" \
	"$TICKETCTL" init "$WORK/new" "$WORK/new.key" --bogus
[ ! -e "$WORK/new" ] && [ ! -e "$WORK/new.key" ] && pass "init --bogus made nothing" ||
	fail "init --bogus made files"
expect 2 err "ticketctl wait: unknown option --bogus" "wait --bogus" "$TICKETCTL" wait "$STORE" --bogus
expect 2 err 'bad --timeout "soon"' "wait --timeout soon" "$TICKETCTL" wait "$STORE" --timeout soon
expect 2 err "ticketfs: unknown option --bogus" "ticketfs --bogus" \
	"$TICKETFS" --bogus "$STORE" "$MNT" -o key="$KEY"
mounted "$MNT" && fail "ticketfs --bogus mounted"
run "$TICKETFS" "$STORE" "$MNT" -o key="$KEY",bogusopt
if [ "$RC" -eq 2 ] && [[ $ERR == *bogusopt* ]] && ! mounted "$MNT"; then
	pass "ticketfs -o bogusopt: exit 2, names it, no mount"
else
	fail "ticketfs -o bogusopt: rc=$RC err=[$ERR]"
fi
expect 2 err "ticketfs: no STORE" "ticketfs without arguments: exit 2" "$TICKETFS"
expect 2 err "usage: ticketctl COMMAND" "ticketctl without arguments: exit 2" "$TICKETCTL"

# --- usage lines name every option ---
run "$TICKETCTL" fsck
[ "$RC" -eq 2 ] && [[ $ERR == *"--key KEYFILE"* && $ERR == *"--passphrase-file"* ]] &&
	pass "fsck's usage line names --key and --passphrase-file" || fail "fsck usage: [$ERR]"
run "$TICKETCTL" audit
[ "$RC" -eq 2 ] && [[ $ERR == *"--verify-key"* && $ERR == *"--key KEYFILE"* &&
                      $ERR == *"--checkpoint"* && $ERR == *"--passphrase-file"* ]] &&
	pass "audit's usage names --verify-key, --key, --passphrase-file, --checkpoint" || fail "audit usage: [$ERR]"
run "$TICKETCTL" --help
ok=1
for o in "init STORE KEYFILE [--passphrase-file F]" "submit [--batch]" \
         "fsck STORE [--key KEYFILE [--passphrase-file F]]" "--verify-key FILE" \
         $'--key KEYFILE\n               [--passphrase-file F]]' \
         "--checkpoint FILE" "wait STORE [--timeout SECONDS]" "--version"; do
	[[ $OUT == *"$o"* ]] || { ok=0; fail "ticketctl --help lacks [$o]"; }
done
[ $ok = 1 ] && pass "ticketctl --help names every option"
run "$TICKETFS" --help
[[ $OUT == *"--version"* && $OUT == *"-o key="* && $OUT == *"-o passfile="* ]] &&
	pass "ticketfs --help names --version and its -o options" || fail "ticketfs --help: [$OUT]"

# --- a directory that is not a store ---
expect 2 err "ticketctl: $WORK/plain: not a ticketfs store" "fsck on a plain directory" \
	"$TICKETCTL" fsck "$WORK/plain"
expect 2 err "ticketctl: $WORK/plain: not a ticketfs store" "submit into a plain directory" \
	"$TICKETCTL" submit "$WORK/plain" /dev/null
expect 2 err "ticketctl: $WORK/plain: not a ticketfs store" "wait on a plain directory" \
	"$TICKETCTL" wait "$WORK/plain"
expect 2 err "cannot open store $WORK/none: No such file or directory" \
	"fsck on a missing path" "$TICKETCTL" fsck "$WORK/none"

# --- the store lock ---
expect 0 out "" "wait on a store never mounted returns 0 at once" \
	"$TICKETCTL" wait "$STORE" --timeout 0

# Enough tickets that the daemon's last write (the snapshot) takes a while.
python3 -c '
import json
for i in range(5000):
    print(json.dumps({"username": "u%d" % i, "subject": "ticket %d" % i,
                      "description": "x" * 200}))' >"$WORK/batch"
"$TICKETCTL" submit --batch "$STORE" "$WORK/batch" >/dev/null || fail "submit --batch"
"$TICKETFS" "$STORE" "$MNT" -o key="$KEY" -f 2>"$WORK/daemon.err" &
DAEMON_PID=$!
for _ in $(seq 600); do mounted "$MNT" && break; sleep 0.1; done
mounted "$MNT" || { fail "mount: $(cat "$WORK/daemon.err")"; exit 1; }
# Until the intake is taken in (the snapshot then holds every ticket).
for _ in $(seq 600); do
	[ -z "$(ls "$STORE/intake" | grep -v rejected)" ] && break; sleep 0.1
done

run "$TICKETFS" "$STORE" "$MNT2" -o key="$KEY"
if [ "$RC" -ne 0 ] && [[ $ERR == *"ticketfs: store $STORE is in use by another ticketfs"* ]] &&
   ! mounted "$MNT2"; then
	pass "a second daemon on the store is refused: in use by another ticketfs"
else
	fail "second daemon: rc=$RC err=[$ERR]"
fi

t0=$(date +%s%N)
run "$TICKETCTL" wait "$STORE" --timeout 0.5
ms=$((($(date +%s%N) - t0) / 1000000))
if [ "$RC" -eq 1 ] && [ "$ms" -ge 500 ] &&
   [[ $ERR == *"store $STORE is still in use by a ticketfs daemon"* ]]; then
	pass "wait --timeout 0.5 while mounted: exit 1 after ${ms} ms, says why"
else
	fail "wait while mounted: rc=$RC ${ms} ms err=[$ERR]"
fi

rm -f "$STORE/index.snap"
t0=$(date +%s%N)
fusermount3 -u "$MNT"
t1=$(date +%s%N)
run "$TICKETCTL" wait "$STORE" --timeout 60
t2=$(date +%s%N)
state=$(awk '/^State:/ {print $2}' "/proc/$DAEMON_PID/status" 2>/dev/null)
snap_ok=0
[ -s "$STORE/index.snap" ] && snap_ok=1
echo "# fusermount3 -u took $(((t1 - t0) / 1000000)) ms, then wait $(((t2 - t1) / 1000000)) ms"
if [ "$RC" -eq 0 ] && [ $snap_ok = 1 ] && { [ -z "$state" ] || [ "$state" = Z ]; }; then
	pass "fusermount3 -u && ticketctl wait: the daemon has exited, index.snap written"
else
	fail "after wait: rc=$RC daemon state=[$state] snapshot=$snap_ok err=[$ERR]"
fi
wait "$DAEMON_PID"
rc=$?
DAEMON_PID=
[ $rc -eq 0 ] && pass "the daemon exited 0" || fail "the daemon exited $rc: $(cat "$WORK/daemon.err")"

# A daemon killed outright releases the store too; the store mounts again.
"$TICKETFS" "$STORE" "$MNT" -o key="$KEY" -f 2>>"$WORK/daemon.err" &
DAEMON_PID=$!
for _ in $(seq 600); do mounted "$MNT" && break; sleep 0.1; done
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null
DAEMON_PID=
fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT"
expect 0 out "" "wait after the daemon was killed: exit 0" "$TICKETCTL" wait "$STORE" --timeout 5
run "$TICKETFS" "$STORE" "$MNT" -o key="$KEY"
[ "$RC" -eq 0 ] && mounted "$MNT" && pass "the store mounts again after a kill" ||
	fail "remount: rc=$RC err=[$ERR]"
fusermount3 -u "$MNT" && "$TICKETCTL" wait "$STORE" --timeout 60 ||
	fail "the last unmount and wait"

# Forward-secure seals on a new store: before its first epoch (15 min)
# ends, verify --seed passes and says none is made yet; a seed that is no
# seed is bad usage, and nothing else is printed.
rm -rf "$WORK/fss"; mkdir "$WORK/fss"
SEED=$("$TICKETCTL" init "$WORK/fss/store" "$WORK/fss/key" | grep -E '^[0-9a-f]{64}-[0-9]+-[0-9]+$')
"$TICKETFS" "$WORK/fss/store" "$MNT" -o key="$WORK/fss/key" && cat "$MNT/audit.log" >/dev/null
for _ in $(seq 60); do	# the first signed checkpoint, within a second
	[ -e "$WORK/fss/store/audit/checkpoint" ] && break; sleep 0.05
done
expect 0 out "forward-secure seals: none yet" "verify --seed on a new store, its first epoch not over: exit 0" \
	"$TICKETCTL" audit verify "$WORK/fss/store" --seed "$SEED"
fusermount3 -u "$MNT"; "$TICKETCTL" wait "$WORK/fss/store" --timeout 20
expect 0 out "forward-secure seals intact: entries up to" "after the unmount the first epoch is sealed" \
	"$TICKETCTL" audit verify "$WORK/fss/store" --seed "$SEED"
expect 2 err "--seed: not a verification seed" "verify --seed garbage: exit 2, nothing on stdout" \
	"$TICKETCTL" audit verify "$WORK/fss/store" --seed garbage

# audit verify --key takes a passphrase-wrapped key as fsck does, and
# without the passphrase (and no terminal) names its own option.
rm -rf "$WORK/pw"; mkdir "$WORK/pw"
printf 'correct horse\n' >"$WORK/pw/pass"; chmod 600 "$WORK/pw/pass"
"$TICKETCTL" init "$WORK/pw/store" "$WORK/pw/key" --passphrase-file "$WORK/pw/pass" >/dev/null
"$TICKETFS" "$WORK/pw/store" "$MNT" -o key="$WORK/pw/key",passfile="$WORK/pw/pass" &&
	cat "$MNT/audit.log" >/dev/null
fusermount3 -u "$MNT"; "$TICKETCTL" wait "$WORK/pw/store" --timeout 20
expect 0 out "intact" "audit verify --key KEY --passphrase-file F: a wrapped key verifies" \
	"$TICKETCTL" audit verify "$WORK/pw/store" --key "$WORK/pw/key" --passphrase-file "$WORK/pw/pass"
expect 2 err "needs a passphrase: give --passphrase-file F" \
	"audit verify of a wrapped key without its passphrase names --passphrase-file" \
	setsid -w "$TICKETCTL" audit verify "$WORK/pw/store" --key "$WORK/pw/key"
[[ $ERR != *"-o passfile"* ]] || fail "ticketctl named the daemon's -o passfile: [$ERR]"
expect 2 err "usage: ticketctl audit verify" "audit verify --passphrase-file without --key: exit 2" \
	"$TICKETCTL" audit verify "$WORK/pw/store" --passphrase-file "$WORK/pw/pass"

echo "# $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
