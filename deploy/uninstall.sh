#!/usr/bin/env bash
# Remove Arduino Trader from a UNO Q and give /dev/ttyHS1 back to arduino-router (as root). The data in
# /var/lib/trader and the configuration in /etc/trader stay unless --purge is given. Idempotent.
#
#   uninstall.sh [--dry-run] [--purge]
set -euo pipefail
dry_run=false
purge=false
while (($#)); do
  case $1 in
    --dry-run) dry_run=true ;;
    --purge) purge=true ;;
    -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "uninstall.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift
done
run() { if $dry_run; then echo "$*"; else "$@"; fi; }
$dry_run || [[ $(id -u) -eq 0 ]] || { echo "uninstall.sh: run as root" >&2; exit 1; }

ROUTER_UNITS=(arduino-router.service arduino-router-serial.service arduino-router-serial.path)
run systemctl disable --now trader.service || true
run rm -f /etc/systemd/system/trader.service /etc/udev/rules.d/60-trader.rules /usr/bin/trader
run rm -rf /usr/share/trader /usr/lib/trader
for unit in "${ROUTER_UNITS[@]}"; do
  file=/etc/systemd/system/$unit
  if [[ -L $file && $(readlink "$file") == /dev/null ]]; then
    run rm -f "$file"
  fi
  if [[ -f $file.trader-orig ]]; then
    run mv "$file.trader-orig" "$file"
  fi
done
run systemctl daemon-reload
run udevadm control --reload
run systemctl enable --now "${ROUTER_UNITS[@]}" || true
if $purge; then
  run rm -rf /var/lib/trader /etc/trader
  run userdel trader || true
  run groupdel trader-gpio || true
fi
echo "uninstalled; arduino-router owns /dev/ttyHS1 again"
