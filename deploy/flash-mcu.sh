#!/usr/bin/env bash
# Put the Arduino Trader firmware on the UNO Q's STM32U585 with the board's own OpenOCD (Path A of
# hardware.md §5.3). Run it on the board, as root. `--dry-run` prints every command instead of running it.
#
#   flash-mcu.sh [--dry-run] [--elf FILE]       back up the whole flash once, then program the ELF
#   flash-mcu.sh [--dry-run] --backup-only      only the backup (kept forever, never overwritten)
#   flash-mcu.sh [--dry-run] --restore-backup   put the exact previous flash back (Arduino's loader included)
#
# Arduino's loader can also come back with: arduino-cli burn-bootloader -b arduino:zephyr:unoq -P jlink
# (then re-enable arduino-router: see deploy/README.md).
set -euo pipefail

OPENOCD_DIR=${OPENOCD_DIR:-/opt/openocd}
OPENOCD=${OPENOCD:-$OPENOCD_DIR/bin/openocd}
ELF=/usr/lib/trader/mcu-firmware.elf
BACKUP_DIR=${BACKUP_DIR:-/var/lib/trader/mcu-backup}
FLASH_CFG=${FLASH_CFG:-/usr/share/trader/trader-flash.cfg}
FLASH_BYTES=2097152
dry_run=false
mode=program

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; }
while (($#)); do
  case $1 in
    --dry-run) dry_run=true ;;
    --elf) ELF=${2:?--elf needs a file}; shift ;;
    --backup-only) mode=backup ;;
    --restore-backup) mode=restore ;;
    -h|--help) usage; exit 0 ;;
    *) echo "flash-mcu.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
[[ -f $FLASH_CFG ]] || FLASH_CFG="$(cd "$(dirname "$0")" && pwd)/arduino/arduino-trader/unoq/trader-flash.cfg"

# Every command goes through here: printed exactly (shell-quoted, ready to paste) under --dry-run, run otherwise.
quote() {
  local a
  for a in "$@"; do
    if [[ $a =~ ^[A-Za-z0-9_./=:,+@%-]+$ ]]; then printf '%s' "$a"; else printf "'%s'" "${a//\'/\'\\\'\'}"; fi
    printf ' '
  done
}
run() {
  if $dry_run; then quote "$@"; echo; else "$@"; fi
}
openocd() {
  run "$OPENOCD" -s "$OPENOCD_DIR" -f openocd_gpiod.cfg "$@"
}
die() { echo "flash-mcu.sh: $*" >&2; exit 1; }

# 0. Preconditions: one OpenOCD at a time, and no daemon resetting the MCU during programming.
if ! $dry_run; then
  [[ $(id -u) -eq 0 ]] || die "run as root (OpenOCD drives the SWD GPIO lines)"
  [[ -x $OPENOCD ]] || die "$OPENOCD not found: this runs on the UNO Q, whose OpenOCD lives in $OPENOCD_DIR"
  ! pgrep -x openocd >/dev/null || die "another openocd is running; stop it first"
fi
if [[ $mode == program ]] && ! $dry_run; then
  [[ -f $ELF ]] || die "$ELF: no such firmware image (build it: cd mcu-firmware && cargo build --release)"
  # The image must start at flash: its vector table at 0x08000000 (hardware.md §5.5).
  if command -v readelf >/dev/null; then
    readelf -S "$ELF" | grep -q '\.vector_table *PROGBITS *08000000' \
      || die "$ELF: no .vector_table at 0x08000000; this is not the board image"
  fi
fi
run systemctl stop trader.service

# 1. BOOT0 low: the reset that ends programming samples it (hardware.md §2.6). Never read line 37.
run gpioset -c /dev/gpiochip1 -t0 37=0

backup() {
  local image=$BACKUP_DIR/flash-2MiB.bin
  if [[ -e $image ]]; then
    echo "backup exists: $image (kept; never overwritten)"
    return
  fi
  run mkdir -p "$BACKUP_DIR"
  # dump_image needs no bank numbers: both 1 MiB hardware banks, 0x08000000..0x081FFFFF.
  if $dry_run; then
    openocd -c "reset_config srst_only srst_push_pull; init; reset halt; mdw 0x40022040; dump_image $image 0x08000000 0x200000; reset run; shutdown"
    echo "# then: check the size is $FLASH_BYTES bytes, write $image.sha256 and $BACKUP_DIR/FLASH_OPTR"
    return
  fi
  local log
  log=$(openocd -c "reset_config srst_only srst_push_pull; init; reset halt; mdw 0x40022040; dump_image $image.partial 0x08000000 0x200000; reset run; shutdown" 2>&1) \
    || { echo "$log" >&2; die "the flash backup failed; nothing was programmed"; }
  [[ $(stat -c %s "$image.partial") -eq $FLASH_BYTES ]] || die "backup is not $FLASH_BYTES bytes; nothing was programmed"
  mv "$image.partial" "$image"
  (cd "$BACKUP_DIR" && sha256sum flash-2MiB.bin >flash-2MiB.bin.sha256)
  grep -o '0x40022040: [0-9a-fA-F]*' <<<"$log" | awk '{print $2}' >"$BACKUP_DIR/FLASH_OPTR"
  echo "backup: $image ($(cut -c1-16 "$image.sha256")…, FLASH_OPTR $(cat "$BACKUP_DIR/FLASH_OPTR"))"
}

program() {
  local attempt log
  for attempt in 1 2; do
    if $dry_run; then
      openocd -c "set filename0 $ELF" -f "$FLASH_CFG"
      return
    fi
    if log=$(openocd -c "set filename0 $ELF" -f "$FLASH_CFG" 2>&1) && grep -q '\*\* Verified OK \*\*' <<<"$log"; then
      echo "programmed and verified: $ELF"
      return
    fi
    # A first-flash verify failure is a known flake of the bit-banged SWD link: retry once.
    echo "$log" >&2
    echo "attempt $attempt failed" >&2
  done
  die "programming failed twice; the backup in $BACKUP_DIR restores the previous flash (--restore-backup)"
}

case $mode in
  backup) backup ;;
  program) backup; program ;;
  restore)
    [[ -f $BACKUP_DIR/flash-2MiB.bin ]] || $dry_run || die "no backup in $BACKUP_DIR"
    $dry_run || (cd "$BACKUP_DIR" && sha256sum -c flash-2MiB.bin.sha256) || die "the backup does not match its sha256"
    openocd -c "reset_config srst_only srst_push_pull; init; reset halt; program $BACKUP_DIR/flash-2MiB.bin 0x08000000 verify reset; shutdown"
    echo "# trader.service is left stopped: with the previous flash back, re-enable arduino-router (deploy/README.md)"
    exit 0
    ;;
esac
run systemctl start trader.service
