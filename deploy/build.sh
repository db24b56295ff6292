#!/usr/bin/env bash
# Build everything the board needs: the aarch64 `trader` binary, the MCU firmware, and the Debian package.
# Chooses the way to cross-compile: `cross` (with Docker or Podman) when available, else the native cross
# toolchain (gcc-aarch64-linux-gnu; hardware.md §7.2).
#
#   deploy/build.sh [--cross | --native] [--no-deb]
set -euo pipefail
cd "$(dirname "$0")/.."
target=aarch64-unknown-linux-gnu
how=auto
deb=true
while (($#)); do
  case $1 in
    --cross) how=cross ;;
    --native) how=native ;;
    --no-deb) deb=false ;;
    -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift
done
if [[ $how == auto ]]; then
  if command -v cross >/dev/null && { command -v docker >/dev/null || command -v podman >/dev/null; }; then
    how=cross
  else
    how=native
  fi
fi
echo "==> trader for $target ($how)"
case $how in
  # cross looks for Cross.toml; ours is the fixed top-level cross.toml.
  cross) CROSS_CONFIG=cross.toml cross build --release --locked -p trader --target "$target" ;;
  native) cargo build --release --locked -p trader --target "$target" ;;
esac
echo "==> MCU firmware"
(cd mcu-firmware && cargo build --release --locked)
cp mcu-firmware/target/thumbv8m.main-none-eabihf/release/trader-mcu target/mcu-firmware.elf
if $deb; then
  echo "==> Debian package"
  command -v cargo-deb >/dev/null || cargo install --locked cargo-deb
  cargo deb --no-build --no-strip -p trader --target "$target" --output target/
fi
echo "done: target/$target/release/trader, target/mcu-firmware.elf$($deb && echo ", target/trader_*_arm64.deb")"
