//! Turning a model's raw output into probabilities: one per case for a binary
//! task, or one per declared column (finding or class) for a multi-label or
//! multi-class task.

use serde::{Deserialize, Serialize};

use crate::{BackendError, RawOutput, TensorInfo};

/// Which output of the model holds the scores (its first, unless named), what it holds per
/// case, and which of its columns are evaluated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    /// How to read the values.
    pub kind: OutputKind,
    /// Binary task: column of the positive class in an `[N, K]` output (0 for `[N]` or
    /// `[N, 1]`).
    #[serde(default)]
    pub positive_index: usize,
    /// Multi-label or multi-class task: what each output column scores, in column order: a
    /// finding or class name of the dataset, or `""` for a column that is not evaluated. The
    /// model must have exactly this many output columns. Empty for a binary task.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<String>,
    /// The output that holds the scores, by its name in the model (what [`LoadOptions::output`]
    /// loads); `None`: the first. For models that put something else first, such as
    /// scikit-learn's exports (`label`, then `probabilities`).
    ///
    /// [`LoadOptions::output`]: crate::LoadOptions::output
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// How raw output values map to a probability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputKind {
    /// Already a probability in `[0, 1]` (e.g. after a Sigmoid or Softmax node).
    Probability,
    /// A logit per column: `p = 1 / (1 + exp(-x))` (a sigmoid per finding).
    Logit,
    /// Logits over `K >= 2` classes: `p_k = exp(x_k) / sum_j exp(x_j)` over every column.
    Softmax,
}

impl OutputSpec {
    /// Probabilities per case: 1 for a binary task, else the named (evaluated) columns.
    #[must_use]
    pub fn width(&self) -> usize {
        if self.columns.is_empty() {
            1
        } else {
            self.names().count()
        }
    }

    /// The finding or class names of the evaluated columns, in column order (none for a
    /// binary task).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.columns
            .iter()
            .map(String::as_str)
            .filter(|c| !c.is_empty())
    }

    /// Checks the declaration against an output of `k` columns per case.
    ///
    /// # Errors
    ///
    /// The mistake: `positive_index >= k`, a column list whose length is not `k`, or `softmax`
    /// with `k < 2`.
    pub fn check_width(&self, k: usize) -> Result<(), String> {
        if self.columns.is_empty() && self.positive_index >= k {
            return Err(format!(
                "positive_index {} is out of range for {k} output column(s)",
                self.positive_index
            ));
        }
        if !self.columns.is_empty() && self.columns.len() != k {
            return Err(format!(
                "the model has {k} output column(s) but output.columns names {} ({})",
                self.columns.len(),
                self.columns.join(", ")
            ));
        }
        if self.kind == OutputKind::Softmax && k < 2 {
            return Err(format!(
                "softmax needs at least 2 output columns, the output has {k}"
            ));
        }
        Ok(())
    }

    /// Checks the declaration against the scores output as the model file declares it, at
    /// load, before any case is decoded: the same checks as [`interpret`] makes on every
    /// batch, where the file fixes the number of columns. An output of unknown rank or with a
    /// symbolic column count passes (the first batch checks it).
    ///
    /// # Errors
    ///
    /// The mistake, naming the output and its declared shape: a shape no case-by-case
    /// reading fits (`[?, 1, 64, 64]`, a segmentation map), or [`OutputSpec::check_width`]'s.
    pub fn check_declared(&self, output: &TensorInfo) -> Result<(), String> {
        let declared = || {
            format!(
                "the model's output '{}' is declared {}",
                output.name,
                output.dims_text()
            )
        };
        let k = match output.dims.as_slice() {
            // Unknown rank (a scalar cannot hold one score per case, and engines report an
            // undeclared shape as one).
            [] => return Ok(()),
            [_] => 1,
            [_, k, rest @ ..] if rest.iter().all(|d| *d == Some(1)) => match k {
                Some(k) => *k,
                None => return Ok(()),
            },
            [_, _, rest @ ..] if rest.iter().any(Option::is_none) => return Ok(()),
            _ => {
                return Err(format!(
                    "{}: the harness reads one score per case, or one per finding or class, shaped [N] or [N, K]",
                    declared()
                ));
            }
        };
        self.check_width(k)
            .map_err(|e| format!("{}: {e}", declared()))
    }

    /// Checks the declaration against an output the model gave: its shape and column count,
    /// not its values.
    ///
    /// # Errors
    ///
    /// The shape's or [`OutputSpec::check_width`]'s mistake.
    pub fn check_shape(&self, raw: &RawOutput) -> Result<(), String> {
        let (_, k) = rows_columns(&raw.shape)?;
        self.check_width(k)
    }

    /// The output columns that are evaluated, in order.
    fn picked(&self) -> Vec<usize> {
        if self.columns.is_empty() {
            vec![self.positive_index]
        } else {
            (0..self.columns.len())
                .filter(|&j| !self.columns[j].is_empty())
                .collect()
        }
    }
}

/// The probabilities of a raw output of shape `[N]` or `[N, K]` (or `[N, K, 1, ...]`): [`OutputSpec::width`]
/// values per case, case by case (row-major).
///
/// Nothing is clamped or dropped: a non-finite value anywhere in the output,
/// or a `probability` output outside `[0, 1]`, is an error naming the case.
///
/// # Errors
///
/// [`BackendError::Output`] for a wrong shape, `positive_index >= K`, a column list whose
/// length is not `K` or `softmax` with `K < 2`; [`BackendError::OutputCase`], naming the row,
/// for a NaN/infinite value or a probability outside `[0, 1]`.
pub fn interpret(spec: &OutputSpec, raw: &RawOutput) -> Result<Vec<f64>, BackendError> {
    let err = |m: String| Err(BackendError::Output(m));
    let (n, k) = rows_columns(&raw.shape).map_err(BackendError::Output)?;
    if n.checked_mul(k) != Some(raw.data.len()) {
        return err(format!(
            "shape {:?} does not match its {} values",
            raw.shape,
            raw.data.len()
        ));
    }
    spec.check_width(k).map_err(BackendError::Output)?;
    if let Some(i) = raw.data.iter().position(|v| !v.is_finite()) {
        return Err(BackendError::OutputCase {
            row: i / k,
            message: format!("column {}: value {} is not finite", i % k, raw.data[i]),
        });
    }
    let picked = spec.picked();
    let mut out = Vec::with_capacity(n * picked.len());
    for (case, row) in raw.data.chunks_exact(k.max(1)).enumerate() {
        // Softmax: one maximum and one sum per row, shared by its columns.
        let (max, sum) = if spec.kind == OutputKind::Softmax {
            let max = row
                .iter()
                .map(|&v| f64::from(v))
                .fold(f64::NEG_INFINITY, f64::max);
            (max, row.iter().map(|&v| (f64::from(v) - max).exp()).sum())
        } else {
            (0.0, 1.0)
        };
        for &j in &picked {
            let x = f64::from(row[j]);
            out.push(match spec.kind {
                OutputKind::Probability => {
                    if !(0.0..=1.0).contains(&x) {
                        return Err(BackendError::OutputCase {
                            row: case,
                            message: format!(
                                "{}probability {x} is outside [0, 1]; is the output a logit?",
                                if k > 1 {
                                    format!("column {j}: ")
                                } else {
                                    String::new()
                                }
                            ),
                        });
                    }
                    x
                }
                OutputKind::Logit => sigmoid(x),
                OutputKind::Softmax => (x - max).exp() / sum,
            });
        }
    }
    Ok(out)
}

/// Cases and columns of an output of `shape`: `[N]` or `[N, K]`, where a convolutional head's
/// trailing unit dimensions (`[N, K, 1, 1]`) hold one value per column.
fn rows_columns(shape: &[usize]) -> Result<(usize, usize), String> {
    match shape {
        &[n] => Ok((n, 1)),
        &[n, k, ref rest @ ..] if rest.iter().all(|&d| d == 1) => Ok((n, k)),
        other => Err(format!("shape {other:?}; expected [N] or [N, K]")),
    }
}

/// The logistic function, evaluated without overflow for large `|x|`.
fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(shape: &[usize], data: &[f32]) -> RawOutput {
        RawOutput {
            shape: shape.to_vec(),
            data: data.to_vec(),
        }
    }

    fn spec(kind: OutputKind, positive_index: usize) -> OutputSpec {
        OutputSpec {
            kind,
            positive_index,
            columns: Vec::new(),
            name: None,
        }
    }

    fn columns(kind: OutputKind, names: &[&str]) -> OutputSpec {
        OutputSpec {
            kind,
            positive_index: 0,
            columns: names.iter().map(|s| (*s).to_string()).collect(),
            name: None,
        }
    }

    /// A sigmoid per finding, a softmax over every column, and unused columns passed over:
    /// the values are those of the binary rule column by column.
    #[test]
    fn named_columns_give_one_probability_each_in_column_order() {
        let data = [0.0, 2.0, -1.0, 5.0, -3.0, 0.5];
        let out = interpret(
            &columns(OutputKind::Logit, &["a", "", "c"]),
            &raw(&[2, 3], &data),
        )
        .unwrap();
        assert_eq!(out.len(), 4);
        for (got, x) in out.iter().zip([0.0f64, -1.0, 5.0, 0.5]) {
            assert_eq!(*got, sigmoid(x));
        }
        let soft = interpret(
            &columns(OutputKind::Softmax, &["x", "y", "z"]),
            &raw(&[2, 3], &data),
        )
        .unwrap();
        for case in 0..2 {
            let row = &soft[case * 3..case * 3 + 3];
            assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12, "{row:?}");
            for (j, &p) in row.iter().enumerate() {
                let binary =
                    interpret(&spec(OutputKind::Softmax, j), &raw(&[2, 3], &data)).unwrap();
                assert_eq!(p, binary[case]);
            }
        }
        assert_eq!(columns(OutputKind::Logit, &["a", "", "c"]).width(), 2);
        assert_eq!(spec(OutputKind::Logit, 0).width(), 1);
        let wrong = interpret(
            &columns(OutputKind::Logit, &["a", "b"]),
            &raw(&[2, 3], &data),
        )
        .unwrap_err();
        assert!(
            wrong
                .to_string()
                .contains("3 output column(s) but output.columns names 2"),
            "{wrong}"
        );
        let outside = interpret(
            &columns(OutputKind::Probability, &["a", "b", "c"]),
            &raw(&[2, 3], &data),
        )
        .unwrap_err();
        assert!(
            outside
                .to_string()
                .contains("case 0 of the batch: column 1: probability 2"),
            "{outside}"
        );
    }

    fn declared(dims: &[Option<usize>]) -> TensorInfo {
        TensorInfo {
            name: "probs".into(),
            dims: dims.to_vec(),
        }
    }

    /// At load, the declared column count refuses what every batch would: a positive_index
    /// past K, a column list of another length, a softmax over one column, a shape that is
    /// not one score per case; what the file leaves open passes.
    #[test]
    fn declared_outputs_are_checked_before_any_case() {
        let two = declared(&[None, Some(2)]);
        assert!(spec(OutputKind::Softmax, 1).check_declared(&two).is_ok());
        let e = spec(OutputKind::Softmax, 5)
            .check_declared(&two)
            .unwrap_err();
        assert!(
            e.contains("output 'probs' is declared [?, 2]")
                && e.contains("positive_index 5 is out of range for 2"),
            "{e}"
        );
        let e = columns(OutputKind::Logit, &["a", "b", "c"])
            .check_declared(&two)
            .unwrap_err();
        assert!(
            e.contains("2 output column(s) but output.columns names 3"),
            "{e}"
        );
        let e = spec(OutputKind::Softmax, 0)
            .check_declared(&declared(&[None]))
            .unwrap_err();
        assert!(e.contains("softmax needs at least 2"), "{e}");
        // A convolutional head's [N, K, 1, 1] is K columns.
        assert!(
            spec(OutputKind::Softmax, 1)
                .check_declared(&declared(&[None, Some(2), Some(1), Some(1)]))
                .is_ok()
        );
        let e = spec(OutputKind::Probability, 0)
            .check_declared(&declared(&[None, Some(1), Some(64), Some(64)]))
            .unwrap_err();
        assert!(
            e.contains("[?, 1, 64, 64]") && e.contains("[N] or [N, K]"),
            "{e}"
        );
        for open in [
            declared(&[]),
            declared(&[None, None]),
            declared(&[None, Some(3), None]),
        ] {
            assert!(
                spec(OutputKind::Softmax, 7).check_declared(&open).is_ok(),
                "{open:?}"
            );
        }
    }

    #[test]
    fn trailing_unit_dimensions_are_columns() {
        let out = interpret(
            &spec(OutputKind::Probability, 1),
            &raw(&[2, 2, 1, 1], &[0.9, 0.1, 0.25, 0.75]),
        )
        .unwrap();
        assert_eq!(out, vec![f64::from(0.1f32), 0.75]);
        let e = interpret(
            &spec(OutputKind::Probability, 0),
            &raw(&[1, 2, 2], &[0.9, 0.1, 0.25, 0.75]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("expected [N] or [N, K]"), "{e}");
    }

    #[test]
    fn probability_column() {
        let out = interpret(
            &spec(OutputKind::Probability, 1),
            &raw(&[2, 2], &[0.9, 0.1, 0.25, 0.75]),
        )
        .unwrap();
        assert_eq!(out, vec![f64::from(0.1f32), 0.75]);
        let flat = interpret(
            &spec(OutputKind::Probability, 0),
            &raw(&[3], &[0.0, 0.5, 1.0]),
        )
        .unwrap();
        assert_eq!(flat, vec![0.0, 0.5, 1.0]);
    }

    #[test]
    fn logit_is_the_logistic_function() {
        let out = interpret(
            &spec(OutputKind::Logit, 0),
            &raw(&[3, 1], &[0.0, 2.0, -800.0]),
        )
        .unwrap();
        assert_eq!(out[0], 0.5);
        assert!((out[1] - 1.0 / (1.0 + (-2.0f64).exp())).abs() < 1e-15);
        assert!(
            out[2] >= 0.0 && out[2] < 1e-300,
            "no NaN from overflow: {}",
            out[2]
        );
    }

    #[test]
    fn softmax_by_hand() {
        // exp(ln 3) / (exp(0) + exp(ln 3)) = 3 / 4
        let l3 = 3f32.ln();
        let out = interpret(
            &spec(OutputKind::Softmax, 1),
            &raw(&[2, 2], &[0.0, l3, 1000.0, 1000.0]),
        )
        .unwrap();
        assert!((out[0] - 0.75).abs() < 1e-6, "{out:?}");
        assert!(
            (out[1] - 0.5).abs() < 1e-12,
            "large logits stay finite: {out:?}"
        );
    }

    #[test]
    fn failures_are_errors_not_clamps() {
        let cases = [
            (
                spec(OutputKind::Probability, 0),
                raw(&[2, 1], &[0.5, f32::NAN]),
                "case 1 of the batch: column 0",
            ),
            (
                spec(OutputKind::Logit, 0),
                raw(&[1], &[f32::INFINITY]),
                "not finite",
            ),
            (
                spec(OutputKind::Probability, 0),
                raw(&[2], &[0.5, 1.5]),
                "outside [0, 1]",
            ),
            (
                spec(OutputKind::Probability, 0),
                raw(&[1], &[-0.01]),
                "outside [0, 1]",
            ),
            (
                spec(OutputKind::Probability, 2),
                raw(&[1, 2], &[0.5, 0.5]),
                "positive_index 2",
            ),
            (
                spec(OutputKind::Softmax, 0),
                raw(&[2, 1], &[0.5, 0.5]),
                "at least 2",
            ),
            (
                spec(OutputKind::Probability, 0),
                raw(&[1, 1, 2], &[0.5, 0.5]),
                "expected [N] or [N, K]",
            ),
            (
                spec(OutputKind::Probability, 0),
                raw(&[3, 1], &[0.5]),
                "does not match",
            ),
        ];
        for (s, r, needle) in cases {
            let err = interpret(&s, &r).unwrap_err().to_string();
            assert!(err.contains(needle), "{needle}: {err}");
        }
    }

    #[test]
    fn spec_serde_names() {
        let s: OutputSpec =
            serde_json::from_str(r#"{"kind": "softmax", "positive_index": 1}"#).unwrap();
        assert_eq!(s, spec(OutputKind::Softmax, 1));
        assert!(
            serde_json::from_str::<OutputSpec>(r#"{"kind": "prob", "positive_index": 0}"#).is_err()
        );
    }
}
