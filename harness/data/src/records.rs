//! Two interchangeable sources of CSV records over an in-memory input.
//!
//! - [`CsvRecords`] wraps the `csv` crate and handles all of RFC 4180
//!   (quoted fields, `""` escapes, embedded newlines).
//! - [`PlainRecords`] is a fast path for input that contains no `"` byte at
//!   all, where CSV reduces to splitting lines on `,`. It follows the `csv`
//!   crate's rules for such input exactly (a record ends at `\n`, `\r` or
//!   `\r\n`; empty lines are skipped), which the differential test in
//!   `csv_table.rs` checks. It roughly halves parse time on large files.
//!
//! Both report the line where the current record starts, counting `\n` bytes
//! (header = line 1 when the file does not start with blank lines).

use csv::{ByteRecord, ReaderBuilder};

/// A cursor over the records of one CSV input.
pub(crate) trait Records {
    /// Moves to the next record; `Ok(false)` at the end of input.
    fn advance(&mut self) -> Result<bool, RecordError>;
    /// Number of fields in the current record.
    fn len(&self) -> usize;
    /// Field `i` of the current record (empty if out of range).
    fn field(&self, i: usize) -> &[u8];
    /// 1-based line where the current record starts.
    fn line(&self) -> u64;
    /// Bytes in the current record, for sizing buffers.
    fn byte_len(&self) -> usize;
}

/// A low-level error from the `csv` crate.
pub(crate) struct RecordError {
    pub line: u64,
    pub message: String,
}

pub(crate) struct CsvRecords<'a> {
    data: &'a [u8],
    reader: csv::Reader<&'a [u8]>,
    record: ByteRecord,
}

impl<'a> CsvRecords<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        let reader = ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .buffer_capacity(1 << 16)
            .from_reader(data);
        Self {
            data,
            reader,
            record: ByteRecord::new(),
        }
    }
}

impl Records for CsvRecords<'_> {
    fn advance(&mut self) -> Result<bool, RecordError> {
        self.reader
            .read_byte_record(&mut self.record)
            .map_err(|e| RecordError {
                line: line_at(self.data, e.position()),
                message: e.to_string(),
            })
    }

    #[inline]
    fn len(&self) -> usize {
        self.record.len()
    }

    #[inline]
    fn field(&self, i: usize) -> &[u8] {
        self.record.get(i).unwrap_or_default()
    }

    fn line(&self) -> u64 {
        line_at(self.data, self.record.position())
    }

    fn byte_len(&self) -> usize {
        self.record.as_slice().len() + self.record.len()
    }
}

/// The 1-based line on which the record at `pos` starts.
///
/// Computed from the byte offset rather than taken from `Position::line()`:
/// the csv reader records a position *before* it consumes the `\n` of a
/// preceding CRLF and before it skips blank lines, so its line count lags on
/// CRLF files and after blank lines. Records never start with `\r` or `\n`,
/// so those bytes are skipped first. Only called on error paths.
fn line_at(data: &[u8], pos: Option<&csv::Position>) -> u64 {
    let Some(pos) = pos else { return 0 };
    let mut start = usize::try_from(pos.byte())
        .unwrap_or(usize::MAX)
        .min(data.len());
    while let Some(b'\r' | b'\n') = data.get(start) {
        start += 1;
    }
    1 + data[..start].iter().filter(|&&b| b == b'\n').count() as u64
}

/// Records of a quote-free input: lines split on `,`.
pub(crate) struct PlainRecords<'a> {
    data: &'a [u8],
    /// Offset where the next record search starts.
    pos: usize,
    /// Lines (`\n` bytes) seen before `pos`, plus one.
    next_line: u64,
    /// The current record's bytes, its start line, and its field end offsets
    /// (relative to the record; each field starts one byte after the previous end).
    record: &'a [u8],
    line: u64,
    ends: Vec<usize>,
}

impl<'a> PlainRecords<'a> {
    /// `data` must contain no `"` byte.
    pub(crate) fn new(data: &'a [u8]) -> Self {
        debug_assert!(!data.contains(&b'"'));
        Self {
            data,
            pos: 0,
            next_line: 1,
            record: &[],
            line: 0,
            ends: Vec::new(),
        }
    }
}

impl PlainRecords<'_> {
    /// Offset of the first byte after the current record.
    pub(crate) fn offset(&self) -> usize {
        self.pos
    }
}

impl Records for PlainRecords<'_> {
    fn advance(&mut self) -> Result<bool, RecordError> {
        let data = self.data;
        // Skip terminators and the empty lines between them.
        while let Some(&b) = data.get(self.pos) {
            match b {
                b'\n' => self.next_line += 1,
                b'\r' => {}
                _ => break,
            }
            self.pos += 1;
        }
        if self.pos >= data.len() {
            return Ok(false);
        }
        let start = self.pos;
        self.ends.clear();
        let mut i = start;
        loop {
            i = find_special(data, i);
            if data.get(i) == Some(&b',') {
                self.ends.push(i - start);
                i += 1;
            } else {
                break;
            }
        }
        self.ends.push(i - start);
        self.record = &data[start..i];
        self.line = self.next_line;
        self.pos = i;
        Ok(true)
    }

    #[inline]
    fn len(&self) -> usize {
        self.ends.len()
    }

    #[inline]
    fn field(&self, i: usize) -> &[u8] {
        let Some(&end) = self.ends.get(i) else {
            return &[];
        };
        let start = if i == 0 { 0 } else { self.ends[i - 1] + 1 };
        self.record.get(start..end).unwrap_or_default()
    }

    fn line(&self) -> u64 {
        self.line
    }

    fn byte_len(&self) -> usize {
        self.record.len() + 1
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Marks (with its high bit) the lowest zero byte of `v`; bits above the
/// lowest mark may be false positives, the lowest one never is.
#[inline]
fn zero_bytes(v: u64) -> u64 {
    v.wrapping_sub(ONES) & !v & HIGHS
}

/// Index of the first `,`, `\n` or `\r` at or after `i`, or `data.len()`.
/// Scans eight bytes at a time (SWAR) while eight remain.
#[inline]
fn find_special(data: &[u8], mut i: usize) -> usize {
    while let Some(chunk) = data.get(i..).and_then(<[u8]>::first_chunk::<8>) {
        let v = u64::from_le_bytes(*chunk);
        let hits = zero_bytes(v ^ (ONES * u64::from(b',')))
            | zero_bytes(v ^ (ONES * u64::from(b'\n')))
            | zero_bytes(v ^ (ONES * u64::from(b'\r')));
        if hits != 0 {
            return i + (hits.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&b) = data.get(i) {
        if matches!(b, b',' | b'\n' | b'\r') {
            break;
        }
        i += 1;
    }
    i
}

/// The 1-based line on which data row `row` (1-based, the header not counted) of CSV `data`
/// starts, as the readers count lines in their errors; `None` past the last row or where the
/// reader stops on a malformed record first. For errors found after a table was read.
pub(crate) fn data_row_line(data: &[u8], row: usize) -> Option<u64> {
    fn nth(mut records: impl Records, row: usize) -> Option<u64> {
        for _ in 0..=row {
            if !records.advance().ok()? {
                return None;
            }
        }
        Some(records.line())
    }
    if data.contains(&b'"') {
        nth(CsvRecords::new(data), row)
    } else {
        nth(PlainRecords::new(data), row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_special_matches_naive_scan() {
        let alphabet = b"ab,\r\n \x80\xff\x2c\x0a\x01";
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for len in 0..40 {
            for _ in 0..200 {
                let data: Vec<u8> = (0..len)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        // Mostly plain bytes, sometimes a special one.
                        if x.is_multiple_of(5) {
                            alphabet[(x >> 8) as usize % alphabet.len()]
                        } else {
                            b'a' + (x >> 16) as u8 % 26
                        }
                    })
                    .collect();
                for start in 0..=len {
                    let naive = (start..len)
                        .find(|&j| matches!(data[j], b',' | b'\n' | b'\r'))
                        .unwrap_or(len);
                    assert_eq!(find_special(&data, start), naive, "{data:?} from {start}");
                }
            }
        }
    }
}
