#!/usr/bin/env python3
"""Performance bar for multi-label and patient-clustered `harness eval` (issue 15), measured
against scikit-learn in the same run on the same machine.

    python3 ci/bench_tasks.py [--harness target/release/harness] [--rows 200000]
                              [--findings 14] [--patients 50000] [--repeat 5] [--strict]

Steps
  1. write (or reuse from ci/out/) a seeded case: --rows images of --patients patients (1 to
     7 images each), --findings 0/1 finding columns with prevalences from 1 % to 30 % and one
     score column per finding (a patient effect shared by the patient's images, so the
     clustering matters);
  2. time sklearn.metrics.roc_auc_score(Y, S, average='macro') in-process on the label and
     score matrices (loaded with numpy beforehand, not timed; one warm-up, median of --repeat);
  3. time the whole `harness eval --task multilabel` process with one --finding per finding
     (wall clock, one warm-up, median of --repeat), and check its models.a.auroc_macro equals
     sklearn's within 1e-12;
  4. time the whole `harness eval --cluster patient` process on the first finding (the
     Obuchowski variance over --patients patients, O(N log N)), and check its image-level
     AUROC equals sklearn's.

Prints a table, then:
  ratio_multilabel_eval_vs_sklearn_macro=<x.xxx> (target < 1.0) PASS|FAIL
  clustered_eval_seconds=<x.xxx> (target < 1.0) PASS|FAIL

Exit status: 0 by default even when a target is missed (timings are noisy); 1 with --strict
when one is missed; 2 when the harness is missing, fails, or disagrees with scikit-learn.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import cpu_model, median  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOL = 1e-12


def write_case(path, rows, findings, patients, seed):
    import numpy as np
    rng = np.random.default_rng(seed)
    # Patients with 1-7 images, cut to exactly `rows` images.
    sizes = rng.integers(1, 8, size=patients)
    patient = np.repeat(np.arange(patients), sizes)
    if len(patient) < rows:
        patient = np.concatenate([patient, rng.integers(0, patients, rows - len(patient))])
    patient = np.sort(patient[:rows])
    prevalence = np.linspace(0.01, 0.30, findings)
    effect = rng.standard_normal((patients, findings))
    y = (rng.random((rows, findings)) < prevalence) | (
        effect[patient] > 2.3)  # a patient-level component of the labels
    signal = 1.2 * y + 0.6 * effect[patient] + rng.standard_normal((rows, findings))
    s = np.round(1.0 / (1.0 + np.exp(-signal)), 4)  # 4 decimals: many ties, as real scores
    cols = ["case_id", "patient"] + ["y%d" % k for k in range(findings)] + [
        "s%d" % k for k in range(findings)]
    with open(path, "w") as f:
        f.write(",".join(cols) + "\n")
        for i in range(rows):
            f.write("c%d,P%d,%s,%s\n" % (
                i, patient[i], ",".join("1" if v else "0" for v in y[i]),
                ",".join("%.4f" % v for v in s[i])))
    return y.astype(np.int64), s


def load(path, findings):
    import numpy as np
    arr = np.loadtxt(path, delimiter=",", skiprows=1,
                     usecols=range(2, 2 + 2 * findings), dtype=np.float64)
    return arr[:, :findings].astype(np.int64), np.ascontiguousarray(arr[:, findings:])


def timed(cmd, repeat):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        ts.append(time.perf_counter() - t0)
    return ts


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--harness", default=os.path.join(ROOT, "target/release/harness"))
    ap.add_argument("--rows", type=int, default=200000)
    ap.add_argument("--findings", type=int, default=14)
    ap.add_argument("--patients", type=int, default=50000)
    ap.add_argument("--seed", type=int, default=20261206)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--strict", action="store_true")
    a = ap.parse_args(argv)
    if not os.access(a.harness, os.X_OK):
        print("harness not found at %s (cargo build --release -p harness-cli)" % a.harness)
        return 2
    import numpy as np
    import sklearn
    from sklearn.metrics import roc_auc_score
    out_dir = os.path.join(ROOT, "ci", "out")
    os.makedirs(out_dir, exist_ok=True)
    case = os.path.join(out_dir, "tasks_r%d_f%d_p%d_s%d.csv" % (
        a.rows, a.findings, a.patients, a.seed))
    if not os.path.exists(case) or os.path.getmtime(case) < os.path.getmtime(__file__):
        t0 = time.perf_counter()
        write_case(case, a.rows, a.findings, a.patients, a.seed)
        print("case: wrote %s in %.1f s" % (case, time.perf_counter() - t0))
    else:
        print("case: reusing %s" % case)
    y, s = load(case, a.findings)
    print("machine: %s, %d CPUs; Python %s, numpy %s, scikit-learn %s" % (
        cpu_model(), os.cpu_count(), platform.python_version(), np.__version__,
        sklearn.__version__))

    sk_macro = roc_auc_score(y, s, average="macro")
    sk_times = []
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        roc_auc_score(y, s, average="macro")
        sk_times.append(time.perf_counter() - t0)
    sk_first = roc_auc_score(y[:, 0], s[:, 0])

    with tempfile.TemporaryDirectory() as tmp:
        ml_json = os.path.join(tmp, "ml.json")
        ml_cmd = [a.harness, "eval", "--task", "multilabel", "--data", case, "--json", ml_json]
        for k in range(a.findings):
            ml_cmd += ["--finding", "f%d=y%d:s%d" % (k, k, k)]
        try:
            ml_times = timed(ml_cmd, a.repeat)
            cl_json = os.path.join(tmp, "cl.json")
            cl_cmd = [a.harness, "eval", "--data", case, "--label", "y0", "--score", "s0",
                      "--cluster", "patient", "--json", cl_json]
            cl_times = timed(cl_cmd, a.repeat)
        except subprocess.CalledProcessError as e:
            print("harness failed: %s\n%s" % (" ".join(e.cmd), e.stderr.decode()[-2000:]))
            return 2
        ml = json.load(open(ml_json))
        cl = json.load(open(cl_json))
    h_macro = ml["models"]["a"]["auroc_macro"]
    h_first = cl["models"]["s0"]["auroc"]
    clustered = cl["models"]["s0"]["clustered"]
    checks = [
        ("multilabel macro AUROC", h_macro, sk_macro),
        ("clustered run's image-level AUROC", h_first, sk_first),
    ]
    ok = True
    for what, h, sk in checks:
        good = abs(h - sk) <= TOL
        ok &= good
        print("%s: harness %.15f sklearn %.15f |diff| %.1e %s" % (
            what, h, sk, abs(h - sk), "OK" if good else "MISMATCH"))
    print("clustered: %d patients, design effect %.3f, Obuchowski CI %s" % (
        clustered["n_clusters"], clustered["design_effect"], clustered["auroc_ci95_obuchowski"]))

    rows = [
        ("sklearn roc_auc_score(Y, S, average='macro'), in-process", median(sk_times)),
        ("harness eval --task multilabel (%d findings), whole process" % a.findings,
         median(ml_times)),
        ("harness eval --cluster patient (1 finding, %d patients), whole process"
         % a.patients, median(cl_times)),
    ]
    print("\n%d images x %d findings (median of %d)" % (a.rows, a.findings, a.repeat))
    for name, t in rows:
        print("  %-78s %8.3f s" % (name, t))
    ratio = median(ml_times) / median(sk_times)
    cl_s = median(cl_times)
    v1 = "PASS" if ratio < 1.0 else "FAIL"
    v2 = "PASS" if cl_s < 1.0 else "FAIL"
    print("ratio_multilabel_eval_vs_sklearn_macro=%.3f (target < 1.0) %s" % (ratio, v1))
    print("clustered_eval_seconds=%.3f (target < 1.0) %s" % (cl_s, v2))
    if not ok:
        return 2
    if a.strict and "FAIL" in (v1, v2):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
