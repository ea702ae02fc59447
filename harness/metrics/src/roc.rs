//! The empirical ROC curve, sensitivity at a target specificity, and average precision.
//!
//! Points follow R pROC's convention: thresholds −∞, the midpoints between consecutive distinct
//! scores, and +∞, in increasing order; a case is called positive when its score is above the
//! threshold. So point k (k = 0..=D for D distinct scores) calls the first k tie groups negative.

use crate::ranks::TieGroup;

/// One point of the empirical ROC curve.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RocPoint {
    /// Threshold: −∞ for the first point, +∞ for the last, else a midpoint between scores.
    pub threshold: f64,
    /// Specificity = (n − fp)/n = tn/n.
    pub specificity: f64,
    /// Sensitivity = tp/m.
    pub sensitivity: f64,
}

/// All D + 1 points of the empirical ROC curve, in increasing threshold (pROC `roc()$thresholds`,
/// `$specificities`, `$sensitivities`). Empty when a class is absent.
pub fn roc_curve(groups: &[TieGroup]) -> Vec<RocPoint> {
    let (m, n) = crate::ranks::class_counts(groups);
    if m == 0 || n == 0 {
        return Vec::new();
    }
    let (mf, nf) = (m as f64, n as f64);
    let mut out = Vec::with_capacity(groups.len() + 1);
    let (mut tn, mut fneg) = (0u64, 0u64);
    out.push(RocPoint {
        threshold: f64::NEG_INFINITY,
        specificity: 0.0,
        sensitivity: 1.0,
    });
    for (k, g) in groups.iter().enumerate() {
        tn += g.neg;
        fneg += g.pos;
        let threshold = match groups.get(k + 1) {
            Some(next) => (g.value + next.value) / 2.0,
            None => f64::INFINITY,
        };
        out.push(RocPoint {
            threshold,
            specificity: tn as f64 / nf,
            sensitivity: (m - fneg) as f64 / mf,
        });
    }
    out
}

/// Sensitivity at a target specificity, two ways.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SensAtSpec {
    /// pROC `coords(roc, x = target, input = "specificity", ret = "sensitivity")`: the first
    /// point with specificity exactly equal to the target if any, else linear interpolation
    /// between the two points that bracket it.
    pub interpolated: f64,
    /// The conservative step value: max sensitivity over points with specificity ≥ target.
    pub step: f64,
}

/// Sensitivity at `target` specificity (in [0, 1]) from a tie table, in O(D).
/// `None` when a class is absent or the target is outside [0, 1].
pub fn sens_at_spec(groups: &[TieGroup], target: f64) -> Option<SensAtSpec> {
    if !(0.0..=1.0).contains(&target) {
        return None;
    }
    let (m, n) = crate::ranks::class_counts(groups);
    if m == 0 || n == 0 {
        return None;
    }
    let (mf, nf) = (m as f64, n as f64);
    // Walk the curve (see `roc_curve`) without materialising it, keeping the previous point.
    // Specificity is non-decreasing and reaches 1 at the last point, so the walk always stops.
    let mut prev = (0.0f64, 1.0f64); // point 0: threshold −∞
    if prev.0 >= target {
        return Some(SensAtSpec {
            interpolated: prev.1,
            step: prev.1,
        });
    }
    let (mut tn, mut fneg) = (0u64, 0u64);
    for g in groups {
        tn += g.neg;
        fneg += g.pos;
        let (sp, se) = (tn as f64 / nf, (m - fneg) as f64 / mf);
        if sp >= target {
            if sp == target {
                // The first exact point has the lowest threshold, hence the highest sensitivity.
                return Some(SensAtSpec {
                    interpolated: se,
                    step: se,
                });
            }
            let prop = (target - sp) / (prev.0 - sp);
            return Some(SensAtSpec {
                interpolated: se + prop * (prev.1 - se),
                step: se,
            });
        }
        prev = (sp, se);
    }
    None
}

/// Average precision as scikit-learn defines it (`average_precision_score`):
/// AP = Σₖ (Rₖ − Rₖ₋₁)·Pₖ over distinct thresholds in descending order, tied scores forming one
/// threshold, step-wise (no interpolation). `None` without positives (scikit-learn would warn
/// and return 0 or NaN) or without any case.
pub fn average_precision(groups: &[TieGroup]) -> Option<f64> {
    let (m, _) = crate::ranks::class_counts(groups);
    if m == 0 {
        return None;
    }
    let mf = m as f64;
    let (mut tp, mut fp) = (0u64, 0u64);
    let (mut ap, mut recall_prev) = (0.0f64, 0.0f64);
    for g in groups.iter().rev() {
        tp += g.pos;
        fp += g.neg;
        if g.pos == 0 {
            continue; // recall unchanged: the term is 0
        }
        let precision = tp as f64 / (tp + fp) as f64;
        let recall = tp as f64 / mf;
        ap += (recall - recall_prev) * precision;
        recall_prev = recall;
    }
    Some(ap)
}
