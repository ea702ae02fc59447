#!/usr/bin/env bash
# The README's main command: set-up, build, and the main job on the shipped example suite.
#   bash ci/main.sh
# Runs three candidate models on the shipped synthetic reference set through tract, ONNX Runtime
# and candle, writes the evidence bundle under results/example/<UTC time>/ and verifies it.
set -euo pipefail
cd "$(dirname "$0")/.."

bash ci/setup-system.sh
# The ort backend loads libonnxruntime from the onnxruntime wheel; without it the run goes on
# with ort reported as unavailable.
if ort_line=$(bash ci/setup-python.sh); then
    eval "$ort_line"
    export ORT_DYLIB_PATH
else
    echo "main: onnxruntime wheel not installed; the ort backend will be reported unavailable" >&2
fi

cargo build --release --locked -p harness-cli
target/release/harness datasets

out="results/example/$(date -u +%Y%m%dT%H%M%SZ)"
status=0
target/release/harness run suites/example.toml --out "$out" || status=$?
if [[ -f "$out/manifest.json" ]]; then
    target/release/harness verify "$out" --project-root .
fi
echo "report: $out/report.html  (summary: $out/summary.md)"
exit "$status"
