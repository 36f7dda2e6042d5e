# Shared helpers for the integration tests: each test sources this with the
# build's bin/ directory as $1.  Tests mount a real ticketfs in a temporary
# directory and act as several uids through setpriv.  Run as root.
set -u

BIN=$(cd "${1:?usage: $0 BUILD/bin}" && pwd)
TICKETFS=$BIN/ticketfs
TICKETCTL=$BIN/ticketctl
WORK=$(mktemp -d /tmp/ticketfs-it.XXXXXX)
STORE=$WORK/store
KEY=$WORK/secret.key
MNT=$WORK/mnt
AGENT=61001
READER=61002
AUDITOR=61003
STRANGER=61004
PASSED=0
FAILED=0

EXTRA_CLEANUP=:
cleanup() {
	eval "$EXTRA_CLEANUP"
	if mountpoint -q "$MNT" 2>/dev/null; then
		fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null
	fi
	[ -n "${DAEMON_PID:-}" ] && kill "$DAEMON_PID" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$MNT"
chmod 755 "$WORK"

pass() { PASSED=$((PASSED + 1)); echo "ok - $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL - $*"; }

# check DESCRIPTION COMMAND...: passes if the command succeeds.
check() {
	local what=$1; shift
	if "$@" >/dev/null; then pass "$what"; else fail "$what"; fi
}

# as UID COMMAND...: runs a command as uid (and gid) UID, no groups.
as() {
	local u=$1; shift
	setpriv --reuid="$u" --regid="$u" --clear-groups "$@"
}

# errno_of UID COMMAND...: prints the error text the command wrote to stderr.
err_of() {
	local u=$1; shift
	as "$u" "$@" 2>&1 >/dev/null
}

# expect_err UID TEXT DESCRIPTION COMMAND...: the command fails saying TEXT.
expect_err() {
	local u=$1 text=$2 what=$3; shift 3
	local out
	if out=$(as "$u" "$@" 2>&1); then
		fail "$what (succeeded: $out)"
	elif [[ $out == *"$text"* ]]; then
		pass "$what"
	else
		fail "$what (said: $out)"
	fi
}

# expect_out UID EXPECTED DESCRIPTION COMMAND...: stdout equals EXPECTED.
expect_out() {
	local u=$1 want=$2 what=$3; shift 3
	local out
	out=$(as "$u" "$@" 2>&1)
	if [ "$out" == "$want" ]; then pass "$what"; else
		fail "$what (got '$out', want '$want')"; fi
}

new_store() {
	"$TICKETCTL" init "$STORE" "$KEY" >/dev/null || { echo "init failed"; exit 1; }
	cat > "$STORE/whitelist" <<WL
$AGENT   agent
$READER  reader
$AUDITOR auditor
WL
}

mount_fs() {
	"$TICKETFS" "$STORE" "$MNT" -o key="$KEY" "$@"
}

# mount_fg [OPTIONS]: the daemon in the foreground, its log in $LOG.
LOG=$WORK/daemon.log
mount_fg() {
	"$TICKETFS" "$STORE" "$MNT" -o key="$KEY" -f "$@" 2>>"$LOG" &
	DAEMON_PID=$!
	wait_for mountpoint -q "$MNT"
}

# Unmounts, then waits (up to 3 s) for the daemon to exit: it saves the
# index snapshot after the unmount.
umount_fs() {
	local i
	for i in 1 2 3 4 5; do
		fusermount3 -u "$MNT" 2>/dev/null && break
		sleep 0.2
	done
	if mountpoint -q "$MNT"; then
		echo "umount_fs: $MNT busy; lazy unmount" >&2
		umount -l "$MNT"
	fi
	wait_for sh -c "! pgrep -f -- '$TICKETFS $STORE ' >/dev/null"
}

# wait_for COMMAND...: retries for up to 3 s.
wait_for() {
	local i
	for i in $(seq 30); do
		"$@" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# store_digest: every file, mode and content of the store, for "unchanged".
store_digest() {
	(cd "$STORE" && find . -printf '%p %m %s\n' | sort &&
	 find . -type f -exec sha256sum {} + | sort)
}

finish() {
	echo "$PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ]
	exit $?
}
