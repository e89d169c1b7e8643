#!/usr/bin/env bash
# Builds release tarballs for the embedded targets:
#   dist/hmm-<version>-<target>.tar.gz   one per target, unpacking to hmm-<version>-<target>/
#   dist/SHA256SUMS                      sha256sum of every tarball (check: sha256sum -c)
# Each tarball holds the stripped binary, hmm.example.toml, README.md, the built-in
# widgets/*.rhai and scripts/*.rhai (as examples to copy into <data_dir>/widgets|scripts),
# docs/ and packaging/ (systemd unit, OpenWrt init script, their README).
#
# usage: scripts/release.sh [TARGET ...]   (default: both targets of scripts/cross-build.sh)
# env:   HMM_RELEASE_NO_BUILD=1  package binaries already built by scripts/cross-build.sh
# Archives are reproducible: file order, owners and times are fixed (times = the commit's).
set -euo pipefail
cd "$(dirname "$0")/.."
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(aarch64-unknown-linux-musl armv7-unknown-linux-gnueabihf)
target_dir=${CARGO_TARGET_DIR:-target}
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
[ -n "$version" ] || { echo "release: no version in Cargo.toml" >&2; exit 1; }
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}

if [ "${HMM_RELEASE_NO_BUILD:-0}" != 1 ]; then
  bash scripts/cross-build.sh "${targets[@]}"
fi

mkdir -p dist
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
for target in "${targets[@]}"; do
  bin="$target_dir/$target/release/hmm"
  [ -x "$bin" ] || { echo "release: $bin missing; run scripts/cross-build.sh $target" >&2; exit 1; }
  name="hmm-$version-$target"
  root="$stage/$name"
  mkdir -p "$root/widgets" "$root/scripts" "$root/docs" "$root/packaging/openwrt"
  install -m 0755 "$bin" "$root/hmm"
  install -m 0644 hmm.example.toml README.md "$root/"
  install -m 0644 widgets/*.rhai widgets/README.md "$root/widgets/"
  install -m 0644 scripts/*.rhai "$root/scripts/"
  install -m 0644 docs/* "$root/docs/"
  install -m 0644 packaging/README.md packaging/hmm.service "$root/packaging/"
  install -m 0755 packaging/openwrt/hmm.init "$root/packaging/openwrt/"
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" \
    -C "$stage" -cf - "$name" | gzip -9n >"dist/$name.tar.gz"
  echo "release: dist/$name.tar.gz ($(stat -c %s "dist/$name.tar.gz") bytes)"
done
(cd dist && sha256sum hmm-"$version"-*.tar.gz >SHA256SUMS && cat SHA256SUMS)
