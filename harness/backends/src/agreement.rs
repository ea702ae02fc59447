//! Cross-backend agreement: how far apart the per-case probabilities of
//! different engines are, and how often they lead to different decisions.

use serde::{Deserialize, Serialize};

use crate::BackendError;

/// Agreement of every pair of backends, in input order (`(0,1), (0,2), (1,2), …`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agreement {
    /// Decision threshold: a case is positive when `p >= threshold` (as in `harness-metrics`).
    pub threshold: f64,
    /// One entry per pair.
    pub pairs: Vec<PairAgreement>,
}

/// Agreement of two backends over the same cases.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairAgreement {
    /// First backend's name.
    pub a: String,
    /// Second backend's name.
    pub b: String,
    /// Largest `|p_a - p_b|` over the cases (0 when there are none).
    pub max_abs_diff: f64,
    /// Cases on opposite sides of the threshold.
    pub decision_disagreements: usize,
    /// Number of cases compared.
    pub n: usize,
}

/// Compares per-case probabilities of several backends pairwise.
///
/// # Errors
///
/// [`BackendError::Agreement`] if the threshold is not in `[0, 1]`, the
/// vectors differ in length, or a value is not finite.
pub fn agreement(
    outputs: &[(String, Vec<f64>)],
    threshold: f64,
) -> Result<Agreement, BackendError> {
    if !(0.0..=1.0).contains(&threshold) {
        return Err(BackendError::Agreement(format!(
            "threshold {threshold} is not in [0, 1]"
        )));
    }
    if let Some((name, v)) = outputs.iter().find(|(_, v)| v.len() != outputs[0].1.len()) {
        return Err(BackendError::Agreement(format!(
            "{name} has {} outputs but {} has {}",
            v.len(),
            outputs[0].0,
            outputs[0].1.len()
        )));
    }
    for (name, v) in outputs {
        if let Some(i) = v.iter().position(|x| !x.is_finite()) {
            return Err(BackendError::Agreement(format!(
                "{name}: case {i} is {}",
                v[i]
            )));
        }
    }
    let mut pairs = Vec::new();
    for (i, (a, pa)) in outputs.iter().enumerate() {
        for (b, pb) in &outputs[i + 1..] {
            let max_abs_diff = pa
                .iter()
                .zip(pb)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f64::max);
            let decision_disagreements = pa
                .iter()
                .zip(pb)
                .filter(|&(x, y)| (*x >= threshold) != (*y >= threshold))
                .count();
            pairs.push(PairAgreement {
                a: a.clone(),
                b: b.clone(),
                max_abs_diff,
                decision_disagreements,
                n: pa.len(),
            });
        }
    }
    Ok(Agreement { threshold, pairs })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_by_hand() {
        let outputs = vec![
            ("tract".to_string(), vec![0.1, 0.5, 0.9]),
            ("ort".to_string(), vec![0.1, 0.49, 0.9]),
            ("candle".to_string(), vec![0.2, 0.5, 0.6]),
        ];
        let a = agreement(&outputs, 0.5).unwrap();
        assert_eq!(a.pairs.len(), 3);
        let names: Vec<(&str, &str)> = a
            .pairs
            .iter()
            .map(|p| (p.a.as_str(), p.b.as_str()))
            .collect();
        assert_eq!(
            names,
            vec![("tract", "ort"), ("tract", "candle"), ("ort", "candle")]
        );
        // 0.5 >= 0.5 is positive, 0.49 is not: one disagreement.
        assert!((a.pairs[0].max_abs_diff - 0.01).abs() < 1e-12);
        assert_eq!(a.pairs[0].decision_disagreements, 1);
        assert!((a.pairs[1].max_abs_diff - 0.3).abs() < 1e-12);
        assert_eq!(a.pairs[1].decision_disagreements, 0);
        assert_eq!(a.pairs[2].decision_disagreements, 1);
        assert_eq!(a.pairs[2].n, 3);
        let json = serde_json::to_value(&a).unwrap();
        assert_eq!(json["pairs"][0]["decision_disagreements"], 1);
    }

    #[test]
    fn mismatched_or_bad_inputs_are_errors() {
        let two = |b: Vec<f64>| vec![("a".to_string(), vec![0.1, 0.2]), ("b".to_string(), b)];
        assert!(
            agreement(&two(vec![0.1]), 0.5)
                .unwrap_err()
                .to_string()
                .contains("b has 1 outputs")
        );
        assert!(
            agreement(&two(vec![0.1, f64::NAN]), 0.5)
                .unwrap_err()
                .to_string()
                .contains("case 1")
        );
        assert!(agreement(&two(vec![0.1, 0.2]), 1.5).is_err());
        assert!(agreement(&[], 0.5).unwrap().pairs.is_empty());
    }
}
