#!/bin/sh
# Installs what is missing, builds ticketfs twice (Release, and with
# ASan+UBSan) and runs the whole test suite, unit and integration, on both.
# Needs root: the integration tests mount a real ticketfs and act as
# several uids.  Usage: tools/test.sh [--quick]   (--quick: Release only)
set -e
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "tools/test.sh: run as root (FUSE mounts, setpriv)"; exit 2; }
sh tools/deps.sh
jobs=$(nproc)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest --no-tests=error --output-on-failure -j1)
if [ "${1:-}" != "--quick" ]; then
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DTS_SANITIZE=ON >/dev/null
	cmake --build build-asan -j"$jobs"
	export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
	(cd build-asan && ctest --no-tests=error --output-on-failure -j1 -LE integration)
	# The daemon makes itself non-dumpable, which LeakSanitizer's
	# ptrace-based check cannot work with: leaks are checked in the unit
	# suites above; ASan and UBSan errors still fail the mount tests.
	# test_memory may skip, under ASan only, what ASan makes moot: the
	# lock check (mlock is a no-op), the core (tens of GB of shadow) and
	# mappings over 4 GiB (the shadow itself).
	(cd build-asan && ASAN_OPTIONS=detect_leaks=0 \
	 TS_ALLOW_SKIP=lock,core,bigmap \
	 ctest --no-tests=error --output-on-failure -j1 -L integration)
fi
