#!/usr/bin/env bash
# Runs hmm for the embedded targets under qemu user-mode emulation (qemu-user-static).
#
#   scripts/qemu-tests.sh tests [TARGET]   the whole test suite (test profile) for TARGET
#                                          (default aarch64-unknown-linux-musl); cargo runs
#                                          each test binary through the `runner` in
#                                          .cargo/config.toml (qemu-aarch64-static)
#   scripts/qemu-tests.sh smoke TARGET     the stripped release binary of TARGET (built by
#                                          scripts/cross-build.sh): --version, a small
#                                          `hmm bench`, and `hmm demo --for 20s` with the
#                                          status page fetched and checked for the fleet table
#
# Tests find their fixtures through ../shared exactly as natively: qemu-user shares the
# host's file system. Tests that start the `hmm` binary run it through HMM_TEST_EXEC_RUNNER
# (set here to the emulator), because the host cannot execute a foreign binary by itself.
#
# Slow tests under emulation: HMM_QEMU_SKIP may list test names (space separated) that the
# emulated run passes to the test harness as `--skip NAME`. It is empty by default (the
# whole suite runs); CI sets it only if a test is measured to be too slow under qemu, and
# says why next to it in .ci/run. Tests are never #[ignore]d for this.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib-port.sh
. scripts/lib-port.sh
target_dir=${CARGO_TARGET_DIR:-target}

runner_for() {
  case "$1" in
    aarch64-unknown-linux-musl) echo "qemu-aarch64-static" ;;
    armv7-unknown-linux-gnueabihf) echo "qemu-arm-static -L /usr/arm-linux-gnueabihf" ;;
    *) echo "qemu-tests: unknown target $1" >&2; return 2 ;;
  esac
}

run_tests() {
  local target=${1:-aarch64-unknown-linux-musl}
  local skips=()
  for name in ${HMM_QEMU_SKIP:-}; do skips+=(--skip "$name"); done
  [ ${#skips[@]} -eq 0 ] || echo "qemu-tests: skipping under emulation (HMM_QEMU_SKIP): ${HMM_QEMU_SKIP}"
  rustup target add "$target" >/dev/null
  local start=$(date +%s)
  # Compile first so the timing below is the emulated run alone. --no-fail-fast: every
  # test binary runs, so one failure does not hide the others.
  cargo test --target "$target" --no-run
  local built=$(date +%s)
  # Binaries the tests start themselves (the built `hmm`) need the emulator named too: the
  # host kernel cannot execute them (no binfmt_misc in CI). See tests/exec_support/mod.rs.
  HMM_TEST_EXEC_RUNNER=$(runner_for "$target") cargo test --target "$target" --no-fail-fast -- "${skips[@]}"
  echo "qemu-tests: $target test suite: build $((built - start))s, run under qemu $(( $(date +%s) - built ))s"
}

smoke() {
  local target=$1
  local bin="$target_dir/$target/release/hmm"
  [ -x "$bin" ] || { echo "qemu-tests: $bin missing; run scripts/cross-build.sh $target first" >&2; exit 1; }
  local runner
  runner=$(runner_for "$target")
  local work
  work=$(mktemp -d)
  # shellcheck disable=SC2064
  trap "rm -rf '$work'" RETURN

  echo "-- $target: hmm --version"
  local version
  version=$($runner "$bin" --version)
  echo "$version"
  grep -Eq "^hmm [0-9]+\.[0-9]+\.[0-9]+ \([0-9a-f]+ $target\)$" <<<"$version" \
    || { echo "qemu-tests: unexpected version line: $version" >&2; exit 1; }

  echo "-- $target: hmm bench --miners 10 --days 1"
  $runner "$bin" bench --miners 10 --days 1 | tee "$work/bench.txt"

  echo "-- $target: hmm demo --for 20s"
  local port
  port=$(free_port)
  HMM_LOG=warn $runner "$bin" demo --for 20s --web "127.0.0.1:$port" --data-dir "$work/data" \
    >"$work/demo.log" 2>&1 &
  local pid=$! page_ok=0
  for _ in $(seq 1 30); do
    sleep 1
    # The first poll fills the table; wait until a miner row is there.
    if curl -fsS "http://127.0.0.1:$port/" -o "$work/page.html" 2>/dev/null \
      && grep -q '<table id="fleet">' "$work/page.html" \
      && grep -q 'sim-supra' "$work/page.html" && grep -q 'H/s' "$work/page.html"; then
      page_ok=1
      break
    fi
  done
  local code=0
  wait "$pid" || code=$?
  if [ "$page_ok" -ne 1 ] || [ "$code" -ne 0 ]; then
    echo "qemu-tests: demo under qemu failed (page ok: $page_ok, exit code: $code); log:" >&2
    tail -n 40 "$work/demo.log" >&2
    exit 1
  fi
  echo "status page served the fleet table ($(grep -o '<tr' "$work/page.html" | wc -l) rows in tables); demo exited 0"
}

case "${1:-}" in
  tests) run_tests "${2:-}" ;;
  smoke) [ -n "${2:-}" ] || { echo "usage: $0 smoke TARGET" >&2; exit 2; }; smoke "$2" ;;
  *) echo "usage: $0 tests [TARGET] | smoke TARGET" >&2; exit 2 ;;
esac
