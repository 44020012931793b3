#!/usr/bin/env bash
# Fuzzes the runtime (and the .tflite importer): `bash scripts/fuzz.sh [SECONDS] [TARGET...]`.
# Seeds each target's corpus from real blobs and models, then runs each target for SECONDS
# (default 10: the smoke run of the test command). Crashes land in runtime/fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(parse parse_invoke import)

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz (once)"
  cargo install cargo-fuzz --locked --quiet
fi

corpus=runtime/fuzz/corpus
mkdir -p "$corpus/parse" "$corpus/parse_invoke" "$corpus/import"
# runtime/fuzz/seeds: blobs of the TFLM corpus models, one or more per operator family past the
# MLPerf ones (made by `cargo mote import tests/data/tflm-corpus/<model>.tflite -o
# runtime/fuzz/seeds/<model>.mote`; remade whenever a record's encoding changes).
for blob in models/*/*.mote runtime/fuzz/seeds/*.mote; do
  cp -f "$blob" "$corpus/parse/"
  cp -f "$blob" "$corpus/parse_invoke/"
done
for tflite in models/*/*.tflite tests/data/mlperf-tiny/*/model_int8.tflite; do
  [ -f "$tflite" ] && cp -f "$tflite" "$corpus/import/$(basename "$(dirname "$tflite")").tflite"
done
cp -f tests/data/tflm-corpus/*.tflite "$corpus/import/"

# cargo-fuzz needs unstable flags (sanitizers); the pinned stable toolchain accepts them with
# RUSTC_BOOTSTRAP, so no second toolchain is needed.
export RUSTC_BOOTSTRAP=1
cd runtime
for target in "${targets[@]}"; do
  echo "== fuzz $target for ${seconds}s"
  cargo fuzz run "$target" "fuzz/corpus/$target" -- -max_total_time="$seconds" -rss_limit_mb=2048 \
    -max_len=1048576 2>&1 | grep -E '^(#[0-9]+ *DONE|Done|==[0-9]+==|SUMMARY|thread)|panicked|ERROR' || true
  if ls fuzz/artifacts/"$target"/crash-* >/dev/null 2>&1; then
    echo "fuzz target $target found a crash: runtime/fuzz/artifacts/$target/" >&2
    exit 1
  fi
done
