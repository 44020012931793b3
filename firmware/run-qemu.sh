#!/usr/bin/env bash
# Cargo runner for the firmware: run-qemu.sh BOARD ELF.
# Loads $MOTE_MODEL (a .mote blob) and $MOTE_INPUT (an input region file: u32 LE byte count,
# then the samples) when set; the result files land in the current folder. The defmt log is
# decoded with defmt-print when it is installed, else written raw to mote-log.defmt.
# The host tools' runner (`mote qemu`) is the supported way; this is for poking by hand.
set -euo pipefail
board=$1 elf=$2
sym() { nm "$elf" 2>/dev/null | awk -v s="$1" '$3 == s { print "0x" $1 }'; }
case $board in
  mps2-an386) qemu=(qemu-system-arm -machine mps2-an386 -cpu cortex-m4 -icount shift=3,sleep=off) ;;
  mps2-an385) qemu=(qemu-system-arm -machine mps2-an385 -cpu cortex-m3 -icount shift=3,sleep=off) ;;
  riscv32-virt) qemu=(qemu-system-riscv32 -machine virt -bios none -icount shift=0) ;;
  # The kits: -m only lets -device loader write their flash (see host-tools' qemu.rs).
  netduinoplus2) qemu=(qemu-system-arm -machine netduinoplus2 -m 1M -icount shift=0,sleep=off) ;;
  b-l475e-iot01a) qemu=(qemu-system-arm -machine b-l475e-iot01a -m 1M -icount shift=1,sleep=off) ;;
  microbit) qemu=(qemu-system-arm -machine microbit -m 1M -icount shift=0,sleep=off) ;;
  *) echo "unknown board $board" >&2; exit 2 ;;
esac
qemu+=(-nographic -monitor none -serial none -semihosting-config enable=on,target=native -kernel "$elf")
[ -n "${MOTE_MODEL:-}" ] && qemu+=(-device "loader,file=$MOTE_MODEL,addr=$(sym __model_start),force-raw=on")
[ -n "${MOTE_INPUT:-}" ] && qemu+=(-device "loader,file=$MOTE_INPUT,addr=$(sym __input_start),force-raw=on")
if command -v defmt-print >/dev/null; then
  timeout 60 "${qemu[@]}" | defmt-print -e "$elf"
else
  echo "defmt-print not installed: raw log in mote-log.defmt" >&2
  timeout 60 "${qemu[@]}" > mote-log.defmt
fi
