#!/bin/sh
# Builds the libFuzzer targets (clang, in build-fuzz/) and fuzzes each for
# SECONDS (default 600), two at a time.  Each works on a scratch copy of its
# seed corpus (tests/fuzz/corpus/TARGET), so the checked-in seeds stay
# small; a crash, leak, timeout or out-of-memory input is saved into
# tests/fuzz/regress/TARGET/, which the regular suite replays (ctest
# fuzz_replay_TARGET), and the target is restarted for the time left.
# With TS_FUZZ_MERGE=1, the inputs that found new coverage are merged
# (minimised, -merge=1) into the seed corpus, unless it would grow past
# 200 files or 1 MB.  Prints per target: seconds, executions, exec/s,
# final corpus size, crashes.
#
# Usage: tools/fuzz.sh [SECONDS] [TARGET...]
#        (targets: record intake whitelist policy; default all)
set -e
cd "$(dirname "$0")/.."
secs=600
if [ $# -gt 0 ]; then
	secs=$1
	shift
fi
case $secs in
''|*[!0-9]*|0) echo "tools/fuzz.sh: SECONDS must be a positive integer" >&2
	exit 2 ;;
esac
all="record intake whitelist policy"
targets=${*:-$all}
for t in $targets; do
	case " $all " in
	*" $t "*) ;;
	*) echo "tools/fuzz.sh: unknown target $t (one of: $all)" >&2; exit 2 ;;
	esac
done

CC=${CC:-clang} cmake -S . -B build-fuzz -DTS_FUZZ=ON -DBUILD_TESTING=OFF \
	-DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
for t in $targets; do
	cmake --build build-fuzz -j"$(nproc)" --target "fuzz_$t" >/dev/null
done

scratch=$(mktemp -d "${TMPDIR:-/tmp}/tsfuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
# UBSan only reports unless told to halt: then libFuzzer saves the input.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# fuzz TARGET: runs it until SECONDS are spent, restarting after each
# crash; leaves "seconds execs crashes" in $scratch/TARGET/result.
fuzz() {
	t=$1 dir=$scratch/$1
	mkdir -p "$dir/corpus" "tests/fuzz/regress/$t"
	cp tests/fuzz/corpus/"$t"/* "$dir/corpus/"
	start=$(date +%s) spent=0 execs=0 crashes=0 run=0
	while [ "$spent" -lt "$secs" ]; do
		run=$((run + 1))
		log=$dir/run$run.log
		# A crash ends the run with a non-zero status: counted below.
		"build-fuzz/bin/fuzz_$t" -max_total_time=$((secs - spent)) \
			-print_final_stats=1 -timeout=25 -rss_limit_mb=2048 \
			-artifact_prefix="tests/fuzz/regress/$t/" \
			"$dir/corpus" >"$log" 2>&1 || true
		n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" |
		    tail -n 1)
		execs=$((execs + ${n:-0}))
		k=$(grep -c 'Test unit written to ' "$log" || true)
		sed -n "s/.*Test unit written to /  $t: saved /p" "$log" >&2
		crashes=$((crashes + k))
		spent=$(($(date +%s) - start))
		# No stats and no artifact: the fuzzer could not run at all.
		if [ -z "$n" ] && [ "$k" -eq 0 ]; then
			echo "fuzz_$t failed to run, see below:" >&2
			tail -n 20 "$log" >&2
			break
		fi
		# Five crashes are likely one bug found again and again:
		# stop rather than fill regress/ with copies.
		[ "$crashes" -lt 5 ] || break
	done
	echo "$spent $execs $crashes" >"$dir/result"
}

# merge TARGET: adds the new coverage of the scratch corpus to the seeds.
merge() {
	t=$1 dir=$scratch/$1 seeds=tests/fuzz/corpus/$1
	rm -rf "$dir/merged"
	cp -r "$seeds" "$dir/merged"
	"build-fuzz/bin/fuzz_$t" -merge=1 "$dir/merged" "$dir/corpus" \
		>"$dir/merge.log" 2>&1 || { echo "$t: merge failed" >&2; return; }
	files=$(find "$dir/merged" -type f | wc -l)
	kb=$(du -sk "$dir/merged" | cut -f1)
	if [ "$files" -gt 200 ] || [ "$kb" -gt 1024 ]; then
		echo "$t: not merged: $files files, $kb KB" >&2
		return
	fi
	cp -n "$dir/merged"/* "$seeds/"
}

# Two fuzzers at a time: the runs are equally long, so pairs fill both
# cores without a job scheduler.
set -- $targets
while [ $# -gt 0 ]; do
	fuzz "$1" &
	if [ $# -gt 1 ]; then
		fuzz "$2" &
		shift
	fi
	shift
	wait
done

printf '%-10s %8s %12s %9s %8s %8s\n' target seconds executions exec/s \
	corpus crashes
for t in $targets; do
	read -r spent execs crashes <"$scratch/$t/result"
	corpus=$(find "$scratch/$t/corpus" -type f | wc -l)
	rate=$((execs / (spent > 0 ? spent : 1)))
	printf '%-10s %8s %12s %9s %8s %8s\n' "$t" "$spent" "$execs" "$rate" \
		"$corpus" "$crashes"
	if [ "${TS_FUZZ_MERGE:-0}" = 1 ]; then
		merge "$t"
	fi
done
