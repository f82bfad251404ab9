//! Sans-io message framing: how messages become bytes on a stream and back.
//!
//! A [`Codec`] turns a message into one frame appended to an output buffer, and finds whole
//! frames at the start of an input buffer. Codecs do no I/O and read no clock, so the same
//! code runs over a simulated or a real stream.
//!
//! Three codecs are provided:
//!
//! - [`LengthChecksumCodec`] (the default): a 4-byte little-endian length, a 4-byte
//!   little-endian [CRC-32C](crc32c) of the payload, then the payload.
//! - [`LengthDelimitedCodec`]: a 4-byte big-endian length then the payload, no checksum.
//! - [`LinesCodec`]: newline-terminated messages.
//!
//! No codec panics or allocates on any input: a header announcing a length above the maximum
//! is rejected as soon as the header is complete, before the payload arrives.

mod crc32c;
mod length;
mod lines;

pub use crc32c::crc32c;
pub use length::{LengthChecksumCodec, LengthDelimitedCodec};
pub use lines::LinesCodec;

use std::fmt;
use std::ops::Range;

/// A message framing: how messages become bytes on a stream and back. Pluggable in the Peer.
///
/// Frames are encoded once and may be sent again whole on a later connection (the Peer keeps
/// unfinished frames across a reconnect), so `encode` must frame each message on its own,
/// without per-connection state.
///
/// # Examples
///
/// A round trip through any codec, here behind a trait object:
///
/// ```
/// use moonpool::peer::{Codec, Decoded, LengthChecksumCodec};
///
/// let mut codec: Box<dyn Codec> = Box::new(LengthChecksumCodec::default());
/// let mut wire = Vec::new();
/// codec.encode(b"hello", &mut wire)?;
/// codec.encode(b"world", &mut wire)?;
///
/// // Not a whole frame yet: more bytes are needed.
/// assert_eq!(codec.decode(&wire[..3])?, None);
///
/// let mut messages = Vec::new();
/// let mut start = 0;
/// while let Some(Decoded { payload, consumed }) = codec.decode(&wire[start..])? {
///     messages.push(wire[start..][payload].to_vec());
///     start += consumed;
/// }
/// assert_eq!(messages, [b"hello".to_vec(), b"world".to_vec()]);
/// assert_eq!(start, wire.len());
/// # Ok::<(), moonpool::peer::FrameError>(())
/// ```
pub trait Codec: fmt::Debug + 'static {
    /// Appends one frame carrying `message` to `dst`.
    ///
    /// # Errors
    ///
    /// [`FrameError::TooLarge`] if `message` is longer than
    /// [`max_message_size`](Codec::max_message_size); [`FrameError::Invalid`] if the codec
    /// cannot represent `message` (e.g. a newline inside a message for [`LinesCodec`]).
    /// On error `dst` is unchanged.
    fn encode(&mut self, message: &[u8], dst: &mut Vec<u8>) -> Result<(), FrameError>;

    /// Looks for one whole frame at the start of `src`.
    ///
    /// Returns `Ok(None)` when more bytes are needed, or `Ok(Some(Decoded { payload, consumed }))`
    /// where `src[payload]` is the message and `consumed` the frame's full length
    /// (`payload.end <= consumed <= src.len()`).
    ///
    /// # Errors
    ///
    /// A [`FrameError`] on a corrupt or oversized frame; the stream cannot be resynchronised,
    /// so the caller should drop the connection.
    fn decode(&mut self, src: &[u8]) -> Result<Option<Decoded>, FrameError>;

    /// Appends one frame whose message is `head` followed by `body`, as
    /// `encode(&[head, body].concat(), dst)` would (the Peer's session protocol puts its
    /// header before each message this way). The default joins the parts; codecs override it
    /// to frame the parts without copying them first.
    ///
    /// # Errors
    /// As [`encode`](Codec::encode).
    fn encode_parts(
        &mut self,
        head: &[u8],
        body: &[u8],
        dst: &mut Vec<u8>,
    ) -> Result<(), FrameError> {
        self.encode(&[head, body].concat(), dst)
    }

    /// Largest message, in bytes, this codec accepts.
    fn max_message_size(&self) -> usize;

    /// Bytes of framing added around a message of `len` bytes (for buffer sizing).
    fn overhead(&self, len: usize) -> usize;

    /// Checks that `message` can be encoded, without encoding it: the Peer calls this in
    /// `send` so a message is refused up front rather than dropped later. The default checks
    /// the size only.
    ///
    /// # Errors
    /// As [`encode`](Codec::encode) would fail.
    fn check(&self, message: &[u8]) -> Result<(), FrameError> {
        if message.len() > self.max_message_size() {
            return Err(FrameError::TooLarge {
                size: message.len(),
                max: self.max_message_size(),
            });
        }
        Ok(())
    }
}

/// One whole frame found by [`Codec::decode`] at the start of its input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// Where the message lies in the input: `src[payload]`.
    pub payload: Range<usize>,
    /// The frame's full length: drop this many bytes from the input before the next frame.
    pub consumed: usize,
}

/// Why a message could not be framed, or a frame could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// A message (to encode, or announced by a frame header) is longer than the codec's maximum.
    #[error("message of {size} bytes exceeds the maximum of {max} bytes")]
    TooLarge {
        /// The message's length in bytes (for a line without newline: the bytes seen so far).
        size: usize,
        /// The codec's maximum message size in bytes.
        max: usize,
    },
    /// A frame's payload does not match the checksum in its header.
    #[error("checksum mismatch: header says {expected:#010x}, payload has {actual:#010x}")]
    ChecksumMismatch {
        /// The checksum carried in the frame header.
        expected: u32,
        /// The checksum computed over the received payload.
        actual: u32,
    },
    /// A message the codec cannot represent, or a malformed frame.
    #[error("invalid frame: {reason}")]
    Invalid {
        /// What is wrong, in a few words.
        reason: &'static str,
    },
}
