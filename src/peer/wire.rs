//! The session protocol's messages: what the reliable delivery modes put inside each codec
//! frame. Pure: encoding into a buffer and parsing a payload, no I/O.
//!
//! Every frame's payload starts with a one-byte tag:
//!
//! | tag | message | rest of the payload |
//! |-----|---------|---------------------|
//! | `H` | hello   | `mpsp`, version u16, then (version 2) session u128, instance u64, send base u64, receive next u64, flags u8 |
//! | `R` | reject  | `mpsp`, the rejecting side's version u16, then the reason u8 (0 version, 1 session taken, 2 busy; absent = 0) |
//! | `D` | data    | sequence number u64, the message |
//! | `A` | ack     | next expected sequence number u64 (everything below it arrived) |
//! | `P` | ping    | nothing |
//! | `O` | pong    | nothing |
//!
//! Integers are little-endian. The version sits right after the magic, so a side can read the
//! version of any hello, whatever follows it, and refuse it with a reject.
//!
//! Version 2 made the session id 128 bits (drawn from the Peer's seeded source), so another
//! client cannot guess one, and added the reject's reason.

/// The version of the session protocol this build speaks. Two sides speak to each other only
/// if their versions are equal; otherwise both report
/// [`PeerError::IncompatibleVersion`](super::PeerError::IncompatibleVersion) /
/// [`SessionError::IncompatibleVersion`](super::SessionError::IncompatibleVersion).
pub const PROTOCOL_VERSION: u16 = 2;

const MAGIC: [u8; 4] = *b"mpsp";
const HELLO: u8 = b'H';
const REJECT: u8 = b'R';
const DATA: u8 = b'D';
const ACK: u8 = b'A';
const PING: u8 = b'P';
const PONG: u8 = b'O';

/// Bytes the session protocol puts before each data message.
pub(crate) const DATA_HEADER_LEN: usize = 9;
/// Length of a version-2 hello.
pub(crate) const HELLO_LEN: usize = 1 + 4 + 2 + 16 + 8 * 3 + 1;
/// Length of a reject (an older side's reject stops before the reason).
const REJECT_LEN: usize = 1 + 4 + 2 + 1;
/// Flag bit of a hello: the answering side still held the session (it resumes).
const RESUMED: u8 = 1;

/// One side's greeting: who it is and where its two streams of messages stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hello {
    /// The session: 128 random bits chosen by the connecting Peer, echoed by the accepting
    /// side.
    pub session: u128,
    /// The sending process's incarnation: a new value after a restart.
    pub instance: u64,
    /// The sequence number of the oldest message the sender still holds for this session
    /// (every older one was acknowledged), or of its next message if it holds none.
    pub send_base: u64,
    /// Every message of the other side's below this number has arrived.
    pub recv_next: u64,
    /// Set by the accepting side when it still held the session's state.
    pub resumed: bool,
}

/// A parsed session message; `Data` borrows its payload from the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Message<'a> {
    /// A hello of our version.
    Hello(Hello),
    /// A hello of another version: only the version could be read.
    OtherVersion(u16),
    /// The other side refused our hello; it speaks `version`.
    Reject { version: u16, reason: Refusal },
    /// A message with its sequence number.
    Data { seq: u64, payload: &'a [u8] },
    /// Everything below `next` arrived.
    Ack { next: u64 },
    /// "Are you there?"
    Ping,
    /// "Yes."
    Pong,
}

/// Why the accepting side refused a hello (sent in its reject).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// The versions differ (also what an older side's reject, without a reason, means).
    Version,
    /// The session belongs to another client: the hello named a session the server holds
    /// for another Peer instance or another client identity. That session is untouched.
    SessionTaken,
    /// The server holds its maximum of connections, or of sessions with a live connection:
    /// try again later.
    Busy,
    /// A reason this build does not know (a newer server's).
    Other(u8),
}

impl Refusal {
    fn from_byte(byte: Option<u8>) -> Self {
        match byte {
            None | Some(0) => Refusal::Version,
            Some(1) => Refusal::SessionTaken,
            Some(2) => Refusal::Busy,
            Some(other) => Refusal::Other(other),
        }
    }

    fn to_byte(self) -> u8 {
        match self {
            Refusal::Version => 0,
            Refusal::SessionTaken => 1,
            Refusal::Busy => 2,
            Refusal::Other(byte) => byte,
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Version => f.write_str("another protocol version"),
            Refusal::SessionTaken => f.write_str("the session belongs to another client"),
            Refusal::Busy => f.write_str("the server is at its connection or session limit"),
            Refusal::Other(byte) => write!(f, "unknown reason {byte}"),
        }
    }
}

/// Why a payload is not a session message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The payload is empty or starts with an unknown tag (not the session protocol).
    #[error("not a session protocol message (tag {0:?})")]
    UnknownTag(Option<u8>),
    /// A hello or reject without the protocol's magic (a foreign protocol).
    #[error("a hello without the session protocol's magic")]
    BadMagic,
    /// A message shorter than its tag requires.
    #[error("truncated session message (tag {tag:?}, {len} bytes)")]
    Truncated {
        /// The message's tag.
        tag: char,
        /// Its length in bytes.
        len: usize,
    },
    /// A data message numbered `u64::MAX`, which a Peer never sends: no number could
    /// follow it, so the receiver could not tell a later message from a repeat.
    #[error("data message numbered {seq}, past the last number a sender may use")]
    BadSequence {
        /// The number the message carried.
        seq: u64,
    },
}

fn u128_at(src: &[u8], at: usize) -> u128 {
    let mut bytes = [0; 16];
    bytes.copy_from_slice(&src[at..at + 16]);
    u128::from_le_bytes(bytes)
}

fn u64_at(src: &[u8], at: usize) -> u64 {
    let mut bytes = [0; 8];
    bytes.copy_from_slice(&src[at..at + 8]);
    u64::from_le_bytes(bytes)
}

/// Parses one frame's payload.
///
/// # Errors
/// A [`WireError`] for anything that is not a session message.
pub(crate) fn parse(src: &[u8]) -> Result<Message<'_>, WireError> {
    let Some(&tag) = src.first() else {
        return Err(WireError::UnknownTag(None));
    };
    let need = |len: usize| {
        if src.len() < len {
            Err(WireError::Truncated {
                tag: tag as char,
                len: src.len(),
            })
        } else {
            Ok(())
        }
    };
    match tag {
        DATA => {
            need(DATA_HEADER_LEN)?;
            let seq = u64_at(src, 1);
            if seq == u64::MAX {
                return Err(WireError::BadSequence { seq });
            }
            Ok(Message::Data {
                seq,
                payload: &src[DATA_HEADER_LEN..],
            })
        }
        ACK => {
            need(9)?;
            Ok(Message::Ack {
                next: u64_at(src, 1),
            })
        }
        PING => Ok(Message::Ping),
        PONG => Ok(Message::Pong),
        HELLO | REJECT => {
            need(7)?;
            if src[1..5] != MAGIC {
                return Err(WireError::BadMagic);
            }
            let version = u16::from_le_bytes([src[5], src[6]]);
            if tag == REJECT {
                return Ok(Message::Reject {
                    version,
                    reason: Refusal::from_byte(src.get(7).copied()),
                });
            }
            if version != PROTOCOL_VERSION {
                return Ok(Message::OtherVersion(version));
            }
            need(HELLO_LEN)?;
            Ok(Message::Hello(Hello {
                session: u128_at(src, 7),
                instance: u64_at(src, 23),
                send_base: u64_at(src, 31),
                recv_next: u64_at(src, 39),
                resumed: src[47] & RESUMED != 0,
            }))
        }
        other => Err(WireError::UnknownTag(Some(other))),
    }
}

/// A hello's payload.
pub(crate) fn hello(hello: &Hello) -> Vec<u8> {
    hello_of_version(hello, PROTOCOL_VERSION)
}

/// A hello's payload claiming `version` (tests speak other versions with it).
pub(crate) fn hello_of_version(hello: &Hello, version: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(HELLO_LEN);
    out.push(HELLO);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&hello.session.to_le_bytes());
    for value in [hello.instance, hello.send_base, hello.recv_next] {
        out.extend_from_slice(&value.to_le_bytes());
    }
    out.push(if hello.resumed { RESUMED } else { 0 });
    out
}

/// A reject's payload: this side speaks [`PROTOCOL_VERSION`] and refuses for `reason`.
pub(crate) fn reject(reason: Refusal) -> Vec<u8> {
    let mut out = Vec::with_capacity(REJECT_LEN);
    out.push(REJECT);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&PROTOCOL_VERSION.to_le_bytes());
    out.push(reason.to_byte());
    out
}

/// The header put before a data message.
#[inline]
pub(crate) fn data_header(seq: u64) -> [u8; DATA_HEADER_LEN] {
    let s = seq.to_le_bytes();
    [DATA, s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]]
}

/// An acknowledgement's payload.
pub(crate) fn ack(next: u64) -> [u8; 9] {
    let s = next.to_le_bytes();
    [ACK, s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]]
}

/// A ping's payload.
pub(crate) const PING_MESSAGE: [u8; 1] = [PING];
/// A pong's payload.
pub(crate) const PONG_MESSAGE: [u8; 1] = [PONG];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_round_trips() {
        let h = Hello {
            session: u128::MAX - 1,
            instance: 2,
            send_base: 3,
            recv_next: 4,
            resumed: true,
        };
        assert_eq!(parse(&hello(&h)), Ok(Message::Hello(h)));
        assert_eq!(
            parse(&hello_of_version(&h, 9)),
            Ok(Message::OtherVersion(9))
        );
        for reason in [
            Refusal::Version,
            Refusal::SessionTaken,
            Refusal::Busy,
            Refusal::Other(9),
        ] {
            assert_eq!(
                parse(&reject(reason)),
                Ok(Message::Reject {
                    version: PROTOCOL_VERSION,
                    reason
                })
            );
        }
        // An older side's reject has no reason: the versions differ.
        assert_eq!(
            parse(b"Rmpsp\x01\x00"),
            Ok(Message::Reject {
                version: 1,
                reason: Refusal::Version
            })
        );
        let mut data = data_header(77).to_vec();
        data.extend_from_slice(b"hi");
        assert_eq!(
            parse(&data),
            Ok(Message::Data {
                seq: 77,
                payload: b"hi"
            })
        );
        assert_eq!(parse(&ack(5)), Ok(Message::Ack { next: 5 }));
        for (seq, valid) in [(1, true), (u64::MAX - 1, true), (u64::MAX, false)] {
            let header = data_header(seq);
            let parsed = parse(&header);
            let expected = if valid {
                Ok(Message::Data { seq, payload: b"" })
            } else {
                Err(WireError::BadSequence { seq })
            };
            assert_eq!(parsed, expected, "seq {seq}");
        }
        assert_eq!(parse(&PING_MESSAGE), Ok(Message::Ping));
        assert_eq!(parse(&PONG_MESSAGE), Ok(Message::Pong));
    }

    #[test]
    fn foreign_bytes_are_errors_not_panics() {
        assert_eq!(parse(b""), Err(WireError::UnknownTag(None)));
        assert_eq!(parse(b"+OK"), Err(WireError::UnknownTag(Some(b'+'))));
        assert_eq!(parse(b"Hxxxx\x01\x00"), Err(WireError::BadMagic));
        assert!(matches!(parse(b"D123"), Err(WireError::Truncated { .. })));
        let mut short = hello(&Hello {
            session: 0,
            instance: 0,
            send_base: 0,
            recv_next: 0,
            resumed: false,
        });
        short.truncate(20);
        assert!(matches!(parse(&short), Err(WireError::Truncated { .. })));
    }

    /// A hello cut short anywhere, even by its last byte, is truncated, never read past its
    /// end.
    #[test]
    fn a_hello_short_by_any_bytes_is_truncated() {
        let full = hello(&Hello {
            session: 1,
            instance: 2,
            send_base: 3,
            recv_next: 4,
            resumed: true,
        });
        assert_eq!(full.len(), 48);
        for len in 1..full.len() {
            assert_eq!(
                parse(&full[..len]),
                Err(WireError::Truncated { tag: 'H', len }),
                "{len} bytes"
            );
        }
    }
}
