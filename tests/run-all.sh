#!/usr/bin/env bash
# Runs every check of Arduino Trader, exactly as CI does (.ci/run calls this and nothing else):
#   formatting, clippy -D warnings, all host tests, the aarch64 board build run under qemu-user,
#   the firmware's release build with its size budget, and its engine tests under qemu-system-arm.
# It installs what it needs when it can (rustup components and targets, the Debian packages of
# hardware.md §7.1) and says clearly what it skipped when it cannot. Exit code 0 only when every step ran
# and passed; a skipped step is reported but only fails the run under CI (CI=true).
set -euo pipefail
cd "$(dirname "$0")/.."

skipped=()
step() { printf '\n==> %s\n' "$*"; }
skip() { skipped+=("$1"); printf 'SKIPPED: %s\n' "$1"; }

step "toolchain"
for component in rustfmt clippy; do
  rustup component list --installed 2>/dev/null | grep -q "^${component}" || rustup component add "$component"
done
for target in aarch64-unknown-linux-gnu thumbv8m.main-none-eabihf; do
  if ! rustup target list --installed | grep -qx "$target"; then
    rustup target add "$target" || skip "rustup target $target (could not be installed)"
  fi
done

# hardware.md §7.1: the cross linker and C library for the board build, qemu-user to run it, qemu-system-arm
# for the firmware tests, systemd for `systemd-analyze security`. (Installing qemu-system-arm 7.2 may remove a backports qemu-utils; nothing needs it.)
packages=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static qemu-system-arm systemd)
missing=()
for package in "${packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    step "installing Debian packages: ${missing[*]}"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; }; then
      skip "Debian packages ${missing[*]} (apt-get failed)"
    fi
  else
    skip "Debian packages ${missing[*]} (not root: install them with apt-get to run the board build)"
  fi
fi

step "cargo fmt --check"
cargo fmt --all -- --check
cargo fmt --manifest-path mcu-firmware/Cargo.toml --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
# The firmware's display engine on the host (its tests), then as the firmware builds it (thumbv8m).
cargo clippy --manifest-path mcu-firmware/display-engine/Cargo.toml --all-targets --locked -- -D warnings
(cd mcu-firmware && cargo clippy --locked -p trader-mcu -p qemu-tests --all-targets -- -D warnings)

step "firmware: release build (thumbv8m), size budget and vector table, engine tests on an emulated Cortex-M33"
(cd mcu-firmware && cargo build --release --locked)
cargo run -q --locked -p system-tests --bin firmware_image -- mcu-firmware/target/thumbv8m.main-none-eabihf/release/trader-mcu
if command -v qemu-system-arm >/dev/null; then
  (cd mcu-firmware && cargo test --release --locked -p qemu-tests)
else
  skip "firmware tests on qemu-system-arm (install the qemu-system-arm package)"
fi

step "cargo test"
cargo test --workspace --locked
# The firmware's display engine, host-tested in its own workspace (its own lock file): golden vectors, link
# state machine, rendering.
cargo test --manifest-path mcu-firmware/display-engine/Cargo.toml --locked

step "board build: trader for aarch64-unknown-linux-gnu, run under qemu-aarch64-static"
if command -v aarch64-linux-gnu-gcc >/dev/null && command -v qemu-aarch64-static >/dev/null \
  && rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
  cargo build --release --locked -p trader --target aarch64-unknown-linux-gnu
  board_bin=target/aarch64-unknown-linux-gnu/release/trader
  run_board() { qemu-aarch64-static -L /usr/aarch64-linux-gnu "$board_bin" "$@"; }
  board_data=$(mktemp -d)
  trap 'rm -rf "$board_data"' EXIT
  run_board --version
  run_board init --data "$board_data/data"
  run_board health --data "$board_data/data" >/dev/null
  echo "aarch64 binary: $(stat -c %s "$board_bin") bytes; --version, init and health pass under qemu"
else
  skip "board build (needs aarch64-linux-gnu-gcc, qemu-aarch64-static and the rustup target)"
fi

step "deployment: the unit's security score, the Debian package, the install scripts"
score=$(systemd-analyze security --offline=true deploy/trader.service 2>/dev/null \
  | sed -n 's/.*Overall exposure level for trader.service: \([0-9.]*\).*/\1/p')
echo "systemd-analyze security deploy/trader.service: ${score:-?} (at most 2.5 required)"
if [[ -z $score ]] || ! awk -v s="$score" 'BEGIN { exit !(s <= 2.5) }'; then
  echo "deploy/trader.service: exposure ${score:-unknown} is above 2.5"
  exit 1
fi
for script in deploy/install.sh deploy/uninstall.sh deploy/build.sh deploy/flash-mcu.sh deploy/debian/postinst; do
  bash -n "$script"
done
if [[ -f target/aarch64-unknown-linux-gnu/release/trader ]]; then
  command -v cargo-deb >/dev/null || cargo install --locked --quiet cargo-deb
  cp mcu-firmware/target/thumbv8m.main-none-eabihf/release/trader-mcu target/mcu-firmware.elf
  rm -f target/trader_*_arm64.deb
  cargo deb --no-build --no-strip --locked -p trader --target aarch64-unknown-linux-gnu --output target/ 2>/dev/null
  deb=$(ls target/trader_*_arm64.deb)
  contents=$(dpkg-deb --contents "$deb")
  for path in ./usr/bin/trader ./lib/systemd/system/trader.service ./lib/udev/rules.d/60-trader.rules \
    ./etc/trader/trader.toml ./usr/share/doc/trader/trader.toml.example ./usr/lib/trader/mcu-firmware.elf; do
    grep -q " $path\$" <<<"$contents" || { echo "$deb lacks $path"; exit 1; }
  done
  echo "$deb: $(stat -c %s "$deb") bytes; binary, unit, udev rules, configuration and firmware inside"
else
  skip "Debian package (needs the aarch64 board build)"
fi

step "summary"
if ((${#skipped[@]})); then
  printf 'skipped: %s\n' "${skipped[@]}"
  if [[ ${CI:-} == true ]]; then
    echo "CI must run every step; failing."
    exit 1
  fi
else
  echo "every step ran and passed"
fi
