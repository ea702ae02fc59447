//! Count tables: what a site publishes per model and level, read (scanned by hand, checked)
//! and added up across sites.

use super::*;

// ---------------------------------------------------------------------------------------------
// Count tables
// ---------------------------------------------------------------------------------------------

/// The distinct scores of a set of cases, ascending, each with its numbers of positive and
/// negative cases: the tie table of [`crate::ranks::Ranked`], and all that any single-model
/// figure needs.
///
/// JSON: an array of `[score, positives, negatives]` triples, e.g.
/// `[[0.1, 0, 3], [0.35, 1, 1], [0.9, 2, 0]]`. Reading one refuses a score that is not a finite
/// number in `[0, 1]`, scores that are not strictly ascending (so no score twice), a row with
/// 0 positives and 0 negatives, and counts that are not whole non-negative numbers.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CountTable {
    pub(super) groups: Vec<TieGroup>,
}

impl CountTable {
    /// A table from `(score, positives, negatives)` rows, checked as when read from JSON.
    ///
    /// # Errors
    /// [`PoolError::Table`] (with no place) naming the first bad row.
    pub fn from_rows(rows: impl IntoIterator<Item = (f64, u64, u64)>) -> Result<Self, PoolError> {
        check_rows(rows.into_iter().map(Ok)).map_err(|reason| PoolError::Table {
            site: None,
            model: None,
            grouping: None,
            level: None,
            reason,
        })
    }

    /// The rows as tie groups, ascending.
    pub fn groups(&self) -> &[TieGroup] {
        &self.groups
    }

    /// The rows as `(score, positives, negatives)`.
    pub fn rows(&self) -> impl Iterator<Item = (f64, u64, u64)> + '_ {
        self.groups.iter().map(|g| (g.value, g.pos, g.neg))
    }

    /// Number of distinct scores.
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    /// True when the table has no case.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// (positives, negatives) in the table.
    pub fn class_counts(&self) -> (u64, u64) {
        class_counts(&self.groups)
    }
}

/// The checks of a table's rows; `Err` is the reason, naming the row (1-based).
fn check_rows(
    rows: impl Iterator<Item = Result<(f64, u64, u64), String>>,
) -> Result<CountTable, String> {
    let mut groups: Vec<TieGroup> = Vec::new();
    let (mut m, mut n) = (0u64, 0u64);
    for (i, row) in rows.enumerate() {
        let row_no = i + 1;
        let (score, pos, neg) = row.map_err(|r| format!("row {row_no}: {r}"))?;
        if !(0.0..=1.0).contains(&score) {
            return Err(format!(
                "row {row_no}: score {score} is not a probability in [0, 1]"
            ));
        }
        let value = score + 0.0;
        if pos == 0 && neg == 0 {
            return Err(format!(
                "row {row_no}: score {value} has no cases (0 positives and 0 negatives)"
            ));
        }
        if let Some(prev) = groups.last()
            && prev.value >= value
        {
            return Err(format!(
                "row {row_no}: score {value} follows {}: scores must be distinct and ascending",
                prev.value
            ));
        }
        m = m
            .checked_add(pos)
            .ok_or_else(|| format!("row {row_no}: the positives overflow a 64-bit count"))?;
        n = n
            .checked_add(neg)
            .ok_or_else(|| format!("row {row_no}: the negatives overflow a 64-bit count"))?;
        m.checked_add(n)
            .ok_or_else(|| format!("row {row_no}: the cases overflow a 64-bit count"))?;
        groups.push(TieGroup { value, pos, neg });
    }
    Ok(CountTable { groups })
}

impl Serialize for CountTable {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.groups.len()))?;
        for g in &self.groups {
            seq.serialize_element(&(g.value, g.pos, g.neg))?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for CountTable {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = RawTable::deserialize(deserializer)?;
        raw.check().map_err(|reason| {
            de::Error::custom(PoolError::Table {
                site: None,
                model: None,
                grouping: None,
                level: None,
                reason,
            })
        })
    }
}

/// A JSON scalar read as it is, so that a malformed table is refused with its place and a
/// plain reason rather than a bare type error.
#[derive(Clone, Debug)]
enum Scalar {
    Float(f64),
    Unsigned(u64),
    Signed(i64),
    Text(String),
    Other(&'static str),
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar::Float(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar::Unsigned(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar::Signed(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar::Text(v.to_string()))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Scalar, E> {
                Ok(Scalar::Other("a boolean"))
            }
            fn visit_unit<E>(self) -> Result<Scalar, E> {
                Ok(Scalar::Other("null"))
            }
            fn visit_none<E>(self) -> Result<Scalar, E> {
                Ok(Scalar::Other("null"))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Scalar::Other("an array"))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Scalar::Other("an object"))
            }
        }
        deserializer.deserialize_any(V)
    }
}

impl Scalar {
    fn score(&self) -> Result<f64, String> {
        match self {
            Scalar::Float(v) => Ok(*v),
            Scalar::Unsigned(v) => Ok(*v as f64),
            Scalar::Signed(v) => Ok(*v as f64),
            Scalar::Text(s) => Err(format!("score {s:?} is a string, not a number")),
            Scalar::Other(what) => Err(format!("score is {what}, not a number")),
        }
    }

    fn count(&self, what: &str) -> Result<u64, String> {
        match self {
            Scalar::Unsigned(v) => Ok(*v),
            Scalar::Signed(v) => Err(format!("{what} {v} is negative")),
            Scalar::Float(v) => Err(format!("{what} {v} is not a whole number")),
            Scalar::Text(s) => Err(format!("{what} {s:?} is a string, not a number")),
            Scalar::Other(w) => Err(format!("{what} is {w}, not a number")),
        }
    }
}

/// A count table as read, before its checks: its JSON text. A site's table has a row per
/// distinct score, so with exact scores the tables are about as large as the site's data; they
/// are scanned by hand ([`scan_rows`]) and go through serde only to say what is wrong with a
/// malformed one.
#[derive(Deserialize)]
#[serde(transparent)]
pub(super) struct RawTable(Box<serde_json::value::RawValue>);

/// The rows of a well-formed table's JSON text, one at a time, each score read correctly
/// rounded (Rust's `str::parse`, like serde_json with `float_roundtrip`); an item `None` (and
/// nothing after it) at anything else: not an array of arrays of three JSON numbers, a count
/// that is not a whole number in JSON integer form, or one that overflows `u64`, or text after
/// the array. The rows' own checks are the consumer's ([`check_rows`]), as they come: no
/// table of rows is made first.
fn scan_rows(text: &str) -> RowScanner<'_> {
    RowScanner {
        b: text.as_bytes(),
        text,
        at: 0,
        state: ScanState::Start,
    }
}

/// The iterator of [`scan_rows`].
struct RowScanner<'t> {
    b: &'t [u8],
    text: &'t str,
    at: usize,
    state: ScanState,
}

#[derive(Clone, Copy, PartialEq)]
enum ScanState {
    /// Before the opening bracket.
    Start,
    /// After a row.
    Next,
    /// After the closing bracket.
    Done,
    /// After the end or the first malformed byte: nothing more.
    Exhausted,
}

impl RowScanner<'_> {
    fn ws(&mut self) {
        while self.at < self.b.len() && matches!(self.b[self.at], b' ' | b'\t' | b'\n' | b'\r') {
            self.at += 1;
        }
    }

    fn expect(&mut self, c: u8) -> Option<()> {
        self.ws();
        (self.b.get(self.at) == Some(&c)).then(|| self.at += 1)
    }

    fn digits(&mut self) -> bool {
        let start = self.at;
        while self.at < self.b.len() && self.b[self.at].is_ascii_digit() {
            self.at += 1;
        }
        self.at > start
    }

    /// A JSON number, -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?: its text and whether it is
    /// an integer (no fraction or exponent).
    fn number(&mut self) -> Option<(&str, bool)> {
        self.ws();
        let start = self.at;
        if self.b.get(self.at) == Some(&b'-') {
            self.at += 1;
        }
        if self.b.get(self.at) == Some(&b'0') {
            self.at += 1;
        } else if !self.digits() {
            return None;
        }
        let mut integer = true;
        if self.b.get(self.at) == Some(&b'.') {
            self.at += 1;
            integer = false;
            if !self.digits() {
                return None;
            }
        }
        if matches!(self.b.get(self.at), Some(b'e' | b'E')) {
            self.at += 1;
            integer = false;
            if matches!(self.b.get(self.at), Some(b'+' | b'-')) {
                self.at += 1;
            }
            if !self.digits() {
                return None;
            }
        }
        Some((&self.text[start..self.at], integer))
    }

    fn count(&mut self) -> Option<u64> {
        match self.number()? {
            (t, true) if !t.starts_with('-') => t.parse().ok(),
            _ => None,
        }
    }

    fn row(&mut self) -> Option<(f64, u64, u64)> {
        self.expect(b'[')?;
        let score: f64 = self.number()?.0.parse().ok()?;
        self.expect(b',')?;
        let pos = self.count()?;
        self.expect(b',')?;
        let neg = self.count()?;
        self.expect(b']')?;
        Some((score, pos, neg))
    }

    /// The next row, `Ok(None)` at the well-formed end, `Err(())` when malformed.
    fn step(&mut self) -> Result<Option<(f64, u64, u64)>, ()> {
        if self.state == ScanState::Start {
            self.expect(b'[').ok_or(())?;
            self.ws();
            if self.b.get(self.at) == Some(&b']') {
                self.at += 1;
                self.state = ScanState::Done;
            }
        } else if self.state == ScanState::Next {
            self.ws();
            match self.b.get(self.at) {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    self.state = ScanState::Done;
                }
                _ => return Err(()),
            }
        }
        if self.state == ScanState::Done {
            self.ws();
            return if self.at == self.b.len() {
                Ok(None)
            } else {
                Err(())
            };
        }
        self.state = ScanState::Next;
        self.row().map(Some).ok_or(())
    }
}

impl Iterator for RowScanner<'_> {
    type Item = Option<(f64, u64, u64)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.state == ScanState::Exhausted {
            return None;
        }
        let step = self.step();
        if !matches!(step, Ok(Some(_))) {
            self.state = ScanState::Exhausted;
        }
        match step {
            Ok(row) => row.map(Some),
            Err(()) => Some(None),
        }
    }
}

/// One row as read: its three values, or how many values it had when not three. Read in place
/// (no allocation per row: a site's table has a row per distinct score).
enum RawRow {
    Triple(Scalar, Scalar, Scalar),
    Len(usize),
}

impl<'de> Deserialize<'de> for RawRow {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawRow;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a [score, positives, negatives] row")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawRow, A::Error> {
                let mut values: [Option<Scalar>; 3] = [None, None, None];
                for (k, slot) in values.iter_mut().enumerate() {
                    match seq.next_element::<Scalar>()? {
                        Some(v) => *slot = Some(v),
                        None => return Ok(RawRow::Len(k)),
                    }
                }
                let mut extra = 0;
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    extra += 1;
                }
                Ok(match values {
                    [Some(s), Some(p), Some(n)] if extra == 0 => RawRow::Triple(s, p, n),
                    _ => RawRow::Len(3 + extra),
                })
            }
        }
        deserializer.deserialize_seq(V)
    }
}

impl RawTable {
    pub(super) fn check(self) -> Result<CountTable, String> {
        let text = self.0.get();
        // Rows are checked as they are scanned; text found malformed before a row fails its
        // check is read again through serde, to say where and what.
        let mut malformed = false;
        let scanned = scan_rows(text).map_while(|row| {
            malformed |= row.is_none();
            row.map(Ok)
        });
        let checked = check_rows(scanned);
        if !malformed {
            return checked;
        }
        // Malformed: read it value by value to say where and what.
        let rows: Vec<RawRow> = serde_json::from_str(text)
            .map_err(|e| format!("not an array of [score, positives, negatives] rows ({e})"))?;
        check_rows(rows.into_iter().map(|row| match row {
            RawRow::Triple(s, p, n) => {
                Ok((s.score()?, p.count("positives")?, n.count("negatives")?))
            }
            RawRow::Len(k) => Err(format!("has {k} values, not [score, positives, negatives]")),
        }))
    }
}

/// The rows of `tables` in ascending score order, as (score bits, table, row) triples: a radix
/// sort ([`crate::ranks::radix_sort`]) on the bits (non-negative doubles sort like their bit
/// patterns), O(R). `None` when a table or the table count does not fit in `u32`.
fn sorted_rows(tables: &[&[TieGroup]]) -> Option<Vec<(u64, u32, u32)>> {
    let fits = u32::try_from(tables.len()).is_ok()
        && tables.iter().all(|t| u32::try_from(t.len()).is_ok());
    if !fits {
        return None;
    }
    let mut keyed = Vec::with_capacity(tables.iter().map(|t| t.len()).sum());
    for (k, t) in tables.iter().enumerate() {
        keyed.extend(
            t.iter()
                .enumerate()
                .map(|(i, g)| (g.value.to_bits(), k as u32, i as u32)),
        );
    }
    Some(crate::ranks::radix_sort(keyed))
}

/// Up to this many tables (typically a grouping's levels at one site) are merged by walking
/// them side by side ([`side_by_side`], O(R·k)); more (typically the sites' tables of a model) by
/// a radix sort, O(R).
pub(super) const FEW_TABLES: usize = 8;

/// A few tables (each ascending) walked side by side: repeatedly the smallest score among the
/// tables' next rows, with the counts of every table at it; `None` in place of a row whose
/// counts overflow. [`merge`] of a few tables collects it; [`adds_up`] compares it with a total
/// without collecting it.
pub(super) fn side_by_side<'t>(
    tables: &'t [&'t [TieGroup]],
) -> impl Iterator<Item = Option<TieGroup>> + 't {
    let mut next = vec![0usize; tables.len()];
    std::iter::from_fn(move || {
        let value = tables
            .iter()
            .zip(&next)
            .filter_map(|(t, &i)| t.get(i).map(|g| g.value))
            .reduce(f64::min)?;
        let mut sum = Some(TieGroup {
            value,
            pos: 0,
            neg: 0,
        });
        for (t, i) in tables.iter().zip(next.iter_mut()) {
            if let Some(g) = t.get(*i)
                && g.value == value
            {
                sum = sum.and_then(|s| {
                    Some(TieGroup {
                        pos: s.pos.checked_add(g.pos)?,
                        neg: s.neg.checked_add(g.neg)?,
                        ..s
                    })
                });
                *i += 1;
            }
        }
        Some(sum)
    })
}

/// Merges tables (each ascending) into one: counts added at each score. `None` on overflow.
pub(crate) fn merge<'t>(tables: impl Iterator<Item = &'t [TieGroup]>) -> Option<Vec<TieGroup>> {
    let tables: Vec<&[TieGroup]> = tables.filter(|t| !t.is_empty()).collect();
    if tables.len() <= 1 {
        return Some(tables.first().map(|t| t.to_vec()).unwrap_or_default());
    }
    if tables.len() <= FEW_TABLES {
        // At most a row per row of the tables: reserving that much touches only the pages used,
        // where growing by doubling would copy the rows and touch up to twice as much.
        let mut out = Vec::with_capacity(tables.iter().map(|t| t.len()).sum());
        for row in side_by_side(&tables) {
            out.push(row?);
        }
        return Some(out);
    }
    let rows: Vec<TieGroup> = match sorted_rows(&tables) {
        Some(order) => order
            .into_iter()
            .map(|(_, k, i)| tables[k as usize][i as usize])
            .collect(),
        None => {
            let mut rows = tables.concat();
            rows.sort_by(|a, b| a.value.total_cmp(&b.value));
            rows
        }
    };
    let mut out: Vec<TieGroup> = Vec::with_capacity(rows.len());
    for g in rows {
        match out.last_mut() {
            Some(last) if last.value == g.value => {
                last.pos = last.pos.checked_add(g.pos)?;
                last.neg = last.neg.checked_add(g.neg)?;
            }
            _ => out.push(g),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A few tables walked side by side give the sum the radix sort gives for many, and the
    /// level check refuses a missing or extra score, other counts, and counts that overflow.
    #[test]
    fn tables_add_up_side_by_side_as_by_radix_sort() {
        let g = |value, pos, neg| TieGroup { value, pos, neg };
        let a = [g(0.1, 1, 0), g(0.5, 0, 2)];
        let b = [g(0.2, 0, 1), g(0.5, 1, 0), g(0.9, 3, 0)];
        let sum = vec![g(0.1, 1, 0), g(0.2, 0, 1), g(0.5, 1, 2), g(0.9, 3, 0)];
        assert_eq!(merge([&a[..], &b[..]].into_iter()), Some(sum.clone()));
        assert_eq!(merge([&b[..], &a[..]].into_iter()), Some(sum.clone()));
        // Three tables: side by side, as two then one more.
        let c = [g(0.05, 0, 1), g(0.9, 1, 1), g(0.95, 2, 0)];
        let two = merge([&a[..], &b[..]].into_iter()).unwrap();
        assert_eq!(
            merge([&a[..], &b[..], &c[..]].into_iter()),
            merge([&two[..], &c[..]].into_iter())
        );
        assert_eq!(merge([&a[..], &[][..]].into_iter()), Some(a.to_vec()));
        assert!(adds_up(&[&b, &a], &sum));
        assert!(
            !adds_up(&[&b, &a], &sum[1..]),
            "a level score the total lacks"
        );
        // More than FEW_TABLES tables: the radix path.
        let many = std::iter::repeat_n(&a[..], FEW_TABLES + 1);
        let times = (FEW_TABLES + 1) as u64;
        assert_eq!(
            merge(many),
            Some(vec![g(0.1, times, 0), g(0.5, 0, 2 * times)])
        );
        assert!(adds_up(&[&a, &b], &sum));
        assert!(
            !adds_up(&[&a, &b], &sum[..3]),
            "a level score the total lacks"
        );
        assert!(!adds_up(&[&a], &sum), "a total score no level has");
        let other = [g(0.1, 1, 0), g(0.2, 0, 1), g(0.5, 2, 2), g(0.9, 3, 0)];
        assert!(!adds_up(&[&a, &b], &other));
        let big = [g(0.5, u64::MAX, 0)];
        let one = [g(0.5, 1, 0)];
        assert!(!adds_up(&[&big, &one], &[g(0.5, 0, 0)]));
        assert_eq!(merge([&big[..], &one[..]].into_iter()), None);
    }

    /// Every row scanned, or `None` when the text is malformed anywhere.
    fn scan_all(text: &str) -> Option<Vec<(f64, u64, u64)>> {
        scan_rows(text).collect()
    }

    #[test]
    fn scanned_rows_are_the_json_values() {
        let text =
            " [ [0.1,0,3] ,\n\t[3.5e-1, 1, 1],[0.9000000000000001,2,0],[1,4,0],[1E0,0,1] ]\r\n";
        let rows = scan_all(text).unwrap();
        // The values serde_json (float_roundtrip) reads, bit for bit.
        let expected: Vec<(f64, u64, u64)> = serde_json::from_str(text).unwrap();
        assert_eq!(rows.len(), 5);
        for (a, b) in rows.iter().zip(&expected) {
            assert_eq!((a.0.to_bits(), a.1, a.2), (b.0.to_bits(), b.1, b.2));
        }
        assert_eq!(scan_all("[]"), Some(vec![]));
        assert_eq!(scan_all(" [ ] "), Some(vec![]));
        // Anything else goes to the slow path, which says what is wrong.
        for bad in [
            "",
            "[",
            "[[0.1,0,3]",
            "[[0.1,0,3],]",
            "[[0.1,0]]",
            "[[0.1,0,3,4]]",
            "[[.5,0,1]]",
            "[[01,0,1]]",
            "[[0.5,1.0,1]]",
            "[[0.5,-1,1]]",
            "[[0.5,1e2,1]]",
            "[[\"0.5\",1,1]]",
            "[[NaN,1,1]]",
            "[[0.5,1,1]] x",
            "{}",
            "[[0.5,99999999999999999999,1]]",
            "[[+0.5,1,1]]",
            "[[0.5e,1,1]]",
            "[[0.,1,1]]",
        ] {
            assert_eq!(scan_all(bad), None, "{bad:?}");
        }
        // A malformed table read through the slow path names the row.
        let e = serde_json::from_str::<CountTable>("[[0.5,1,1],[0.6,1.5,0]]").unwrap_err();
        assert!(
            e.to_string()
                .contains("row 2: positives 1.5 is not a whole number"),
            "{e}"
        );
        // Rows are checked as they are scanned: a row that fails its check before the text
        // goes wrong is the one named.
        let e = serde_json::from_str::<CountTable>("[[0.5,0,0],[0.6,1.5,0]]").unwrap_err();
        assert!(
            e.to_string().contains("row 1: score 0.5 has no cases"),
            "{e}"
        );
        let e = serde_json::from_str::<CountTable>("[[0.5,1,1],[0.4,1,0],[0.7,1]]").unwrap_err();
        assert!(
            e.to_string().contains("row 2: score 0.4 follows 0.5"),
            "{e}"
        );
        // Good rows, then a malformed one: the slow path says what is wrong.
        let e = serde_json::from_str::<CountTable>("[[0.5,1,1],[0.6,1,0],[0.7,1]]").unwrap_err();
        assert!(e.to_string().contains("row 3: has 2 values"), "{e}");
    }
}
