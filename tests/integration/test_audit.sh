# test_audit.sh - the tamper-evident audit bundle: the audit log's hash chain
# is kept as rows are written (0003_reports.sql), `tally export audit` writes
# chained files and a sealed manifest, and `tally audit verify` passes on a
# fresh export and fails, naming the spot, on an edited value, a deleted
# line, two swapped lines, an added line, an added file, an edited manifest
# and an audit-log row changed inside the ledger.
. tests/lib.sh

pg_start || exit 1
kafka_start 4 || exit 1
"$BIN" migrate >"$T/migrate.log" 2>&1
printf 'provider,model,tier,input,output,cache_read,cache_write,reasoning,batch_input,batch_output,threshold_tokens,above_input,above_output,above_cache_read,above_cache_write\ntestp,m-small,small,1.00,2.00,,,,,,,,,,\n' >"$T/p.csv"
"$BIN" prices import "$T/p.csv" --effective-from 2026-10-01 >/dev/null 2>&1
awk 'BEGIN { for (i = 0; i < 40; i++)
	printf "{\"event_id\":\"e-%02d\",\"ts\":\"2026-11-0%dT10:%02d:00Z\",\"team\":\"t%d\",\"workflow\":\"w\",\"task_type\":\"x\",\"provider\":\"testp\",\"model\":\"m-small\",\"usage\":{\"input_tokens\":%d,\"output_tokens\":10}}\n", i, i % 5 + 1, i, i % 3, 100 + i
	printf "{\"event_id\":\"unk-1\",\"ts\":\"2026-11-02T00:00:00Z\",\"team\":\"t0\",\"workflow\":\"w\",\"task_type\":\"x\",\"provider\":\"acme\",\"model\":\"acme-1\",\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}\n" }' >"$T/ev.jsonl"
"$BIN" produce "$T/ev.jsonl" >/dev/null 2>&1
collector_start
wait_calls 41 60
printf 'provider,model,tier,input,output,cache_read,cache_write,reasoning,batch_input,batch_output,threshold_tokens,above_input,above_output,above_cache_read,above_cache_write\nacme,acme-1,small,1.00,1.00,,,,,,,,,,\n' >"$T/acme.csv"
"$BIN" prices import "$T/acme.csv" --effective-from 2026-10-01 >/dev/null 2>&1
"$BIN" prices reprice --from 2026-11-01 --to 2026-12-01 >/dev/null
"$BIN" teams set-cost-center t0 CC-A >/dev/null
"$BIN" teams set-cost-center t1 CC-B >/dev/null
"$BIN" budgets set --team t0 --amount 100 >/dev/null

# ---- the chain in the ledger --------------------------------------------------------
N=$(q "select count(*) from audit_log")
assert_match "several audited actions" '^[5-9]$' "$N"
assert_eq "every audit row is chained in order" 0 "$(q "select count(*) from audit_log a join audit_log b on b.chain_seq = a.chain_seq + 1 where b.prev_hash <> a.hash")"
assert_eq "each hash recomputes from its row" 0 "$(q "select count(*) from audit_log where hash <> tally_audit_row_hash(prev_hash, id, ts, actor, action, details)")"

# ---- export and verify ------------------------------------------------------------------
FROM=2026-11-01
TO=$(date -u -d tomorrow +%Y-%m-%d)
"$BIN" export audit --from "$FROM" --to "$TO" --out "$T/bundle" >"$T/export.log" 2>&1
assert_eq "export audit succeeds" 0 $?
for f in manifest.json calls.csv price_book.csv price_changes.csv reprices.csv budgets.csv budget_alerts.csv audit_log.csv; do
	[ -f "$T/bundle/$f" ] || not_ok "bundle holds $f"
done
assert_eq "no temp files left" "" "$(ls "$T/bundle" | grep partial)"
assert_eq "calls file holds the period's calls" 42 "$(wc -l <"$T/bundle/calls.csv")"
assert_eq "manifest row counts" 41 "$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print([f["rows"] for f in m["files"] if f["name"]=="calls.csv"][0])' "$T/bundle/manifest.json")"
assert_eq "manifest SHA-256 of calls.csv" "$(sha256sum "$T/bundle/calls.csv" | cut -d' ' -f1)" \
	"$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print([f["sha256"] for f in m["files"] if f["name"]=="calls.csv"][0])' "$T/bundle/manifest.json")"
assert_eq "manifest carries the audit chain head" "$(q "select hash from audit_log order by chain_seq desc limit 1")" \
	"$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["audit_chain_head"]["hash"])' "$T/bundle/manifest.json")"
assert_eq "reprice exported" 2 "$(wc -l <"$T/bundle/reprices.csv")"
V=$("$BIN" audit verify "$T/bundle" 2>&1)
assert_eq "verify passes on a fresh export" 0 $?
assert_match "verify says intact" "^intact: 7 files" "$V"

# try NAME EXPECTED-REGEX EDIT-COMMAND: edits a copy, verify must fail naming the spot
try() {
	rm -rf "$T/copy"
	cp -r "$T/bundle" "$T/copy"
	(cd "$T/copy" && eval "$3")
	out=$("$BIN" audit verify "$T/copy" 2>&1)
	rc=$?
	if [ "$rc" -ne 0 ] && printf '%s' "$out" | grep -Eq -- "$2"; then ok "$1"; else not_ok "$1: rc=$rc [$out]"; fi
}
try "an edited value is caught and named" "calls.csv: record 7 \(line 8\) was edited" \
	"sed -i '8s/,m-small,/,m-large,/' calls.csv"
try "an edited cost (numbers only) is caught" "calls.csv: record 3 \(line 4\) was edited" \
	"awk -F, -v OFS=, 'NR==4 { \$22 = \$22 + 1 } { print }' calls.csv > x && mv x calls.csv"
try "a deleted line is caught and named" "calls.csv: record 12 is missing" "sed -i '13d' calls.csv"
try "a deleted last line is caught" "calls.csv: record 41 is missing" "sed -i '\$d' calls.csv"
try "two swapped lines are caught and named" "calls.csv: records reordered: line 6 holds record 6 where record 5 belongs" \
	"sed -i '6{h;d};7{G}' calls.csv"
try "an added line is caught" "calls.csv: record 42 \(line 43\) was added|calls.csv: line 43" \
	"tail -n 1 calls.csv >> calls.csv"
try "an edited manifest is caught" "manifest.json: the seal does not match" \
	"sed -i 's/\"rows\": 41/\"rows\": 40/' manifest.json"
try "an edited manifest period is caught" "manifest.json: the seal does not match" \
	"sed -i 's/\"from\": \"2026-11-01/\"from\": \"2026-11-02/' manifest.json"
try "a removed file is caught" "budgets.csv: missing" "rm budgets.csv"
try "an added file is caught" "extra.csv: not listed in the manifest" "echo x > extra.csv"
try "an edited audit log record is caught" "audit_log.csv: record 2 \(line 3\) was edited" \
	"sed -i '3s/CC-A/CC-Z/; 3s/CC-B/CC-Z/; 3s/prices/pricez/' audit_log.csv"

# A row changed inside the ledger (bypassing the trigger) breaks its hash.
q "update audit_log set details = '{\"team\":\"t0\",\"cost_center\":\"CC-EVIL\"}' where action = 'teams.set_cost_center' and details->>'team' = 't0'" >/dev/null
"$BIN" export audit --from "$FROM" --to "$TO" --out "$T/bundle2" >/dev/null 2>&1
out=$("$BIN" audit verify "$T/bundle2" 2>&1)
rc=$?
assert_eq "verify fails on a ledger-side audit edit" 1 "$rc"
assert_match "and names the audit log row" "audit_log.csv: record [0-9]+ \(audit_log id [0-9]+\): its hash does not match" "$out"
"$BIN" audit verify "$T/nothing" >/dev/null 2>&1
assert_eq "verify of a missing bundle fails" 1 $?

kill -TERM "$COLLECTOR_PID"
wait "$COLLECTOR_PID"
t_done
