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
#   a3 opus. Then b starts the ladder at the cheapest tier: b1 haiku (fails).
#   The climb is cost-aware (docs/router.md): sonnet and opus, 10x and 200x
#   haiku's price, count with their mean for b, and with no sample of b they
#   have shown nothing that haiku's upper bound (0.73 after one failure) falls
#   short of: b2 haiku again (fails). They are explored in proportion to their
#   cost instead, the least spent first: sonnet at the warm-up share x 0.001 /
#   0.010 = 0.025, so b3 (draw 0.002 with seed 1) explores sonnet (none
#   succeeds on b3) and b4 (draw 0.126) answers haiku (0.5):
#   = .001 + .010 + .200 + .001 + .001 + .010 + .003 = 0.226, quality 2.5/7.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
F=tests/fixtures/router_eval_small.jsonl

out=$("$BIN" router eval --data "$F" --format json --trace "$T/trace.tsv")
assert_eq "eval exits 0" 0 $?
assert_match "router line" '"router":{"cost_usd":"0.226","quality":0.357143,"items":7}' "$out"
assert_match "router against the static oracle" '"ratio_to_static_oracle":{"cost":0.353125,"quality":0.416667}' "$out"
assert_match "always_best line" '"always_best":{"cost_usd":"1.00","quality":0.714286,"items":7}' "$out"
assert_match "always_cheapest line" '"always_cheapest":{"cost_usd":"0.01","quality":0.357143,"items":7}' "$out"
assert_match "static_oracle line" '"static_oracle":{"cost_usd":"0.64","quality":0.857143,"items":7}' "$out"
assert_match "item_oracle line" '"item_oracle":{"cost_usd":"0.424","quality":0.857143,"items":7}' "$out"
assert_match "ratio of static oracle cost" '"static_oracle":{"cost":0.640000,"quality":1.200000}' "$out"
assert_eq "trace" "a1	haiku|a2	sonnet|a3	opus|b1	haiku|b2	haiku|b3	sonnet|b4	haiku" \
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

# per (workflow, task type): task type support, 800 items alternating between
# workflows faq and legal (400 each), tiers small ($0.001) and large ($0.010).
#   faq:   small always right (1.0), large always right (1.0)
#   legal: small right on odd items (200 of 400: 0.5), large always right
# Over the task type small reaches 600/800 = 0.75 < 90% of large's 1.0, so a
# policy per task type answers large: $8.00, quality 1. Per workflow, faq's
# best is small (tied with large, cheaper): 400 x $0.001 = $0.40, quality 400;
# legal needs large: 400 x $0.010 = $4.00, quality 400. So:
#   static oracle per (task type, workflow), tolerance 0.10: $4.40, quality 1.0
#   always_best (large): $8.00, 1.0; always_cheapest (small): $0.80, 600/800 = 0.75
#   item oracle: faq small $0.40; legal odd small $0.20, even large $2.00 = $2.60, 1.0
# The router learns per workflow: at the end faq answers small and legal
# large (bar exploration), and it costs less than the per-task-type oracle's
# $8.00 could: at most 1.25 x the per-workflow oracle ($5.50), at least
# 0.97 x its quality. Without the workflows, the same items have a static
# oracle of $8.00 and the router cannot learn that faq needs only small.
awk 'BEGIN {
	for (i = 1; i <= 800; i++) {
		k = int((i + 1) / 2)
		if (i % 2) { wf = "faq"; qs = 1 } else { wf = "legal"; qs = k % 2 }
		printf "{\"item\":\"%s%d\",\"task_type\":\"support\",\"workflow\":\"%s\",\"results\":{\"small\":{\"quality\":%d,\"cost_usd\":\"0.001\"},\"large\":{\"quality\":1,\"cost_usd\":\"0.010\"}}}\n", wf, k, wf, qs
	}
}' >"$T/wf.jsonl"
out=$("$BIN" router eval --data "$T/wf.jsonl" --tolerance 0.10 --seed 1 --format json \
	--trace "$T/wf.trace")
assert_eq "workflow eval exits 0" 0 $?
assert_match "static oracle per (task type, workflow)" '"static_oracle":{"cost_usd":"4.40","quality":1.000000,"items":800}' "$out"
assert_match "always_best with workflows" '"always_best":{"cost_usd":"8.00","quality":1.000000,"items":800}' "$out"
assert_match "always_cheapest with workflows" '"always_cheapest":{"cost_usd":"0.80","quality":0.750000,"items":800}' "$out"
assert_match "item oracle with workflows" '"item_oracle":{"cost_usd":"2.60","quality":1.000000,"items":800}' "$out"
ratio=$(printf '%s\n' "$out" | sed -n 's/.*"ratio_to_static_oracle":{"cost":\([0-9.]*\),"quality":\([0-9.]*\)}.*/\1 \2/p')
assert_eq "router within 1.25 x the per-workflow oracle's cost, 0.97 x its quality" yes \
	"$(echo "$ratio" | awk '{ print ($1 <= 1.25 && $2 >= 0.97) ? "yes" : "no: " $0 }')"
# the last 200 answers: faq on small, legal on large, but for exploration
ends=$(tail -n 200 "$T/wf.trace" | awk '{ w = $1; sub(/[0-9]+$/, "", w); n[w]++; if ($2 == (w == "faq" ? "small" : "large")) ok[w]++ }
	END { printf "%s %s", (ok["faq"] >= 0.9 * n["faq"]) ? "faq-small" : "faq:" ok["faq"] "/" n["faq"],
		(ok["legal"] >= 0.9 * n["legal"]) ? "legal-large" : "legal:" ok["legal"] "/" n["legal"] }')
assert_eq "each workflow settles on its own tier" "faq-small legal-large" "$ends"
sed 's/"workflow":"[a-z]*",//' "$T/wf.jsonl" >"$T/nowf.jsonl"
out=$("$BIN" router eval --data "$T/nowf.jsonl" --tolerance 0.10 --seed 1 --format json)
assert_match "without workflows: the static oracle per task type" '"static_oracle":{"cost_usd":"8.00","quality":1.000000,"items":800}' "$out"
cost=$(printf '%s\n' "$out" | sed -n 's/^{"router":{"cost_usd":"\([0-9.]*\)".*/\1/p')
assert_eq "without workflows the router pays for large on faq too (> \$7)" yes \
	"$(echo "$cost" | awk '{ print ($1 > 7) ? "yes" : "no: " $1 }')"
printf '{"item":1,"task_type":"a","workflow":7,"results":{"s":{"quality":1,"cost_usd":"1"}}}\n' >"$T/badwf.jsonl"
err=$("$BIN" router eval --data "$T/badwf.jsonl" 2>&1 >/dev/null)
assert_match "a workflow that is not a string" 'line 1: "workflow" must be a string' "$err"
t_done
