#!/usr/bin/env bash
# The README's test command: set-up, build and every test. Works on a fresh clone.
#   bash ci/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== set-up =="
bash ci/setup-system.sh
if ort_line=$(bash ci/setup-python.sh); then
    eval "$ort_line"
    export ORT_DYLIB_PATH
else
    echo "== onnxruntime wheel unavailable: ort tests report it as unavailable and check that path =="
fi

echo "== formatting (cargo fmt --check) =="
cargo fmt --all --check
# The fuzz targets are a workspace of their own (nightly); rustfmt checks their files directly.
rustfmt --check --edition 2024 fuzz/src/lib.rs fuzz/fuzz_targets/*.rs

echo "== lints (cargo clippy, warnings are errors; undocumented unsafe blocks are denied) =="
cargo clippy --release --workspace --all-targets --locked -- -D warnings

echo "== build (release) =="
cargo build --release --workspace --all-targets --locked

echo "== cargo test =="
cargo test --release --workspace --locked

# The shared metric contract, when the shared material sits beside the checkout (as in CI).
shared="$(cd .. && pwd)/shared"
if [ -f "$shared/tools/check_eval.py" ]; then
    echo "== shared/tools/check_eval.py (reference values from pROC, rms, scikit-learn, fairlearn) =="
    python3 "$shared/tools/check_eval.py" target/release/harness "$shared/fixtures/metrics"
    echo "== shared/tools/check_tasks.py (multi-class, multi-label, patient-clustered; pROC, scikit-learn, doAUCcluster) =="
    python3 "$shared/tools/check_tasks.py" target/release/harness "$shared/fixtures/tasks"
else
    echo "== shared/tools/check_eval.py not found beside the checkout: skipped (the same fixtures run in cargo test) =="
fi

echo "== DICOM: every file of pydicom's test data decoded and compared with pydicom (pylibjpeg, gdcm) =="
bash ci/dicom_conformance.sh target/release/harness
echo "== TIFF: grey, colour, bilevel, every common codec, multi-page; compared with Pillow (libtiff) page by page =="
bash ci/tiff_conformance.sh target/release/harness
echo "== DICOM suite: subgroups from DICOM headers, end to end and verified; no identifying value in any bundle file =="
bash ci/dicom_suite_test.sh target/release/harness

echo "== the report as a reader sees it (headless Chromium) =="
out=target/ci-report
rm -rf "$out"
target/release/harness run suites/example.toml --no-perf --out "$out" >/dev/null
target/release/harness verify "$out" --project-root . >/dev/null
bash ci/browser_test.sh "$out/report.html" target/ci-report-shot

echo "== shards on a real scheduler: a 3-task Slurm job array, merged and verified (skipped with its reason where Slurm cannot run) =="
bash ci/slurm/shard_test.sh target/release/harness
