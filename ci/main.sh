#!/usr/bin/env bash
# The README's main command: builds the harness and evaluates the shipped example.
#   bash ci/main.sh
# Writes results/example/eval.json and prints the summary table.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --locked -p harness-cli

# Refuse data whose bytes differ from the pinned hash in datasets.toml.
data=data/example/scores.csv
want=$(awk -F'"' '/^\[datasets.example-scores\]/{f=1} f && /^sha256/{print $2; exit}' datasets.toml)
got=$(sha256sum "$data" | cut -d' ' -f1)
if [ "$want" != "$got" ]; then
  echo "error: $data: sha256 $got does not match datasets.toml ($want)" >&2
  exit 2
fi
echo "$data: sha256 verified ($got)"

mkdir -p results/example
target/release/harness eval --data "$data" --label label \
  --score score --score score_b --group sex --group age_band --group site \
  --target-specificity 0.90 --target-specificity 0.95 \
  --bootstrap 2000 --seed 1 --json results/example/eval.json
echo "full results: results/example/eval.json"
