#!/usr/bin/env bash
# Ensure numpy and scikit-learn are importable by python3 (needed by
# ci/bench_eval.py). Idempotent: installs with pip only what is missing.
set -euo pipefail

PY="${PYTHON:-python3}"

if ! command -v "$PY" >/dev/null 2>&1; then
    echo "setup-python: $PY not found" >&2
    exit 1
fi

missing=()
for mod_pkg in numpy:numpy sklearn:scikit-learn; do
    mod="${mod_pkg%%:*}"
    pkg="${mod_pkg##*:}"
    if "$PY" -c "import $mod" >/dev/null 2>&1; then
        ver="$("$PY" -c "import $mod; print($mod.__version__)")"
        echo "setup-python: $pkg already present ($ver)"
    else
        missing+=("$pkg")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "setup-python: nothing to do"
    exit 0
fi

echo "setup-python: installing ${missing[*]} with pip"
if ! "$PY" -m pip --version >/dev/null 2>&1; then
    echo "setup-python: pip is not available for $PY; install numpy and scikit-learn manually" >&2
    exit 1
fi
# Plain install first; fall back to --user, then to
# --break-system-packages for externally managed (PEP 668) interpreters.
"$PY" -m pip install --quiet "${missing[@]}" \
    || "$PY" -m pip install --quiet --user "${missing[@]}" \
    || "$PY" -m pip install --quiet --user --break-system-packages "${missing[@]}"

"$PY" -c "import numpy, sklearn; print('setup-python: now present numpy', numpy.__version__, 'scikit-learn', sklearn.__version__)"
