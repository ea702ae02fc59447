//! How the report writes numbers and escapes text, in one place: every table, sentence, caption
//! and figure label of the HTML and the Markdown goes through these functions, so that a number
//! reads the same wherever it is shown. Also for other writers of the same numbers (the CLI's
//! terminal tables).
//!
//! Numbers: a finite value with a fixed number of decimals, never "-0.000"; "n/a" when the value
//! is missing or not finite. Escaping: for HTML element content and attribute values, and for
//! Markdown (CommonMark/GFM) text and table cells.

/// `v` with `digits` decimals. A negative value that rounds to zero is written without its sign
/// ("0.000", not "-0.000").
pub fn fixed(v: f64, digits: usize) -> String {
    let s = format!("{v:.digits$}");
    match s.strip_prefix('-') {
        Some(rest) if rest.bytes().all(|b| b == b'0' || b == b'.') => rest.to_string(),
        _ => s,
    }
}

/// A finite number with `digits` decimals ([`fixed`]), or "n/a".
pub fn num(x: Option<f64>, digits: usize) -> String {
    match x {
        Some(v) if v.is_finite() => fixed(v, digits),
        _ => "n/a".to_string(),
    }
}

/// "0.871 [0.842, 0.900]", or the value alone when the CI is missing; "n/a" without a value.
pub fn with_ci(x: Option<f64>, ci: Option<[f64; 2]>) -> String {
    match (x.filter(|v| v.is_finite()), ci) {
        (Some(v), Some([a, b])) if a.is_finite() && b.is_finite() => {
            format!("{} [{}, {}]", fixed(v, 3), fixed(a, 3), fixed(b, 3))
        }
        (Some(v), _) => fixed(v, 3),
        (None, _) => "n/a".to_string(),
    }
}

/// A difference's CI bound to three decimals, or to two significant digits where three would
/// round it to zero: which side of 0 a bound lies on is what the interval says ("-0.00048 to
/// 0.069" is not "0.000 to 0.069").
pub fn ci_bound(v: f64) -> String {
    if v != 0.0 && v.is_finite() && v.abs() < 0.0005 {
        let decimals = (-v.abs().log10()).ceil() as usize + 1;
        format!("{v:.*}", decimals.min(17))
    } else {
        fixed(v, 3)
    }
}

/// A difference with its CI, "0.034 [-0.00048, 0.069]": the bounds by [`ci_bound`].
pub fn with_diff_ci(x: Option<f64>, ci: Option<[f64; 2]>) -> String {
    match (x.filter(|v| v.is_finite()), ci) {
        (Some(v), Some([a, b])) if a.is_finite() && b.is_finite() => {
            format!("{} [{}, {}]", fixed(v, 3), ci_bound(a), ci_bound(b))
        }
        _ => with_ci(x, ci),
    }
}

/// A p-value for a table: "< 0.001" below 0.001, else three decimals; "n/a" when undefined.
pub fn p_value(p: Option<f64>) -> String {
    match p {
        Some(v) if v.is_finite() && v < 0.001 => "< 0.001".to_string(),
        other => num(other, 3),
    }
}

/// "0.871 [0.842, 0.900]", or "0.871 [CI n/a]" when the CI is missing: for terminal tables,
/// where a missing interval must be visible; "n/a" without a value.
pub fn with_ci_marked(x: Option<f64>, ci: Option<[f64; 2]>) -> String {
    match (x.filter(|v| v.is_finite()), ci) {
        (Some(v), None) => format!("{} [CI n/a]", fixed(v, 3)),
        _ => with_ci(x, ci),
    }
}

/// A p-value with the precision a developer's terminal table wants: four decimals, or two
/// significant digits in scientific notation below 1e-4 ("3.2e-7"); "n/a" when undefined.
pub fn p_value_precise(p: Option<f64>) -> String {
    match p {
        // Below what a double holds the normal tail is 0: the p-value is not.
        Some(0.0) => format!("< {:.0e}", f64::MIN_POSITIVE),
        Some(v) if v.is_finite() && v < 1e-4 => format!("{v:.1e}"),
        other => num(other, 4),
    }
}

/// A p-value for a sentence ("p = 0.004", "p < 0.001"): "= 0.004" or "< 0.001".
pub fn p_clause(p: f64) -> String {
    if p < 0.001 {
        "< 0.001".to_string()
    } else {
        format!("= {}", fixed(p, 3))
    }
}

/// A small difference in scientific notation ("3.2e-5"), or "n/a" when not finite.
pub fn sci(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.1e}")
    } else {
        "n/a".to_string()
    }
}

/// Milliseconds for an axis tick: as many decimals as the size needs ("0", "0.250", "2.5",
/// "120").
pub fn ms(ms: f64) -> String {
    if ms == 0.0 {
        "0".to_string()
    } else if ms >= 100.0 {
        fixed(ms, 0)
    } else if ms >= 1.0 {
        fixed(ms, 1)
    } else {
        fixed(ms, 3)
    }
}

/// A tolerance in the shortest scientific notation that reads back exactly ("1e-4").
pub fn tolerance(x: f64) -> String {
    format!("{x:e}")
}

/// ": why", or nothing without a reason.
pub fn reason_suffix(why: Option<&str>) -> String {
    why.map(|r| format!(": {r}")).unwrap_or_default()
}

/// "what: why", or "what" alone without a reason (e.g. a status and why it is not ok).
pub fn with_reason(what: &str, why: Option<&str>) -> String {
    format!("{what}{}", reason_suffix(why))
}

/// The items joined by ", ", or "none".
pub fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

/// At most `max` characters, with "…" when cut (for figure labels; tables carry the full text).
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// The entity of a character that HTML gives a meaning to (`&`, `<`, `>`) or that ends an
/// attribute value (`"`, `'`).
fn entity(c: char) -> Option<&'static str> {
    match c {
        '&' => Some("&amp;"),
        '<' => Some("&lt;"),
        '>' => Some("&gt;"),
        '"' => Some("&quot;"),
        '\'' => Some("&#39;"),
        _ => None,
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match entity(c) {
            Some(e) => out.push_str(e),
            None => out.push(c),
        }
    }
    out
}

/// Escapes text for Markdown (CommonMark/GFM): the HTML-significant characters `&`, `<`, `>`
/// become entities (quotes stay as they are), Markdown punctuation is backslash-escaped (so a
/// table cell stays one cell), line breaks become spaces.
pub fn escape_markdown(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' | '\'' => out.push(c),
            '\n' | '\r' => out.push(' '),
            '\\' | '|' | '*' | '_' | '`' | '[' | ']' | '#' | '~' => {
                out.push('\\');
                out.push(c);
            }
            c => match entity(c) {
                Some(e) => out.push_str(e),
                None => out.push(c),
            },
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(num(Some(-0.0004), 3), "0.000");
        assert_eq!(num(Some(-0.0006), 3), "-0.001");
        assert_eq!(num(Some(f64::NAN), 3), "n/a");
        assert_eq!(num(None, 3), "n/a");
        assert_eq!(fixed(-0.4, 0), "0");
        assert_eq!(
            with_ci(Some(0.8712), Some([0.84, 0.9])),
            "0.871 [0.840, 0.900]"
        );
        assert_eq!(with_ci(Some(0.8712), Some([f64::NAN, 0.9])), "0.871");
        assert_eq!(with_ci(Some(0.8712), None), "0.871");
        assert_eq!(with_ci(None, Some([0.1, 0.2])), "n/a");
        assert_eq!(p_value(Some(0.0004)), "< 0.001");
        assert_eq!(p_value(Some(0.0123)), "0.012");
        assert_eq!(p_value(None), "n/a");
        assert_eq!(p_clause(0.0004), "< 0.001");
        assert_eq!(p_clause(0.0412), "= 0.041");
        assert_eq!(sci(2.4e-3), "2.4e-3");
        assert_eq!(p_value_precise(Some(3.2e-7)), "3.2e-7");
        assert_eq!(p_value_precise(Some(0.0)), "< 2e-308");
        assert_eq!(sci(f64::NAN), "n/a");
        assert_eq!(
            [0.0, 0.25, 2.54, 120.4].map(ms),
            ["0", "0.250", "2.5", "120"]
        );
    }

    #[test]
    fn words() {
        assert_eq!(with_reason("failed", Some("no GPU")), "failed: no GPU");
        assert_eq!(with_reason("ok", None), "ok");
        assert_eq!(reason_suffix(Some("why")), ": why");
        assert_eq!(tolerance(1e-4), "1e-4");
        assert_eq!(list_or_none(&[]), "none");
        assert_eq!(list_or_none(&["a".into(), "b".into()]), "a, b");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
    }

    #[test]
    fn escaping() {
        assert_eq!(
            escape_html(r#"<b>"x" & 'y'</b>"#),
            "&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;"
        );
        assert_eq!(
            escape_markdown("a|b <i>*c*</i>\nd \"e\" 'f'"),
            r#"a\|b &lt;i&gt;\*c\*&lt;/i&gt; d "e" 'f'"#
        );
    }
}
