#!/usr/bin/env bash
# Resident-memory budget (DESIGN.md "Budgets"): the daemon with 100 simulated miners at a
# 10 s poll must stay at or under 32 MB after 10 minutes.
#
# Runs `hmm demo --miners 100 --poll 10s --for <duration>` from a native release build: the
# real daemon (collector, store commits, feeds, rhai widgets and rules, web server) exactly
# as `hmm run` starts it. The demo's 100 simulated devices and its fixture feed servers live
# in the same process, so the figure is an upper bound on what the daemon alone uses.
# While it runs, the status page and /api/miners are fetched every 30 s so page rendering is
# part of the peak. VmHWM (peak resident set) and VmRSS are read from /proc/<pid>/status
# every 5 s; the reading taken just before the demo ends is reported.
#
# usage: scripts/rss-check.sh
# env:   HMM_RSS_DURATION  run length (humantime; default 600s; CI uses the default, a
#                          shorter value is for local trials only)
#        HMM_RSS_BUDGET_KB budget in kB (default 32768 = 32 MB)
#        HMM_BIN           binary to measure (default: builds target/release/hmm)
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${HMM_RSS_DURATION:-600s}
budget_kb=${HMM_RSS_BUDGET_KB:-32768}
target_dir=${CARGO_TARGET_DIR:-target}

if [ -n "${HMM_BIN:-}" ]; then
  bin=$HMM_BIN
else
  cargo build --release --bin hmm
  bin="$target_dir/release/hmm"
fi

work=$(mktemp -d)
# shellcheck source=scripts/lib-port.sh
. scripts/lib-port.sh
port=$(free_port)
cleanup() {
  if [ -n "${pid:-}" ] && kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid"; fi
  rm -rf "$work"
}
trap cleanup EXIT

HMM_LOG=${HMM_LOG:-warn} "$bin" demo --miners 100 --poll 10s --for "$duration" \
  --web "127.0.0.1:$port" --data-dir "$work/data" >"$work/demo.log" 2>&1 &
pid=$!
echo "rss-check: hmm demo (pid $pid) with 100 simulated miners, 10 s poll, for $duration"

hwm_kb=0 rss_kb=0 ticks=0 pages=0
while kill -0 "$pid" 2>/dev/null; do
  status=$(cat "/proc/$pid/status" 2>/dev/null || true)
  h=$(awk '/^VmHWM:/ { print $2 }' <<<"$status")
  r=$(awk '/^VmRSS:/ { print $2 }' <<<"$status")
  # A zombie has no Vm lines: keep the last live reading.
  if [ -n "$h" ]; then hwm_kb=$h; rss_kb=$r; fi
  if [ $((ticks % 6)) -eq 3 ]; then
    if curl -fsS -o /dev/null "http://127.0.0.1:$port/" && curl -fsS -o /dev/null "http://127.0.0.1:$port/api/miners"; then
      pages=$((pages + 1))
    fi
  fi
  ticks=$((ticks + 1))
  sleep 5
done
wait "$pid" && code=0 || code=$?
pid=
if [ "$code" -ne 0 ]; then
  echo "rss-check: hmm demo exited with $code; its log:" >&2
  tail -n 40 "$work/demo.log" >&2
  exit 1
fi
if [ "$pages" -eq 0 ]; then
  echo "rss-check: the status page was never served; log:" >&2
  tail -n 40 "$work/demo.log" >&2
  exit 1
fi

awk -v h="$hwm_kb" -v r="$rss_kb" -v b="$budget_kb" -v d="$duration" -v p="$pages" 'BEGIN {
  printf "rss-check: after %s with 100 miners: VmHWM %d kB (%.1f MB), VmRSS %d kB (%.1f MB); budget %.1f MB; page fetched %d times\n",
    d, h, h / 1024, r, r / 1024, b / 1024, p
}'
if [ "$hwm_kb" -gt "$budget_kb" ]; then
  echo "rss-check: peak resident memory $hwm_kb kB is over the $budget_kb kB budget" >&2
  exit 1
fi
