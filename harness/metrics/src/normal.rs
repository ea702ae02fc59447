//! The standard normal distribution in the forms the statistics need.
//!
//! Tails are computed through `erfc` (the `libm` crate: FreeBSD's/musl's `s_erf.c`, under
//! 1 ulp) with the argument `x/√2` corrected for its own rounding: the rounded quotient's
//! error would otherwise cost up to 2t²·2⁻⁵³ relative in the tail (about 1.5e-13 near
//! p = 1e-300). The result agrees with 60-digit references (`tests/normal_tail.rs`,
//! `ci/gen_normal_reference.py`) to 1e-14 relative wherever p ≥ 1e-300. The quantile is
//! `statrs`'s.

use statrs::distribution::{ContinuousCDF, Normal};
use std::f64::consts::{FRAC_2_SQRT_PI, SQRT_2};
use std::sync::OnceLock;

/// √2 − `SQRT_2`: the low part of √2 in double-double form.
const SQRT_2_LO: f64 = -9.667_293_313_452_913e-17;

fn standard() -> &'static Normal {
    static N: OnceLock<Normal> = OnceLock::new();
    N.get_or_init(Normal::standard)
}

/// erfc(x/√2), with the rounding of x/√2 corrected to first order.
fn erfc_over_sqrt2(x: f64) -> f64 {
    let t = x / SQRT_2;
    if !t.is_finite() {
        return libm::erfc(t);
    }
    // r = x − t·√2, exactly enough: the product t·SQRT_2 by a fused multiply-add, then the
    // low part of √2. ε = r/√2 is how far t is from x/√2.
    let r = (-t).mul_add(SQRT_2, x) - t * SQRT_2_LO;
    let eps = r / SQRT_2;
    // erfc(t + ε) = erfc(t) − ε·(2/√π)·exp(−t²) + O(ε²).
    libm::erfc(t) - eps * FRAC_2_SQRT_PI * libm::exp(-t * t)
}

/// Φ(x), the standard normal CDF.
pub fn cdf(x: f64) -> f64 {
    0.5 * erfc_over_sqrt2(-x)
}

/// Φ⁻¹(p), the standard normal quantile (R `qnorm`).
pub fn quantile(p: f64) -> f64 {
    standard().inverse_cdf(p)
}

/// The two-sided 95 % critical value Φ⁻¹(0.975) ≈ 1.959963984540054.
pub fn z975() -> f64 {
    static Z: OnceLock<f64> = OnceLock::new();
    *Z.get_or_init(|| quantile(0.975))
}

/// Two-sided p-value 2·Φ(−|z|) = erfc(|z|/√2), computed in the tail (no cancellation).
pub fn two_sided_p(z: f64) -> f64 {
    erfc_over_sqrt2(z.abs()).min(1.0)
}

/// The Wald test of a difference with standard error `se` (the paired DeLong and Obuchowski
/// tests): z = diff/se, two-sided p, and the 95 % CI diff ± Φ⁻¹(0.975)·se (not clamped). When
/// se = 0 a zero difference gives z = 0, p = 1 and a non-zero one leaves z and p undefined.
pub fn wald(diff: f64, se: f64) -> (Option<f64>, Option<f64>, [f64; 2]) {
    let (z, p) = if se > 0.0 {
        let z = diff / se;
        (Some(z), Some(two_sided_p(z)))
    } else if diff == 0.0 {
        (Some(0.0), Some(1.0))
    } else {
        (None, None)
    };
    let half = z975() * se;
    (z, p, [diff - half, diff + half])
}
