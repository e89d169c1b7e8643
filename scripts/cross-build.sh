#!/usr/bin/env bash
# Builds hmm for the embedded targets with Debian's cross compilers (no Docker needed) and
# prints each stripped size. Fails when the aarch64-musl binary exceeds its 6 MB budget
# (DESIGN.md "Budgets") or is not static.
# Linkers, C compilers and qemu runners per target are set in .cargo/config.toml.
# usage: scripts/cross-build.sh [TARGET ...]   (default: aarch64-unknown-linux-musl armv7-unknown-linux-gnueabihf)
set -euo pipefail
cd "$(dirname "$0")/.."
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(aarch64-unknown-linux-musl armv7-unknown-linux-gnueabihf)
budget=$((6 * 1024 * 1024))
target_dir=${CARGO_TARGET_DIR:-target}

for target in "${targets[@]}"; do
  case "$target" in
    aarch64-unknown-linux-musl) linker=aarch64-linux-gnu-gcc ;;
    armv7-unknown-linux-gnueabihf) linker=arm-linux-gnueabihf-gcc ;;
    *) echo "cross-build: unknown target $target" >&2; exit 2 ;;
  esac
  command -v "$linker" >/dev/null || {
    echo "cross-build: $linker not found; apt-get install gcc-${linker%-gcc}" >&2
    exit 1
  }
  rustup target add "$target" >/dev/null
  cargo build --release --target "$target" --bin hmm
done

for target in "${targets[@]}"; do
  bin="$target_dir/$target/release/hmm"
  size=$(stat -c %s "$bin")
  # The release profile strips (strip = true); `file` confirms it and shows the linkage.
  kind=$(file -b "$bin" | grep -o 'static-pie linked\|statically linked\|dynamically linked\|, stripped\|not stripped' | tr '\n' ' ' | sed 's/ ,/,/g' || true)
  awk -v t="$target" -v s="$size" -v k="$kind" 'BEGIN { printf "size %s: %d bytes (%.2f MB) %s\n", t, s, s / 1048576, k }'
  if [ "$target" = aarch64-unknown-linux-musl ]; then
    if [ "$size" -gt "$budget" ]; then
      echo "cross-build: $bin is $size bytes, over the 6 MB budget" >&2
      exit 1
    fi
    case "$kind" in
      *"statically linked"* | *"static-pie linked"*) ;;
      *) echo "cross-build: $bin is not statically linked ($kind)" >&2; exit 1 ;;
    esac
  fi
done
