#!/usr/bin/env python3
"""Generate a synthetic evaluation case CSV shaped like the metric fixtures.

Columns: case_id,label,score,score_b,sex,age_band,site

* label    ~ Bernoulli(prevalence)
* score    model A: fairly strong, roughly calibrated, site/age-dependent shift
* score_b  model B: weaker and differently calibrated (compressed logits,
           positive offset, noisier, different site shifts)
* sex in {F,M}, age_band in {18-39,40-64,65+}, site in {A,B,C,D}, all with
  unequal frequencies, so subgroup metrics differ.

Python standard library only; deterministic for a given --seed.

    python3 ci/gen_eval_case.py --rows 200000 --prevalence 0.10 \
        --seed 20261122 --out ci/out/eval_200000.csv
"""
import argparse
import math
import os
import random
import sys

SEXES = (("F", 0.53), ("M", 0.47))
AGE_BANDS = (("18-39", 0.30), ("40-64", 0.45), ("65+", 0.25))
SITES = (("A", 0.45), ("B", 0.30), ("C", 0.17), ("D", 0.08))

# Per-subgroup logit shifts (model A, model B) and separation multipliers.
SITE_SHIFT_A = {"A": 0.00, "B": 0.25, "C": -0.35, "D": 0.60}
SITE_SEP_A = {"A": 1.00, "B": 0.90, "C": 1.10, "D": 0.65}
SITE_SHIFT_B = {"A": 0.10, "B": -0.20, "C": 0.30, "D": -0.40}
AGE_SHIFT_A = {"18-39": -0.20, "40-64": 0.00, "65+": 0.30}
AGE_SEP_B = {"18-39": 1.10, "40-64": 1.00, "65+": 0.80}
SEX_SHIFT_B = {"F": 0.00, "M": 0.15}


def _cum(table):
    names, acc, cum = [], 0.0, []
    for name, p in table:
        acc += p
        names.append(name)
        cum.append(acc)
    cum[-1] = 1.0
    return names, cum


def _pick(rng, names, cum):
    u = rng.random()
    for name, c in zip(names, cum):
        if u < c:
            return name
    return names[-1]


def _sigmoid(x):
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def generate(rows, prevalence, seed, out):
    rng = random.Random(seed)
    sex_n, sex_c = _cum(SEXES)
    age_n, age_c = _cum(AGE_BANDS)
    site_n, site_c = _cum(SITES)
    # Base intercept so model A's mean prediction is roughly the prevalence.
    base_a = math.log(prevalence / (1.0 - prevalence)) - 0.9
    gauss = rng.gauss
    rand = rng.random
    lines = ["case_id,label,score,score_b,sex,age_band,site\n"]
    for i in range(1, rows + 1):
        label = 1 if rand() < prevalence else 0
        sex = _pick(rng, sex_n, sex_c)
        age = _pick(rng, age_n, age_c)
        site = _pick(rng, site_n, site_c)
        # Model A: logit = a + b*label + shifts + N(0,1)
        za = (base_a + SITE_SHIFT_A[site] + AGE_SHIFT_A[age]
              + 2.1 * SITE_SEP_A[site] * label + gauss(0.0, 1.0))
        # Model B: weaker separation, extra noise, compressed and offset
        # (over-confident towards the middle, mis-calibrated upwards).
        zb = (-0.6 + SITE_SHIFT_B[site] + SEX_SHIFT_B[sex]
              + 1.2 * AGE_SEP_B[age] * label + gauss(0.0, 1.25))
        pa = _sigmoid(za)
        pb = _sigmoid(0.7 * zb)
        lines.append("%d,%d,%.6f,%.6f,%s,%s,%s\n"
                     % (i, label, pa, pb, sex, age, site))
    d = os.path.dirname(os.path.abspath(out))
    os.makedirs(d, exist_ok=True)
    tmp = out + ".tmp.%d" % os.getpid()
    with open(tmp, "w", newline="") as f:
        f.writelines(lines)
    os.replace(tmp, out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=200000)
    ap.add_argument("--prevalence", type=float, default=0.10)
    ap.add_argument("--seed", type=int, default=20261122)
    ap.add_argument("--out", required=True, help="output CSV path")
    a = ap.parse_args(argv)
    if a.rows < 1:
        ap.error("--rows must be >= 1")
    if not 0.0 < a.prevalence < 1.0:
        ap.error("--prevalence must be in (0, 1)")
    generate(a.rows, a.prevalence, a.seed, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
