//! The fast path of the quote-free reader: the data rows of a chunk in one pass, fields found
//! from a bit mask of separators built 64 bytes at a time and handed straight to the label,
//! score and group parsers.
//!
//! It only ever *accepts*: at the first thing it does not accept (a ragged row, a bad value) it
//! gives up and the caller reads the input again with [`crate::records::PlainRecords`], which
//! reports the error with its line, column and value. Its record rules are those of
//! `PlainRecords` (a record ends at `\n` or `\r`, empty records are skipped), and the
//! differential tests in `csv_table.rs` check that both give the same table. The same layout
//! of a separator bit mask walked with `trailing_zeros` is what simdjson and simd-csv use; here
//! the compiler vectorises the mask loop.

use crate::csv_table::Columns;
use crate::interner::Interner;
use crate::numbers::{parse_label, parse_score_in};

/// What a column's values feed.
#[derive(Clone, Copy)]
enum Role {
    Skip,
    Label,
    Score(usize),
    Group(usize),
    /// The case id column (not requested in another role): hashed for the duplicate check.
    Case,
}

/// A case id's 64-bit FNV-1a hash (surrounding spaces ignored); 0 for an empty id, which is
/// not checked. Equal hashes are only candidates: the ids themselves are compared after.
#[inline]
pub(crate) fn id_hash(field: &[u8]) -> u64 {
    let field = crate::numbers::trim_spaces(field);
    if field.is_empty() {
        return 0;
    }
    crate::interner::fnv1a(crate::interner::FNV_OFFSET, field).max(1)
}

/// Bit `j` set iff `block[j]` is `,`, `\n` or `\r`: SSE2 (part of every x86-64) compares
/// 16 bytes at a time and gathers their high bits.
#[cfg(target_arch = "x86_64")]
#[inline]
fn separators(block: &[u8; 64]) -> u64 {
    // SAFETY: SSE2 is in the x86-64 baseline: every x86-64 CPU has it.
    unsafe { separators_sse2(block) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
fn separators_sse2(block: &[u8; 64]) -> u64 {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_movemask_epi8, _mm_or_si128, _mm_set_epi64x, _mm_set1_epi8,
    };
    let (comma, lf, cr) = (
        _mm_set1_epi8(b',' as i8),
        _mm_set1_epi8(b'\n' as i8),
        _mm_set1_epi8(b'\r' as i8),
    );
    let mut mask = 0u64;
    for (k, lane) in block.as_chunks::<8>().0.chunks_exact(2).enumerate() {
        let v = _mm_set_epi64x(i64::from_le_bytes(lane[1]), i64::from_le_bytes(lane[0]));
        let hits = _mm_or_si128(
            _mm_or_si128(_mm_cmpeq_epi8(v, comma), _mm_cmpeq_epi8(v, lf)),
            _mm_cmpeq_epi8(v, cr),
        );
        mask |= u64::from(_mm_movemask_epi8(hits) as u16) << (16 * k);
    }
    mask
}

/// Bit `j` set iff `block[j]` is `,`, `\n` or `\r` (portable version).
#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn separators(block: &[u8; 64]) -> u64 {
    let mut mask = 0u64;
    for (j, &b) in block.iter().enumerate() {
        mask |= u64::from((b == b',') | (b == b'\n') | (b == b'\r')) << j;
    }
    mask
}

/// One chunk's place in the output columns: its region of each, as long as its
/// [`row_bound`].
pub(crate) struct Region<'a> {
    pub(crate) labels: &'a mut [bool],
    pub(crate) scores: Vec<&'a mut [f64]>,
    pub(crate) codes: Vec<&'a mut [u32]>,
    /// Each row's [`id_hash`], when the case id column is checked.
    pub(crate) ids: Option<&'a mut [u64]>,
}

/// What scanning a chunk gives back besides the values written into its [`Region`].
pub(crate) struct Scanned {
    /// Rows written (the first `rows` of the region).
    pub(crate) rows: usize,
    /// Per group column: the levels met, whose codes (in order of first appearance in this
    /// chunk) are in the region.
    pub(crate) interners: Vec<Interner>,
}

/// At least the number of records in `data`: one per `\n`, plus a last one without a line end.
/// Exact for LF and CRLF files without blank lines; records ended by a lone `\r` are not
/// counted, and [`scan_rows`] gives up when they overflow the region.
pub(crate) fn row_bound(data: &[u8]) -> usize {
    // Counting in 8-byte words is several times faster than a byte loop.
    let (words, rest) = data.as_chunks::<8>();
    let mut n = 0usize;
    for w in words {
        let v = u64::from_le_bytes(*w) ^ (ONES * u64::from(b'\n'));
        // Exact zero-byte marks (no false positives): high bit of each zero byte.
        let zeros = !(((v & !HIGHS).wrapping_add(!HIGHS)) | v | !HIGHS);
        n += zeros.count_ones() as usize;
    }
    n += rest.iter().filter(|&&b| b == b'\n').count();
    n + usize::from(data.last().is_some_and(|&b| b != b'\n'))
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Reads the records of `data` (whole records, no `"` byte) into `region`, or `None` if a row
/// would be an error (or the region is too short).
pub(crate) fn scan_rows(data: &[u8], columns: &Columns, region: Region) -> Option<Scanned> {
    let mut roles = vec![Role::Skip; columns.n_fields];
    if let Some(label) = columns.label {
        roles[label] = Role::Label;
    }
    for (k, &c) in columns.scores.iter().enumerate() {
        roles[c] = Role::Score(k);
    }
    for (k, &c) in columns.groups.iter().enumerate() {
        roles[c] = Role::Group(k);
    }
    if let Some(c) = columns.checked_case() {
        roles[c] = Role::Case;
    }
    let mut scanner = Scanner {
        roles: &roles,
        region,
        interners: columns.groups.iter().map(|_| Interner::new()).collect(),
        row: 0,
        col: 0,
        start: 0,
    };

    let (blocks, rest) = data.as_chunks::<64>();
    let mut base = 0;
    for block in blocks {
        let mut mask = separators(block);
        while mask != 0 {
            scanner.separator(data, base + mask.trailing_zeros() as usize)?;
            mask &= mask - 1;
        }
        base += 64;
    }
    for (j, &b) in rest.iter().enumerate() {
        if matches!(b, b',' | b'\n' | b'\r') {
            scanner.separator(data, base + j)?;
        }
    }
    // A last record without a line end.
    if scanner.start < data.len() || scanner.col > 0 {
        scanner.field(data, data.len())?;
        scanner.end_record()?;
    }
    Some(Scanned {
        rows: scanner.row,
        interners: scanner.interners,
    })
}

struct Scanner<'a> {
    roles: &'a [Role],
    region: Region<'a>,
    interners: Vec<Interner>,
    /// Row being read (index into the region).
    row: usize,
    /// Column of the current field.
    col: usize,
    /// Offset where the current field starts.
    start: usize,
}

impl Scanner<'_> {
    #[inline]
    fn separator(&mut self, data: &[u8], at: usize) -> Option<()> {
        let byte = data[at];
        if byte != b',' && self.col == 0 && at == self.start {
            // An empty record: a blank line or the `\n` of a CRLF.
            self.start = at + 1;
            return Some(());
        }
        self.field(data, at)?;
        self.start = at + 1;
        if byte == b',' {
            self.col += 1;
            Some(())
        } else {
            self.end_record()
        }
    }

    /// Parses the current field (`data[self.start..end]`) as its column's role says and stores
    /// it in the current row.
    #[inline]
    fn field(&mut self, data: &[u8], end: usize) -> Option<()> {
        let row = self.row;
        let field = &data[self.start..end];
        match *self.roles.get(self.col)? {
            Role::Skip => {}
            Role::Label => *self.region.labels.get_mut(row)? = parse_label(field)?,
            Role::Score(k) => {
                *self.region.scores[k].get_mut(row)? =
                    parse_score_in(&data[self.start..], field.len()).ok()?
            }
            Role::Group(k) => {
                *self.region.codes[k].get_mut(row)? = self.interners[k].code(field).ok()?
            }
            Role::Case => *self.region.ids.as_deref_mut()?.get_mut(row)? = id_hash(field),
        }
        Some(())
    }

    #[inline]
    fn end_record(&mut self) -> Option<()> {
        if self.col + 1 != self.roles.len() {
            return None; // ragged
        }
        self.col = 0;
        self.row += 1;
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_bound_counts_line_feeds_and_a_last_unterminated_record() {
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        for len in 0..200 {
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    [b'a', b'\n', b'\r', b',', 0x8a, 0x0b][(x % 6) as usize]
                })
                .collect();
            let naive = data.iter().filter(|&&b| b == b'\n').count()
                + usize::from(data.last().is_some_and(|&b| b != b'\n'));
            assert_eq!(row_bound(&data), naive, "{data:?}");
        }
    }

    #[test]
    fn separators_match_a_byte_loop() {
        let mut block = [0u8; 64];
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..2000 {
            for b in &mut block {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = [b',', b'\n', b'\r', b'0', b'"', 0xac, 0x8d, 0x2c | 0x80][(x % 8) as usize];
            }
            let naive = block.iter().enumerate().fold(0u64, |m, (j, &b)| {
                m | (u64::from(matches!(b, b',' | b'\n' | b'\r')) << j)
            });
            assert_eq!(separators(&block), naive);
        }
    }
}
