//! Interning group values: codes per row, levels sorted at the end.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::{GroupColumn, MISSING_LEVEL};

#[derive(Clone, Copy)]
pub(crate) enum GroupProblem {
    Utf8,
    TooManyLevels,
}

/// FNV-1a: a fast hasher for the short level strings of group columns.
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let h = if self.0 == 0 { FNV_OFFSET } else { self.0 };
        self.0 = fnv1a(h, bytes);
    }
}

/// FNV-1a's initial state.
pub(crate) const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a of `bytes`, continued from the state `h` ([`FNV_OFFSET`] to start).
#[inline]
pub(crate) fn fnv1a(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Values of at most 7 bytes packed with their length into one integer, so
/// the common short levels compare and hash as one number. Longer values
/// get `LONG_KEY`, which no short value packs to; a short value never packs
/// to 0 (its length byte is at least 1).
#[inline]
fn pack(key: &[u8]) -> u64 {
    let len = key.len();
    let bytes = match (key.first_chunk::<4>(), key.last_chunk::<4>()) {
        _ if len > 7 => return LONG_KEY,
        // 4..=7 bytes: two overlapping 4-byte loads; the overlap holds the same bytes.
        (Some(head), Some(tail)) => {
            u64::from(u32::from_le_bytes(*head))
                | u64::from(u32::from_le_bytes(*tail)) << (8 * (len - 4))
        }
        // 1..=3 bytes: first, middle and last byte cover them all.
        _ => match key {
            [] => 0,
            [first, ..] => {
                u64::from(*first)
                    | u64::from(key[len / 2]) << (8 * (len / 2))
                    | u64::from(key[len - 1]) << (8 * (len - 1))
            }
        },
    };
    bytes | (len as u64) << 56
}

const LONG_KEY: u64 = u64::MAX;
/// The key of [`MISSING_LEVEL`] in the short-value table (length byte 0xFE,
/// which no packed short value has).
const MISSING_KEY: u64 = 0xFE << 56;

/// Assigns each distinct group value a code in order of first appearance;
/// [`Interner::finish`] sorts the levels and remaps the codes ([`Interner::code`] hands the
/// code back instead of keeping it, and [`Interner::sorted`] gives the remapping).
///
/// Short values (up to 7 bytes, the usual case: `F`, `40-64`, `site_07`) and
/// the missing level are found through a small open-addressing table keyed by
/// [`pack`] (or `MISSING_KEY`); longer values through a `HashMap`.
pub(crate) struct Interner {
    levels: Vec<Vec<u8>>,
    /// Open-addressing table for short values: `(packed, code)`, packed 0 = empty slot.
    /// Its length is a power of two at least twice the number of short levels.
    short: Vec<(u64, u32)>,
    short_count: usize,
    long: HashMap<Vec<u8>, u32, BuildHasherDefault<Fnv>>,
    pub(crate) codes: Vec<u32>,
}

impl Interner {
    pub(crate) fn new() -> Self {
        Self {
            levels: Vec::new(),
            short: vec![(0, 0); 16],
            short_count: 0,
            long: HashMap::default(),
            codes: Vec::new(),
        }
    }

    #[inline]
    fn slot(packed: u64, mask: usize) -> usize {
        (packed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize & mask
    }

    #[inline]
    pub(crate) fn push(&mut self, field: &[u8]) -> Result<(), GroupProblem> {
        let code = self.code(field)?;
        self.codes.push(code);
        Ok(())
    }

    /// The code of `field`'s level (in order of first appearance), adding the level if new.
    #[inline]
    pub(crate) fn code(&mut self, field: &[u8]) -> Result<u32, GroupProblem> {
        // Empty fields and a literal "(missing)" share one level and one key.
        let (key, packed) = if field.is_empty() || field == MISSING_LEVEL.as_bytes() {
            (MISSING_LEVEL.as_bytes(), MISSING_KEY)
        } else {
            (field, pack(field))
        };
        let code = if packed == LONG_KEY {
            match self.long.get(key) {
                Some(&code) => code,
                None => self.insert(key, packed)?,
            }
        } else {
            let mask = self.short.len() - 1;
            let mut i = Self::slot(packed, mask);
            loop {
                match self.short[i] {
                    (p, code) if p == packed => break code,
                    (0, _) => break self.insert(key, packed)?,
                    _ => i = (i + 1) & mask,
                }
            }
        };
        Ok(code)
    }

    /// Adds a level not seen before.
    #[cold]
    fn insert(&mut self, key: &[u8], packed: u64) -> Result<u32, GroupProblem> {
        std::str::from_utf8(key).map_err(|_| GroupProblem::Utf8)?;
        let code = u32::try_from(self.levels.len()).map_err(|_| GroupProblem::TooManyLevels)?;
        self.levels.push(key.to_vec());
        if packed == LONG_KEY {
            self.long.insert(key.to_vec(), code);
        } else {
            self.short_count += 1;
            if self.short_count * 2 > self.short.len() {
                let bigger = vec![(0, 0); self.short.len() * 2];
                let old = std::mem::replace(&mut self.short, bigger);
                for (p, c) in old.into_iter().filter(|&(p, _)| p != 0) {
                    self.place(p, c);
                }
            }
            self.place(packed, code);
        }
        Ok(code)
    }

    fn place(&mut self, packed: u64, code: u32) {
        let mask = self.short.len() - 1;
        let mut i = Self::slot(packed, mask);
        while self.short[i].0 != 0 {
            i = (i + 1) & mask;
        }
        self.short[i] = (packed, code);
    }

    /// Sorts the levels by bytes and remaps the codes to the sorted order.
    pub(crate) fn finish(mut self, name: String) -> GroupColumn {
        let mut codes = std::mem::take(&mut self.codes);
        let (levels, remap) = self.sorted();
        for code in &mut codes {
            *code = remap[*code as usize];
        }
        GroupColumn {
            name,
            levels,
            codes,
        }
    }

    /// The levels sorted by bytes, and `remap[code]`: each code's index among them.
    pub(crate) fn sorted(self) -> (Vec<String>, Vec<u32>) {
        let mut sorted: Vec<(Vec<u8>, usize)> = self
            .levels
            .into_iter()
            .enumerate()
            .map(|(old, level)| (level, old))
            .collect();
        sorted.sort_unstable(); // levels are distinct, so this orders by bytes alone
        let mut remap = vec![0u32; sorted.len()];
        for (new, &(_, old)) in sorted.iter().enumerate() {
            // `insert` keeps the level count within u32 codes.
            remap[old] = new as u32;
        }
        let levels = sorted
            .into_iter()
            .map(|(bytes, _)| {
                // Every level was checked to be UTF-8 when it was first seen.
                String::from_utf8(bytes)
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
            })
            .collect();
        (levels, remap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_is_injective_on_short_values() {
        let mut seen = HashMap::new();
        let alphabet = [0u8, 1, b'a', b'b', 0xff];
        let mut values: Vec<Vec<u8>> = vec![vec![]];
        for _ in 0..7 {
            let longer: Vec<Vec<u8>> = values
                .iter()
                .filter(|v| v.len() == values.last().map_or(0, Vec::len))
                .flat_map(|v| alphabet.iter().map(move |&b| [v.as_slice(), &[b]].concat()))
                .collect();
            values.extend(longer);
        }
        for v in &values[1..] {
            let p = pack(v);
            assert!(p != 0 && p != LONG_KEY, "{v:?}");
            let expected = {
                let mut buf = [0u8; 8];
                buf[..v.len()].copy_from_slice(v);
                buf[7] = v.len() as u8;
                u64::from_le_bytes(buf)
            };
            assert_eq!(p, expected, "{v:?}");
            assert!(seen.insert(p, v.clone()).is_none(), "collision for {v:?}");
        }
        assert_eq!(pack(b"12345678"), LONG_KEY);
    }
}
