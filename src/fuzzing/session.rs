//! The session protocol's fuzz body: the payload of every frame a reliable-mode Peer or a
//! `SessionServer` reads (handshake hello and reject, data, ack, ping, pong).

use crate::peer::wire::{self, Hello, Message, Refusal, WireError, DATA_HEADER_LEN};
use crate::peer::PROTOCOL_VERSION;

/// `wire::parse`: no panic; whatever it reads is what the bytes say, and writes back as
/// those bytes; an error says what is wrong with them.
pub fn session(data: &[u8]) {
    match wire::parse(data) {
        Ok(Message::Hello(hello)) => {
            assert_eq!(data[0], b'H');
            let written = wire::hello(&hello);
            assert!(data.len() >= written.len(), "a hello read from fewer bytes");
            let last = written.len() - 1;
            assert_eq!(
                written[..last],
                data[..last],
                "a hello written back differs"
            );
            assert_eq!(hello.resumed, data[last] & 1 == 1);
            assert_eq!(wire::parse(&written), Ok(Message::Hello(hello)));
        }
        Ok(Message::OtherVersion(version)) => {
            assert_eq!(data[0], b'H');
            assert_ne!(version, PROTOCOL_VERSION);
            let written = wire::hello_of_version(&any_hello(), version);
            assert_eq!(
                written[..7],
                data[..7],
                "a hello's version written back differs"
            );
            assert_eq!(wire::parse(&written), Ok(Message::OtherVersion(version)));
        }
        Ok(Message::Reject { version, reason }) => {
            assert_eq!(data[0], b'R');
            assert_eq!(u16::from_le_bytes([data[5], data[6]]), version);
            let written = wire::reject(reason);
            assert_eq!(written[..5], data[..5]);
            match data.get(7) {
                Some(&byte) => {
                    assert_eq!(written[7], byte, "a reject's reason written back differs")
                }
                None => assert_eq!(reason, Refusal::Version, "a reject without a reason"),
            }
        }
        Ok(Message::Data { seq, payload }) => {
            assert_eq!(wire::data_header(seq)[..], data[..DATA_HEADER_LEN]);
            assert_eq!(payload, &data[DATA_HEADER_LEN..]);
        }
        Ok(Message::Ack { next }) => {
            let written = wire::ack(next);
            assert_eq!(
                written[..],
                data[..written.len()],
                "an ack written back differs"
            );
        }
        Ok(Message::Ping) => assert_eq!(data[0], wire::PING_MESSAGE[0]),
        Ok(Message::Pong) => assert_eq!(data[0], wire::PONG_MESSAGE[0]),
        Err(error) => {
            match error {
                WireError::UnknownTag(tag) => assert_eq!(tag, data.first().copied()),
                WireError::Truncated { tag, len } => {
                    assert_eq!(len, data.len());
                    assert_eq!(Some(tag), data.first().map(|&t| t as char));
                }
                WireError::BadMagic => assert!(matches!(data.first(), Some(b'H' | b'R'))),
                WireError::BadSequence { seq } => {
                    assert_eq!(seq, u64::MAX);
                    assert_eq!(data.get(..9), Some(&wire::data_header(seq)[..]));
                }
            }
            assert!(!error.to_string().is_empty());
        }
    }
}

fn any_hello() -> Hello {
    Hello {
        session: 0,
        instance: 0,
        send_base: 0,
        recv_next: 0,
        resumed: false,
    }
}
