//! Parsing labels and scores from field bytes.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ScoreProblem {
    Empty,
    Utf8,
    NotANumber,
    NotFinite,
    OutOfRange,
}

/// Strips ASCII spaces and tabs from both ends of a numeric field.
#[inline]
pub(crate) fn trim_spaces(mut field: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = field {
        field = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = field {
        field = rest;
    }
    field
}

#[inline]
pub(crate) fn parse_label(field: &[u8]) -> Option<bool> {
    match trim_spaces(field) {
        b"0" | b"0.0" => Some(false),
        b"1" | b"1.0" => Some(true),
        _ => None,
    }
}

#[inline]
pub(crate) fn parse_score(field: &[u8]) -> Result<f64, ScoreProblem> {
    let trimmed = trim_spaces(field);
    let value = match parse_plain_decimal(trimmed) {
        Some(v) => v,
        None => parse_score_slow(trimmed)?,
    };
    if !(0.0..=1.0).contains(&value) {
        return Err(if value.is_finite() {
            ScoreProblem::OutOfRange
        } else {
            ScoreProblem::NotFinite
        });
    }
    // Adding +0.0 turns -0.0 into +0.0 and leaves every other value unchanged.
    Ok(value + 0.0)
}

/// Everything but plain `ddd.ddd`: signs, exponents, long digit strings,
/// `inf`/`nan`, and garbage.
/// [`parse_score`] of `rest[..len]` — a field followed in memory by the rest of the input, which
/// lets the usual shape of a score, one digit, a point and up to eight decimals ("0.185861"),
/// be read as one 8-byte word (SWAR, the decimals padded with zeros) instead of digit by digit.
/// The value is the same: both divide the same exact integer ratio once, correctly rounded.
#[inline]
pub(crate) fn parse_score_in(rest: &[u8], len: usize) -> Result<f64, ScoreProblem> {
    if let (3..=10, [int @ b'0'..=b'9', b'.', tail @ ..]) = (len, rest)
        && let Some(word) = tail.first_chunk::<8>()
    {
        let decimals = len - 2;
        let raw = u64::from_le_bytes(*word);
        // Keep the field's decimals (low bytes) and pad with '0' bytes after them.
        let keep = if decimals == 8 {
            u64::MAX
        } else {
            (1u64 << (8 * decimals)) - 1
        };
        let padded = (raw & keep) | (0x3030_3030_3030_3030 & !keep);
        if let Some(digits) = eight_digits(&padded.to_le_bytes()) {
            let mantissa = u64::from(int - b'0') * 100_000_000 + digits;
            let value = mantissa as f64 / 1e8;
            return if value <= 1.0 {
                Ok(value)
            } else {
                Err(ScoreProblem::OutOfRange)
            };
        }
    }
    parse_score(&rest[..len])
}

#[cold]
#[inline(never)]
fn parse_score_slow(trimmed: &[u8]) -> Result<f64, ScoreProblem> {
    if trimmed.is_empty() {
        return Err(ScoreProblem::Empty);
    }
    let text = std::str::from_utf8(trimmed).map_err(|_| ScoreProblem::Utf8)?;
    text.parse::<f64>().map_err(|_| ScoreProblem::NotANumber)
}

/// Exact powers of ten up to 10^22, the largest exactly representable in f64.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Fast path for the common `ddd.ddd` form (no sign, no exponent).
///
/// When the digits form an integer `m <= 2^53` and there are at most 22
/// decimals, `m / 10^k` is a division of two exactly representable values, so
/// IEEE rounding makes it the correctly rounded result, identical to
/// `str::parse::<f64>` (Clinger's fast path). Anything else returns `None` and
/// goes through `str::parse`.
#[inline]
fn parse_plain_decimal(bytes: &[u8]) -> Option<f64> {
    let mut mantissa: u64 = 0;
    let mut i = 0;
    while let Some(&b @ b'0'..=b'9') = bytes.get(i) {
        mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(b - b'0'));
        i += 1;
    }
    let mut digits = i;
    let mut decimals = 0;
    if i < bytes.len() {
        if bytes[i] != b'.' {
            return None;
        }
        let frac = i + 1;
        i = frac;
        while let Some(eight) = bytes
            .get(i..)
            .and_then(<[u8]>::first_chunk::<8>)
            .and_then(eight_digits)
        {
            mantissa = mantissa.wrapping_mul(100_000_000).wrapping_add(eight);
            i += 8;
        }
        while let Some(&b @ b'0'..=b'9') = bytes.get(i) {
            mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(b - b'0'));
            i += 1;
        }
        if i != bytes.len() {
            return None;
        }
        decimals = i - frac;
        digits += decimals;
    }
    // At most 15 digits keeps the mantissa below 2^53 (and free of wrapping).
    if digits == 0 || digits > 15 {
        return None;
    }
    // Below 2^53 the signed conversion is exact and one instruction.
    Some(mantissa as i64 as f64 / POW10[decimals])
}

/// The value of eight ASCII digits (SWAR), or `None` if any byte is not a digit.
#[inline]
fn eight_digits(chunk: &[u8; 8]) -> Option<u64> {
    let v = u64::from_le_bytes(*chunk);
    if (v.wrapping_add(0x4646_4646_4646_4646) | v.wrapping_sub(0x3030_3030_3030_3030))
        & 0x8080_8080_8080_8080
        != 0
    {
        return None;
    }
    let v = v - 0x3030_3030_3030_3030;
    let v = v.wrapping_mul(10).wrapping_add(v >> 8);
    let v = ((v & 0x0000_00FF_0000_00FF).wrapping_mul(100 + (1_000_000 << 32))
        + ((v >> 16) & 0x0000_00FF_0000_00FF).wrapping_mul(1 + (10_000 << 32)))
        >> 32;
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one-word path gives exactly `parse_score`'s value or error, whatever follows the
    /// field in memory.
    #[test]
    fn word_path_matches_parse_score() {
        let mut x: u64 = 0x0123_4567_89AB_CDEF;
        let mut next = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let alphabet = b"0123456789.., \n\re-x";
        for _ in 0..200_000 {
            let len = next(13) as usize;
            let mut bytes: Vec<u8> = (0..len)
                .map(|i| match (i, next(6)) {
                    (1, 0..=4) => b'.',
                    (_, 0..=3) => b'0' + next(10) as u8,
                    _ => alphabet[next(alphabet.len() as u64) as usize],
                })
                .collect();
            let field = bytes.clone();
            for _ in 0..next(12) {
                bytes.push(alphabet[next(alphabet.len() as u64) as usize]);
            }
            let (got, want) = (parse_score_in(&bytes, len), parse_score(&field));
            let same = match (got, want) {
                (Ok(a), Ok(b)) => a.to_bits() == b.to_bits(),
                (a, b) => a == b,
            };
            assert!(
                same,
                "{:?}: {got:?} vs {want:?}",
                String::from_utf8_lossy(&field)
            );
        }
    }

    #[test]
    fn fast_decimal_path_matches_std_parse() {
        let mut cases: Vec<String> = [
            "0",
            "1",
            "0.5",
            "1.0",
            ".5",
            "5.",
            "0.1",
            "0.2",
            "0.3",
            "0.7",
            "0.9999999999",
            "1.000000000000001",
            "0.000000000000001",
            "123456789012345",
            "0.123456789012345",
            "9007199254740993",
            "0.1234567890123456",
            "1234567890.12345",
            "00000000000000000001",
            "0.00",
            "1.",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let decimals = (x >> 59) as usize + 1;
            let digits = (x % 10u64.pow(decimals.min(18) as u32)).to_string();
            let padded = format!("{digits:0>decimals$}");
            cases.push(format!("0.{padded}"));
            cases.push(format!("{}.{padded}", (x >> 40) % 1000));
        }
        for case in &cases {
            let expected: f64 = case.parse().unwrap();
            if let Some(fast) = parse_plain_decimal(case.as_bytes()) {
                assert_eq!(fast.to_bits(), expected.to_bits(), "{case}");
            }
            assert_eq!(
                parse_score(case.as_bytes()).ok(),
                (0.0..=1.0).contains(&expected).then_some(expected),
                "{case}"
            );
        }
        for (text, value) in [
            ("12345678", 12_345_678),
            ("00000000", 0),
            ("99999999", 99_999_999),
            ("10203040", 10_203_040),
        ] {
            assert_eq!(
                eight_digits(text.as_bytes().first_chunk::<8>().unwrap()),
                Some(value)
            );
        }
        for bad in [
            "1234567a",
            "/2345678",
            ":2345678",
            "1234 678",
            "\u{0}1234567",
            "1234567\u{ff}",
        ] {
            if let Some(chunk) = bad.as_bytes().first_chunk::<8>() {
                assert_eq!(eight_digits(chunk), None, "{bad:?}");
            }
        }
        for rejected in [
            "",
            ".",
            "1.2.3",
            "-0.5",
            "+0.5",
            "5e-1",
            "1_0",
            "0x1",
            "0.1234567a",
            "0.12345678.",
            "0.1234567812345678",
        ] {
            assert!(
                parse_plain_decimal(rejected.as_bytes()).is_none(),
                "{rejected}"
            );
        }
    }
}
