//! Exact binomial variates from the crate's seeded generator, the same on every machine.
//!
//! A bootstrap resample of N cases is a multinomial draw; the number of draws that land in any
//! range of the sorted cases is binomial, and, given the numbers at two boundaries, the number
//! at a boundary between them is binomial again (a binomial bridge). [`crate::roc_band`] uses
//! this to read a resampled ROC curve at a few specificities without drawing every case.
//!
//! Algorithms: inversion (BINV) when `n·min(p, 1 − p) < 10`, otherwise BTPE (Kachitvichyanukul &
//! Schmeiser 1988, "Binomial random variate generation", Commun. ACM 31:216–222), an exact
//! rejection method with O(1) expected cost. The final acceptance test uses the log ratio
//! ln f(y)/f(M) with Stirling's series, whose corrections enter as +δ(M+1) + δ(n−M+1) −
//! δ(y+1) − δ(n−y+1) (the paper prints all four with a plus sign).
//!
//! The transcendental functions are `libm`'s (pure Rust, the same bits on every platform), so a
//! seed gives the same variates on every machine, which `verify` relies on.

use rand_xoshiro::Xoshiro256PlusPlus;
use rand_xoshiro::rand_core::{Rng, SeedableRng};

/// A seeded stream of binomial variates.
pub struct BinomialStream {
    rng: Xoshiro256PlusPlus,
}

impl BinomialStream {
    pub fn new(seed: u64) -> Self {
        BinomialStream {
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
        }
    }

    /// Uniform on [0, 1) with 53 random bits.
    #[inline]
    fn uniform(&mut self) -> f64 {
        (self.rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A Binomial(`n`, `p`) variate. `p` is clamped to [0, 1] (NaN counts as 0).
    pub fn sample(&mut self, n: u64, p: f64) -> u64 {
        if n == 0 || p.is_nan() || p <= 0.0 {
            return 0;
        }
        if p >= 1.0 {
            return n;
        }
        // Sample the rarer outcome and mirror.
        let (r, flip) = if p > 0.5 { (1.0 - p, true) } else { (p, false) };
        let y = if n as f64 * r < 10.0 {
            self.inversion(n, r)
        } else {
            self.btpe(n, r)
        };
        if flip { n - y } else { y }
    }

    /// `sample` with p = `k / total`, the exact fraction of a range of sorted cases.
    pub fn sample_fraction(&mut self, n: u64, k: u64, total: u64) -> u64 {
        if k == 0 || total == 0 {
            return 0;
        }
        if k >= total {
            return n;
        }
        self.sample(n, k as f64 / total as f64)
    }

    /// BINV: walk the probability mass function from 0; `n·p < 10`, `p ≤ 0.5`.
    fn inversion(&mut self, n: u64, p: f64) -> u64 {
        let q = 1.0 - p;
        let s = p / q;
        let a = (n as f64 + 1.0) * s;
        // q^n ≥ e^(−n·p/q) ≥ e^(−20): no underflow.
        let r0 = libm::pow(q, n as f64);
        'draw: loop {
            let mut u = self.uniform();
            let mut r = r0;
            let mut x = 0u64;
            while u > r {
                u -= r;
                x += 1;
                if x > n {
                    // Rounding left a sliver of mass beyond n: draw again.
                    continue 'draw;
                }
                r *= a / x as f64 - s;
            }
            return x;
        }
    }

    /// BTPE, for `n·p ≥ 10`, `p ≤ 0.5` (step numbers of the paper in the comments).
    fn btpe(&mut self, n: u64, p: f64) -> u64 {
        let nf = n as f64;
        let q = 1.0 - p;
        // Step 0: set-up.
        let fm = nf * p + p;
        let m = fm.floor();
        let npq = nf * p * q;
        let p1 = (2.195 * npq.sqrt() - 4.6 * q).floor() + 0.5;
        let xm = m + 0.5;
        let xl = xm - p1;
        let xr = xm + p1;
        let c = 0.134 + 20.5 / (15.3 + m);
        let a = (fm - xl) / (fm - xl * p);
        let lambda_l = a * (1.0 + 0.5 * a);
        let a = (xr - fm) / (xr * q);
        let lambda_r = a * (1.0 + 0.5 * a);
        let p2 = p1 * (1.0 + 2.0 * c);
        let p3 = p2 + c / lambda_l;
        let p4 = p3 + c / lambda_r;
        loop {
            // Step 1: the triangular region, accepted at once.
            let u = self.uniform() * p4;
            let mut v = self.uniform();
            if u <= p1 {
                return (xm - p1 * v + u).floor() as u64;
            }
            let y: f64;
            if u <= p2 {
                // Step 2: the parallelograms.
                let x = xl + (u - p1) / c;
                v = v * c + 1.0 - (m - x + 0.5).abs() / p1;
                if v > 1.0 {
                    continue;
                }
                y = x.floor();
            } else if u <= p3 {
                // Step 3: the left exponential tail.
                y = (xl + libm::log(v) / lambda_l).floor();
                if y < 0.0 {
                    continue;
                }
                v *= (u - p2) * lambda_l;
            } else {
                // Step 4: the right exponential tail.
                y = (xr - libm::log(v) / lambda_r).floor();
                if y > nf {
                    continue;
                }
                v *= (u - p3) * lambda_r;
            }
            // Step 5: accept y with probability f(y)/f(M) against v.
            let k = (y - m).abs();
            if k <= 20.0 || k >= npq / 2.0 - 1.0 {
                // Step 5.1: the ratio by recursion.
                let s = p / q;
                let a = s * (nf + 1.0);
                let mut f = 1.0;
                if m < y {
                    let mut i = m + 1.0;
                    while i <= y {
                        f *= a / i - s;
                        i += 1.0;
                    }
                } else if m > y {
                    let mut i = y + 1.0;
                    while i <= m {
                        f /= a / i - s;
                        i += 1.0;
                    }
                }
                if v <= f {
                    return y as u64;
                }
                continue;
            }
            // Step 5.2: squeeze on ln v.
            let rho = (k / npq) * ((k * (k / 3.0 + 0.625) + 1.0 / 6.0) / npq + 0.5);
            let t = -k * k / (2.0 * npq);
            let log_v = libm::log(v);
            if log_v < t - rho {
                return y as u64;
            }
            if log_v > t + rho {
                continue;
            }
            // Step 5.3: the log ratio by Stirling's formula.
            let x1 = y + 1.0;
            let f1 = m + 1.0;
            let z = nf + 1.0 - m;
            let w = nf - y + 1.0;
            let log_ratio = xm * libm::log(f1 / x1)
                + (nf - m + 0.5) * libm::log(z / w)
                + (y - m) * libm::log(w * p / (x1 * q))
                + stirling_correction(f1)
                + stirling_correction(z)
                - stirling_correction(x1)
                - stirling_correction(w);
            if log_v <= log_ratio {
                return y as u64;
            }
        }
    }
}

/// δ(x) = ln Γ(x) − ((x − ½) ln x − x + ½ ln 2π) ≈ 1/(12x) − 1/(360x³) + 1/(1260x⁵) −
/// 1/(1680x⁷) + 1/(1188x⁹).
fn stirling_correction(x: f64) -> f64 {
    let x2 = x * x;
    (13860.0 - (462.0 - (132.0 - (99.0 - 140.0 / x2) / x2) / x2) / x2) / x / 166320.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use statrs::distribution::{Binomial, Discrete};

    /// Pearson's χ² of `draws` variates against the exact pmf, cells pooled to an expected
    /// count ≥ 20; returns (statistic, degrees of freedom).
    fn chi_square(n: u64, p: f64, draws: usize, seed: u64) -> (f64, usize) {
        let mut stream = BinomialStream::new(seed);
        let mut counts = vec![0u64; n as usize + 1];
        for _ in 0..draws {
            let y = stream.sample(n, p);
            assert!(y <= n, "Binomial({n}, {p}) gave {y}");
            counts[y as usize] += 1;
        }
        let pmf = Binomial::new(p, n).unwrap();
        let (mut stat, mut cells) = (0.0, 0usize);
        let (mut expected, mut observed) = (0.0, 0.0);
        for (k, &c) in counts.iter().enumerate() {
            expected += pmf.pmf(k as u64) * draws as f64;
            observed += c as f64;
            if expected >= 20.0 {
                stat += (observed - expected).powi(2) / expected;
                cells += 1;
                (expected, observed) = (0.0, 0.0);
            }
        }
        // The tail left over joins the last cell's test as one more cell.
        if expected > 0.0 || observed > 0.0 {
            stat += (observed - expected).powi(2) / expected.max(1e-300);
            cells += 1;
        }
        (stat, cells - 1)
    }

    #[test]
    fn variates_follow_the_binomial_law() {
        // Both algorithms, both sides of 1/2, and the boundary between them.
        for &(n, p) in &[
            (20u64, 0.3),
            (40, 0.2499),
            (40, 0.25),
            (100, 0.5),
            (1_000, 0.03),
            (1_000, 0.97),
            (10_000, 0.5),
            (250_000, 0.013),
            (1_000_000, 0.37),
        ] {
            let (stat, df) = chi_square(n, p, 1_000_000, n ^ p.to_bits());
            // The 1e-6 upper quantile of χ²(df) is below df + 7·sqrt(2·df) + 25 for these df.
            let limit = df as f64 + 7.0 * (2.0 * df as f64).sqrt() + 25.0;
            assert!(
                stat < limit,
                "Binomial({n}, {p}): χ² = {stat:.1} on {df} df"
            );
            // A sampler that is off by a little fails this: the mean within 6 standard errors.
            let mut stream = BinomialStream::new(7);
            let draws = 100_000;
            let mean = (0..draws).map(|_| stream.sample(n, p) as f64).sum::<f64>() / draws as f64;
            let se = (n as f64 * p * (1.0 - p) / draws as f64).sqrt();
            assert!(
                (mean - n as f64 * p).abs() < 6.0 * se,
                "Binomial({n}, {p}): mean {mean}"
            );
        }
    }

    #[test]
    fn edges_and_fractions() {
        let mut s = BinomialStream::new(1);
        assert_eq!(s.sample(0, 0.5), 0);
        assert_eq!(s.sample(10, 0.0), 0);
        assert_eq!(s.sample(10, 1.0), 10);
        assert_eq!(s.sample(10, f64::NAN), 0);
        assert_eq!(s.sample_fraction(10, 0, 5), 0);
        assert_eq!(s.sample_fraction(10, 5, 5), 10);
        assert_eq!(s.sample_fraction(10, 3, 0), 0);
        for _ in 0..1000 {
            assert!(s.sample_fraction(7, 2, 3) <= 7);
        }
    }

    #[test]
    fn a_seed_gives_one_stream() {
        let draw = |seed| {
            let mut s = BinomialStream::new(seed);
            (0..50)
                .map(|i| s.sample(1000 + i * 37, 0.3))
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(5), draw(5));
        assert_ne!(draw(5), draw(6));
    }
}
