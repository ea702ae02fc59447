//! Adjustment of p-values for multiple comparisons.
//!
//! Holm's step-down method (Holm 1979, "A simple sequentially rejective multiple test procedure",
//! Scand J Statist 6:65–70) controls the family-wise error rate under any dependence between the
//! tests, so it suits the paired comparisons of several models on the same cases. Peer: R
//! `stats::p.adjust(p, method = "holm")`.

/// Holm-adjusted p-values, in the original order.
///
/// With the m defined p-values sorted ascending, p₍₁₎ ≤ … ≤ p₍ₘ₎, the adjusted value of p₍ᵢ₎ is
/// max_{j ≤ i} min(1, (m − j + 1)·p₍ⱼ₎) (R `pmin(1, cummax((m - i + 1) * p[o]))`). As in R:
/// * `None` entries (R's `NA`) are skipped and stay `None`; m counts only the defined ones
///   (`p.adjust`'s default `n = length(p)` is evaluated after the `NA`s are dropped);
/// * tied p-values get the same adjusted value (the running maximum carries over);
/// * with m ≤ 1 the values are returned unchanged.
///
/// A NaN is treated as undefined, so the output never holds NaN. Inputs are expected in [0, 1];
/// outputs are then in [0, 1] and never below their input.
pub fn holm(p: &[Option<f64>]) -> Vec<Option<f64>> {
    let p: Vec<Option<f64>> = p.iter().map(|v| v.filter(|x| !x.is_nan())).collect();
    let mut defined: Vec<(usize, f64)> = p
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.map(|x| (i, x)))
        .collect();
    let m = defined.len();
    if m <= 1 {
        return p;
    }
    // Stable, like R's `order`: ties keep their input order (their adjusted values are equal anyway).
    defined.sort_by(|a, b| a.1.total_cmp(&b.1));
    let mut out = p;
    let mut running = 0.0f64;
    for (rank, &(i, x)) in defined.iter().enumerate() {
        running = running.max(((m - rank) as f64 * x).min(1.0));
        out[i] = Some(running);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(p: &[f64]) -> Vec<f64> {
        holm(&p.iter().map(|&x| Some(x)).collect::<Vec<_>>())
            .into_iter()
            .map(Option::unwrap)
            .collect()
    }

    fn close(a: &[f64], b: &[f64]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-15, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn hand_computed() {
        // Sorted: 0.01 (×4 = 0.04), 0.02 (×3 = 0.06), 0.03 (×2 = 0.06), 0.04 (×1 = 0.04 → max 0.06).
        close(&all(&[0.03, 0.01, 0.04, 0.02]), &[0.06, 0.04, 0.06, 0.06]);
        // The running maximum: 0.2×3 = 0.6, 0.4×2 = 0.8, 0.5×1 = 0.5 → max(0.8, 0.5) = 0.8.
        close(&all(&[0.5, 0.2, 0.4]), &[0.8, 0.6, 0.8]);
        // The cap at 1: 0.3×3 = 0.9, 0.6×2 = 1.2 → 1, 0.7×1 → max(1, 0.7) = 1.
        close(&all(&[0.7, 0.3, 0.6]), &[1.0, 0.9, 1.0]);
    }

    #[test]
    fn matches_r_p_adjust() {
        // R: p.adjust(c(0.01, 0.02, 0.03, 0.04, 0.05), "holm") = 0.05 0.08 0.09 0.09 0.09
        close(
            &all(&[0.01, 0.02, 0.03, 0.04, 0.05]),
            &[0.05, 0.08, 0.09, 0.09, 0.09],
        );
        // R: p.adjust(c(0.04, 0.001, 0.3), "holm") = 0.080 0.003 0.300
        close(&all(&[0.04, 0.001, 0.3]), &[0.08, 0.003, 0.3]);
    }

    #[test]
    fn ties_p_one_and_single_values() {
        // Ties: R p.adjust(c(0.02, 0.02, 0.5), "holm") = 0.06 0.06 0.50
        close(&all(&[0.02, 0.02, 0.5]), &[0.06, 0.06, 0.5]);
        // p = 1 stays 1 and caps everything after it.
        close(&all(&[1.0, 0.01, 1.0]), &[1.0, 0.03, 1.0]);
        // A single p-value is returned unchanged (m = 1), as is an empty family.
        close(&all(&[0.037]), &[0.037]);
        assert!(holm(&[]).is_empty());
    }

    #[test]
    fn undefined_values_are_skipped_and_not_counted() {
        // R: p.adjust(c(0.01, NA, 0.02), "holm") = 0.02 NA 0.02 (m = 2, not 3).
        let out = holm(&[Some(0.01), None, Some(0.02)]);
        assert_eq!(out[1], None);
        close(&[out[0].unwrap(), out[2].unwrap()], &[0.02, 0.02]);
        let out = holm(&[Some(f64::NAN), Some(0.2), Some(0.3)]);
        assert_eq!(out[0], None);
        close(&[out[1].unwrap(), out[2].unwrap()], &[0.4, 0.4]);
    }
}
