#!/usr/bin/env bash
# A DICOM suite end to end, and no patient data in its evidence:
#   1. generate data/synthetic-lesions-dicom (ci/gen_dicom_lesions.py, pinned pydicom and
#      OpenJPEG in the venv of ci/dicom_conformance.sh) unless present;
#   2. `harness run suites/dicom-lesions.toml` (subgroups read from the DICOM headers), verify;
#   3. grep every bundle file, and the run's own output, for each identifying value the files
#      carry (patient names, IDs, birth and study dates, accession numbers, UIDs, referring
#      physician, device serial number, institution): any hit fails.
#
#   bash ci/dicom_suite_test.sh target/release/harness
set -euo pipefail
cd "$(dirname "$0")/.."
harness="${1:?usage: ci/dicom_suite_test.sh HARNESS}"
venv=target/dicom-ref/venv
if [[ ! -x "$venv/bin/python" ]]; then
    echo "dicom_suite_test: SKIPPED: the reference venv of ci/dicom_conformance.sh is missing"
    exit 0
fi
identifying=target/dicom-identifying.json
if [[ ! -d data/synthetic-lesions-dicom || ! -f "$identifying" ]]; then
    rm -rf data/synthetic-lesions-dicom
    "$venv/bin/python" ci/gen_dicom_lesions.py data/synthetic-lesions-dicom "$identifying"
fi
out=target/ci-dicom-suite
rm -rf "$out"
"$harness" run suites/dicom-lesions.toml --no-perf --out "$out" >target/ci-dicom-suite.log 2>&1 || {
    cat target/ci-dicom-suite.log; exit 1; }
"$harness" verify "$out" --project-root . >>target/ci-dicom-suite.log 2>&1 || {
    cat target/ci-dicom-suite.log; exit 1; }
python3 - "$out" "$identifying" target/ci-dicom-suite.log <<'PY'
import json, os, re, sys
out, ident, log = sys.argv[1:4]
values = json.load(open(ident))
# Numbers (dates) only count as whole tokens: "20250312" inside a longer number is not a date.
patterns = [re.compile((r"(?<![0-9])" + re.escape(v) + r"(?![0-9])") if v.isdigit() else re.escape(v))
            for v in values]
files = [os.path.join(r, f) for r, _, fs in os.walk(out) for f in fs] + [log]
hits = []
for path in files:
    text = open(path, "rb").read().decode("utf-8", "replace")
    for v, p in zip(values, patterns):
        if p.search(text):
            hits.append((path, v))
metrics = json.load(open(os.path.join(out, "metrics.json")))
text = json.dumps(metrics)
levels = [lv for lv in ("Acme Medical", "Borealis X9", "<45", ">=65", "110-<120") if lv in text]
print(f"dicom_suite_test: {len(files)} files searched for {len(values)} identifying values: {len(hits)} found; "
      f"DICOM subgroup levels in metrics.json: {', '.join(levels)}")
for path, v in hits[:20]:
    print(f"  IDENTIFYING VALUE {v!r} in {path}")
if hits or len(levels) < 5:
    sys.exit(1)
PY
