#!/usr/bin/env bash
# Builds hmm for the embedded targets with Debian's cross compilers (no Docker needed) and
# prints each stripped size. Fails when the aarch64-musl binary exceeds its 6 MB budget.
# usage: scripts/cross-build.sh [TARGET ...]   (default: aarch64-unknown-linux-musl armv7-unknown-linux-gnueabihf)
set -euo pipefail
cd "$(dirname "$0")/.."
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(aarch64-unknown-linux-musl armv7-unknown-linux-gnueabihf)
budget=$((6 * 1024 * 1024))

for target in "${targets[@]}"; do
  case "$target" in
    aarch64-unknown-linux-musl)
      export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=aarch64-linux-gnu-gcc
      export CC_aarch64_unknown_linux_musl=aarch64-linux-gnu-gcc
      export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_RUSTFLAGS="-C target-feature=+crt-static"
      ;;
    armv7-unknown-linux-gnueabihf)
      export CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_LINKER=arm-linux-gnueabihf-gcc
      export CC_armv7_unknown_linux_gnueabihf=arm-linux-gnueabihf-gcc
      ;;
    *) echo "cross-build: unknown target $target" >&2; exit 2 ;;
  esac
  rustup target add "$target" >/dev/null
  cargo build --release --target "$target" --bin hmm
  bin="target/$target/release/hmm"
  size=$(stat -c %s "$bin")
  awk -v t="$target" -v s="$size" 'BEGIN { printf "size %s: %d bytes (%.2f MB)\n", t, s, s / 1048576 }'
  if [ "$target" = aarch64-unknown-linux-musl ] && [ "$size" -gt "$budget" ]; then
    echo "cross-build: $bin is $size bytes, over the 6 MB budget" >&2
    exit 1
  fi
done
