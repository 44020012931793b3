#!/usr/bin/env bash
# The main job end to end on the bundled digits model: train, quantize, compare float and int8
# accuracy, run the blob on the host and on the QEMU boards, check every output byte matches,
# and print the figures. Installs QEMU and the Rust targets first if they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/install-deps.sh
cargo mote demo "${@:-models/digits/spec.toml}"
