#!/usr/bin/env python3
"""Writes harness/metrics/tests/data/normal_tail.json: high-precision reference values of the
two-sided normal p-value 2*Phi(-|z|) = erfc(|z|/sqrt(2)) and of Phi(z), for z across the whole
range the statistics use, computed with mpmath at 60 significant digits from the exact binary
value of each z (so the reference is the correctly rounded answer for that double).

    pip install mpmath && python3 ci/gen_normal_reference.py

Run once; the output is committed. harness/metrics/tests/normal_tail.rs checks the harness's
p-values at 1e-14 relative wherever p >= 1e-300 (and 0 or a subnormal below).
"""
import json
import os

import mpmath

mpmath.mp.dps = 60

zs = sorted({0.0, 1e-300, 1e-12, 1e-6, 0.001, 0.1, 0.25, 0.5, 0.6744897501960817, 0.71948, 0.719480000001,
             1.0, 1.2815515655446004, 1.6448536269514722, 1.959963984540054, 2.0, 2.3263478740408408, 2.5,
             2.5758293035489004, 3.0, 3.2905267314918945, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0, 8.5, 9.0, 10.0,
             12.0, 15.0, 18.0, 20.0, 22.0, 25.0, 26.55, 28.0, 30.0, 32.0, 34.0, 35.0, 36.0, 37.0, 37.5, 37.519,
             37.6, 38.0, 38.4, 38.5, 39.0, 40.0, 50.0, 1e3}
            | {k / 64 for k in range(1, 64 * 9)} | {-0.5, -1.959963984540054, -3.0, -8.0})
rows = []
for z in zs:
    x = mpmath.mpf(z)  # exact value of the double
    p = mpmath.erfc(abs(x) / mpmath.sqrt(2))
    phi = mpmath.ncdf(x)
    rows.append({"z": z, "two_sided_p": mpmath.nstr(p, 20), "cdf": mpmath.nstr(phi, 20)})
out = os.path.join(os.path.dirname(__file__), "..", "harness", "metrics", "tests", "data", "normal_tail.json")
with open(out, "w") as f:
    json.dump({"generator": "ci/gen_normal_reference.py (mpmath %s, 60 digits)" % mpmath.__version__, "rows": rows}, f, indent=0)
    f.write("\n")
print(f"{out}: {len(rows)} values")
