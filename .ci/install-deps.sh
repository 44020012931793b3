#!/usr/bin/env bash
# Installs what mote's tests need on a fresh Debian 12 machine of this kind:
# the embedded Rust targets, a pinned nightly with Miri (for the kernels' unsafe code) and
# QEMU 10 (from bookworm-backports: Debian 12's own QEMU lacks the boards).
# Idempotent: does nothing that is already done. Needs root for apt.
set -euo pipefail
cd "$(dirname "$0")/.."

toolchain=$(sed -n 's/^channel *= *"\(.*\)"/\1/p' rust-toolchain.toml)
targets="thumbv7em-none-eabihf riscv32imac-unknown-none-elf thumbv6m-none-eabi riscv32imc-unknown-none-elf"
missing=""
for t in $targets; do
  rustup target list --installed --toolchain "$toolchain" 2>/dev/null | grep -qx "$t" || missing="$missing $t"
done
if [ -n "$missing" ] || ! rustup component list --installed --toolchain "$toolchain" 2>/dev/null | grep -q '^clippy'; then
  rustup toolchain install "$toolchain" --profile minimal --component rustfmt,clippy
  rustup target add --toolchain "$toolchain" $targets
fi

# Miri checks the kernels' pointer arithmetic; it exists only on nightly, pinned here so that
# CI does not change under us (scripts/test.sh reads the name from this line).
miri_toolchain=nightly-2026-10-30
if ! rustup component list --installed --toolchain "$miri_toolchain" 2>/dev/null | grep -q '^miri'; then
  rustup toolchain install "$miri_toolchain" --profile minimal --component miri,rust-src
fi

if ! command -v qemu-system-arm >/dev/null || ! command -v qemu-system-riscv32 >/dev/null; then
  if [ "$(id -u)" != 0 ]; then
    echo "QEMU is missing. As root run: bash .ci/install-deps.sh" >&2
    exit 1
  fi
  src=/etc/apt/sources.list.d/bookworm-backports.sources
  if ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
    cat > "$src" <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    -t bookworm-backports qemu-system-arm qemu-system-riscv
fi
