//! The codecs' fuzz bodies: one input decoded whole and streamed through the Peer's read
//! buffer ([`Inbox`]) in reads of a size the input picks.

use std::mem::discriminant;
use std::ops::Range;

use crate::peer::inbox::{Inbox, READ_CHUNK};
use crate::peer::{
    Codec, Decoded, FrameError, LengthChecksumCodec, LengthDelimitedCodec, LinesCodec,
};

/// Bytes the read buffer may hold beyond one largest frame: a read's worth of free space.
pub const READ_BUFFER_SLACK: usize = READ_CHUNK;

/// The codec's maximum, from the input's first byte: the edges (0, 1), sizes a fuzzer fills
/// quickly, and the codec's default.
fn maximum(byte: u8, default: usize) -> usize {
    match byte % 5 {
        0 => 0,
        1 => 1,
        2 => 64,
        3 => 1000,
        _ => default,
    }
}

/// The largest allocation the codec targets allow for `data`: the read buffer bound for the
/// maximum that `data` picks (one largest frame, its header, and a read), or the reset
/// check's queue of kept messages (at most `RESET_FRAMES` (128) `Vec`s, grown by doubling),
/// whichever is larger: with small read chunks, a stream of empty frames makes the queue
/// the larger one.
pub fn read_buffer_limit(data: &[u8], default_max: usize) -> usize {
    let max = maximum(data.first().copied().unwrap_or(0), default_max);
    let read_buffer = max + LengthChecksumCodec::HEADER_LEN + READ_BUFFER_SLACK;
    let kept_queue = RESET_FRAMES.next_power_of_two() * std::mem::size_of::<Vec<u8>>();
    read_buffer.max(kept_queue)
}

/// The read size, from the input's second byte: 1 byte up to about a read chunk.
fn read_size(byte: u8) -> usize {
    1 + usize::from(byte) * usize::from(byte) / 4
}

/// Splits an input into (maximum selector, read size, stream).
fn split(data: &[u8]) -> (u8, usize, &[u8]) {
    match data {
        [max, read, stream @ ..] => (*max, read_size(*read), stream),
        [max] => (*max, 1, &[]),
        [] => (0, 1, &[]),
    }
}

/// [`LengthChecksumCodec`]: decoding, streaming, and re-encoding every frame found.
pub fn length_checksum(data: &[u8]) {
    let (max, read, stream) = split(data);
    let codec =
        LengthChecksumCodec::new(maximum(max, LengthChecksumCodec::DEFAULT_MAX_MESSAGE_SIZE));
    check(codec, read, stream, Reencode::Exact);
}

/// [`LengthDelimitedCodec`]: decoding, streaming, and re-encoding every frame found.
pub fn length_delimited(data: &[u8]) {
    let (max, read, stream) = split(data);
    let codec =
        LengthDelimitedCodec::new(maximum(max, LengthDelimitedCodec::DEFAULT_MAX_MESSAGE_SIZE));
    check(codec, read, stream, Reencode::Exact);
}

/// [`LinesCodec`]: decoding, streaming, and re-encoding every line found.
pub fn lines(data: &[u8]) {
    let (max, read, stream) = split(data);
    let codec = LinesCodec::new(maximum(max, LinesCodec::DEFAULT_MAX_MESSAGE_SIZE));
    check(codec, read, stream, Reencode::SamePayload);
}

/// What encoding a decoded payload again must give.
#[derive(Clone, Copy)]
enum Reencode {
    /// The very bytes of the frame (one encoding per message).
    Exact,
    /// A frame that decodes to the same payload, or a refusal ([`LinesCodec`] strips a
    /// `'\r'` before the newline, and refuses to encode a message ending with one).
    SamePayload,
}

/// Frames at most kept by the reset check (its queue of kept messages stays small).
const RESET_FRAMES: usize = 128;

fn check<C: Codec>(mut codec: C, read: usize, stream: &[u8], reencode: Reencode) {
    let max = codec.max_message_size();
    // The largest frame the codec accepts, and the buffer that may hold it plus a read.
    let largest = max.saturating_add(codec.overhead(max));
    let buffer_bound = largest.saturating_add(READ_BUFFER_SLACK);

    // Whole, then streamed through the Peer's read buffer: the same messages and the same
    // error whatever the read sizes, in a buffer that never outgrows one largest frame and a
    // read. No list of frames is kept, so the fuzz target's allocation limit sees the
    // decoders' buffers, not this harness.
    let mut inbox = Inbox::default();
    let mut fed = 0;
    let mut start = 0;
    loop {
        match next_frame(&mut codec, stream, start) {
            Ok(Some(frame)) => {
                reencode_frame(&mut codec, stream, &frame, reencode);
                let message = next_message(&mut inbox, &mut codec, stream, &mut fed, read)
                    .unwrap_or_else(|e| panic!("streamed: {e}, whole: a frame"))
                    .expect("streamed: the end, whole: a frame");
                assert_eq!(
                    message[..],
                    stream[frame.payload],
                    "streamed message differs"
                );
                start = frame.whole.end;
            }
            Ok(None) => {
                let streamed = next_message(&mut inbox, &mut codec, stream, &mut fed, read);
                assert_eq!(
                    streamed.map(|m| m.map(|m| m.len())),
                    Ok(None),
                    "whole: the end"
                );
                break;
            }
            Err(error) => {
                let streamed = next_message(&mut inbox, &mut codec, stream, &mut fed, read);
                match streamed {
                    Err(e) => assert_eq!(
                        discriminant(&e),
                        discriminant(&error),
                        "whole: {error}, streamed: {e}"
                    ),
                    Ok(m) => panic!("whole: {error}, streamed: {:?}", m.map(|m| m.len())),
                }
                break;
            }
        }
        assert!(
            inbox.capacity() <= buffer_bound,
            "read buffer of {} bytes, over one largest frame and a read ({buffer_bound})",
            inbox.capacity()
        );
    }

    // After a broken connection the buffered whole frames are kept and the rest dropped.
    // The Peer reads ahead at most one largest frame; the queue of kept messages grows with
    // their number, not their bytes, so this keeps to a few of them.
    let mut reset_stream = &stream[..stream.len().min(largest)];
    let mut rest = 0;
    let mut kept = 0;
    while let Ok(Some(frame)) = next_frame(&mut codec, reset_stream, rest) {
        rest = frame.whole.end;
        kept += 1;
        if kept == RESET_FRAMES {
            reset_stream = &reset_stream[..rest];
            break;
        }
    }
    let mut inbox = Inbox::default();
    let mut fed = 0;
    while fed < reset_stream.len() {
        let spare = inbox.spare();
        let n = spare.len().min(read).min(reset_stream.len() - fed);
        spare[..n].copy_from_slice(&reset_stream[fed..fed + n]);
        inbox.filled(n);
        fed += n;
    }
    let dropped = inbox.reset(&mut codec);
    assert_eq!(
        dropped,
        reset_stream.len() - rest,
        "reset dropped the wrong bytes"
    );
    let mut start = 0;
    while let Ok(Some(frame)) = next_frame(&mut codec, reset_stream, start) {
        let len = inbox.poll_message(&mut codec).expect("a kept message");
        assert_eq!(len, Some(frame.payload.len()));
        assert_eq!(inbox.take_message(), reset_stream[frame.payload]);
        start = frame.whole.end;
    }
    assert_eq!(inbox.poll_message(&mut codec), Ok(None));
}

/// A frame found by [`next_frame`].
struct Frame {
    payload: Range<usize>,
    whole: Range<usize>,
}

/// Decodes the frame at `stream[start..]`, checking what the codec promises of it.
fn next_frame<C: Codec>(
    codec: &mut C,
    stream: &[u8],
    start: usize,
) -> Result<Option<Frame>, FrameError> {
    let max = codec.max_message_size();
    let src = &stream[start..];
    match codec.decode(src) {
        Ok(Some(Decoded { payload, consumed })) => {
            assert!(
                payload.start <= payload.end && payload.end <= consumed && consumed <= src.len(),
                "frame out of bounds: {payload:?}, {consumed} of {}",
                src.len()
            );
            assert!(consumed > 0, "an empty frame would loop forever");
            assert!(
                payload.len() <= max,
                "{} bytes over the maximum {max}",
                payload.len()
            );
            // A frame is only found whole: each of its strict prefixes needs more bytes.
            for cut in [0, 1, payload.start, payload.end, consumed - 1] {
                if cut < consumed {
                    assert_eq!(
                        codec.decode(&src[..cut]),
                        Ok(None),
                        "a prefix of {cut} bytes"
                    );
                }
            }
            Ok(Some(Frame {
                payload: start + payload.start..start + payload.end,
                whole: start..start + consumed,
            }))
        }
        Ok(None) => Ok(None),
        Err(error) => {
            // An error is final: the same bytes give the same error again.
            assert_eq!(codec.decode(src), Err(error.clone()));
            Err(error)
        }
    }
}

fn reencode_frame<C: Codec>(codec: &mut C, stream: &[u8], frame: &Frame, how: Reencode) {
    let payload = &stream[frame.payload.clone()];
    let mut encoded = Vec::new();
    match (codec.encode(payload, &mut encoded), how) {
        (Ok(()), Reencode::Exact) => {
            assert_eq!(
                encoded,
                stream[frame.whole.clone()],
                "re-encoded frame differs"
            );
        }
        (Ok(()), Reencode::SamePayload) => {
            let decoded = codec.decode(&encoded).expect("a frame it encoded");
            let Decoded {
                payload: again,
                consumed,
            } = decoded.expect("a whole frame");
            assert_eq!(consumed, encoded.len());
            assert_eq!(encoded[again], *payload, "re-encoded payload differs");
        }
        (Err(error), Reencode::SamePayload) => {
            assert!(encoded.is_empty(), "a refused encode wrote bytes");
            assert!(matches!(error, FrameError::Invalid { .. }), "{error}");
        }
        (Err(error), Reencode::Exact) => panic!("a decoded payload cannot be encoded: {error}"),
    }
}

/// The next message streamed through `inbox`, reading `stream[*fed..]` in reads of at most
/// `read` bytes as the Peer does: `None` once the stream is fed whole without a message.
fn next_message<C: Codec>(
    inbox: &mut Inbox,
    codec: &mut C,
    stream: &[u8],
    fed: &mut usize,
    read: usize,
) -> Result<Option<Vec<u8>>, FrameError> {
    let max = codec.max_message_size();
    loop {
        if let Some(len) = inbox.poll_message(codec)? {
            assert!(
                len <= max,
                "a message of {len} bytes, over the maximum {max}"
            );
            let message = inbox.take_message();
            assert_eq!(message.len(), len);
            return Ok(Some(message));
        }
        if *fed == stream.len() {
            return Ok(None);
        }
        let spare = inbox.spare();
        let n = spare.len().min(read).min(stream.len() - *fed);
        assert!(n > 0, "no room to read into");
        spare[..n].copy_from_slice(&stream[*fed..*fed + n]);
        inbox.filled(n);
        *fed += n;
    }
}
