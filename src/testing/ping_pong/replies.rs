//! The reply side's ledger: every reply whose last byte a client's Peer read from a
//! connection must reach the client, whatever became of the connection afterwards.

use super::numbers::Numbers;
use super::tap::Reads;
use super::text::parse_head;
use crate::always_assert;
use crate::peer::wire::{self, Message};
use crate::peer::{Codec, LengthChecksumCodec};

/// The request numbers of the `pong <me> <n> ...` replies read whole on each connection (in
/// the reliable modes, the session's data frames), decoded as the bytes come with the Peer's
/// framing; a connection's record ends at its first frame that does not decode (a corrupted
/// one: the Peer dropped the connection there). Only a partial frame per connection is kept,
/// not every byte read.
#[derive(Debug)]
pub(super) struct ReplyLog {
    me: String,
    reliable: bool,
    codec: LengthChecksumCodec,
    /// Per connection: the bytes of a frame not yet read whole, or `None` once a frame did
    /// not decode.
    partial: Vec<Option<Vec<u8>>>,
    found: Numbers,
}

impl ReplyLog {
    /// A log of `me`'s replies, frames of at most `max` bytes.
    pub(super) fn new(me: &str, max: usize, reliable: bool) -> Self {
        Self {
            me: me.to_string(),
            reliable,
            codec: LengthChecksumCodec::new(max),
            partial: Vec::new(),
            found: Numbers::default(),
        }
    }

    /// A new connection; returns its index for [`read`](Self::read).
    pub(super) fn open(&mut self) -> usize {
        self.partial.push(Some(Vec::new()));
        self.partial.len() - 1
    }

    /// `bytes` were read on connection `index`.
    pub(super) fn read(&mut self, index: usize, bytes: &[u8]) {
        let Self {
            me,
            reliable,
            codec,
            partial,
            found,
        } = self;
        let Some(slot) = partial.get_mut(index) else {
            return;
        };
        let Some(pending) = slot else {
            return;
        };
        // Decode straight from `bytes` when nothing is pending (the usual case), else from
        // the pending frame with them appended. The pending buffer keeps its capacity.
        let from_bytes = pending.is_empty();
        if !from_bytes {
            pending.extend_from_slice(bytes);
        }
        let buffer: &[u8] = if from_bytes { bytes } else { pending };
        let mut rest = buffer;
        let intact = loop {
            match codec.decode(rest) {
                Ok(Some(decoded)) => {
                    let frame = &rest[decoded.payload.clone()];
                    let payload = if *reliable {
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
                Ok(None) => break true,
                Err(_) => break false,
            }
        };
        let consumed = buffer.len() - rest.len();
        if !intact {
            *slot = None;
        } else if from_bytes {
            pending.extend_from_slice(&bytes[consumed..]);
        } else {
            pending.drain(..consumed);
        }
    }
}

/// `n` of `pong <me> <n> ...`.
fn reply_number(reply: &[u8], me: &str) -> Option<u64> {
    parse_head(reply, b"pong")
        .filter(|(client, _)| *client == me.as_bytes())
        .map(|(_, n)| n)
}

/// Asserts `reply_read_reaches_recv`: every reply read whole from a connection (per
/// `reads`) was handed to the client (`received`).
pub(super) fn check_replies(reads: &Reads, received: &Numbers, me: &str) {
    let log = reads.borrow();
    let missing: Vec<u64> = log.found.difference(received).collect();
    always_assert!(
        "reply_read_reaches_recv",
        missing.is_empty(),
        "{me}: the Peer read replies {missing:?} whole from a connection (of {} read) but \
         never handed them over",
        log.found.len()
    );
}
