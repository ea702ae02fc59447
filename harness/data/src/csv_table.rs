//! The CSV reader behind [`crate::parse_eval_csv`].

use std::collections::HashMap;
use std::path::Path;

use crate::interner::{GroupProblem, Interner};
use crate::numbers::{ScoreProblem, parse_label, parse_score, trim_spaces};
use crate::records::{CsvRecords, PlainRecords, RecordError, Records};
use crate::scan::{Region, Scanned, id_hash, row_bound, scan_rows};
use crate::{CellLocation, DataError, EvalSpec, EvalTable, GroupColumn};
use rayon::prelude::*;

pub(crate) const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";
/// Longest value (in characters) quoted verbatim in an error message.
const MAX_QUOTED_CHARS: usize = 80;

const ROLE_LABEL: &str = "label";
const ROLE_SCORE: &str = "score";
const ROLE_GROUP: &str = "group";

/// What to read: [`EvalSpec`] or [`crate::ClassSpec`] (whose class column is read as the first
/// group column, with no binary label).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Spec<'a> {
    /// The binary label column; `None` for a table of classes.
    pub(crate) label: Option<&'a str>,
    pub(crate) scores: &'a [String],
    pub(crate) groups: &'a [String],
    /// The first group column is a table of classes' label column (read like a group, named
    /// as the label in errors).
    pub(crate) class_label: bool,
}

impl Spec<'_> {
    /// What group column `i` is, for errors: the label of a table of classes, else a group.
    fn group_role(&self, i: usize) -> &'static str {
        if self.class_label && i == 0 {
            ROLE_LABEL
        } else {
            ROLE_GROUP
        }
    }
}

impl<'a> From<&EvalSpec<'a>> for Spec<'a> {
    fn from(s: &EvalSpec<'a>) -> Self {
        Spec {
            label: Some(s.label),
            scores: s.scores,
            groups: s.groups,
            class_label: false,
        }
    }
}

pub(crate) fn parse(bytes: &[u8], path: &Path, spec: &Spec) -> Result<EvalTable, DataError> {
    check_spec(path, spec)?;
    let data = strip_bom_and_check_empty(bytes, path)?;
    if data.contains(&b'"') {
        if let Some(at) = unclosed_quote(data) {
            return Err(DataError::UnclosedQuote {
                path: path.to_path_buf(),
                line: 1 + data[..at].iter().filter(|&&b| b == b'\n').count() as u64,
            });
        }
        read_table(CsvRecords::new(data), data, path, spec)
    } else {
        read_plain(data, path, spec)
    }
}

/// Where a quoted field opens that is never closed (the offset of its `"`), reading quotes as
/// the `csv` crate does: a `"` opens a quoted field only at the start of a field, `""` inside
/// one is a quote, and a lone `"` closes it. Such a field swallows every line after it, which
/// the reader would take as one long value: the rows after it would be lost without an error.
fn unclosed_quote(data: &[u8]) -> Option<usize> {
    let (mut quoted, mut opened, mut field_start) = (false, 0, true);
    let mut i = 0;
    while i < data.len() {
        let b = data[i];
        if quoted {
            if b == b'"' {
                if data.get(i + 1) == Some(&b'"') {
                    i += 1;
                } else {
                    quoted = false;
                }
            }
        } else if b == b'"' && field_start {
            quoted = true;
            opened = i;
            field_start = false;
        } else {
            field_start = matches!(b, b',' | b'\n' | b'\r');
        }
        i += 1;
    }
    quoted.then_some(opened)
}

/// Like [`parse`] but always through the `csv` crate (for the differential test).
#[cfg(test)]
fn parse_via_csv_crate(bytes: &[u8], path: &Path, spec: &Spec) -> Result<EvalTable, DataError> {
    check_spec(path, spec)?;
    let data = strip_bom_and_check_empty(bytes, path)?;
    read_table(CsvRecords::new(data), data, path, spec)
}

fn strip_bom_and_check_empty<'a>(bytes: &'a [u8], path: &Path) -> Result<&'a [u8], DataError> {
    if let Some(encoding) = crate::foreign_unicode(bytes) {
        return Err(DataError::Encoding {
            path: path.to_path_buf(),
            encoding,
        });
    }
    let data = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
    if data.iter().all(u8::is_ascii_whitespace) {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(data)
}

/// Quote-free inputs above this size are parsed in parallel chunks.
const PARALLEL_ABOVE: usize = 1 << 20;

/// The quote-free path: the data rows go through the one-pass scanner ([`crate::scan`]) straight
/// into the table's columns. Inputs above [`PARALLEL_ABOVE`] are split at line boundaries into
/// one chunk per thread; each chunk's rows are counted first ([`row_bound`]), so that every
/// chunk writes its own region of the columns in parallel and nothing is copied afterwards.
/// Group codes are then remapped to the merged, sorted levels — the same table as a serial parse
/// (levels are sorted, so their codes do not depend on where a value first appears).
///
/// The scanner only accepts: if any chunk holds a row it would not accept, the whole input is
/// read again record by record ([`read_table`]), so that the error reported is the first one in
/// the file with its true line number. Errors cost time only when they occur.
fn read_plain(data: &[u8], path: &Path, spec: &Spec) -> Result<EvalTable, DataError> {
    let mut rec = PlainRecords::new(data);
    let (header, columns) = read_header(&mut rec, path, spec)?;
    let body = &data[rec.offset()..];
    let threads = if body.len() < PARALLEL_ABOVE {
        1
    } else {
        rayon::current_num_threads().clamp(1, 8)
    };
    let chunks = split_at_lines(body, threads);
    let bounds: Vec<usize> = chunks.par_iter().map(|c| row_bound(c)).collect();
    let total: usize = bounds.iter().sum();
    // Zeroed allocations: fresh pages, nothing written twice.
    let mut labels = vec![false; total];
    let mut scores: Vec<Vec<f64>> = spec.scores.iter().map(|_| vec![0.0; total]).collect();
    let mut codes: Vec<Vec<u32>> = spec.groups.iter().map(|_| vec![0; total]).collect();
    let mut ids: Option<Vec<u64>> = columns.checked_case().map(|_| vec![0; total]);

    let scanned: Option<Vec<Scanned>> = {
        let regions = regions(
            &bounds,
            &mut labels,
            &mut scores,
            &mut codes,
            ids.as_deref_mut(),
        );
        chunks
            .into_par_iter()
            .zip(regions)
            .map(|(chunk, region)| scan_rows(chunk, &columns, region))
            .collect()
    };
    let Some(scanned) = scanned else {
        return read_table(PlainRecords::new(data), data, path, spec);
    };
    let rows: Vec<usize> = scanned.iter().map(|s| s.rows).collect();
    let n: usize = rows.iter().sum();
    if n == 0 {
        return Err(DataError::NoDataRows {
            path: path.to_path_buf(),
            header_line: header.line,
        });
    }

    // Per group column: the merged levels, and each chunk's codes remapped to them.
    let mut per_chunk: Vec<Vec<Interner>> = spec.groups.iter().map(|_| Vec::new()).collect();
    for s in scanned {
        for (k, interner) in s.interners.into_iter().enumerate() {
            per_chunk[k].push(interner);
        }
    }
    let mut groups = Vec::with_capacity(spec.groups.len());
    for ((name, mut column), interners) in spec.groups.iter().zip(codes).zip(per_chunk) {
        let sorted: Vec<(Vec<String>, Vec<u32>)> =
            interners.into_iter().map(Interner::sorted).collect();
        let mut levels: Vec<String> = sorted.iter().flat_map(|(l, _)| l.iter().cloned()).collect();
        levels.sort_unstable();
        levels.dedup();
        let remaps: Vec<Vec<u32>> = sorted
            .iter()
            .map(|(chunk_levels, remap)| {
                // Every chunk's level is in the merged list, whose length fits u32 codes.
                let global: Vec<u32> = chunk_levels
                    .iter()
                    .map(|l| levels.binary_search(l).map_or(0, |i| i as u32))
                    .collect();
                remap.iter().map(|&r| global[r as usize]).collect()
            })
            .collect();
        split_mut(&mut column, &bounds)
            .into_par_iter()
            .zip(&remaps)
            .zip(&rows)
            .for_each(|((region, remap), &r)| {
                for code in &mut region[..r] {
                    *code = remap[*code as usize];
                }
            });
        compact(&mut column, &bounds, &rows);
        groups.push(GroupColumn {
            name: name.clone(),
            levels,
            codes: column,
        });
    }
    compact(&mut labels, &bounds, &rows);
    for column in &mut scores {
        compact(column, &bounds, &rows);
    }
    if let (Some(mut ids), Some(col)) = (ids, columns.checked_case()) {
        compact(&mut ids, &bounds, &rows);
        check_unique_ids(data, path, &ids, col, &header.names[col])?;
    }
    Ok(EvalTable {
        path: path.to_path_buf(),
        labels,
        score_names: spec.scores.to_vec(),
        scores,
        groups,
    })
}

/// `v` cut into consecutive pieces of the given lengths.
fn split_mut<'a, T>(mut v: &'a mut [T], lengths: &[usize]) -> Vec<&'a mut [T]> {
    let mut pieces = Vec::with_capacity(lengths.len());
    for &len in lengths {
        let (piece, rest) = v.split_at_mut(len);
        pieces.push(piece);
        v = rest;
    }
    pieces
}

/// Each chunk's [`Region`] of the columns.
fn regions<'a>(
    bounds: &[usize],
    labels: &'a mut [bool],
    scores: &'a mut [Vec<f64>],
    codes: &'a mut [Vec<u32>],
    ids: Option<&'a mut [u64]>,
) -> Vec<Region<'a>> {
    let mut ids: Vec<Option<&'a mut [u64]>> = match ids {
        Some(ids) => split_mut(ids, bounds).into_iter().map(Some).collect(),
        None => bounds.iter().map(|_| None).collect(),
    };
    let mut regions: Vec<Region<'a>> = split_mut(labels, bounds)
        .into_iter()
        .zip(ids.drain(..))
        .map(|(labels, ids)| Region {
            labels,
            scores: Vec::new(),
            codes: Vec::new(),
            ids,
        })
        .collect();
    for column in scores {
        for (region, piece) in regions.iter_mut().zip(split_mut(column, bounds)) {
            region.scores.push(piece);
        }
    }
    for column in codes {
        for (region, piece) in regions.iter_mut().zip(split_mut(column, bounds)) {
            region.codes.push(piece);
        }
    }
    regions
}

/// Moves each chunk's `rows[c]` values (at the start of its region of length `bounds[c]`) to
/// follow the previous chunk's, and truncates: a no-op unless blank lines left gaps.
fn compact<T: Copy>(column: &mut Vec<T>, bounds: &[usize], rows: &[usize]) {
    let (mut from, mut to) = (0, 0);
    for (&bound, &r) in bounds.iter().zip(rows) {
        if from != to {
            column.copy_within(from..from + r, to);
        }
        from += bound;
        to += r;
    }
    column.truncate(to);
}

/// `data` cut into about `parts` pieces, each ending just after a `\n` (the last at the end).
fn split_at_lines(data: &[u8], parts: usize) -> Vec<&[u8]> {
    let mut chunks = Vec::with_capacity(parts);
    let mut start = 0;
    for k in 1..parts {
        let target = (data.len() * k / parts).max(start);
        let Some(nl) = data[target..].iter().position(|&b| b == b'\n') else {
            break;
        };
        let end = target + nl + 1;
        chunks.push(&data[start..end]);
        start = end;
    }
    chunks.push(&data[start..]);
    chunks
}

/// The names a case id column goes by, in order of preference, compared without case or
/// surrounding spaces (`Case_ID`, `ID `, as spreadsheets write them): its ids are checked to be
/// unique ([`Columns::checked_case`]).
const CASE_ID_NAMES: [&[u8]; 5] = [b"case_id", b"case id", b"caseid", b"image_id", b"id"];

/// Where each requested column is.
pub(crate) struct Columns {
    pub(crate) n_fields: usize,
    /// `None` for a table of classes (no binary label).
    pub(crate) label: Option<usize>,
    pub(crate) scores: Vec<usize>,
    pub(crate) groups: Vec<usize>,
    case: Option<usize>,
}

impl Columns {
    /// The case id column ([`CASE_ID_NAMES`]) when its ids are checked to be unique: when it
    /// is not also read as the label, a score or a group column (a column given as `--cluster`
    /// holds one id per patient, repeated by design).
    pub(crate) fn checked_case(&self) -> Option<usize> {
        let c = self.case?;
        let requested =
            self.label == Some(c) || self.scores.contains(&c) || self.groups.contains(&c);
        (!requested).then_some(c)
    }
}

/// The data rows read so far (group codes still in order of first appearance).
struct Rows {
    labels: Vec<bool>,
    scores: Vec<Vec<f64>>,
    interners: Vec<Interner>,
    /// Each row's case id hash ([`id_hash`]), when the case id column is checked.
    ids: Vec<u64>,
}

fn read_table<R: Records>(
    mut rec: R,
    data: &[u8],
    path: &Path,
    spec: &Spec,
) -> Result<EvalTable, DataError> {
    let (header, columns) = read_header(&mut rec, path, spec)?;
    let ctx = RowContext {
        path,
        header: &header,
        case_col: columns.case,
    };
    let rows = read_rows(rec, &columns, &ctx, data.len())?;
    if let Some(col) = columns.checked_case() {
        check_unique_ids(data, path, &rows.ids, col, &header.names[col])?;
    }
    finish(rows, header.line, path, spec)
}

/// Refuses a case id on two data rows (a file concatenated twice, a row pasted again): each
/// would count twice in every figure, and narrow every CI. `ids` are the rows' [`id_hash`]es;
/// rows whose hashes are equal are read again and their ids compared, so the error names the
/// id and both lines, and a hash collision is not mistaken for a duplicate.
fn check_unique_ids(
    data: &[u8],
    path: &Path,
    ids: &[u64],
    col: usize,
    column: &str,
) -> Result<(), DataError> {
    let mut sorted: Vec<u64> = ids.iter().copied().filter(|&h| h != 0).collect();
    sorted.par_sort_unstable();
    let mut repeated: Vec<u64> = sorted
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| w[0])
        .collect();
    if repeated.is_empty() {
        return Ok(());
    }
    repeated.dedup();
    // The candidate rows' ids and lines, in one more pass over the records (read as the
    // table was: rows counted alike).
    let found = if data.contains(&b'"') {
        first_repeat(CsvRecords::new(data), ids, &repeated, col)
    } else {
        first_repeat(PlainRecords::new(data), ids, &repeated, col)
    };
    match found.map_err(malformed(path))? {
        Some((id, first, second)) => {
            // Lines only for the pair reported: a quoted file's reader counts them from the
            // start of the file each time it is asked.
            let line = |row: usize| crate::records::data_row_line(data, row + 1).unwrap_or(0);
            Err(DataError::DuplicateCaseId {
                path: path.to_path_buf(),
                column: column.to_string(),
                id: quote_value(&id),
                first_line: line(first),
                line: line(second),
            })
        }
        None => Ok(()),
    }
}

/// The first id in column `col` of the data rows of `rec` that repeats an earlier one, with the
/// 0-based data rows of both; only rows whose hash (`ids`) is among the `repeated` hashes are
/// compared.
fn first_repeat(
    mut rec: impl Records,
    ids: &[u64],
    repeated: &[u64],
    col: usize,
) -> Result<Option<(Vec<u8>, usize, usize)>, RecordError> {
    let mut seen: HashMap<Vec<u8>, usize> = HashMap::new();
    if !rec.advance()? {
        return Ok(None); // no header
    }
    let mut row = 0usize;
    while rec.advance()? {
        if ids
            .get(row)
            .is_some_and(|h| repeated.binary_search(h).is_ok())
        {
            let id = trim_spaces(rec.field(col)).to_vec();
            if let Some(&first) = seen.get(&id) {
                return Ok(Some((id, first, row)));
            }
            seen.insert(id, row);
        }
        row += 1;
    }
    Ok(None)
}

fn malformed(path: &Path) -> impl Fn(RecordError) -> DataError + '_ {
    move |e: RecordError| DataError::Malformed {
        path: path.to_path_buf(),
        line: e.line,
        message: e.message,
    }
}

/// Reads the header row and finds the requested columns in it.
fn read_header<'p, R: Records>(
    rec: &mut R,
    path: &'p Path,
    spec: &Spec,
) -> Result<(Header<'p>, Columns), DataError> {
    if !rec.advance().map_err(malformed(path))? {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }
    let raw: Vec<Vec<u8>> = (0..rec.len()).map(|i| rec.field(i).to_vec()).collect();
    let header = Header {
        path,
        line: rec.line(),
        names: raw
            .iter()
            .map(|f| String::from_utf8_lossy(f).into_owned())
            .collect(),
        raw,
    };
    let columns = Columns {
        n_fields: header.raw.len(),
        label: spec
            .label
            .map(|l| header.resolve(ROLE_LABEL, l))
            .transpose()?,
        scores: spec
            .scores
            .iter()
            .map(|s| header.resolve(ROLE_SCORE, s))
            .collect::<Result<Vec<_>, _>>()?,
        groups: spec
            .groups
            .iter()
            .enumerate()
            .map(|(i, g)| header.resolve(spec.group_role(i), g))
            .collect::<Result<Vec<_>, _>>()?,
        case: CASE_ID_NAMES.iter().find_map(|name| {
            header
                .raw
                .iter()
                .position(|h| h.trim_ascii().eq_ignore_ascii_case(name))
        }),
    };
    Ok((header, columns))
}

/// Reads and validates every remaining row of `rec`; `data_len` (the bytes left) sizes the
/// column vectors up front.
fn read_rows<R: Records>(
    mut rec: R,
    columns: &Columns,
    ctx: &RowContext,
    data_len: usize,
) -> Result<Rows, DataError> {
    let mut labels: Vec<bool> = Vec::new();
    let mut scores: Vec<Vec<f64>> = vec![Vec::new(); columns.scores.len()];
    let mut interners: Vec<Interner> = columns.groups.iter().map(|_| Interner::new()).collect();
    let mut ids: Vec<u64> = Vec::new();
    let case = columns.checked_case();

    while rec.advance().map_err(malformed(ctx.path))? {
        if rec.len() != columns.n_fields {
            return Err(DataError::RaggedRow {
                path: ctx.path.to_path_buf(),
                line: rec.line(),
                expected: columns.n_fields,
                found: rec.len(),
                case_id: ctx.case_id(&rec),
                quoted_line_break: (0..rec.len())
                    .any(|i| rec.field(i).iter().any(|&b| b == b'\n' || b == b'\r')),
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

        labels.push(match columns.label {
            Some(col) => {
                let field = rec.field(col);
                parse_label(field).ok_or_else(|| ctx.label_error(&rec, col, field))?
            }
            None => false,
        });

        for (column, &col) in scores.iter_mut().zip(&columns.scores) {
            let field = rec.field(col);
            column
                .push(parse_score(field).map_err(|kind| ctx.score_error(&rec, col, field, kind))?);
        }

        for (interner, &col) in interners.iter_mut().zip(&columns.groups) {
            let field = rec.field(col);
            interner
                .push(field)
                .map_err(|kind| ctx.group_error(&rec, col, field, kind))?;
        }
        if let Some(col) = case {
            ids.push(id_hash(rec.field(col)));
        }
    }
    Ok(Rows {
        labels,
        scores,
        interners,
        ids,
    })
}

/// The table from the rows read record by record.
fn finish(rows: Rows, header_line: u64, path: &Path, spec: &Spec) -> Result<EvalTable, DataError> {
    if rows.labels.is_empty() {
        return Err(DataError::NoDataRows {
            path: path.to_path_buf(),
            header_line,
        });
    }
    let groups = rows
        .interners
        .into_iter()
        .zip(spec.groups)
        .map(|(interner, name)| interner.finish(name.clone()))
        .collect();
    Ok(EvalTable {
        path: path.to_path_buf(),
        labels: rows.labels,
        score_names: spec.scores.to_vec(),
        scores: rows.scores,
        groups,
    })
}

/// Rejects a spec that names one column twice, in the same or in different roles.
fn check_spec(path: &Path, spec: &Spec) -> Result<(), DataError> {
    let requests = spec
        .label
        .map(|l| (ROLE_LABEL, l))
        .into_iter()
        .chain(spec.scores.iter().map(|s| (ROLE_SCORE, s.as_str())))
        .chain(
            spec.groups
                .iter()
                .enumerate()
                .map(|(i, g)| (spec.group_role(i), g.as_str())),
        );
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
                hint: self
                    .suggest(name)
                    .map(|n| format!("did you mean '{n}'?"))
                    .or_else(|| self.format_hint(name)),
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

    /// Why the header may not be read as the file means it: a file separated by `;` (as
    /// spreadsheet programs save CSV where the decimal separator is a comma) or by tabs reads as
    /// one column whose name holds the separators; Excel's `sep=` line reads as the header.
    fn format_hint(&self, name: &str) -> Option<String> {
        // `sep=,` reads as the fields `sep=` and ``; `sep=` may name a tab, so only spaces are
        // trimmed.
        let line = self.names.join(",");
        let line = line.trim_matches(' ');
        if line
            .strip_prefix("sep=")
            .is_some_and(|s| s.chars().count() == 1)
        {
            return Some(format!(
                "line {} is '{line}', an Excel separator directive, not the header: delete that line",
                self.line
            ));
        }
        if let [only] = self.names.as_slice() {
            for (sep, what) in [
                (
                    ';',
                    "semicolons (as spreadsheet programs save CSV where the decimal separator is a comma)",
                ),
                ('\t', "tabs"),
                ('|', "'|'"),
            ] {
                // Every field quoted (`"case_id";"label"`) reads as one field whose inner
                // names keep their quotes.
                if only
                    .split(sep)
                    .any(|c| c.trim().trim_matches('"').trim() == name)
                {
                    return Some(format!(
                        "the file looks separated by {what}: save it as comma-separated CSV, with '.' as the decimal point"
                    ));
                }
            }
        }
        None
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

impl RowContext<'_> {
    fn case_id(&self, rec: &impl Records) -> Option<String> {
        let col = self.case_col?;
        (col < rec.len()).then(|| quote_value(rec.field(col)))
    }

    fn location(&self, rec: &impl Records, col: usize) -> CellLocation {
        CellLocation {
            path: self.path.to_path_buf(),
            line: rec.line(),
            column: self.header.names[col].clone(),
            column_number: col + 1,
            case_id: self.case_id(rec),
        }
    }

    fn label_error(&self, rec: &impl Records, col: usize, field: &[u8]) -> DataError {
        let location = self.location(rec, col);
        if trim_spaces(field).is_empty() {
            DataError::EmptyValue {
                location,
                role: ROLE_LABEL,
            }
        } else if std::str::from_utf8(field).is_err() {
            DataError::InvalidUtf8 {
                location,
                value: quote_value(field),
            }
        } else {
            DataError::InvalidLabel {
                location,
                value: quote_value(field),
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
        let location = self.location(rec, col);
        let value = quote_value(field);
        match kind {
            ScoreProblem::Empty => DataError::EmptyValue {
                location,
                role: ROLE_SCORE,
            },
            ScoreProblem::Utf8 => DataError::InvalidUtf8 { location, value },
            ScoreProblem::NotANumber => DataError::ScoreNotANumber { location, value },
            ScoreProblem::NotFinite => DataError::ScoreNotFinite { location, value },
            ScoreProblem::OutOfRange => DataError::ScoreOutOfRange { location, value },
        }
    }

    fn group_error(
        &self,
        rec: &impl Records,
        col: usize,
        field: &[u8],
        kind: GroupProblem,
    ) -> DataError {
        let location = self.location(rec, col);
        match kind {
            GroupProblem::Utf8 => DataError::InvalidUtf8 {
                location,
                value: quote_value(field),
            },
            GroupProblem::TooManyLevels => DataError::Malformed {
                message: format!(
                    "column '{}' (column {}) has more than {} distinct values",
                    location.column,
                    location.column_number,
                    u32::MAX
                ),
                path: location.path,
                line: location.line,
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

    /// The parallel chunked parse must give exactly the serial parse's table — including group
    /// levels that first appear in a later chunk — and the serial parse's first error.
    #[test]
    fn parallel_chunks_match_serial_parse() {
        let scores = vec!["score".to_string(), "b".to_string()];
        let groups = vec!["site".to_string(), "sex".to_string()];
        let spec = EvalSpec {
            label: "label",
            scores: &scores,
            groups: &groups,
        };
        let spec = Spec::from(&spec);
        let mut text = String::from("case_id,label,score,b,site,sex\r\n");
        let rows = 60_000;
        for i in 0..rows {
            // Sites Z* only in the second half; an empty sex (missing level) now and then;
            // blank lines and CRLF endings.
            let site = if i < rows / 2 {
                format!("S{}", i % 5)
            } else {
                format!("Z{}", i % 3)
            };
            let sex = match i % 7 {
                0 => "",
                1..=3 => "F",
                _ => "M",
            };
            text.push_str(&format!(
                "{i},{},{:.6},{},{site},{sex}\r\n",
                (i % 10 == 0) as u8,
                (i % 977) as f64 / 977.0,
                (i % 13) as f64 / 12.0
            ));
            if i % 1000 == 0 {
                text.push_str("\r\n");
            }
        }
        assert!(text.len() > PARALLEL_ABOVE);
        let path = Path::new("t.csv");
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .expect("pool");
        let serial = read_table(
            PlainRecords::new(text.as_bytes()),
            text.as_bytes(),
            path,
            &spec,
        )
        .expect("valid");
        let parallel = pool
            .install(|| parse(text.as_bytes(), path, &spec))
            .expect("valid");
        assert!(
            parallel == serial,
            "the parallel parse differs from the serial one"
        );
        assert_eq!(parallel.groups[0].levels.len(), 8);

        // A bad score late in the file: the same error, with the same (absolute) line.
        let bad = text.replacen("\n55001,0,", "\n55001,7,", 1);
        assert_ne!(bad, text);
        let serial = read_table(
            PlainRecords::new(bad.as_bytes()),
            bad.as_bytes(),
            path,
            &spec,
        )
        .expect_err("bad label");
        let parallel = pool
            .install(|| parse(bad.as_bytes(), path, &spec))
            .expect_err("bad label");
        assert_eq!(parallel.to_string(), serial.to_string());
        // Header line 1, 55,001 data rows (lines 2..55002) and 56 blank lines before it.
        assert!(serial.to_string().starts_with("t.csv:55059:"), "{serial}");
    }

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
        let spec = Spec::from(&spec);

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
