#!/bin/sh
# run.sh - the dashboard's browser test: headless Chromium (Debian's
# /usr/bin/chromium, installed here when missing) driven by playwright-core
# (web/package-lock.json) against `bin/tally up --demo` on a random port with a
# throw-away data directory. Prints the test's "ok - ..." lines; the tally log
# is printed when something fails. Exit status: the test's.
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
"$BIN" up --demo >"$log" 2>&1 &
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
	[ $i -ge 1200 ] && fail "tally up --demo wrote no endpoints.env within 120 s"
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

TALLY_URL=$url TALLY_ADMIN_TOKEN=$admin TALLY_VIEWER_TOKEN=$viewer TALLY_VIEWER_TEAM=support \
	OUT_DIR="$root/tests/browser/out" node tests/browser/test_dashboard.mjs
status=$?
exit $status
