//! Tests of the sans-io message framing (`moonpool::peer::{Codec, ...}`).

use moonpool::peer::{
    crc32c, Codec, Decoded, FrameError, LengthChecksumCodec, LengthDelimitedCodec, LinesCodec,
};

/// Small maximum used by most tests, so "max size exactly" stays cheap.
const MAX: usize = 300;

/// One of each codec, with maximum `max`.
fn codecs(max: usize) -> Vec<Box<dyn Codec>> {
    vec![
        Box::new(LengthChecksumCodec::new(max)),
        Box::new(LengthDelimitedCodec::new(max)),
        Box::new(LinesCodec::new(max)),
    ]
}

/// A message of `len` bytes valid for every codec (no '\n', no trailing '\r').
fn message(len: usize) -> Vec<u8> {
    (0..len).map(|i| b'a' + (i % 26) as u8).collect()
}

/// A deterministic xorshift64* generator.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Encodes `msg`, then checks the frame decodes back to it, consuming exactly the frame.
fn round_trip(codec: &mut dyn Codec, msg: &[u8]) {
    let mut wire = Vec::new();
    codec.encode(msg, &mut wire).unwrap();
    assert_eq!(
        wire.len(),
        msg.len() + codec.overhead(msg.len()),
        "{codec:?}"
    );
    let Decoded { payload, consumed } = codec.decode(&wire).unwrap().expect("whole frame");
    assert_eq!(&wire[payload], msg, "{codec:?}");
    assert_eq!(consumed, wire.len(), "{codec:?}");
}

#[test]
fn smoke() {
    let mut codec = LengthChecksumCodec::default();
    let mut wire = Vec::new();
    codec.encode(b"hello", &mut wire).unwrap();
    let frame = codec.decode(&wire).unwrap().unwrap();
    assert_eq!(&wire[frame.payload], b"hello");
    assert_eq!(frame.consumed, wire.len());
}

#[test]
fn defaults() {
    assert_eq!(LengthChecksumCodec::default().max_message_size(), 1 << 20);
    assert_eq!(LengthDelimitedCodec::default().max_message_size(), 1 << 20);
    assert_eq!(LinesCodec::default().max_message_size(), 64 << 10);
    assert_eq!(LengthChecksumCodec::HEADER_LEN, 8);
    assert_eq!(LengthChecksumCodec::default().overhead(123), 8);
    assert_eq!(LengthDelimitedCodec::default().overhead(123), 4);
    assert_eq!(LinesCodec::default().overhead(123), 1);
    // The 4-byte header caps the maximum.
    assert_eq!(
        LengthChecksumCodec::new(usize::MAX).max_message_size(),
        u32::MAX as usize
    );
}

#[test]
fn round_trips() {
    for mut codec in codecs(MAX) {
        for len in [0, 1, 2, 7, 8, 9, 100, MAX - 1, MAX] {
            round_trip(codec.as_mut(), &message(len));
        }
    }
}

#[test]
fn round_trip_binary_payloads() {
    let msg: Vec<u8> = (0..=255u8).collect();
    round_trip(&mut LengthChecksumCodec::new(MAX), &msg);
    round_trip(&mut LengthDelimitedCodec::new(MAX), &msg);
}

#[test]
fn round_trip_at_default_max() {
    round_trip(&mut LengthChecksumCodec::default(), &message(1 << 20));
    round_trip(&mut LengthDelimitedCodec::default(), &message(1 << 20));
    round_trip(&mut LinesCodec::default(), &message(64 << 10));
}

#[test]
fn wire_formats() {
    let mut wire = Vec::new();
    LengthChecksumCodec::default()
        .encode(b"123456789", &mut wire)
        .unwrap();
    assert_eq!(&wire[..4], &9u32.to_le_bytes());
    assert_eq!(&wire[4..8], &0xE306_9283u32.to_le_bytes());
    assert_eq!(&wire[8..], b"123456789");

    let mut wire = Vec::new();
    LengthDelimitedCodec::default()
        .encode(b"abc", &mut wire)
        .unwrap();
    assert_eq!(wire, b"\x00\x00\x00\x03abc");

    let mut wire = Vec::new();
    LinesCodec::default().encode(b"abc", &mut wire).unwrap();
    assert_eq!(wire, b"abc\n");
}

#[test]
fn encode_appends_to_existing_bytes() {
    for mut codec in codecs(MAX) {
        let mut wire = b"prefix".to_vec();
        codec.encode(b"xyz", &mut wire).unwrap();
        assert!(wire.starts_with(b"prefix"));
        let frame = codec.decode(&wire[6..]).unwrap().unwrap();
        assert_eq!(&wire[6..][frame.payload], b"xyz");
    }
}

#[test]
fn partial_input_at_every_split_point() {
    for mut codec in codecs(MAX) {
        for len in [0, 1, 9, MAX] {
            let msg = message(len);
            let mut wire = Vec::new();
            codec.encode(&msg, &mut wire).unwrap();
            for split in 0..wire.len() {
                assert_eq!(
                    codec.decode(&wire[..split]),
                    Ok(None),
                    "{codec:?} len {len} split {split}"
                );
            }
            let frame = codec.decode(&wire).unwrap().unwrap();
            assert_eq!(&wire[frame.payload], &msg[..]);
        }
    }
}

#[test]
fn frames_back_to_back_decode_one_by_one() {
    for mut codec in codecs(MAX) {
        let msgs: Vec<Vec<u8>> = [0, 1, 5, MAX, 3, 0, 17].map(message).to_vec();
        let mut wire = Vec::new();
        for msg in &msgs {
            codec.encode(msg, &mut wire).unwrap();
        }
        let mut start = 0;
        let mut got = Vec::new();
        while let Some(Decoded { payload, consumed }) = codec.decode(&wire[start..]).unwrap() {
            assert!(consumed > 0);
            got.push(wire[start..][payload].to_vec());
            start += consumed;
        }
        assert_eq!(start, wire.len(), "{codec:?}");
        assert_eq!(got, msgs, "{codec:?}");
    }
}

#[test]
fn oversized_length_header_is_rejected_without_payload() {
    let mut header = Vec::new();
    header.extend_from_slice(&u32::MAX.to_le_bytes());
    header.extend_from_slice(&0u32.to_le_bytes());
    assert_eq!(
        LengthChecksumCodec::new(MAX).decode(&header),
        Err(FrameError::TooLarge {
            size: u32::MAX as usize,
            max: MAX
        })
    );
    assert_eq!(
        LengthChecksumCodec::default().decode(&header),
        Err(FrameError::TooLarge {
            size: u32::MAX as usize,
            max: 1 << 20
        })
    );
    // One byte over the maximum.
    let mut header = Vec::new();
    header.extend_from_slice(&(MAX as u32 + 1).to_le_bytes());
    header.extend_from_slice(&0u32.to_le_bytes());
    assert_eq!(
        LengthChecksumCodec::new(MAX).decode(&header),
        Err(FrameError::TooLarge {
            size: MAX + 1,
            max: MAX
        })
    );

    assert_eq!(
        LengthDelimitedCodec::new(MAX).decode(&u32::MAX.to_be_bytes()),
        Err(FrameError::TooLarge {
            size: u32::MAX as usize,
            max: MAX
        })
    );
    assert_eq!(
        LengthDelimitedCodec::new(MAX).decode(&(MAX as u32 + 1).to_be_bytes()),
        Err(FrameError::TooLarge {
            size: MAX + 1,
            max: MAX
        })
    );
}

#[test]
fn long_line_without_newline_is_rejected_early() {
    let mut codec = LinesCodec::new(10);
    assert_eq!(codec.decode(&message(10)), Ok(None));
    // A trailing '\r' may still be the start of a "\r\n" ending.
    let mut almost = message(10);
    almost.push(b'\r');
    assert_eq!(codec.decode(&almost), Ok(None));
    almost.push(b'\n');
    let frame = codec.decode(&almost).unwrap().unwrap();
    assert_eq!(frame.payload, 0..10);
    assert_eq!(frame.consumed, 12);

    assert_eq!(
        codec.decode(&message(11)),
        Err(FrameError::TooLarge { size: 11, max: 10 })
    );
    // Garbage without newlines is rejected however long it is.
    assert!(matches!(
        codec.decode(&vec![b'x'; 1 << 20]),
        Err(FrameError::TooLarge { max: 10, .. })
    ));
    // A complete line that is too long.
    let mut line = message(11);
    line.push(b'\n');
    assert!(matches!(
        codec.decode(&line),
        Err(FrameError::TooLarge { max: 10, .. })
    ));
}

#[test]
fn lines_strip_carriage_return() {
    let mut codec = LinesCodec::default();
    let wire = b"one\r\ntwo\n\r\n\nthree\r";
    let mut start = 0;
    let mut got = Vec::new();
    while let Some(frame) = codec.decode(&wire[start..]).unwrap() {
        got.push(wire[start..][frame.payload].to_vec());
        start += frame.consumed;
    }
    assert_eq!(
        got,
        [b"one".to_vec(), b"two".to_vec(), b"".to_vec(), b"".to_vec()]
    );
    assert_eq!(&wire[start..], b"three\r");
}

#[test]
fn lines_encode_rejects_newline_and_trailing_cr() {
    let mut codec = LinesCodec::default();
    let mut dst = b"keep".to_vec();
    for bad in [&b"a\nb"[..], b"\n", b"end\n", b"cr\r"] {
        assert!(
            matches!(codec.encode(bad, &mut dst), Err(FrameError::Invalid { .. })),
            "{bad:?}"
        );
        assert_eq!(dst, b"keep");
    }
    // A '\r' inside a line is fine.
    round_trip(&mut codec, b"a\rb");
}

#[test]
fn flipped_payload_bit_is_a_checksum_mismatch() {
    let mut codec = LengthChecksumCodec::default();
    let msg = message(100);
    let mut wire = Vec::new();
    codec.encode(&msg, &mut wire).unwrap();
    for byte in LengthChecksumCodec::HEADER_LEN..wire.len() {
        for bit in 0..8 {
            let mut corrupt = wire.clone();
            corrupt[byte] ^= 1 << bit;
            match codec.decode(&corrupt) {
                Err(FrameError::ChecksumMismatch { expected, actual }) => {
                    assert_eq!(expected, crc32c(&msg));
                    assert_eq!(actual, crc32c(&corrupt[LengthChecksumCodec::HEADER_LEN..]));
                }
                other => panic!("byte {byte} bit {bit}: {other:?}"),
            }
        }
    }
    // A flipped checksum bit is detected too.
    let mut corrupt = wire.clone();
    corrupt[5] ^= 0x10;
    assert!(matches!(
        codec.decode(&corrupt),
        Err(FrameError::ChecksumMismatch { .. })
    ));
}

#[test]
fn encode_oversized_message_is_too_large_and_leaves_dst_unchanged() {
    for mut codec in codecs(MAX) {
        let mut dst = b"existing".to_vec();
        let before = dst.clone();
        assert_eq!(
            codec.encode(&message(MAX + 1), &mut dst),
            Err(FrameError::TooLarge {
                size: MAX + 1,
                max: MAX
            }),
            "{codec:?}"
        );
        assert_eq!(dst, before, "{codec:?}");
    }
}

#[test]
fn error_messages_carry_context() {
    let err = FrameError::TooLarge { size: 5, max: 4 };
    assert_eq!(
        err.to_string(),
        "message of 5 bytes exceeds the maximum of 4 bytes"
    );
    let err = FrameError::ChecksumMismatch {
        expected: 1,
        actual: 0xABCD,
    };
    assert_eq!(
        err.to_string(),
        "checksum mismatch: header says 0x00000001, payload has 0x0000abcd"
    );
}

#[test]
fn crc32c_known_vectors() {
    assert_eq!(crc32c(b""), 0);
    assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
    assert_eq!(crc32c(&[0xFFu8; 32]), 0x62A8_AB43);
    let ascending: Vec<u8> = (0..32).collect();
    assert_eq!(crc32c(&ascending), 0x46DD_794E);
    let descending: Vec<u8> = (0..32).rev().collect();
    assert_eq!(crc32c(&descending), 0x113F_DB5C);
}

/// Bitwise reference implementation.
fn crc32c_bitwise(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn crc32c_matches_bitwise_reference_at_every_length_and_alignment() {
    let mut rng = XorShift(0x1234_5678_9ABC_DEF0);
    let data: Vec<u8> = (0..300).map(|_| rng.next() as u8).collect();
    for start in 0..8 {
        for end in start..data.len() {
            assert_eq!(
                crc32c(&data[start..end]),
                crc32c_bitwise(&data[start..end]),
                "{start}..{end}"
            );
        }
    }
}

/// Checks a decode result against the contract; returns the frame if any.
fn check_decode(codec: &mut dyn Codec, src: &[u8]) -> Option<Decoded> {
    match codec.decode(src) {
        Ok(Some(frame)) => {
            assert!(frame.consumed <= src.len(), "{codec:?} {frame:?}");
            assert!(frame.consumed > 0, "{codec:?} {frame:?}");
            assert!(frame.payload.start <= frame.payload.end, "{frame:?}");
            assert!(frame.payload.end <= frame.consumed, "{frame:?}");
            assert!(
                frame.payload.len() <= codec.max_message_size(),
                "{codec:?} {frame:?}"
            );
            Some(frame)
        }
        Ok(None) | Err(_) => None,
    }
}

#[test]
fn garbage_never_panics() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut codecs = codecs(64);
    for i in 0..10_000 {
        let len = rng.below(200);
        let mut src: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        // Make plausible headers and line endings common.
        match i % 4 {
            0 if len >= 4 => src[..4].copy_from_slice(&(rng.below(80) as u32).to_le_bytes()),
            1 if len >= 4 => src[..4].copy_from_slice(&(rng.below(80) as u32).to_be_bytes()),
            2 => {
                for _ in 0..3 {
                    if len > 0 {
                        let at = rng.below(len);
                        src[at] = if rng.next() & 1 == 0 { b'\n' } else { b'\r' };
                    }
                }
            }
            _ => {}
        }
        for codec in &mut codecs {
            // Decode repeatedly, as a reader would, until no whole frame remains.
            let mut start = 0;
            while let Some(frame) = check_decode(codec.as_mut(), &src[start..]) {
                start += frame.consumed;
            }
            // Every prefix must be handled too.
            let cut = rng.below(len + 1);
            check_decode(codec.as_mut(), &src[..cut]);
        }
    }
}

#[test]
fn random_messages_round_trip_in_a_stream() {
    let mut rng = XorShift(42);
    for mut codec in codecs(MAX) {
        let lines = format!("{codec:?}").starts_with("Lines");
        let mut msgs = Vec::new();
        let mut wire = Vec::new();
        for _ in 0..200 {
            let len = rng.below(MAX + 1);
            let msg: Vec<u8> = if lines {
                message(len)
            } else {
                (0..len).map(|_| rng.next() as u8).collect()
            };
            codec.encode(&msg, &mut wire).unwrap();
            msgs.push(msg);
        }
        // Feed the stream in random chunk sizes, as a socket would.
        let mut buf = Vec::new();
        let mut fed = 0;
        let mut got = Vec::new();
        while fed < wire.len() {
            let n = (1 + rng.below(700)).min(wire.len() - fed);
            buf.extend_from_slice(&wire[fed..fed + n]);
            fed += n;
            while let Some(frame) = codec.decode(&buf).unwrap() {
                got.push(buf[frame.payload].to_vec());
                buf.drain(..frame.consumed);
            }
        }
        assert!(buf.is_empty());
        assert_eq!(got, msgs, "{codec:?}");
    }
}
