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

    /// Text in a Unicode encoding other than UTF-8 (a spreadsheet's "Unicode Text" export is
    /// UTF-16): every byte would otherwise be misread.
    #[error("{path}: {}", crate::not_utf8(encoding))]
    Encoding {
        path: PathBuf,
        /// `UTF-16LE`, `UTF-16BE`, `UTF-32LE` or `UTF-32BE`.
        encoding: &'static str,
    },

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
        .hint.as_deref().map(|h| format!("; {h}")).unwrap_or_default()
    )]
    MissingColumn {
        path: PathBuf,
        role: &'static str,
        column: String,
        header_line: u64,
        header: Vec<String>,
        /// What to try: a header name equal to the request up to case or surrounding spaces
        /// ("did you mean 'Label'?"), or what the header says of the file's format (another
        /// field separator, an Excel `sep=` line).
        hint: Option<String>,
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

    /// A quoted field that is never closed.
    #[error(
        "{path}:{line}: a quoted field opens here and is never closed: every line after it would be read into that one field (and its rows lost); close the quote, and write a quote inside a quoted field as \"\""
    )]
    UnclosedQuote { path: PathBuf, line: u64 },

    /// A case id on two data rows.
    #[error(
        "{path}:{line}: case id '{id}' (column '{column}') is already on line {first_line}: each row must be one case, or it counts twice in every figure and narrows every CI (a file concatenated twice, a row pasted again?); if '{column}' is not a case id but, say, a patient id shared by several images, give it as --cluster (a column read as --cluster or --group is not checked)"
    )]
    DuplicateCaseId {
        path: PathBuf,
        column: String,
        /// The id, quoted as in other messages.
        id: String,
        first_line: u64,
        line: u64,
    },

    /// A data row with a different number of fields than the header.
    #[error(
        "{path}:{line}: expected {expected} fields (as in the header), found {found}{}{}",
        case_suffix(.case_id),
        if *.quoted_line_break { "; a quoted field of this row runs over a line break: is a '\"' misplaced here?" } else { "" }
    )]
    RaggedRow {
        path: PathBuf,
        line: u64,
        expected: usize,
        found: usize,
        case_id: Option<String>,
        /// A field of the row holds a line break (only a quoted field can): most often an
        /// opening quote that was never closed, which swallows the lines after it.
        quoted_line_break: bool,
    },

    /// An empty label or score field.
    #[error(
        "{location} is empty; every row needs a {role}{}",
        .location.case_suffix()
    )]
    EmptyValue {
        location: CellLocation,
        role: &'static str,
    },

    /// A label other than 0/1 (or 0.0/1.0).
    #[error(
        "{location} has '{value}'; labels must be 0 or 1{}",
        .location.case_suffix()
    )]
    InvalidLabel {
        location: CellLocation,
        value: String,
    },

    /// A score that does not parse as a number.
    #[error(
        "{location} has '{value}', which is not a number; scores must be probabilities in [0, 1]{}{}",
        decimal_comma_hint(.value),
        .location.case_suffix()
    )]
    ScoreNotANumber {
        location: CellLocation,
        value: String,
    },

    /// A score that parses but is NaN or infinite.
    #[error(
        "{location} has '{value}', which is not a finite number; scores must be probabilities in [0, 1]{}",
        .location.case_suffix()
    )]
    ScoreNotFinite {
        location: CellLocation,
        value: String,
    },

    /// A finite score below 0 or above 1.
    #[error(
        "{location} has '{value}', outside [0, 1]; scores must be probabilities{}",
        .location.case_suffix()
    )]
    ScoreOutOfRange {
        location: CellLocation,
        value: String,
    },

    /// A used field (label, score or group) that is not valid UTF-8.
    #[error(
        "{location} is not valid UTF-8 ('{value}', undecodable bytes shown as \u{FFFD}){}",
        .location.case_suffix()
    )]
    InvalidUtf8 {
        location: CellLocation,
        /// The field with invalid bytes replaced by U+FFFD.
        value: String,
    },

    /// A low-level CSV error, or a table too large to index.
    #[error("{path}:{line}: malformed CSV: {message}")]
    Malformed {
        path: PathBuf,
        line: u64,
        message: String,
    },
}

/// Where a bad field is: the file, the line where its record starts, the
/// column by header name and 1-based number, and the case when the table has
/// a `case_id` (or `id`) column. Shared by every [`DataError`] about one field.
///
/// Displays as `{path}:{line}: column '{column}' (column {column_number})`;
/// the case is not part of that text but ends the message, through
/// [`CellLocation::case_suffix`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellLocation {
    /// The file (or the name given to the parser).
    pub path: PathBuf,
    /// 1-based line where the record starts; the header is line 1.
    pub line: u64,
    /// The column's header name.
    pub column: String,
    /// 1-based position of the column in the header.
    pub column_number: usize,
    /// The row's `case_id`/`id` field, quoted as in messages; `None` when the
    /// table has no such column.
    pub case_id: Option<String>,
}

impl CellLocation {
    /// ` (case_id …)` when the row has a case id, otherwise nothing: the text
    /// that ends each message about a field.
    pub fn case_suffix(&self) -> impl fmt::Display + '_ {
        case_suffix(&self.case_id)
    }
}

impl fmt::Display for CellLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: column '{}' (column {})",
            self.path.display(),
            self.line,
            self.column,
            self.column_number
        )
    }
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

/// A hint when `value` is a number written with a decimal comma (`0,75`).
fn decimal_comma_hint(value: &str) -> &'static str {
    let v = value.trim();
    let decimal_comma = v.split_once(',').is_some_and(|(whole, frac)| {
        !frac.is_empty()
            && whole.bytes().all(|b| b.is_ascii_digit())
            && frac.bytes().all(|b| b.is_ascii_digit())
    });
    if decimal_comma {
        " written with '.' as the decimal point (this one has a decimal comma)"
    } else {
        ""
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
