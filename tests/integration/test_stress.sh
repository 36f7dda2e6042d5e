# Concurrency and load, briefly: readers and writers of every role, intake,
# revocations, reloads and expiries at once for 18 s, every answer checked
# (tools/stress.sh --bin; run tools/stress.sh for the long TSan/ASan runs).
exec bash "$(dirname "$0")/../../tools/stress.sh" --bin "${1:?usage: $0 BUILD/bin}" "${STRESS_SECONDS:-18}"
