#!/usr/bin/env bash
# Make sure python3 can import what the harness and its scripts need, installing with pip only
# what is missing (or, for onnxruntime, at another version). Safe to run more than once.
#
#   bash ci/setup-python.sh [--generators] [--bench]
#
#   always        numpy, onnxruntime==1.31.1 (the harness's ort backend loads the wheel's
#                 onnxruntime/capi/libonnxruntime.so.* at run time)
#   --generators  onnx and pydicom (ci/train_models.py, ci/gen_dicom_samples.py)
#   --bench       scikit-learn (ci/bench_eval.py), pillow and onnx (ci/bench_pipeline.py)
#
# Progress goes to stderr; stdout is one line, ORT_DYLIB_PATH=<path of libonnxruntime.so.1.*>,
# so that a script can do:  eval "$(bash ci/setup-python.sh)"; export ORT_DYLIB_PATH
set -euo pipefail

PY="${PYTHON:-python3}"
ORT_VERSION="1.31.1"
ONNX_VERSION="1.23.2"     # installed only when missing; any present version is kept
PYDICOM_VERSION="3.0.2"   # idem

log() { echo "setup-python: $*" >&2; }

generators=0
bench=0
for arg in "$@"; do
    case "$arg" in
        --generators) generators=1 ;;
        --bench) bench=1 ;;
        -h|--help) sed -n '2,14p' "$0" >&2; exit 0 ;;
        *) log "unknown option '$arg' (expected --generators, --bench)"; exit 2 ;;
    esac
done

if ! command -v "$PY" >/dev/null 2>&1; then
    log "$PY not found"
    exit 1
fi

# module:pip-requirement[:exact-version]
wanted=("numpy:numpy" "onnxruntime:onnxruntime==$ORT_VERSION:$ORT_VERSION")
if [ "$generators" -eq 1 ]; then
    wanted+=("onnx:onnx==$ONNX_VERSION" "pydicom:pydicom==$PYDICOM_VERSION")
fi
if [ "$bench" -eq 1 ]; then
    wanted+=("sklearn:scikit-learn" "PIL:pillow" "onnx:onnx==$ONNX_VERSION")
fi

missing=()
for spec in "${wanted[@]}"; do
    IFS=: read -r mod req exact <<<"$spec"
    if ver="$("$PY" -c "import $mod; print($mod.__version__)" 2>/dev/null)"; then
        if [ -n "$exact" ] && [ "$ver" != "$exact" ]; then
            log "$mod $ver present but $exact is needed"
            missing+=("$req")
        else
            log "$mod already present ($ver)"
        fi
    else
        missing+=("$req")
    fi
done

if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]} with pip"
    if ! "$PY" -m pip --version >/dev/null 2>&1; then
        log "pip is not available for $PY; install ${missing[*]} manually"
        exit 1
    fi
    # Plain install first; fall back to --user, then to --break-system-packages for
    # externally managed (PEP 668) interpreters. pip's own output goes to stderr.
    "$PY" -m pip install --quiet "${missing[@]}" 1>&2 \
        || "$PY" -m pip install --quiet --user "${missing[@]}" 1>&2 \
        || "$PY" -m pip install --quiet --user --break-system-packages "${missing[@]}" 1>&2
    for spec in "${wanted[@]}"; do
        IFS=: read -r mod req exact <<<"$spec"
        log "now present $mod $("$PY" -c "import $mod; print($mod.__version__)")"
    done
else
    log "nothing to install"
fi

# The shared library inside the onnxruntime wheel (found without importing onnxruntime).
dylib="$("$PY" - <<'PYEOF'
import glob, importlib.util, os, sys
spec = importlib.util.find_spec("onnxruntime")
if spec is None or not spec.submodule_search_locations:
    sys.exit("onnxruntime is not importable")
capi = os.path.join(list(spec.submodule_search_locations)[0], "capi")
found = sorted(glob.glob(os.path.join(capi, "libonnxruntime.so.1.*"))
               + glob.glob(os.path.join(capi, "libonnxruntime.1.*.dylib"))
               + glob.glob(os.path.join(capi, "onnxruntime.dll")))
if not found:
    sys.exit("no libonnxruntime.so.1.* in " + capi)
print(os.path.realpath(found[-1]))
PYEOF
)" || { log "could not locate the onnxruntime shared library"; exit 1; }
printf 'ORT_DYLIB_PATH=%q\n' "$dylib"
