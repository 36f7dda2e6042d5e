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
	[ -n "${FG_PID:-}" ] && kill "$FG_PID" 2>/dev/null
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
	if [ -z "$text" ]; then
		fail "$what (expect_err needs the expected error text)"
		return
	fi
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

# The backend under test: TS_BACKEND=pg (ctest's *_pg variants) runs a
# test against a PostgreSQL store (tests/integration/pg_lib.sh) instead of
# a directory: STORE is then the database's URI, the whitelist the local
# file $WHITELIST (-o whitelist=, required for a shared store), and
# mount_fs / mount_fg name the host "it1".  Helpers below hide the
# difference where a test looks into the store.
TS_BACKEND=${TS_BACKEND:-dir}
WHITELIST=$STORE/whitelist
MOUNT_OPTS=()
if [ "$TS_BACKEND" = pg ]; then
	. "$(dirname "${BASH_SOURCE[0]}")/pg_lib.sh"
	WHITELIST=$WORK/whitelist
	MOUNT_OPTS=(-o "whitelist=$WHITELIST,hostname=it1")
fi

new_store() {
	if [ "$TS_BACKEND" = pg ]; then
		pg_newdb || { echo "no database"; exit 1; }
		STORE=$PGURI
	fi
	"$TICKETCTL" init "$STORE" "$KEY" >/dev/null || { echo "init failed"; exit 1; }
	cat > "$WHITELIST" <<WL
$AGENT   agent
$READER  reader
$AUDITOR auditor
WL
}

# record_size ID: the size of ticket ID's record in the store; 0 if it has
# none.
record_size() {
	if [ "$TS_BACKEND" = pg ]; then
		psql_do "$PGDB" "SELECT coalesce((SELECT length(rec) FROM ts_tickets WHERE id = '$1'), 0)"
	else
		stat -c %s "$STORE/tickets/$1" 2>/dev/null || echo 0
	fi
}
# in_store ID: ticket ID has a record in the store.
in_store() {
	[ "$(record_size "$1")" -gt 0 ]
}
# intake_waiting / intake_rejected: how many intake records wait to be
# taken in / were rejected.
intake_waiting() {
	if [ "$TS_BACKEND" = pg ]; then
		psql_do "$PGDB" "SELECT count(*) FROM ts_intake"
	else
		ls -A "$STORE/intake" | grep -v -e '^rejected$' -e '^\.' | wc -l
	fi
}
intake_rejected() {
	if [ "$TS_BACKEND" = pg ]; then
		psql_do "$PGDB" "SELECT count(*) FROM ts_intake_rejected"
	else
		ls -A "$STORE/intake/rejected" 2>/dev/null | wc -l
	fi
}
# policy_set < TEXT: makes TEXT the store's policy (a directory store:
# STORE/policy, as an operator edits it; a shared one: ticketctl policy).
policy_set() {
	if [ "$TS_BACKEND" = pg ]; then
		cat > "$WORK/policy.new" && "$TICKETCTL" policy "$STORE" "$WORK/policy.new"
	else
		cat > "$STORE/policy"
	fi
}
# trail_lines: the audit trail's entries as root reads them from the
# store, one JSON object a line (a directory store's segments; a shared
# store's rows, every host's, in commit order).
trail_lines() {
	if [ "$TS_BACKEND" = pg ]; then
		psql_do "$PGDB" "SELECT line FROM ts_audit ORDER BY gseq"
	else
		cat "$STORE"/audit/*.log
	fi
}
# policy_get: prints the store's policy.
policy_get() {
	if [ "$TS_BACKEND" = pg ]; then
		"$TICKETCTL" policy "$STORE"
	else
		cat "$STORE/policy"
	fi
}

# Every daemon the helpers below start sends its sanitizer reports (ASan,
# UBSan; with the options the caller set) to $WORK/san.PID, which `finish`
# fails on; umount_fs fails the test unless the daemon exits 0 within
# $DAEMON_EXIT_S seconds of the unmount, or if a foreground daemon's log
# holds a report (GCC's UBSan, built not to recover, ignores log_path and
# writes to stderr; it exits 1, halt_on_error).
DAEMON_EXIT_S=10
LIBDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
san_opts() {
	SAN_ASAN="${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$WORK/san"
	SAN_UBSAN="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}halt_on_error=1:print_stacktrace=1:log_path=$WORK/san"
}

# forked COMMAND...: runs a command that forks the daemon (ticketfs
# without -f, mount(8)) under reaper.py, which keeps the daemon its child:
# returns the command's exit status; umount_fs then checks the daemon's.
FORKED_STATUS=
forked() {
	local out fd rc
	FORKED_STATUS=$WORK/forked.$RANDOM.status
	printf '%s\0' "$@" > "$FORKED_STATUS.args"
	exec {out}>&1
	san_opts
	exec {fd}< <(ASAN_OPTIONS=$SAN_ASAN UBSAN_OPTIONS=$SAN_UBSAN python3 "$LIBDIR/reaper.py" "$FORKED_STATUS" "$FORKED_STATUS.args" 3>&1 1>&$out)
	read -r rc <&$fd || rc=255
	exec {fd}<&- {out}>&-
	return "$rc"
}

# mount_fs [OPTIONS]: the daemon as a user starts it (it forks; mounted
# on return).
mount_fs() {
	forked "$TICKETFS" "$STORE" "$MNT" -o key="$KEY" "${MOUNT_OPTS[@]}" "$@"
}

# mount_fg [OPTIONS]: the daemon in the foreground, its log in $LOG.
LOG=$WORK/daemon.log
FG_PID= FG_LOG0=0
SAN_RE='ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|Sanitizer has encountered a fatal error'
mount_fg() {
	san_opts
	ASAN_OPTIONS=$SAN_ASAN UBSAN_OPTIONS=$SAN_UBSAN \
		"$TICKETFS" "$STORE" "$MNT" -o key="$KEY" "${MOUNT_OPTS[@]}" -f "$@" 2>>"$LOG" &
	DAEMON_PID=$!
	FG_PID=$DAEMON_PID
	FG_LOG0=$(wc -l < "$LOG")
	wait_for mountpoint -q "$MNT"
}

# daemon_exit WHAT: the daemon started last by mount_fs, mount_fg or
# forked exits 0 within $DAEMON_EXIT_S s; a FAIL naming WHAT otherwise.
daemon_exit() {
	local what=$1 rc st san
	if [ -n "$FG_PID" ]; then
		if ! wait_within "$DAEMON_EXIT_S" sh -c "! kill -0 $FG_PID"; then
			fail "$what: the daemon did not exit within $DAEMON_EXIT_S s"
			kill -9 "$FG_PID" 2>/dev/null
		fi
		wait "$FG_PID"; rc=$?
		[ "$DAEMON_PID" = "$FG_PID" ] && DAEMON_PID=
		FG_PID=
		[ $rc -eq 0 ] || fail "$what: the daemon exited with status $rc"
		san=$(tail -n +$(( FG_LOG0 + 1 )) "$LOG" | grep -E -m 3 "$SAN_RE")
		[ -z "$san" ] || fail "$what: the daemon's log holds a sanitizer report: $san"
	elif [ -n "$FORKED_STATUS" ]; then
		if ! wait_within "$DAEMON_EXIT_S" grep -qx done "$FORKED_STATUS"; then
			fail "$what: the daemon did not exit within $DAEMON_EXIT_S s"
		else
			while read -r _ st; do
				[ "$st" -eq 0 ] || fail "$what: the daemon exited with status $st"
			done < <(grep -v '^done$' "$FORKED_STATUS")
		fi
		FORKED_STATUS=
	fi
}

# daemon_forget: the last daemon's exit is not checked (it was killed).
daemon_forget() {
	[ -n "$FG_PID" ] && wait "$FG_PID" 2>/dev/null
	[ "$DAEMON_PID" = "$FG_PID" ] && DAEMON_PID=
	FG_PID= FORKED_STATUS=
}

# Unmounts, then checks the daemon's exit (daemon_exit): it saves the
# index snapshot after the unmount.  A daemon started otherwise (tools/)
# is waited for up to 3 s.
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
	if [ -n "$FG_PID$FORKED_STATUS" ]; then
		daemon_exit "unmount"
	else
		# pgrep takes a regular expression: a URI's ? and . are
		# quoted
		wait_for sh -c "! pgrep -f -- '$(printf '%s' "$TICKETFS $STORE " |
			sed 's/[][\.*^$?+(){}|]/\\&/g')' >/dev/null"
	fi
}

# wait_within SECONDS COMMAND...: retries the command every 50 ms until it
# succeeds, for up to SECONDS (a decimal) after the first try.
wait_within() {
	local end now
	end=$(( ${EPOCHREALTIME/./} + $(awk -v s="$1" 'BEGIN { printf "%d", s * 1000000 }') ))
	shift
	while :; do
		"$@" 2>/dev/null && return 0
		now=${EPOCHREALTIME/./}
		[ "$now" -lt "$end" ] || return 1
		sleep 0.05
	done
}

# wait_for COMMAND...: retries for up to 3 s (no deadline of the README).
wait_for() {
	wait_within 3 "$@"
}

# store_digest: every file, mode and content of the store, for "unchanged".
store_digest() {
	(cd "$STORE" && find . -printf '%p %m %s\n' | sort &&
	 find . -type f -exec sha256sum {} + | sort)
}

finish() {
	local f
	for f in "$WORK"/san.*; do
		[ -e "$f" ] || continue
		fail "sanitizer report in $f: $(head -n 5 "$f" | tr '\n' ' ')"
	done
	echo "$PASSED passed, $FAILED failed"
	# A failure shows the end of the daemon's log (CI keeps only output).
	if [ "$FAILED" -ne 0 ] && [ -s "$LOG" ]; then
		echo "--- the last 40 lines of the daemon's log:"
		tail -n 40 "$LOG"
	fi
	[ "$FAILED" -eq 0 ]
	exit $?
}
