//! `predictions.csv`: one row per case — id, label(s), subgroup metadata, and
//! the probabilities of every candidate (from its evaluated engine).
//!
//! A binary task has one `label` column and one column per candidate, named by
//! the candidate. A multi-label task has one `label:<finding>` column per
//! finding and one `<candidate>:<finding>` column per finding a candidate
//! scores. A multi-class task has one `label` column holding each case's class
//! name and one `<candidate>:<class>` column per class and candidate.
//!
//! Probabilities are written with Rust's shortest round-trip formatting, so
//! reading the file back gives the exact `f64` values the metrics were
//! computed from; `harness verify` relies on that.

use serde::Serialize;

/// The predictions of one run on one dataset.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Predictions {
    pub case_ids: Vec<String>,
    /// (label column, its values): `label`, or `label:<finding>` per finding.
    pub labels: Vec<(String, LabelColumn)>,
    /// (column name, one value per case).
    pub groups: Vec<(String, Vec<String>)>,
    /// (score column, one probability per case): the candidate's name, or
    /// `<candidate>:<finding>`.
    pub candidates: Vec<(String, Vec<f64>)>,
}

/// The values of one label column.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum LabelColumn {
    /// 0/1 per case.
    Binary(Vec<bool>),
    /// Each case's class, as an index into `classes` (written as the class name).
    Class {
        classes: Vec<String>,
        index: Vec<u32>,
    },
}

impl LabelColumn {
    fn cell(&self, i: usize) -> &str {
        match self {
            LabelColumn::Binary(l) => {
                if l[i] {
                    "1"
                } else {
                    "0"
                }
            }
            LabelColumn::Class { classes, index } => &classes[index[i] as usize],
        }
    }
}

/// The column holding each case's identifier.
pub const CASE_ID: &str = "case_id";
/// The column holding each case's label.
pub const LABEL: &str = "label";

/// The label column of a finding (multi-label task).
#[must_use]
pub fn label_column(finding: &str) -> String {
    format!("{LABEL}:{finding}")
}

/// The score column of a candidate for a finding (multi-label task).
#[must_use]
pub fn score_column(candidate: &str, finding: &str) -> String {
    format!("{candidate}:{finding}")
}

/// The writer of `predictions.csv` (LF line ends, fields quoted only where needed): one
/// definition, so that a merged file is byte-identical to one written in one piece.
pub fn csv_writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new())
}

/// The lines of a `predictions.csv` as bytes, split where the `csv` crate starts each record (a
/// quoted field may hold a line end): `header` is the header line, `starts[k]` where record `k`
/// starts, and `starts` ends with the file's length, so record `k` is
/// `bytes[starts[k]..starts[k + 1]]` with its line end. What `harness merge` copies row by row
/// and `harness verify` checks a merged file's rows by.
#[derive(Debug)]
pub struct Lines {
    pub header: csv::ByteRecord,
    pub starts: Vec<usize>,
}

impl Lines {
    /// Splits `bytes`; `capacity` is the number of records expected.
    ///
    /// # Errors
    /// The `csv` crate's, at the first malformed record.
    pub fn split(bytes: &[u8], capacity: usize) -> Result<Lines, csv::Error> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(bytes);
        let header = reader.byte_headers()?.clone();
        let mut record = csv::ByteRecord::new();
        let mut starts = Vec::with_capacity(capacity + 1);
        while reader.read_byte_record(&mut record)? {
            let start = record.position().map_or(0, |at| at.byte());
            starts.push(
                usize::try_from(start)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len()),
            );
        }
        starts.push(bytes.len());
        Ok(Lines { header, starts })
    }

    /// How many records there are.
    #[must_use]
    pub fn len(&self) -> usize {
        self.starts.len() - 1
    }

    /// True when there is no record.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The header line of `bytes` (the file split), with its line end.
    #[must_use]
    pub fn header_line<'b>(&self, bytes: &'b [u8]) -> &'b [u8] {
        &bytes[..self.starts[0]]
    }

    /// Record `k` of `bytes` (the file split), with its line end.
    #[must_use]
    pub fn record<'b>(&self, bytes: &'b [u8], k: usize) -> &'b [u8] {
        &bytes[self.starts[k]..self.starts[k + 1]]
    }
}

impl Predictions {
    /// The CSV bytes (LF line ends, fields quoted only where needed).
    pub fn to_csv(&self) -> Vec<u8> {
        let mut w = csv_writer();
        let mut header: Vec<&str> = vec![CASE_ID];
        header.extend(self.labels.iter().map(|(n, _)| n.as_str()));
        header.extend(self.groups.iter().map(|(n, _)| n.as_str()));
        header.extend(self.candidates.iter().map(|(n, _)| n.as_str()));
        // Writing into a Vec cannot fail.
        let _ = w.write_record(&header);
        let mut row: Vec<String> = Vec::with_capacity(header.len());
        for i in 0..self.case_ids.len() {
            row.clear();
            row.push(self.case_ids[i].clone());
            for (_, l) in &self.labels {
                row.push(l.cell(i).to_string());
            }
            for (_, g) in &self.groups {
                row.push(g[i].clone());
            }
            for (_, s) in &self.candidates {
                row.push(format!("{}", s[i]));
            }
            let _ = w.write_record(&row);
        }
        w.into_inner().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use harness_data::{EvalSpec, parse_eval_csv};
    use std::path::Path;

    /// The columns written here are those the dataset registry and suites keep their own
    /// columns from naming ([`harness_data::is_predictions_column`]).
    #[test]
    fn its_own_columns_are_the_ones_no_dataset_column_may_take() {
        for own in [
            CASE_ID.to_string(),
            LABEL.to_string(),
            label_column("effusion"),
        ] {
            assert!(harness_data::is_predictions_column(&own), "{own}");
        }
        for other in ["patient_id", "sex", "labels", "case"] {
            assert!(!harness_data::is_predictions_column(other), "{other}");
        }
    }

    #[test]
    fn round_trips_exact_values_through_the_eval_reader() {
        let p = Predictions {
            case_ids: vec!["a".into(), "b,2".into(), "c".into()],
            labels: vec![(LABEL.into(), LabelColumn::Binary(vec![true, false, true]))],
            groups: vec![("site".into(), vec!["A".into(), "".into(), "B \"x\"".into()])],
            candidates: vec![("m".into(), vec![0.1, 1.0 / 3.0, 1e-300])],
        };
        let bytes = p.to_csv();
        let scores = vec!["m".to_string()];
        let groups = vec!["site".to_string()];
        let spec = EvalSpec {
            label: LABEL,
            scores: &scores,
            groups: &groups,
        };
        let t = parse_eval_csv(&bytes, Path::new("predictions.csv"), &spec).unwrap();
        assert_eq!(t.labels, [true, false, true]);
        assert_eq!(t.scores[0], p.candidates[0].1, "bit-exact round trip");
        assert_eq!(t.groups[0].levels.len(), 3);
        assert!(
            String::from_utf8(bytes)
                .unwrap()
                .starts_with("case_id,label,site,m\na,1,A,0.1\n\"b,2\"")
        );
    }
}
