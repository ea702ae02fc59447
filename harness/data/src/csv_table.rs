//! The CSV reader behind [`crate::parse_eval_csv`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::interner::{GroupProblem, Interner};
use crate::numbers::{ScoreProblem, parse_label, parse_score, trim_spaces};
use crate::records::{CsvRecords, PlainRecords, RecordError, Records};
use crate::{DataError, EvalSpec, EvalTable};

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";
/// Longest value (in characters) quoted verbatim in an error message.
const MAX_QUOTED_CHARS: usize = 80;

const ROLE_LABEL: &str = "label";
const ROLE_SCORE: &str = "score";
const ROLE_GROUP: &str = "group";

pub(crate) fn parse(bytes: &[u8], path: &Path, spec: &EvalSpec) -> Result<EvalTable, DataError> {
    check_spec(path, spec)?;
    let data = strip_bom_and_check_empty(bytes, path)?;
    if data.contains(&b'"') {
        read_table(CsvRecords::new(data), data.len(), path, spec)
    } else {
        read_table(PlainRecords::new(data), data.len(), path, spec)
    }
}

/// Like [`parse`] but always through the `csv` crate (for the differential test).
#[cfg(test)]
fn parse_via_csv_crate(bytes: &[u8], path: &Path, spec: &EvalSpec) -> Result<EvalTable, DataError> {
    check_spec(path, spec)?;
    let data = strip_bom_and_check_empty(bytes, path)?;
    read_table(CsvRecords::new(data), data.len(), path, spec)
}

fn strip_bom_and_check_empty<'a>(bytes: &'a [u8], path: &Path) -> Result<&'a [u8], DataError> {
    let data = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
    if data.iter().all(u8::is_ascii_whitespace) {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(data)
}

fn read_table<R: Records>(
    mut rec: R,
    data_len: usize,
    path: &Path,
    spec: &EvalSpec,
) -> Result<EvalTable, DataError> {
    let malformed = |e: RecordError| DataError::Malformed {
        path: path.to_path_buf(),
        line: e.line,
        message: e.message,
    };

    // Header.
    if !rec.advance().map_err(malformed)? {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }
    let header_line = rec.line();
    let raw: Vec<Vec<u8>> = (0..rec.len()).map(|i| rec.field(i).to_vec()).collect();
    let header = Header {
        path,
        line: header_line,
        names: raw
            .iter()
            .map(|f| String::from_utf8_lossy(f).into_owned())
            .collect(),
        raw,
    };
    let n_fields = header.raw.len();
    let label_col = header.resolve(ROLE_LABEL, spec.label)?;
    let score_cols = spec
        .scores
        .iter()
        .map(|s| header.resolve(ROLE_SCORE, s))
        .collect::<Result<Vec<_>, _>>()?;
    let group_cols = spec
        .groups
        .iter()
        .map(|g| header.resolve(ROLE_GROUP, g))
        .collect::<Result<Vec<_>, _>>()?;
    let case_col = header
        .raw
        .iter()
        .position(|h| h == b"case_id")
        .or_else(|| header.raw.iter().position(|h| h == b"id"));

    let ctx = RowContext {
        path,
        header: &header,
        case_col,
    };
    let mut labels: Vec<bool> = Vec::new();
    let mut scores: Vec<Vec<f64>> = vec![Vec::new(); score_cols.len()];
    let mut interners: Vec<Interner> = group_cols.iter().map(|_| Interner::new()).collect();

    while rec.advance().map_err(malformed)? {
        if rec.len() != n_fields {
            return Err(DataError::RaggedRow {
                path: path.to_path_buf(),
                line: rec.line(),
                expected: n_fields,
                found: rec.len(),
                case_id: ctx.case_id(&rec),
            });
        }
        if labels.is_empty() {
            // Estimate the row count from the first data row to avoid regrowth.
            let estimate = data_len / rec.byte_len().max(1) + 16;
            labels.reserve(estimate);
            for column in &mut scores {
                column.reserve(estimate);
            }
            for interner in &mut interners {
                interner.codes.reserve(estimate);
            }
        }

        let field = rec.field(label_col);
        labels.push(parse_label(field).ok_or_else(|| ctx.label_error(&rec, label_col, field))?);

        for (column, &col) in scores.iter_mut().zip(&score_cols) {
            let field = rec.field(col);
            column
                .push(parse_score(field).map_err(|kind| ctx.score_error(&rec, col, field, kind))?);
        }

        for (interner, &col) in interners.iter_mut().zip(&group_cols) {
            let field = rec.field(col);
            interner
                .push(field)
                .map_err(|kind| ctx.group_error(&rec, col, field, kind))?;
        }
    }

    if labels.is_empty() {
        return Err(DataError::NoDataRows {
            path: path.to_path_buf(),
            header_line,
        });
    }

    let groups = interners
        .into_iter()
        .zip(spec.groups)
        .map(|(interner, name)| interner.finish(name.clone()))
        .collect();

    Ok(EvalTable {
        path: path.to_path_buf(),
        labels,
        score_names: spec.scores.to_vec(),
        scores,
        groups,
    })
}

/// Rejects a spec that names one column twice, in the same or in different roles.
fn check_spec(path: &Path, spec: &EvalSpec) -> Result<(), DataError> {
    let requests = std::iter::once((ROLE_LABEL, spec.label))
        .chain(spec.scores.iter().map(|s| (ROLE_SCORE, s.as_str())))
        .chain(spec.groups.iter().map(|g| (ROLE_GROUP, g.as_str())));
    let mut seen: HashMap<&str, &'static str> = HashMap::new();
    for (role, name) in requests {
        if let Some(&first_role) = seen.get(name) {
            return Err(DataError::ConflictingRequest {
                path: path.to_path_buf(),
                column: name.to_owned(),
                first_role,
                second_role: role,
            });
        }
        seen.insert(name, role);
    }
    Ok(())
}

struct Header<'p> {
    path: &'p Path,
    line: u64,
    /// Header names for messages (invalid UTF-8 replaced).
    names: Vec<String>,
    /// Header names as bytes, for exact matching.
    raw: Vec<Vec<u8>>,
}

impl Header<'_> {
    /// Returns the 0-based index of the one header column named exactly `name`.
    fn resolve(&self, role: &'static str, name: &str) -> Result<usize, DataError> {
        let hits: Vec<usize> = self
            .raw
            .iter()
            .enumerate()
            .filter(|(_, h)| h.as_slice() == name.as_bytes())
            .map(|(i, _)| i)
            .collect();
        match hits.as_slice() {
            [only] => Ok(*only),
            [] => Err(DataError::MissingColumn {
                path: self.path.to_path_buf(),
                role,
                column: name.to_owned(),
                header_line: self.line,
                header: self.names.clone(),
                suggestion: self.suggest(name),
            }),
            many => Err(DataError::AmbiguousColumn {
                path: self.path.to_path_buf(),
                role,
                column: name.to_owned(),
                header_line: self.line,
                column_numbers: many.iter().map(|i| i + 1).collect(),
            }),
        }
    }

    /// A header name equal to `name` up to letter case and surrounding spaces.
    fn suggest(&self, name: &str) -> Option<String> {
        let wanted = name.trim().to_lowercase();
        self.names
            .iter()
            .find(|h| h.as_str() != name && h.trim().to_lowercase() == wanted)
            .cloned()
    }
}

/// What row errors need to name the place: file, header, and the case column.
struct RowContext<'a> {
    path: &'a Path,
    header: &'a Header<'a>,
    case_col: Option<usize>,
}

struct Cell {
    path: PathBuf,
    line: u64,
    column: String,
    column_number: usize,
    value: String,
    case_id: Option<String>,
}

impl RowContext<'_> {
    fn case_id(&self, rec: &impl Records) -> Option<String> {
        let col = self.case_col?;
        (col < rec.len()).then(|| quote_value(rec.field(col)))
    }

    fn cell(&self, rec: &impl Records, col: usize, field: &[u8]) -> Cell {
        Cell {
            path: self.path.to_path_buf(),
            line: rec.line(),
            column: self.header.names[col].clone(),
            column_number: col + 1,
            value: quote_value(field),
            case_id: self.case_id(rec),
        }
    }

    fn label_error(&self, rec: &impl Records, col: usize, field: &[u8]) -> DataError {
        let c = self.cell(rec, col, field);
        if trim_spaces(field).is_empty() {
            DataError::EmptyValue {
                path: c.path,
                line: c.line,
                column: c.column,
                column_number: c.column_number,
                role: ROLE_LABEL,
                case_id: c.case_id,
            }
        } else if std::str::from_utf8(field).is_err() {
            DataError::InvalidUtf8 {
                path: c.path,
                line: c.line,
                column: c.column,
                column_number: c.column_number,
                value: c.value,
                case_id: c.case_id,
            }
        } else {
            DataError::InvalidLabel {
                path: c.path,
                line: c.line,
                column: c.column,
                column_number: c.column_number,
                value: c.value,
                case_id: c.case_id,
            }
        }
    }

    fn score_error(
        &self,
        rec: &impl Records,
        col: usize,
        field: &[u8],
        kind: ScoreProblem,
    ) -> DataError {
        let Cell {
            path,
            line,
            column,
            column_number,
            value,
            case_id,
        } = self.cell(rec, col, field);
        match kind {
            ScoreProblem::Empty => DataError::EmptyValue {
                path,
                line,
                column,
                column_number,
                role: ROLE_SCORE,
                case_id,
            },
            ScoreProblem::Utf8 => DataError::InvalidUtf8 {
                path,
                line,
                column,
                column_number,
                value,
                case_id,
            },
            ScoreProblem::NotANumber => DataError::ScoreNotANumber {
                path,
                line,
                column,
                column_number,
                value,
                case_id,
            },
            ScoreProblem::NotFinite => DataError::ScoreNotFinite {
                path,
                line,
                column,
                column_number,
                value,
                case_id,
            },
            ScoreProblem::OutOfRange => DataError::ScoreOutOfRange {
                path,
                line,
                column,
                column_number,
                value,
                case_id,
            },
        }
    }

    fn group_error(
        &self,
        rec: &impl Records,
        col: usize,
        field: &[u8],
        kind: GroupProblem,
    ) -> DataError {
        let Cell {
            path,
            line,
            column,
            column_number,
            value,
            case_id,
        } = self.cell(rec, col, field);
        match kind {
            GroupProblem::Utf8 => DataError::InvalidUtf8 {
                path,
                line,
                column,
                column_number,
                value,
                case_id,
            },
            GroupProblem::TooManyLevels => DataError::Malformed {
                path,
                line,
                message: format!(
                    "column '{column}' (column {column_number}) has more than {} distinct values",
                    u32::MAX
                ),
            },
        }
    }
}

/// A field as it is shown between quotes in a message: invalid UTF-8 replaced,
/// control characters escaped, and long values shortened.
fn quote_value(field: &[u8]) -> String {
    let text = String::from_utf8_lossy(field);
    let mut out = String::new();
    for (i, ch) in text.chars().enumerate() {
        if i == MAX_QUOTED_CHARS {
            out.push('…');
            break;
        }
        if ch.is_control() {
            out.extend(ch.escape_default());
        } else {
            out.push(ch);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The quote-free fast path must give exactly what the `csv` crate gives:
    /// same table, or the same error with the same line numbers.
    #[test]
    fn plain_fast_path_matches_csv_crate() {
        let headers: [&[&str]; 4] = [
            &["case_id", "label", "score", "site"],
            &["label", "score", "site"],
            &["id", "site", "score", "label", "note"],
            &["label", "Score", "site"],
        ];
        let values: [&[u8]; 24] = [
            b"0",
            b"1",
            b"1.0",
            b"0.0",
            b"2",
            b"",
            b" 1 ",
            b"0.5",
            b"5e-1",
            b"-0.0",
            b"nan",
            b"inf",
            b"1.7",
            b"0.123456789",
            b"A",
            b"B",
            b"(missing)",
            b"site_07",
            b"a long group value",
            b"\xff",
            b"x y",
            b"0.9999999999999999999",
            b"\t0.25",
            b"1e-400",
        ];
        let terminators: [&[u8]; 5] = [b"\n", b"\r\n", b"\r", b"\n\n", b"\r\n\r\n"];
        let scores = vec!["score".to_string()];
        let groups = vec!["site".to_string()];
        let spec = EvalSpec {
            label: "label",
            scores: &scores,
            groups: &groups,
        };

        let mut x: u64 = 0x1234_5678_9ABC_DEF1;
        let mut next = |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 11) as usize % n
        };
        let mut ok = 0;
        for case in 0..20_000 {
            let header = headers[next(headers.len())];
            let mut input = Vec::new();
            if next(8) == 0 {
                input.extend_from_slice(UTF8_BOM);
            }
            if next(8) == 0 {
                input.extend_from_slice(terminators[next(terminators.len())]);
            }
            input.extend_from_slice(header.join(",").as_bytes());
            let rows = next(6);
            // Mostly valid rows so that errors, when they come, come late.
            let strict = next(2) == 0;
            for _ in 0..rows {
                input.extend_from_slice(terminators[next(terminators.len())]);
                let width = if next(30) == 0 {
                    header.len() + 1 - next(3)
                } else {
                    header.len()
                };
                for col in 0..width {
                    if col > 0 {
                        input.push(b',');
                    }
                    let value: &[u8] = match header.get(col) {
                        Some(&"label") if strict => [&b"0"[..], b"1"][next(2)],
                        Some(&"score") if strict => [&b"0.5"[..], b"0.25", b"1"][next(3)],
                        _ => values[next(values.len())],
                    };
                    input.extend_from_slice(value);
                }
            }
            if next(2) == 0 {
                input.extend_from_slice(terminators[next(terminators.len())]);
            }
            assert!(!input.contains(&b'"'));
            let path = Path::new("diff.csv");
            let fast = format!("{:?}", parse(&input, path, &spec));
            let reference = format!("{:?}", parse_via_csv_crate(&input, path, &spec));
            assert_eq!(
                fast,
                reference,
                "case {case}: input {:?}",
                String::from_utf8_lossy(&input)
            );
            ok += usize::from(fast.starts_with("Ok"));
        }
        // The generator must exercise both outcomes.
        assert!(ok > 1000, "only {ok} inputs parsed");
    }
}
