#!/usr/bin/env bash
# Everything CI runs, in one place: setup, formatting, lints, host tests (runtime unit and
# property tests, CLI end to end, golden MLPerf Tiny data), the runtime for every embedded
# target, and the firmware on the QEMU boards.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each step's heading says when it starts, to see where CI's time goes.
step() { printf '\n== %s (at %d s)\n' "$*" "$SECONDS"; }

step "setup (Rust targets, QEMU)"
bash .ci/install-deps.sh

step "format"
cargo fmt --all -- --check

step "lints"
cargo clippy --workspace --all-targets --quiet -- -D warnings
# The runtime with only the MLPerf Tiny operators (per-operator cargo features), and without
# the blob decoder (compiled-in models only).
cargo clippy -p mote --quiet --no-default-features --features \
  blob,op-conv,op-depthwise,op-fully-connected,op-add,op-average-pool,op-softmax,op-reshape -- -D warnings
cargo clippy -p mote --quiet --no-default-features --features all-ops -- -D warnings

step "runtime for the embedded targets"
cargo check-embedded --quiet

step "firmware: format, lints (its own workspace; each board from its own folder)"
(cd firmware && cargo fmt -p mote-firmware -- --check)
for board in mps2-an386 riscv32-virt mps2-an385 netduinoplus2 b-l475e-iot01a microbit nrf52840-dk rp2040-pico esp32c3-devkit; do
  (cd "firmware/$board" && cargo fmt -- --check && cargo clippy --release --quiet -- -D warnings)
done
# A runner with a model compiled in (what `mote bench --compiled` builds).
(cd firmware/mps2-an386 && MOTE_BLOB="$PWD/../../models/digits/digits.mote" cargo clippy --release --quiet \
  --target-dir ../target/compiled-digits --no-default-features \
  --features compiled,mote/op-fully-connected,mote/op-softmax -- -D warnings)
# The smallest application (the digits MLP alone; tests/firmware_size.rs measures and runs it).
(cd firmware/bare-digits && cargo fmt -- --check && cargo clippy --profile size --quiet -- -D warnings)
# The micro:bit's field runner (updates over its UART; tests/field_update.rs).
(cd firmware/microbit && cargo clippy --release --quiet --no-default-features --features field -- -D warnings)

step "host tests (with tests/parity.rs, firmware.rs, firmware_size.rs: host vs QEMU, sizes)"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace 2>&1 | tee "$log"
# The runtime with the other operators left out (a blob with one is refused, naming it), and
# the convolutions without their optional paths (`kernels::KernelPath`: refused by name too).
cargo test -p mote --no-default-features --features blob,op-conv,op-depthwise 2>&1 | tee -a "$log"

step "Miri: the kernels' unsafe code, portable and RISC-V (built for the host), few cases"
miri=$(sed -n 's/^miri_toolchain=//p' .ci/install-deps.sh)
export MIRIFLAGS="-Zmiri-disable-isolation"
# Miri interprets on one core: the two tiers run side by side, each in its own target folder,
# once the shared sysroot is built (two builds of it at once would race).
cargo "+$miri" miri setup
miri_riscv=$(mktemp)
MOTE_RISCV_KERNELS=1 CARGO_TARGET_DIR=target/miri-riscv \
  cargo "+$miri" miri test -p mote --lib kernels::optimized::suite::optimized:: >"$miri_riscv" 2>&1 &
riscv_pid=$!
# (An EXIT trap's failing command would become the script's status: hence `|| true`.)
trap 'kill "$riscv_pid" 2>/dev/null || true; rm -f "$log" "$miri_riscv"' EXIT
cargo "+$miri" miri test -p mote --lib kernels::optimized::suite::optimized:: 2>&1 | tee -a "$log"
riscv_status=0
wait "$riscv_pid" || riscv_status=$?
tee -a "$log" <"$miri_riscv"
rm -f "$miri_riscv"
trap 'rm -f "$log"' EXIT
[ "$riscv_status" -eq 0 ] || { echo "Miri (RISC-V kernels) failed" >&2; exit 1; }

step "fuzz smoke run (each target briefly; long runs: bash scripts/fuzz.sh 600)"
bash scripts/fuzz.sh 10

echo "all steps done in $SECONDS s"
# One closing line for the whole run (cargo's own last lines are doc-test summaries).
awk '/^test result:/ { p += $4; f += $6 } END { printf "\ntests: %d passed, %d failed\n", p, f }' "$log"
