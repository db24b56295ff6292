#!/usr/bin/env bash
# Install Arduino Trader on a UNO Q (as root, on the board). Idempotent: run it again after an upgrade of
# arduino-router, which may bring back the units this script masks (hardware.md §2.5).
#
#   install.sh [--dry-run] [--binary PATH] [--firmware PATH]
#
# It creates the `trader` user and the `trader-gpio` group, installs the binary, the unit, the udev rules, the
# example configuration (never overwriting an existing /etc/trader/trader.toml), takes /dev/ttyHS1 over from
# arduino-router (disable, move the unit files aside, mask), and starts trader.service.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
binary=$here/../target/aarch64-unknown-linux-gnu/release/trader
firmware=""
dry_run=false
while (($#)); do
  case $1 in
    --dry-run) dry_run=true ;;
    --binary) binary=${2:?}; shift ;;
    --firmware) firmware=${2:?}; shift ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift
done
run() { if $dry_run; then echo "$*"; else "$@"; fi; }
$dry_run || [[ $(id -u) -eq 0 ]] || { echo "install.sh: run as root" >&2; exit 1; }
[[ $here == /usr/share/trader ]] || $dry_run || [[ -x $binary ]] \
  || { echo "install.sh: $binary not found (build it: deploy/build.sh)" >&2; exit 1; }

ROUTER_UNITS=(arduino-router.service arduino-router-serial.service arduino-router-serial.path)

getent group trader-gpio >/dev/null || run groupadd --system trader-gpio
getent passwd trader >/dev/null || run useradd --system --home-dir /var/lib/trader --no-create-home \
  --shell /usr/sbin/nologin --user-group trader
run usermod -a -G dialout,trader-gpio trader

# Installed from the .deb (this script lives in /usr/share/trader): the package placed the files already.
if [[ $here != /usr/share/trader ]]; then
  run install -m 0755 "$binary" /usr/bin/trader
  [[ -z $firmware ]] || run install -D -m 0644 "$firmware" /usr/lib/trader/mcu-firmware.elf
  run install -D -m 0644 "$here/arduino/arduino-trader/unoq/trader-flash.cfg" /usr/share/trader/trader-flash.cfg
  run install -D -m 0755 "$here/flash-mcu.sh" /usr/share/trader/flash-mcu.sh
  run install -D -m 0644 "$here/trader.toml.example" /usr/share/doc/trader/trader.toml.example
  run install -d -m 0750 -o root -g trader /etc/trader
  if [[ ! -e /etc/trader/trader.toml ]]; then
    run install -m 0640 -o root -g trader "$here/trader.toml.example" /etc/trader/trader.toml
  fi
  run install -m 0644 "$here/trader.service" /etc/systemd/system/trader.service
  run install -m 0644 "$here/60-trader.rules" /etc/udev/rules.d/60-trader.rules
  run udevadm control --reload
  run udevadm trigger --subsystem-match=tty --subsystem-match=gpio
fi

# Take /dev/ttyHS1 over: `systemctl mask` refuses real files in /etc/systemd/system, so move them aside first.
run systemctl disable --now "${ROUTER_UNITS[@]}" || true
for unit in "${ROUTER_UNITS[@]}"; do
  file=/etc/systemd/system/$unit
  if [[ -f $file && ! -L $file ]]; then
    run mv "$file" "$file.trader-orig"
  fi
  run ln -sfn /dev/null "$file"
done
run systemctl daemon-reload
run systemctl enable --now trader.service
echo "installed; check with: trader console --socket /run/trader/console.sock status"
