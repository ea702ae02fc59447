//! Branch-free `exp` and `ln` that the compiler vectorises, and the AVX2 dispatch of the loops
//! that use them (the calibration fit's passes over every distinct score).
//!
//! The libm functions are scalar calls, which keeps a loop over 200,000 points from using
//! vector registers. These follow the textbook schemes (Tang 1989 for `exp`; fdlibm's `e_log.c`
//! for `ln`), use no fused multiply-add and no tables, and so give the same bits on every
//! x86-64 CPU whether a loop runs two lanes wide (SSE2) or four (AVX2): results never depend
//! on the machine.

// fdlibm's constants are quoted with all the digits it publishes.
#![allow(clippy::excessive_precision)]

/// Defines `fn $name(args) -> ret` that runs `body` compiled for AVX2 when the CPU has it and
/// for the x86-64 baseline otherwise (other architectures: baseline only). The body must give
/// the same bits either way: lane-wise IEEE arithmetic in a fixed order, no FMA.
macro_rules! avx2_dispatch {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) -> $ret {
            #[inline(always)]
            fn body($($arg: $ty),*) -> $ret $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2")]
                fn avx2($($arg: $ty),*) -> $ret {
                    body($($arg),*)
                }
                if std::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU has AVX2.
                    return unsafe { avx2($($arg),*) };
                }
            }
            body($($arg),*)
        }
    };
}
pub(crate) use avx2_dispatch;

const LN2_HI: f64 = 6.931_471_803_691_238_16e-1; // ln 2 rounded to 32 significant bits
const LN2_LO: f64 = 1.908_214_929_270_587_7e-10; // ln 2 − LN2_HI

/// e^x for x ≤ 0: Cody–Waite reduction x = n·ln 2 + r with |r| ≤ ln 2 / 2, e^r by its Taylor
/// series to degree 13 (truncation error < 5e-18), and 2^n put into the exponent bits (Tang
/// 1989, ACM TOMS 15:144). Below −708 (where e^x < 2^−1021) it returns 0. Within 2 ulps of
/// `f64::exp` (tested).
#[inline(always)]
pub(crate) fn exp_nonpositive(x: f64) -> f64 {
    const ROUND: f64 = 6_755_399_441_055_744.0; // 1.5·2^52: adding it rounds to an integer
    let xc = if x < -708.0 { -708.0 } else { x };
    let shifted = xc * std::f64::consts::LOG2_E + ROUND;
    let n = shifted - ROUND;
    let r = (xc - n * LN2_HI) - n * LN2_LO;
    // Taylor coefficients 1/k!, Horner from degree 13 down.
    let mut poly = 1.0 / 6_227_020_800.0;
    for inv_factorial in [
        1.0 / 479_001_600.0,
        1.0 / 39_916_800.0,
        1.0 / 3_628_800.0,
        1.0 / 362_880.0,
        1.0 / 40_320.0,
        1.0 / 5_040.0,
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
        1.0,
    ] {
        poly = poly * r + inv_factorial;
    }
    // The low bits of `shifted` hold n (two's complement); n + 1023 ∈ [2, 1023] is the biased
    // exponent of 2^n.
    let scale = f64::from_bits(shifted.to_bits().wrapping_add(1023) << 52);
    let e = poly * scale;
    if x < -708.0 { 0.0 } else { e }
}

/// ln m + k·ln 2 for m ∈ [√2/2, √2]: ln m = ln((1 + s)/(1 − s)) with s = (m − 1)/(m + 1),
/// by fdlibm's minimax polynomial in s² (Sun Microsystems 1993, `e_log.c`; error < 2^−58).
#[inline(always)]
fn ln_reduced(m: f64, k: f64) -> f64 {
    const LG: [f64; 7] = [
        6.666_666_666_666_735_130e-01,
        3.999_999_999_940_941_908e-01,
        2.857_142_874_366_239_149e-01,
        2.222_219_843_214_978_396e-01,
        1.818_357_216_161_805_012e-01,
        1.531_383_769_920_937_332e-01,
        1.479_819_860_511_658_591e-01,
    ];
    let f = m - 1.0;
    let s = f / (2.0 + f);
    let z = s * s;
    let mut r = LG[6];
    for c in LG[..6].iter().rev() {
        r = r * z + c;
    }
    let r = r * z;
    let hfsq = 0.5 * f * f;
    k * LN2_HI + ((f - (hfsq - s * (hfsq + r))) + k * LN2_LO)
}

/// ln(1 + e) for 0 ≤ e ≤ 1. Rounding 1 + e costs an absolute error of at most 2^−53 (tested
/// against `f64::ln_1p` to 2^−52 absolute).
#[inline(always)]
pub(crate) fn ln_1p_unit(e: f64) -> f64 {
    let u = 1.0 + e;
    let halve = u > std::f64::consts::SQRT_2;
    ln_reduced(
        if halve { u * 0.5 } else { u },
        if halve { 1.0 } else { 0.0 },
    )
}

/// ln y for finite y > 0 (subnormals included): the binary exponent split off from the bits, the
/// mantissa reduced to [√2/2, √2]. Within 1 ulp of `f64::ln` (tested).
#[inline(always)]
pub(crate) fn ln_positive(y: f64) -> f64 {
    // Subnormals: scale into the normal range first.
    let tiny = y < f64::MIN_POSITIVE;
    let y = if tiny {
        y * 18_014_398_509_481_984.0
    } else {
        y
    }; // 2^54
    let bits = y.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mantissa = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000); // [1, 2)
    let halve = mantissa > std::f64::consts::SQRT_2;
    let m = if halve { mantissa * 0.5 } else { mantissa };
    let k = exponent as f64 + if halve { 1.0 } else { 0.0 } - if tiny { 54.0 } else { 0.0 };
    ln_reduced(m, k)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Relative error in units of 2^-52.
    fn ulps(got: f64, want: f64) -> f64 {
        if want == 0.0 {
            got.abs() / f64::MIN_POSITIVE
        } else {
            ((got - want) / want).abs() / f64::EPSILON
        }
    }

    #[test]
    fn exp_nonpositive_matches_std_within_two_ulps() {
        let mut worst: f64 = 0.0;
        for i in 0..=200_000 {
            let x = -708.0 * (i as f64 / 200_000.0).powi(3);
            worst = worst.max(ulps(exp_nonpositive(x), x.exp()));
        }
        assert!(worst <= 2.0, "worst error {worst} ulps");
        assert_eq!(exp_nonpositive(0.0), 1.0);
        assert_eq!(exp_nonpositive(-709.0), 0.0);
        assert_eq!(exp_nonpositive(f64::NEG_INFINITY), 0.0);
    }

    #[test]
    fn ln_1p_unit_matches_std_within_an_absolute_2_pow_minus_52() {
        for i in 0..=200_000 {
            let e = (i as f64 / 200_000.0).powi(2);
            let (got, want) = (ln_1p_unit(e), e.ln_1p());
            assert!(
                (got - want).abs() <= f64::EPSILON,
                "ln(1 + {e}): {got} vs {want}"
            );
        }
        assert_eq!(ln_1p_unit(0.0), 0.0);
    }

    #[test]
    fn ln_positive_matches_std_within_one_ulp() {
        let mut worst: f64 = 0.0;
        let mut check = |y: f64| {
            let (got, want) = (ln_positive(y), y.ln());
            // Near y = 1 the result is small: judge the error against ulp(ln y) there too.
            let err = (got - want).abs() / (want.abs().max(f64::MIN_POSITIVE) * f64::EPSILON);
            worst = worst.max(err);
        };
        for i in 0..=400_000 {
            // 1e-300 … 1e300, log-spaced, plus a dense sweep around 1.
            check(10f64.powf(-300.0 + 600.0 * i as f64 / 400_000.0));
            check(0.5 + i as f64 / 400_000.0);
        }
        for y in [
            f64::MIN_POSITIVE,
            5e-324,
            1e-310,
            f64::MAX,
            1.0,
            2.0,
            std::f64::consts::SQRT_2,
        ] {
            check(y);
        }
        assert!(worst <= 1.0, "worst error {worst} ulps");
        assert_eq!(ln_positive(1.0), 0.0);
        assert!(ulps(ln_positive(5e-324), (5e-324f64).ln()) <= 1.0);
    }
}
