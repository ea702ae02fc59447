//! The one error type of this crate. Every message names the file; row errors
//! also name the 1-based line, the column (by name and 1-based number), the
//! offending value in quotes and, when the table has a `case_id`/`id` column,
//! the case.

use std::fmt;
use std::path::PathBuf;

/// Everything that can go wrong while reading an evaluation CSV.
///
/// Line numbers are 1-based and count the header as line 1; for a record that
/// spans several lines (a quoted field with an embedded newline) the line is
/// where the record starts. Column numbers are 1-based positions in the header.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// The file could not be read.
    #[error("{path}: cannot read file: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// 0 bytes, or nothing but a byte-order mark and whitespace.
    #[error("{path}: file is empty: expected a header row such as `case_id,label,score`")]
    Empty { path: PathBuf },

    /// A header row but no data rows.
    #[error("{path}: no data rows after the header (line {header_line})")]
    NoDataRows { path: PathBuf, header_line: u64 },

    /// The same column was requested twice, or in two roles (e.g. as label and as score).
    #[error(
        "{path}: column '{column}' is requested {}; each column may be used once, in one role",
        roles_phrase(.first_role, .second_role)
    )]
    ConflictingRequest {
        path: PathBuf,
        column: String,
        first_role: &'static str,
        second_role: &'static str,
    },

    /// A requested column is not in the header.
    #[error(
        "{path}: {role} column '{column}' is not in the header (line {header_line}); the header has columns {}{}",
        quoted_list(.header),
        did_you_mean(.suggestion)
    )]
    MissingColumn {
        path: PathBuf,
        role: &'static str,
        column: String,
        header_line: u64,
        header: Vec<String>,
        /// A header name equal to the request up to case or surrounding spaces.
        suggestion: Option<String>,
    },

    /// A requested column name appears more than once in the header.
    #[error(
        "{path}: {role} column '{column}' appears more than once in the header (line {header_line}): columns {}; rename one so the choice is unambiguous",
        number_list(.column_numbers)
    )]
    AmbiguousColumn {
        path: PathBuf,
        role: &'static str,
        column: String,
        header_line: u64,
        column_numbers: Vec<usize>,
    },

    /// A data row with a different number of fields than the header.
    #[error(
        "{path}:{line}: expected {expected} fields (as in the header), found {found}{}",
        case_suffix(.case_id)
    )]
    RaggedRow {
        path: PathBuf,
        line: u64,
        expected: usize,
        found: usize,
        case_id: Option<String>,
    },

    /// An empty label or score field.
    #[error(
        "{path}:{line}: column '{column}' (column {column_number}) is empty; every row needs a {role}{}",
        case_suffix(.case_id)
    )]
    EmptyValue {
        path: PathBuf,
        line: u64,
        column: String,
        column_number: usize,
        role: &'static str,
        case_id: Option<String>,
    },

    /// A label other than 0/1 (or 0.0/1.0).
    #[error(
        "{path}:{line}: column '{column}' (column {column_number}) has '{value}'; labels must be 0 or 1{}",
        case_suffix(.case_id)
    )]
    InvalidLabel {
        path: PathBuf,
        line: u64,
        column: String,
        column_number: usize,
        value: String,
        case_id: Option<String>,
    },

    /// A score that does not parse as a number.
    #[error(
        "{path}:{line}: column '{column}' (column {column_number}) has '{value}', which is not a number; scores must be probabilities in [0, 1]{}",
        case_suffix(.case_id)
    )]
    ScoreNotANumber {
        path: PathBuf,
        line: u64,
        column: String,
        column_number: usize,
        value: String,
        case_id: Option<String>,
    },

    /// A score that parses but is NaN or infinite.
    #[error(
        "{path}:{line}: column '{column}' (column {column_number}) has '{value}', which is not a finite number; scores must be probabilities in [0, 1]{}",
        case_suffix(.case_id)
    )]
    ScoreNotFinite {
        path: PathBuf,
        line: u64,
        column: String,
        column_number: usize,
        value: String,
        case_id: Option<String>,
    },

    /// A finite score below 0 or above 1.
    #[error(
        "{path}:{line}: column '{column}' (column {column_number}) has '{value}', outside [0, 1]; scores must be probabilities{}",
        case_suffix(.case_id)
    )]
    ScoreOutOfRange {
        path: PathBuf,
        line: u64,
        column: String,
        column_number: usize,
        value: String,
        case_id: Option<String>,
    },

    /// A used field (label, score or group) that is not valid UTF-8.
    #[error(
        "{path}:{line}: column '{column}' (column {column_number}) is not valid UTF-8 ('{value}', undecodable bytes shown as \u{FFFD}){}",
        case_suffix(.case_id)
    )]
    InvalidUtf8 {
        path: PathBuf,
        line: u64,
        column: String,
        column_number: usize,
        /// The field with invalid bytes replaced by U+FFFD.
        value: String,
        case_id: Option<String>,
    },

    /// A low-level CSV error, or a table too large to index.
    #[error("{path}:{line}: malformed CSV: {message}")]
    Malformed {
        path: PathBuf,
        line: u64,
        message: String,
    },
}

fn roles_phrase(first: &str, second: &str) -> String {
    if first == second {
        format!("twice as {first}")
    } else {
        format!("both as {first} and as {second}")
    }
}

fn case_suffix(case_id: &Option<String>) -> CaseSuffix<'_> {
    CaseSuffix(case_id.as_deref())
}

struct CaseSuffix<'a>(Option<&'a str>);

impl fmt::Display for CaseSuffix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(id) => write!(f, " (case_id {id})"),
            None => Ok(()),
        }
    }
}

fn did_you_mean(s: &Option<String>) -> String {
    match s {
        Some(name) => format!("; did you mean '{name}'?"),
        None => String::new(),
    }
}

fn quoted_list(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
    quoted.join(", ")
}

fn number_list(numbers: &[usize]) -> String {
    let parts: Vec<String> = numbers.iter().map(usize::to_string).collect();
    parts.join(" and ")
}
