//! The reply side's ledger: every reply whose last byte a client's Peer read from a
//! connection must reach the client, whatever became of the connection afterwards.

use std::collections::BTreeSet;

use super::tap::Reads;
use crate::always_assert;
use crate::peer::wire::{self, Message};
use crate::peer::{Codec, LengthChecksumCodec};

/// The request numbers of the `pong <me> <n> ...` replies read whole on each connection of
/// `reads` (in the reliable modes, the session's data frames), decoded with the Peer's
/// framing; a connection's record ends at its first frame that does not decode (a corrupted
/// one: the Peer dropped the connection there).
fn replies_read(reads: &Reads, me: &str, max: usize, reliable: bool) -> BTreeSet<u64> {
    let mut codec = LengthChecksumCodec::new(max);
    let mut found = BTreeSet::new();
    for bytes in reads.borrow().iter() {
        let mut rest = &bytes[..];
        while let Ok(Some(decoded)) = codec.decode(rest) {
            let frame = &rest[decoded.payload.clone()];
            let payload = if reliable {
                match wire::parse(frame) {
                    Ok(Message::Data { payload, .. }) => Some(payload),
                    _ => None,
                }
            } else {
                Some(frame)
            };
            if let Some(n) = payload.and_then(|payload| reply_number(payload, me)) {
                found.insert(n);
            }
            rest = &rest[decoded.consumed..];
        }
    }
    found
}

/// `n` of `pong <me> <n> ...`.
pub(super) fn reply_number(reply: &[u8], me: &str) -> Option<u64> {
    // Split off the first three fields only: a large reply's padding is never scanned.
    let mut parts = reply.splitn(4, |&byte| byte == b' ');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(b"pong"), Some(client), Some(n)) if client == me.as_bytes() => {
            std::str::from_utf8(n).ok()?.parse().ok()
        }
        _ => None,
    }
}

/// Asserts `reply_read_reaches_recv`: every reply read whole from a connection (per
/// `reads`) was handed to the client (`received`).
pub(super) fn check_replies(
    reads: &Reads,
    received: &BTreeSet<u64>,
    me: &str,
    max: usize,
    reliable: bool,
) {
    let read = replies_read(reads, me, max, reliable);
    let missing: Vec<u64> = read.difference(received).copied().collect();
    always_assert!(
        "reply_read_reaches_recv",
        missing.is_empty(),
        "{me}: the Peer read replies {missing:?} whole from a connection (of {} read) but \
         never handed them over",
        read.len()
    );
}
