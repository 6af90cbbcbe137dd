#!/bin/sh
# run.sh [unit|integration|all] - runs the test suites and prints one closing
# line "N passed, N failed". Each test file counts as one test; its own
# assertions are printed as it runs.
BIN=${BIN:-bin/tally}
BUILD=${BUILD:-build}
export BIN
what=${1:-all}
passed=0
failed=0
failures=""

run() {
	name=$1
	shift
	echo "=== $name"
	start=$(date +%s)
	if "$@"; then
		passed=$((passed + 1))
		echo "--- PASS $name ($(($(date +%s) - start)) s)"
	else
		failed=$((failed + 1))
		failures="$failures $name"
		echo "--- FAIL $name ($(($(date +%s) - start)) s)"
	fi
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
		run "fuzz/event_parser (60 s)" sh -c 'build-fuzz/fuzz_event -max_total_time=60 \
			-max_len=4096 build-fuzz/corpus tests/fuzz/corpus >build-fuzz/fuzz.log 2>&1 ||
			{ tail -n 40 build-fuzz/fuzz.log; exit 1; }; tail -n 1 build-fuzz/fuzz.log'
	fi
fi
if [ "$what" = integration ] || [ "$what" = all ]; then
	for t in tests/integration/test_*.sh tests/e2e/test_*.sh; do
		[ -f "$t" ] && run "${t#tests/}" sh "$t"
	done
	run browser/dashboard sh tests/browser/run.sh
fi
echo
[ -n "$failures" ] && echo "failed:$failures"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
