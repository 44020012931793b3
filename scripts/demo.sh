#!/usr/bin/env bash
# The main job end to end: train, quantize, compare float and int8 accuracy, run the blob on
# the host and on the QEMU boards, check every output byte matches, and print the figures.
# Installs QEMU and the Rust targets first if they are missing.
#
#   bash scripts/demo.sh                    the bundled digits classifier (a minute)
#   bash scripts/demo.sh kws                the keyword spotter from raw sound: synthesises its
#                                           speech data first if models/kws_speech/data is
#                                           missing (espeak-ng and sox, installed here if
#                                           absent), then trains it
#   bash scripts/demo.sh models/x/spec.toml any spec
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/install-deps.sh
case "${1:-}" in
  kws)
    if ! command -v espeak-ng >/dev/null || ! command -v sox >/dev/null; then
      if [ "$(id -u)" != 0 ]; then
        echo "espeak-ng and sox are missing. As root run: apt-get install -y espeak-ng sox" >&2
        exit 1
      fi
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends espeak-ng sox
    fi
    [ -d models/kws_speech/data ] || bash models/kws_speech/make_data.sh models/kws_speech/data
    cargo mote demo models/kws_speech/spec.toml
    ;;
  *) cargo mote demo "${@:-models/digits/spec.toml}" ;;
esac
