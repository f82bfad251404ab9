//! The campaign's message text, `<word> <name> <n> [padding]`: written without `core::fmt`
//! (two formats per ping were a twentieth of the campaign's time) and read without looking
//! at the padding (up to 18 KB in a large reply).

/// Appends `n` in decimal.
pub(super) fn push_u64(buf: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&digits[at..]);
}

/// Appends `<word> <name> <n>`: the head of a ping or a pong.
pub(super) fn push_head(buf: &mut Vec<u8>, word: &str, name: &str, n: u64) {
    buf.extend_from_slice(word.as_bytes());
    buf.push(b' ');
    buf.extend_from_slice(name.as_bytes());
    buf.push(b' ');
    push_u64(buf, n);
}

/// The name and number of `<word> <name> <n> ...`, splitting off the first three fields
/// only: the padding after them is never scanned. `None` for another word or a bad number.
pub(super) fn parse_head<'a>(message: &'a [u8], word: &[u8; 4]) -> Option<(&'a [u8], u64)> {
    let mut parts = message.splitn(4, |&byte| byte == b' ');
    match (parts.next(), parts.next(), parts.next()) {
        // Compared as a 4-byte array: one comparison, not a call to `memcmp`.
        (Some(w), Some(name), Some(n)) if <&[u8; 4]>::try_from(w).is_ok_and(|w| w == word) => {
            Some((name, std::str::from_utf8(n).ok()?.parse().ok()?))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_match_the_formatter() {
        for n in [0, 1, 9, 10, 99, 100, 12_345, u64::MAX / 3, u64::MAX] {
            let mut buf = Vec::new();
            push_u64(&mut buf, n);
            assert_eq!(buf, n.to_string().as_bytes());
        }
        let mut head = Vec::new();
        push_head(&mut head, "ping", "client7", 42);
        assert_eq!(head, b"ping client7 42");
    }

    #[test]
    fn heads_parse_back_whatever_follows() {
        let name: &[u8] = b"client7";
        assert_eq!(parse_head(b"ping client7 42", b"ping"), Some((name, 42)));
        assert_eq!(
            parse_head(b"pong client7 42 yyyy", b"pong"),
            Some((name, 42))
        );
        assert_eq!(
            parse_head(b"pong client7 42 \xff\xfe", b"pong"),
            Some((name, 42))
        );
        assert_eq!(parse_head(b"ping client7 42", b"pong"), None);
        assert_eq!(parse_head(b"ping client7 4x2", b"ping"), None);
        assert_eq!(parse_head(b"ping client7", b"ping"), None);
    }
}
