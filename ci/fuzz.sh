#!/usr/bin/env bash
# Fuzz the harness's input readers with cargo-fuzz (libFuzzer + AddressSanitizer), each target
# for a fixed time. Not part of ci/test.sh (too slow for every run); works on a fresh clone.
#
#   bash ci/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]      # default 60 s, every target
#
# Targets (fuzz/fuzz_targets/): eval_csv (the evaluation CSV reader), datasets_toml (the dataset
# registry), suite_toml (suites and their acceptance criteria), model_tract, model_candle,
# model_ort (Backend::load of each engine; model_ort is a no-op when no ONNX Runtime library
# can be found, and says so), dicom_image (the DICOM reader and its frame codecs: JPEG, JPEG-LS,
# JPEG 2000, RLE, native; seeded with the committed samples and, when ci/dicom_conformance.sh
# has run, pydicom's test files), tiff_image (the TIFF reader: pages, codecs; seeded with the
# files ci/tiff_conformance.py writes, where python3 has numpy and Pillow).
#
# Installs what is missing: g++ (libfuzzer-sys compiles libFuzzer), cargo-fuzz (crates.io); it
# needs the nightly toolchain. Seed corpora are made from the repository's own files under
# fuzz/corpus/<target>/ (git-ignored; kept between runs so coverage accumulates). A crashing
# input is saved as fuzz/artifacts/<target>/crash-* (or oom-*, timeout-*); replay one with
#   fuzz/target/x86_64-unknown-linux-gnu/release/<target> fuzz/artifacts/<target>/crash-...
# then turn it into a regression test (see fuzz/README.md).
#
# Exit status: 0 when no target crashed, 1 when one did (or a build or set-up step failed).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"

all_targets=(eval_csv datasets_toml suite_toml model_tract model_candle model_ort dicom_image tiff_image)
secs="${1:-60}"
if ! [[ "$secs" =~ ^[0-9]+$ ]] || [ "$secs" -lt 1 ]; then
    echo "usage: bash ci/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]" >&2
    exit 2
fi
shift || true
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=("${all_targets[@]}")
for t in "${targets[@]}"; do
    [[ " ${all_targets[*]} " == *" $t "* ]] || { echo "fuzz.sh: unknown target '$t' (have: ${all_targets[*]})" >&2; exit 2; }
done

log() { echo "fuzz.sh: $*" >&2; }
CARGO_FUZZ_VERSION="0.13.2"
triple="x86_64-unknown-linux-gnu"

# --- set-up (idempotent) ---------------------------------------------------------------------
if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    log "installing the nightly toolchain (cargo-fuzz needs it)"
    rustup toolchain install nightly --profile minimal
fi
if ! command -v c++ >/dev/null 2>&1 && ! command -v g++ >/dev/null 2>&1 && ! command -v clang++ >/dev/null 2>&1; then
    log "installing g++ (libfuzzer-sys builds libFuzzer from C++ source)"
    if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq g++ >/dev/null
    else sudo apt-get update -qq && sudo apt-get install -y -qq g++ >/dev/null; fi
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    log "installing cargo-fuzz $CARGO_FUZZ_VERSION from crates.io"
    cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi
# ONNX Runtime for model_ort (optional: without it that target skips itself).
if [ -z "${ORT_DYLIB_PATH:-}" ]; then
    if ort_line=$(bash ci/setup-python.sh 2>/dev/null); then
        eval "$ort_line"
        export ORT_DYLIB_PATH
    else
        log "onnxruntime wheel unavailable: model_ort will skip"
    fi
fi

# --- build (one cargo invocation for all targets) --------------------------------------------
# 16 codegen units: a much shorter build on a 2-core machine, for a little fuzzing speed.
log "building the fuzz targets (cargo +nightly fuzz build, AddressSanitizer)"
build_args=()
[ "${#targets[@]}" -eq 1 ] && build_args=("${targets[0]}")
cargo +nightly fuzz build --codegen-units 16 "${build_args[@]}"
bin_dir="fuzz/target/$triple/release"

# --- seed corpora from the repository's files ------------------------------------------------
seed() { # seed TARGET FILE...  (copies each existing file in under a stable name)
    local t="$1"; shift
    mkdir -p "fuzz/corpus/$t"
    for f in "$@"; do
        [ -f "$f" ] || continue
        cp -f "$f" "fuzz/corpus/$t/seed-$(echo "$f" | tr '/' '_')"
    done
}
shared="$(cd .. && pwd)/shared"
seed eval_csv harness/testdata/metrics/cases/*.csv harness/testdata/bad/*.csv \
    "$shared"/fixtures/metrics/cases/*.csv "$shared"/fixtures/bad/*.csv data/example/*.csv
# Hand-made CSV shapes the files above lack: quotes with embedded newlines and commas, CRLF, a BOM.
mkdir -p fuzz/corpus/eval_csv
printf 'case_id,label,score,score_b,sex,age_band,site\r\n"a,1",1,0.5,"F\r\nX",40-49,"A""B"\r\n2,0,5e-1,0,,(missing),C\r\n' \
    > fuzz/corpus/eval_csv/seed-hand-quoted-crlf.csv
printf '\xef\xbb\xbflabel,score,score_b,sex,age_band,site\n1, 0.25 ,1.0,M,x,y\n\n0,\t0\t,-0.0,F,x,y\n' \
    > fuzz/corpus/eval_csv/seed-hand-bom-spaces.csv
seed datasets_toml datasets.toml
seed suite_toml suites/*.toml harness/cli/tests/e2e/e2e.toml
seed dicom_image data/dicom-samples/images/*.dcm
for f in target/dicom-ref/venv/lib/python3*/site-packages/pydicom/data/test_files/*.dcm; do
    [ -f "$f" ] && [ "$(stat -c %s "$f")" -le 262144 ] && seed dicom_image "$f"
done
tiff_seeds="fuzz/target/tiff-seeds"
if [[ " ${targets[*]} " == *" tiff_image "* ]] && python3 -c "import numpy, PIL" 2>/dev/null; then
    python3 ci/tiff_conformance.py --files-only "$tiff_seeds" >/dev/null
    seed tiff_image "$tiff_seeds"/*.tif
fi
for t in model_tract model_candle model_ort; do
    seed "$t" models/test/*.onnx models/vendor-a.onnx harness/backends/tests/data/*.onnx
done

# --- run -------------------------------------------------------------------------------------
scratch="$root/fuzz/target/scratch"
mkdir -p "$scratch" fuzz/logs
export HARNESS_FUZZ_SCRATCH="$scratch"
summary=()
failed=0
for t in "${targets[@]}"; do
    case "$t" in
        eval_csv) opts=(-max_len=16384 -timeout=10 -dict=fuzz/dicts/eval_csv.dict) ;;
        datasets_toml|suite_toml) opts=(-max_len=16384 -timeout=10 "-dict=fuzz/dicts/$t.dict") ;;
        model_ort) opts=(-max_len=131072 -timeout=30 -detect_leaks=0) ;;
        dicom_image|tiff_image) opts=(-max_len=262144 -timeout=30) ;;
        model_*) opts=(-max_len=131072 -timeout=30) ;;
    esac
    mkdir -p "fuzz/artifacts/$t"
    logf="fuzz/logs/$t.log"
    log "running $t for ${secs}s (log: $logf)"
    # ASan's allocator answers an impossible request (more than its 1 TiB maximum) with null, as
    # glibc does in the release binary, instead of aborting: tract then panics ("failed to
    # allocate"), which the backend wrapper must turn into a load error.
    asan="${ASAN_OPTIONS:-}"
    case "$t" in model_*) asan="allocator_may_return_null=1${asan:+:$asan}" ;; esac
    rc=0
    # -rss_limit_mb also caps any single allocation (malloc_limit_mb defaults to it): a model
    # or file that makes the harness ask for gigabytes is reported as a crash (oom-*).
    ASAN_OPTIONS="$asan" timeout --kill-after=30 $((secs + 180)) \
        "$bin_dir/$t" "fuzz/corpus/$t" -max_total_time="$secs" -rss_limit_mb=2048 \
        -artifact_prefix="fuzz/artifacts/$t/" -print_final_stats=1 "${opts[@]}" \
        >"$logf" 2>&1 || rc=$?
    runs=$(grep -oE '^Done [0-9]+ runs' "$logf" | grep -oE '[0-9]+' | tail -1 || true)
    if [ -z "$runs" ]; then
        runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$logf" | grep -oE '[0-9]+$' | tail -1 || true)
    fi
    if [ -z "$runs" ]; then
        runs=$(grep -oE '^#[0-9]+' "$logf" | tr -d '#' | tail -1 || true)
    fi
    artifact=$(grep -oE "(Test unit written to|artifact_prefix.*; Test unit written to) [^ ]+" "$logf" | awk '{print $NF}' | tail -1 || true)
    cov=$(grep -oE 'cov: [0-9]+' "$logf" | tail -1 | grep -oE '[0-9]+' || true)
    if grep -q 'SKIPPED' "$logf"; then
        outcome="skipped (no ONNX Runtime library)"
    elif [ "$rc" -eq 0 ]; then
        outcome="ok, no crash"
    else
        failed=1
        kind=$(grep -oE 'ERROR: libFuzzer: [a-z-]+|ERROR: AddressSanitizer: [a-z-]+' "$logf" | head -1 || true)
        outcome="CRASH (exit $rc${kind:+, $kind}${artifact:+, input: $artifact})"
    fi
    summary+=("$(printf '%-14s runs=%-9s cov=%-6s %s' "$t" "${runs:-?}" "${cov:-?}" "$outcome")")
done
rm -rf "$scratch"

echo "== fuzz summary (${secs}s per target) =="
printf '%s\n' "${summary[@]}"
if [ "$failed" -ne 0 ]; then
    echo "fuzz.sh: a target crashed: replay with $bin_dir/<target> <input>, see the log in fuzz/logs/" >&2
fi
exit "$failed"
