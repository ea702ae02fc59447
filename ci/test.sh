#!/usr/bin/env bash
# The README's test command: builds everything and runs every test. Works on a fresh clone.
#   bash ci/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== build (release) =="
cargo build --release --workspace --all-targets --locked

echo "== cargo test =="
cargo test --release --workspace --locked

# The shared metric contract, when the shared material sits beside the checkout (as in CI).
shared="$(cd .. && pwd)/shared"
if [ -f "$shared/tools/check_eval.py" ]; then
  echo "== shared/tools/check_eval.py (reference values from pROC, rms, scikit-learn, fairlearn) =="
  python3 "$shared/tools/check_eval.py" target/release/harness "$shared/fixtures/metrics"
else
  echo "== shared/tools/check_eval.py not found beside the checkout: skipped (the same fixtures run in cargo test) =="
fi
