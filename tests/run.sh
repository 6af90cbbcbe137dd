#!/bin/bash
# run.sh [unit|integration|all] - runs the test suites and prints one closing
# line "N passed, N failed". Each test file counts as one test; its own
# assertions are printed when it ends.
#
# Unit tests run one after the other; the fuzz run, the integration, end-to-end
# and browser tests run TALLY_TEST_JOBS at a time (default 2: each starts its
# own PostgreSQL, Kafka cluster and server on random ports in its own temp
# directory, and spends most of its time waiting on them). Each test's output
# is printed whole when it ends, so parallel tests do not interleave.
BIN=${BIN:-bin/tally}
BUILD=${BUILD:-build}
export BIN
what=${1:-all}
jobs=${TALLY_TEST_JOBS:-2}
passed=0
failed=0
failures=""
out=$(mktemp -d /tmp/tally-run.XXXXXX)
trap 'rm -rf "$out"' EXIT
declare -A job_name job_start
order=()

finish() { # finish ID STATUS
	local id=$1 rc=$2 name=${job_name[$1]}
	echo "=== $name"
	cat "$out/$id.log"
	if [ "$rc" -eq 0 ]; then
		passed=$((passed + 1))
		echo "--- PASS $name ($(($(date +%s) - job_start[$id])) s)"
	else
		failed=$((failed + 1))
		failures="$failures $name"
		echo "--- FAIL $name ($(($(date +%s) - job_start[$id])) s)"
	fi
}

# run NAME COMMAND... - in the foreground
run() {
	local id=${#order[@]}
	order+=("$id")
	job_name[$id]=$1
	job_start[$id]=$(date +%s)
	shift
	"$@" >"$out/$id.log" 2>&1
	finish "$id" $?
}

# spawn NAME COMMAND... - in the background, at most $jobs at a time
declare -A running
spawn() {
	while [ "${#running[@]}" -ge "$jobs" ]; do reap; done
	local id=${#order[@]}
	order+=("$id")
	job_name[$id]=$1
	job_start[$id]=$(date +%s)
	shift
	("$@" >"$out/$id.log" 2>&1; echo $? >"$out/$id.rc") &
	running[$id]=$!
}

# reap - waits for one background test to end and reports it
reap() {
	wait -n 2>/dev/null
	local id
	for id in "${!running[@]}"; do
		if [ -f "$out/$id.rc" ]; then
			wait "${running[$id]}" 2>/dev/null
			unset "running[$id]"
			finish "$id" "$(cat "$out/$id.rc")"
		fi
	done
}

if [ "$what" = unit ] || [ "$what" = all ]; then
	for t in "$BUILD"/tests/test_*; do
		[ -x "$t" ] && run "unit/$(basename "$t")" "$t"
	done
	if [ -d build-san/tests ]; then
		for t in build-san/tests/test_*; do
			[ -x "$t" ] && run "asan+ubsan/$(basename "$t")" "$t"
		done
	fi
	if [ -x build-fuzz/fuzz_event ]; then
		mkdir -p build-fuzz/corpus
		spawn "fuzz/event_parser (60 s)" sh -c 'build-fuzz/fuzz_event -max_total_time=60 \
			-max_len=4096 build-fuzz/corpus tests/fuzz/corpus >build-fuzz/fuzz.log 2>&1 ||
			{ tail -n 40 build-fuzz/fuzz.log; exit 1; }; tail -n 1 build-fuzz/fuzz.log'
	fi
fi
if [ "$what" = integration ] || [ "$what" = all ]; then
	for t in tests/integration/test_*.sh tests/e2e/test_*.sh; do
		[ -f "$t" ] && spawn "${t#tests/}" sh "$t"
	done
	spawn browser/dashboard sh tests/browser/run.sh
fi
while [ "${#running[@]}" -gt 0 ]; do reap; done
echo
[ -n "$failures" ] && echo "failed:$failures"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
