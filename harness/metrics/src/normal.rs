//! The standard normal distribution, from `statrs`, in the two forms the statistics need.

use statrs::distribution::{ContinuousCDF, Normal};
use std::sync::OnceLock;

fn standard() -> &'static Normal {
    static N: OnceLock<Normal> = OnceLock::new();
    N.get_or_init(Normal::standard)
}

/// Φ(x), the standard normal CDF.
pub fn cdf(x: f64) -> f64 {
    standard().cdf(x)
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

/// Two-sided p-value 2·Φ(−|z|).
pub fn two_sided_p(z: f64) -> f64 {
    // Φ(−|z|) is computed directly in the lower tail: no cancellation for large |z|.
    (2.0 * cdf(-z.abs())).min(1.0)
}
