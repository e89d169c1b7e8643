#!/usr/bin/env bash
# Loads the hmm status page in headless Chromium, saves a screenshot and fails unless the
# page rendered its fleet table.
#
# usage: scripts/browser-check.sh [BINARY] [URL]
#   BINARY  hmm binary to start as `BINARY demo` (env HMM_BIN, default target/release/hmm).
#           Use "none" to check an already running server at URL.
#   URL     page to load (env HMM_URL; default: the first http:// URL the demo prints).
#   env SCREENSHOT (default target/browser-check.png), WINDOW (default 1280,1600),
#       HMM_ARGS (extra arguments after the binary; default "demo").
set -euo pipefail

BIN="${1:-${HMM_BIN:-target/release/hmm}}"
URL="${2:-${HMM_URL:-}}"
SCREENSHOT="${SCREENSHOT:-target/browser-check.png}"
WINDOW="${WINDOW:-1280,1600}"
read -r -a HMM_ARGS <<< "${HMM_ARGS:-demo}"

fail() { echo "browser-check: FAIL: $*" >&2; exit 1; }

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

if [ "$BIN" != "none" ]; then
  [ -x "$BIN" ] || fail "no executable at $BIN (build it, or pass BINARY)"
  "$BIN" "${HMM_ARGS[@]}" >"$work/server.out" 2>"$work/server.err" &
  server_pid=$!
  for _ in $(seq 1 100); do
    if [ -z "$URL" ]; then
      URL="$(grep -o 'http://[^ ]*' "$work/server.out" "$work/server.err" 2>/dev/null | head -n1 | sed 's/^[^:]*://' || true)"
    fi
    if [ -n "$URL" ] && curl -fsS -o /dev/null --max-time 2 "$URL"; then break; fi
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.err" >&2; fail "$BIN exited early"; }
    sleep 0.2
  done
fi
[ -n "$URL" ] || fail "no URL given and none printed by $BIN"
# Let the daemon complete its first poll cycle so the page is populated.
[ "$BIN" = "none" ] || sleep "${SETTLE:-8}"
curl -fsS -o /dev/null --max-time 5 "$URL" || fail "$URL does not answer"

CHROME="$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)"
if [ -z "$CHROME" ]; then
  echo "browser-check: installing chromium" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
  CHROME="$(command -v chromium)"
fi

flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
       --disable-background-networking --disable-component-update --disable-sync
       --hide-scrollbars --user-data-dir="$work/profile")

mkdir -p "$(dirname "$SCREENSHOT")"
SCREENSHOT="$(cd "$(dirname "$SCREENSHOT")" && pwd)/$(basename "$SCREENSHOT")"
timeout 60 "$CHROME" "${flags[@]}" --window-size="$WINDOW" --screenshot="$SCREENSHOT" "$URL" >/dev/null 2>"$work/chrome.err" \
  || { tail -5 "$work/chrome.err" >&2; fail "chromium could not take a screenshot"; }
[ -s "$SCREENSHOT" ] || fail "empty screenshot"

timeout 60 "$CHROME" "${flags[@]}" --dump-dom "$URL" >"$work/dom.html" 2>>"$work/chrome.err" \
  || fail "chromium could not dump the DOM"
grep -q '<table id="fleet"' "$work/dom.html" || fail "the page has no fleet table"
grep -q '<svg class="spark"' "$work/dom.html" || fail "the page has no sparklines"
rows="$(grep -o '<th scope="row">' "$work/dom.html" | wc -l)"
echo "browser-check: OK: $URL rendered ($rows table rows), screenshot $SCREENSHOT"
