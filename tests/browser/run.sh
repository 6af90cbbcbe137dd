#!/bin/sh
# run.sh - the dashboard's browser test: headless Chromium (Debian's
# /usr/bin/chromium, installed here when missing) driven by playwright-core
# (web/package-lock.json) against `bin/tally up --demo` on a random port with a
# throw-away data directory. On top of the demo's own finance set-up (cost
# centres for support, sales, marketing and legal, platform unassigned; three
# budgets), it maps support and sales to other cost centres, sets two budgets
# (one small enough to fire alerts) and waits for a routing policy version, so
# that every page has something to show. Prints the test's
# "ok - ..." lines; the tally log is printed when something fails. Exit
# status: the test's.
set -u
BIN=${BIN:-bin/tally}
case "$BIN" in /*) ;; *) BIN="$PWD/$BIN" ;; esac # as given, before the cd below
cd "$(dirname "$0")/../.." || exit 1
root=$(pwd)

say() { echo "browser: $*"; }
fail() { echo "not ok - $*"; exit 1; }

# --- Chromium and playwright-core --------------------------------------------
if [ ! -x /usr/bin/chromium ]; then
	say "installing Debian's chromium"
	if [ "$(id -u)" = 0 ]; then
		apt-get install -y chromium >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 && apt-get install -y chromium >/dev/null; }
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
		sudo apt-get install -y chromium >/dev/null 2>&1 || { sudo apt-get update >/dev/null 2>&1 && sudo apt-get install -y chromium >/dev/null; }
	fi
	[ -x /usr/bin/chromium ] || fail "install Debian's chromium (apt-get install chromium) to run the browser test"
fi
if [ ! -d web/node_modules/playwright-core ] || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
	(cd web && npm ci --no-audit --no-fund) || fail "npm ci in web/ failed"
fi
[ -x "$BIN" ] || fail "$BIN is missing: run make first"

# --- tally up --demo on a random port ------------------------------------------
TALLY_DATA_DIR=$(mktemp -d "${TMPDIR:-/tmp}/tally-browser.XXXXXX")
# as root, the embedded PostgreSQL runs as "postgres", which must enter it
chmod 755 "$TALLY_DATA_DIR"
export TALLY_DATA_DIR
port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
export TALLY_HTTP_ADDR="127.0.0.1:$port"
url="http://127.0.0.1:$port/"
log="$TALLY_DATA_DIR/tally.log"
# the router learns from calls at once and re-evaluates every 5 s (defaults:
# 300 s and 60 s), so that the routing page has a policy and a history
# live demo traffic at 200 events/s (default 2), so that quarantined messages and
# fresh calls arrive within seconds; the first start writes the demo's history first
TALLY_DEMO_RATE=200 TALLY_ROUTER_SETTLE_S=0 TALLY_ROUTER_INTERVAL_S=5 "$BIN" up --demo >"$log" 2>&1 &
pid=$!
status=1

cleanup() {
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null
		i=0
		while kill -0 "$pid" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
		kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null
	if [ "$status" != 0 ]; then
		echo "--- last lines of the tally log ($log)"
		tail -n 40 "$log"
	else
		rm -rf "$TALLY_DATA_DIR"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

i=0
until [ -s "$TALLY_DATA_DIR/endpoints.env" ]; do
	kill -0 "$pid" 2>/dev/null || fail "tally up --demo exited early"
	[ $i -ge 4000 ] && fail "tally up --demo wrote no endpoints.env within 400 s"
	sleep 0.1
	i=$((i + 1))
done
say "tally up --demo is at $url (data in $TALLY_DATA_DIR)"

# --- keys: the token is the last line of stdout --------------------------------
admin=$("$BIN" keys create --role admin | tail -n 1) || fail "keys create --role admin failed"
viewer=$("$BIN" keys create --role viewer --team support | tail -n 1) || fail "keys create --role viewer failed"
case "$admin$viewer" in *" "* | "") fail "keys create printed no token on its last line" ;; esac

# --- wait for demo calls (and a quarantined event, which the demo also makes) --
json_num() { sed -n "s/.*\"$1\"[[:space:]]*:[[:space:]]*\([0-9][0-9]*\).*/\1/p"; }
i=0
while :; do
	st=$(curl -sf -H "Authorization: Bearer $admin" "${url}api/v1/status" 2>/dev/null)
	calls=$(echo "$st" | json_num calls)
	quar=$(echo "$st" | json_num quarantined)
	[ "${calls:-0}" -gt 0 ] && { [ "${quar:-0}" -gt 0 ] || [ $i -ge 600 ]; } && break
	[ $i -ge 1200 ] && fail "no demo calls in the ledger after 120 s (status: $st)"
	kill -0 "$pid" 2>/dev/null || fail "tally exited while waiting for demo data"
	sleep 0.1
	i=$((i + 1))
done
say "demo data in: $calls calls, ${quar:-0} quarantined"

# --- finance set-up: cost centres, budgets and their alerts, a routing policy ----
"$BIN" teams set-cost-center support CC-SUPPORT >/dev/null || fail "teams set-cost-center failed"
"$BIN" teams set-cost-center sales CC-SALES >/dev/null || fail "teams set-cost-center failed"
"$BIN" budgets set --team support --amount 1 >/dev/null || fail "budgets set --team failed"
"$BIN" budgets set --workflow contract-review --amount 1000 >/dev/null || fail "budgets set --workflow failed"
i=0
# support spends a dollar within seconds of demo traffic: evaluate until its 100% alert fires
until "$BIN" budgets evaluate >/dev/null 2>&1 &&
	"$BIN" budgets alerts 2>/dev/null | grep -q '"basis":"actual","threshold_pct":100'; do
	[ $i -ge 120 ] && fail "no budget alert fired within 60 s"
	sleep 0.5
	i=$((i + 1))
done
i=0
until curl -sf -H "Authorization: Bearer $admin" "${url}api/v1/routing/history" 2>/dev/null | grep -Eq '"version" *: *[0-9]'; do
	[ $i -ge 180 ] && fail "no routing policy version within 90 s"
	sleep 0.5
	i=$((i + 1))
done
say "cost centres, budgets with alerts and a routing policy are in"

# --- a provider bill for the reconciliation page: OpenAI costs for today ----------
now=$(date -u +%s)
d0=$((now - now % 86400))
printf '{"object":"page","data":[{"object":"bucket","start_time":%d,"end_time":%d,"results":[%s,%s]}],"has_more":false,"next_page":null}\n' \
	"$d0" $((d0 + 86400)) \
	'{"object":"organization.costs.result","amount":{"value":1.5,"currency":"usd"},"line_item":"gpt-4o-mini-2024-07-18, input","project_id":"proj_demo"}' \
	'{"object":"organization.costs.result","amount":{"value":0.25,"currency":"usd"},"line_item":"Image models","project_id":"proj_demo"}' \
	>"$TALLY_DATA_DIR/openai_costs.json"
"$BIN" reconcile import "$TALLY_DATA_DIR/openai_costs.json" --format openai >/dev/null || fail "reconcile import failed"

# screenshots of every page, kept for review (git-ignored)
shots="$root/artifacts/screenshots"
rm -rf "$shots"
TALLY_URL=$url TALLY_ADMIN_TOKEN=$admin TALLY_VIEWER_TOKEN=$viewer TALLY_VIEWER_TEAM=support \
	OUT_DIR="$shots" node tests/browser/test_dashboard.mjs
status=$?
say "screenshots of every page: $shots"
exit $status
