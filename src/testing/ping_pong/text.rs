//! The campaign's message text, written without `core::fmt` (two formats per ping were a
//! twentieth of the campaign's time).

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
}
