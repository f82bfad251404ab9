//! One field of a shard record: escaping text so it holds no space or control character,
//! and reading numbers, digests and durations strictly.

use std::fmt::Write as _;
use std::time::Duration;

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// Escapes `text` into one field without spaces or control characters.
pub(super) fn escape(text: &str) -> String {
    if text.is_empty() {
        return "\\e".to_string();
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ' ' => out.push_str("\\s"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() || c.is_whitespace() => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

/// Undoes [`escape`].
pub(super) fn unescape(field: &str) -> Result<String, String> {
    if field == "\\e" {
        return Ok(String::new());
    }
    if field.is_empty() {
        return Err("empty text field (the empty string is written `\\e`)".into());
    }
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            if c.is_control() || c.is_whitespace() {
                return Err(format!("unescaped character {c:?} in {:?}", excerpt(field)));
            }
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('s') => out.push(' '),
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('u') => {
                let rest = chars.as_str();
                let code = rest
                    .strip_prefix('{')
                    .and_then(|r| r.split_once('}'))
                    .filter(|(hex, _)| {
                        (1..=6).contains(&hex.len()) && hex.bytes().all(|b| b.is_ascii_hexdigit())
                    })
                    .and_then(|(hex, after)| {
                        let c = char::from_u32(u32::from_str_radix(hex, 16).ok()?)?;
                        Some((c, after))
                    });
                let Some((c, after)) = code else {
                    return Err(format!("bad \\u{{...}} escape in {:?}", excerpt(field)));
                };
                out.push(c);
                chars = after.chars();
            }
            Some(other) => return Err(format!("unknown escape \\{other} in {:?}", excerpt(field))),
            None => {
                return Err(format!(
                    "dangling backslash at the end of {:?}",
                    excerpt(field)
                ))
            }
        }
    }
    Ok(out)
}

/// A decimal `u64` made of ASCII digits only.
pub(super) fn number(field: &str) -> Result<u64, String> {
    if field.is_empty() || !field.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{:?} is not a number", excerpt(field)));
    }
    field
        .parse()
        .map_err(|_| format!("{:?} is too large for a u64", excerpt(field)))
}

/// A hexadecimal `u64` of 1 to 16 digits.
pub(super) fn hex(field: &str) -> Result<u64, String> {
    if !(1..=16).contains(&field.len()) || !field.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("{:?} is not a hexadecimal u64", excerpt(field)));
    }
    u64::from_str_radix(field, 16)
        .map_err(|_| format!("{:?} is not a hexadecimal u64", excerpt(field)))
}

/// A duration in nanoseconds.
pub(super) fn nanos(field: &str) -> Result<Duration, String> {
    if field.is_empty() || !field.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{:?} is not a number of nanoseconds",
            excerpt(field)
        ));
    }
    let n: u128 = field
        .parse()
        .map_err(|_| format!("{:?} nanoseconds is too long", excerpt(field)))?;
    let secs = u64::try_from(n / NANOS_PER_SEC)
        .map_err(|_| format!("{:?} nanoseconds is too long", excerpt(field)))?;
    // Below one billion: fits.
    let subsec = (n % NANOS_PER_SEC) as u32;
    Ok(Duration::new(secs, subsec))
}

/// A short, printable excerpt of untrusted input for an error message.
pub(super) fn excerpt(text: &str) -> String {
    text.chars().take(40).collect()
}
