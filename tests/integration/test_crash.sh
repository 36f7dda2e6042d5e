# Crash consistency, the quick version of tools/crash.sh (which holds the
# logic and the checks): a few rounds of kill -9 of the daemon under
# writers, and of `ticketctl submit --batch` killed mid-batch.  The long
# run: tools/crash.sh ITERATIONS SUBMITS (see README, "Crash and memory tests").
exec bash "$(dirname "$0")/../../tools/crash.sh" --bin "${1:?usage: $0 BUILD/bin}" \
	"${CRASH_ITERATIONS:-10}" "${CRASH_SUBMITS:-4}"
