#!/bin/bash
# tools/demo.sh as a new user runs it, as root without sudo: it must
# whitelist a non-root user, and every command it prints must do what it
# says when pasted.  Run twice at once (the second while mounted).
# Usage: test_demo.sh BUILD/bin.  Run as root.
set -u
BIN=$(cd "${1:?usage: $0 BUILD/bin}" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d /tmp/ticketfs-demo-it.XXXXXX)
chmod 755 "$WORK"	# the demo's user must reach DIR
DIR=$WORK/demo
DEMO_USER=ticketfs-demo
PASSED=0
FAILED=0
made_user=0
id -u "$DEMO_USER" >/dev/null 2>&1 || made_user=1

cleanup() {
	if grep -qs " $DIR/mnt fuse" /proc/self/mounts; then
		fusermount3 -u "$DIR/mnt" 2>/dev/null || umount -l "$DIR/mnt"
	fi
	[ -d "$DIR/store" ] && "$BIN/ticketctl" wait "$DIR/store" --timeout 10
	rm -rf "$WORK"
	# Only the user this test's run of the demo made.
	if [ "$made_user" = 1 ] && id -u "$DEMO_USER" >/dev/null 2>&1; then
		userdel "$DEMO_USER"
	fi
}
trap cleanup EXIT

pass() { PASSED=$((PASSED + 1)); echo "ok - $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL - $*"; }

# demo OUTFILE [ENV...]: runs the demo as root without sudo's variables.
demo() {
	local out=$1; shift
	env -u SUDO_USER -u SUDO_UID "$@" TICKETFS_BIN="$BIN" \
		sh "$SRC/tools/demo.sh" "$DIR" >"$out" 2>&1
}

# A DIR its user cannot reach is refused, not mounted in vain.
chmod 700 "$WORK"
demo "$WORK/out0"
rc=$?
if [ $rc -eq 2 ] && grep -q "cannot reach $DIR/mnt" "$WORK/out0" &&
   ! grep -qs " $DIR/mnt fuse" /proc/self/mounts; then
	pass "demo in a DIR its user cannot reach: exit 2, says so"
else
	fail "unreachable DIR: rc=$rc: $(cat "$WORK/out0")"
fi
chmod 755 "$WORK"

# The demo refuses a non-root caller, saying why.
out=$(setpriv --reuid=61004 --regid=61004 --clear-groups \
      env TICKETFS_BIN="$BIN" sh "$SRC/tools/demo.sh" "$WORK/x" 2>&1)
rc=$?
if [ $rc -eq 2 ] && [[ $out == *"run as root"* ]]; then
	pass "demo as a non-root user: exit 2, 'run as root'"
else
	fail "demo as non-root: rc=$rc: $out"
fi

demo "$WORK/out1"
rc=$?
if [ $rc -eq 0 ]; then pass "demo runs as root without sudo"; else
	fail "demo exit $rc: $(cat "$WORK/out1")"; exit 1; fi
uid=$(id -u "$DEMO_USER" 2>/dev/null)
if [ -n "$uid" ] && [ "$uid" != 0 ] &&
   grep -q "^$uid agent" "$DIR/store/whitelist" &&
   ! grep -q '^0 \|^root ' "$DIR/store/whitelist"; then
	pass "whitelists $DEMO_USER (uid $uid), not root"
else
	fail "whitelist: $(grep -v '^#' "$DIR/store/whitelist")"
fi
if grep -q "$DEMO_USER\|sudo" "$DIR/store/whitelist" "$WORK/out1"; then
	# The name may appear in the printed advice, never as sudo's.
	if grep -q sudo "$WORK/out1"; then fail "the demo's advice uses sudo";
	else pass "no sudo in the advice"; fi
else
	pass "no sudo in the advice"
fi

# check_cmd LINE: runs one printed command and checks what it promised.
NEWID=
check_cmd() {
	local line=$1 out rc k
	out=$(sh -c "$line" 2>&1 </dev/null)
	rc=$?
	case $line in
	*"VPN down"*"subject'")
		[ $rc -eq 0 ] && [ -n "$NEWID" ] && [[ $out == *"$NEWID/subject" ]] &&
			pass "the new ticket shows up within a second" ||
			fail "new ticket: rc=$rc: $out (id $NEWID)" ;;
	*"ls -l "*)
		k=$(printf "%s\n" "$out" | grep -c "^d")
		[ $rc -eq 0 ] && [ "$k" -eq 3 ] &&
			pass "printed ls -l lists 3 tickets" ||
			fail "ls -l: rc=$rc: $out" ;;
	*"/subject'")
		[ $rc -eq 0 ] && [[ $out == *"Invoice charged twice"* ]] &&
			pass "printed cat subject shows the subjects" ||
			fail "cat subject: rc=$rc: $out" ;;
	*"grep -r reboot"*)
		[ $rc -eq 0 ] && [[ $out == *"after reboot"* ]] &&
			pass "printed grep -r finds reboot" ||
			fail "grep -r reboot: rc=$rc: $out" ;;
	*"/messages/*'")
		[ $rc -eq 0 ] && [[ $out == "Hello, any news"* ]] &&
			pass "printed cat messages shows the message" ||
			fail "cat messages: rc=$rc: $out" ;;
	*"/password'")
		[ $rc -eq 0 ] && [[ $out == *"Tr0ub4dor&3"* ]] &&
			pass "printed cat password (setpriv) shows the passwords" ||
			fail "cat password: rc=$rc: $out" ;;
	*"grep -r alice"*"finds nothing"*)
		[ $rc -eq 1 ] && [ -z "$out" ] &&
			pass "printed grep -r alice STORE finds nothing" ||
			fail "grep -r alice STORE: rc=$rc: $out" ;;
	*"/email"*"# Permission denied")
		[ $rc -ne 0 ] && [[ $out == *"Permission denied"* ]] &&
			pass "printed cat email as root: Permission denied" ||
			fail "cat email as root: rc=$rc: $out" ;;
	*"ticketctl submit"*)
		NEWID=$out
		[ $rc -eq 0 ] && [[ $out =~ ^[0-9]{8}-[0-9]{6}-[0-9]{6}-[0-9a-f]{4}$ ]] &&
			pass "printed submit prints an id" ||
			fail "submit: rc=$rc: $out" ;;
	*) fail "a printed command the test does not know: $line" ;;
	esac
}

# Every indented line is a command (the two COMMAND templates aside).
n=0
while IFS= read -r line; do
	case $line in "  "*COMMAND*|"  fusermount3 -u"*) continue ;; "  "*) ;; *) continue ;; esac
	check_cmd "$line"
	n=$((n + 1))
done <"$WORK/out1"
[ "$n" -eq 9 ] && pass "9 printed commands checked" || fail "$n printed commands, 9 expected"

# The templates work as printed.
tpl=$(grep "setpriv.*'COMMAND'" "$WORK/out1" | sed "s|'COMMAND'|'id -u'|")
[ "$(sh -c "$tpl")" = "$uid" ] && pass "the setpriv template acts as uid $uid" ||
	fail "setpriv template: $tpl"
tpl=$(grep "su -s.*'COMMAND'" "$WORK/out1" | sed "s|'COMMAND'|'id -u'|")
[ "$(sh -c "$tpl")" = "$uid" ] && pass "the su template acts as uid $uid" ||
	fail "su template: $tpl"

# Again at once, while mounted; SUDO_USER=root is not taken as the user.
demo "$WORK/out2" SUDO_USER=root
rc=$?
if [ $rc -eq 0 ] && grep -qs " $DIR/mnt fuse" /proc/self/mounts &&
   grep -q "^$uid agent" "$DIR/store/whitelist"; then
	pass "demo runs again at once while mounted (SUDO_USER=root ignored)"
else
	fail "second demo: rc=$rc: $(cat "$WORK/out2")"
fi

# The printed unmount: no sudo, and the daemon is done when it returns.
line=$(grep '^  fusermount3 -u' "$WORK/out2")
out=$(sh -c "$line" 2>&1)
rc=$?
if [ $rc -eq 0 ] && ! grep -qs " $DIR/mnt fuse" /proc/self/mounts &&
   [ -s "$DIR/store/index.snap" ] && flock -n "$DIR/store/lock" true; then
	pass "printed unmount: unmounted, snapshot written, store released"
else
	fail "unmount: rc=$rc: $out"
fi
if rm -r "$DIR" 2>&1; then pass "the demo dir is removable at once"; else
	fail "rm -r the demo dir"; fi

echo "# $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
