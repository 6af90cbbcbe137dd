#!/bin/sh
# test_router_eval.sh - `tally router eval` on tests/fixtures/router_eval_small.jsonl,
# whose baselines are worked out by hand below. No services needed.
#
# Fixture: 7 items, task types a (3) and b (4), tiers haiku < sonnet < opus by cost.
#   quality sums   haiku 2 + 0.5 = 2.5   sonnet 3 + 1.5 = 4.5   opus 2 + 3 = 5
#   cost sums      haiku 0.010           sonnet 0.100           opus 1.000
# always_best = opus: 1.00, 5/7 = 0.714286; always_cheapest = haiku: 0.01, 2.5/7.
# static oracle, tolerance 0.02 (and 0.10): a: best sonnet 1.0 -> sonnet (0.040, 3);
#   b: best opus 0.75, sonnet 0.375 < 0.735 -> opus (0.600, 3): 0.64, 6/7 = 0.857143.
# static oracle, tolerance 0.5: a: haiku 0.667 >= 0.5 -> haiku (0.004, 2);
#   b: sonnet 0.375 >= 0.5 x 0.75 -> sonnet (0.060, 1.5): 0.064, 3.5/7 = 0.5.
# item oracle: a1 haiku .001, a2 sonnet .010, a3 haiku .002, b1 opus .100,
#   b2 sonnet .010, b3 none succeeds -> haiku .001 (q 0), b4 opus .300: 0.424, 6/7.
# router: 7 items never reach 30 samples. It tries each tier once, in file
#   order (a tier's cost is unknown until it is called): a1 haiku, a2 sonnet,
#   a3 opus. Then b climbs the ladder from the cheapest tier whose upper bound
#   could still reach the bar: b1 haiku (fails: its bound drops below 98% of
#   the untried tiers'), b2 sonnet (succeeds), and with the warm-up share the
#   cheaper haiku is explored for b3 and b4 (draws 0.002 and 0.126 < 0.25 with seed 1):
#   = .001 + .010 + .200 + .001 + .010 + .001 + .003 = 0.226, quality 3.5/7 = 0.5.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
F=tests/fixtures/router_eval_small.jsonl

out=$("$BIN" router eval --data "$F" --format json --trace "$T/trace.tsv")
assert_eq "eval exits 0" 0 $?
assert_match "router line" '"router":{"cost_usd":"0.226","quality":0.500000,"items":7}' "$out"
assert_match "router against the static oracle" '"ratio_to_static_oracle":{"cost":0.353125,"quality":0.583333}' "$out"
assert_match "always_best line" '"always_best":{"cost_usd":"1.00","quality":0.714286,"items":7}' "$out"
assert_match "always_cheapest line" '"always_cheapest":{"cost_usd":"0.01","quality":0.357143,"items":7}' "$out"
assert_match "static_oracle line" '"static_oracle":{"cost_usd":"0.64","quality":0.857143,"items":7}' "$out"
assert_match "item_oracle line" '"item_oracle":{"cost_usd":"0.424","quality":0.857143,"items":7}' "$out"
assert_match "ratio of static oracle cost" '"static_oracle":{"cost":0.640000,"quality":1.200000}' "$out"
assert_eq "trace" "a1	haiku|a2	sonnet|a3	opus|b1	haiku|b2	sonnet|b3	haiku|b4	haiku" \
	"$(paste -sd'|' "$T/trace.tsv")"

out=$("$BIN" router eval --data "$F" --format json --tolerance 0.5)
assert_match "static oracle at tolerance 0.5" '"static_oracle":{"cost_usd":"0.064","quality":0.500000,"items":7}' "$out"

out=$("$BIN" router eval --data "$F" --tolerance 0.5)
assert_match "text format" 'static_oracle +0.064 +0.5000 +7 +0.0640 +0.7000' "$out"

# shuffled runs are reproducible, and differ from file order only in order
a=$("$BIN" router eval --data "$F" --seed 7 --format json --trace "$T/t1")
b=$("$BIN" router eval --data "$F" --seed 7 --format json --trace "$T/t2")
assert_eq "same seed, same result" "$a" "$b"
assert_eq "same seed, same trace" "$(cat "$T/t1")" "$(cat "$T/t2")"
assert_eq "shuffled trace covers every item once" "a1 a2 a3 b1 b2 b3 b4" \
	"$(cut -f1 "$T/t1" | sort | paste -sd' ')"

# errors: a missing tier is named with its line; bad usage is 2
err=$("$BIN" router eval --data tests/fixtures/router_eval_missing.jsonl 2>&1 >/dev/null)
assert_eq "missing tier exits 1" 1 $?
assert_match "missing tier message" 'line 2: item x2 has no result for tier "large"' "$err"
"$BIN" router eval --data "$F" --tolerance 1.5 >/dev/null 2>&1
assert_eq "bad tolerance exits 2" 2 $?
"$BIN" router eval >/dev/null 2>&1
assert_eq "no --data exits 2" 2 $?
printf '{"item":1,"task_type":"a","results":{"s":{"quality":2,"cost_usd":"1"}}}\n' >"$T/bad.jsonl"
err=$("$BIN" router eval --data "$T/bad.jsonl" 2>&1 >/dev/null)
assert_match "quality out of range" 'line 1: results.s.quality must be a number in \[0,1\]' "$err"
t_done
