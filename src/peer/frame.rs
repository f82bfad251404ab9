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

/// Default maximum message size of the length-prefixed codecs: 1 MiB.
const DEFAULT_LENGTH_MAX: usize = 1 << 20;

/// Largest length a 4-byte header can carry.
const U32_MAX: usize = u32::MAX as usize;

/// Reads the 4 bytes at `src[at..at + 4]`; the caller has checked the length.
#[inline]
fn four(src: &[u8], at: usize) -> [u8; 4] {
    [src[at], src[at + 1], src[at + 2], src[at + 3]]
}

/// Default codec: 4-byte little-endian payload length, 4-byte little-endian CRC-32C of the
/// payload, payload.
///
/// # Examples
///
/// ```
/// use moonpool::peer::{Codec, Decoded, FrameError, LengthChecksumCodec};
///
/// let mut codec = LengthChecksumCodec::new(1024);
/// let mut wire = Vec::new();
/// codec.encode(b"ping", &mut wire)?;
/// assert_eq!(wire.len(), LengthChecksumCodec::HEADER_LEN + 4);
///
/// let Decoded { payload, consumed } = codec.decode(&wire)?.expect("a whole frame");
/// assert_eq!(&wire[payload], b"ping");
/// assert_eq!(consumed, wire.len());
///
/// // A corrupted payload is detected.
/// *wire.last_mut().unwrap() ^= 1;
/// assert!(matches!(codec.decode(&wire), Err(FrameError::ChecksumMismatch { .. })));
/// # Ok::<(), FrameError>(())
/// ```
#[derive(Debug, Clone)]
pub struct LengthChecksumCodec {
    max: usize,
}

impl LengthChecksumCodec {
    /// Length of the frame header: 4 bytes of length, 4 bytes of CRC-32C.
    pub const HEADER_LEN: usize = 8;
    /// Maximum message size of [`LengthChecksumCodec::default`]: 1 MiB.
    pub const DEFAULT_MAX_MESSAGE_SIZE: usize = DEFAULT_LENGTH_MAX;

    /// A codec accepting messages up to `max_message_size` bytes (capped at `u32::MAX`, the
    /// largest length the header can carry).
    #[must_use]
    pub const fn new(max_message_size: usize) -> Self {
        Self {
            max: cap_to_u32(max_message_size),
        }
    }
}

impl Default for LengthChecksumCodec {
    fn default() -> Self {
        Self::new(Self::DEFAULT_MAX_MESSAGE_SIZE)
    }
}

impl Codec for LengthChecksumCodec {
    fn encode(&mut self, message: &[u8], dst: &mut Vec<u8>) -> Result<(), FrameError> {
        self.check(message)?;
        let len = message.len();
        // `len <= self.max <= u32::MAX`, so the cast is lossless.
        let len_bytes = (len as u32).to_le_bytes();
        let crc = crc32c(message).to_le_bytes();
        let header = [
            len_bytes[0],
            len_bytes[1],
            len_bytes[2],
            len_bytes[3],
            crc[0],
            crc[1],
            crc[2],
            crc[3],
        ];
        dst.reserve(Self::HEADER_LEN + len);
        dst.extend_from_slice(&header);
        dst.extend_from_slice(message);
        Ok(())
    }

    fn decode(&mut self, src: &[u8]) -> Result<Option<Decoded>, FrameError> {
        if src.len() < Self::HEADER_LEN {
            return Ok(None);
        }
        let len = u32::from_le_bytes(four(src, 0));
        let Some(end) = frame_end(src, Self::HEADER_LEN, len, self.max)? else {
            return Ok(None);
        };
        let expected = u32::from_le_bytes(four(src, 4));
        let actual = crc32c(&src[Self::HEADER_LEN..end]);
        if expected != actual {
            return Err(FrameError::ChecksumMismatch { expected, actual });
        }
        Ok(Some(Decoded {
            payload: Self::HEADER_LEN..end,
            consumed: end,
        }))
    }

    fn max_message_size(&self) -> usize {
        self.max
    }

    fn overhead(&self, _len: usize) -> usize {
        Self::HEADER_LEN
    }
}

/// 4-byte big-endian length then payload, no checksum (to speak existing length-prefixed
/// protocols).
///
/// # Examples
///
/// ```
/// use moonpool::peer::{Codec, LengthDelimitedCodec};
///
/// let mut codec = LengthDelimitedCodec::default();
/// let mut wire = Vec::new();
/// codec.encode(b"hi", &mut wire)?;
/// assert_eq!(wire, [0, 0, 0, 2, b'h', b'i']);
/// let frame = codec.decode(&wire)?.expect("a whole frame");
/// assert_eq!(&wire[frame.payload], b"hi");
/// # Ok::<(), moonpool::peer::FrameError>(())
/// ```
#[derive(Debug, Clone)]
pub struct LengthDelimitedCodec {
    max: usize,
}

impl LengthDelimitedCodec {
    /// Length of the frame header: 4 bytes of big-endian length.
    pub const HEADER_LEN: usize = 4;
    /// Maximum message size of [`LengthDelimitedCodec::default`]: 1 MiB.
    pub const DEFAULT_MAX_MESSAGE_SIZE: usize = DEFAULT_LENGTH_MAX;

    /// A codec accepting messages up to `max_message_size` bytes (capped at `u32::MAX`, the
    /// largest length the header can carry).
    #[must_use]
    pub const fn new(max_message_size: usize) -> Self {
        Self {
            max: cap_to_u32(max_message_size),
        }
    }
}

impl Default for LengthDelimitedCodec {
    fn default() -> Self {
        Self::new(Self::DEFAULT_MAX_MESSAGE_SIZE)
    }
}

impl Codec for LengthDelimitedCodec {
    fn encode(&mut self, message: &[u8], dst: &mut Vec<u8>) -> Result<(), FrameError> {
        self.check(message)?;
        let len = message.len();
        // `len <= self.max <= u32::MAX`, so the cast is lossless.
        dst.reserve(Self::HEADER_LEN + len);
        dst.extend_from_slice(&(len as u32).to_be_bytes());
        dst.extend_from_slice(message);
        Ok(())
    }

    fn decode(&mut self, src: &[u8]) -> Result<Option<Decoded>, FrameError> {
        if src.len() < Self::HEADER_LEN {
            return Ok(None);
        }
        let len = u32::from_be_bytes(four(src, 0));
        let Some(end) = frame_end(src, Self::HEADER_LEN, len, self.max)? else {
            return Ok(None);
        };
        Ok(Some(Decoded {
            payload: Self::HEADER_LEN..end,
            consumed: end,
        }))
    }

    fn max_message_size(&self) -> usize {
        self.max
    }

    fn overhead(&self, _len: usize) -> usize {
        Self::HEADER_LEN
    }
}

/// Newline-terminated messages.
///
/// The payload excludes the `'\n'`, and a trailing `'\r'` is stripped on decode (so `"\r\n"`
/// line endings are accepted). [`encode`](Codec::encode) rejects with [`FrameError::Invalid`]
/// a message containing `'\n'`, or ending with `'\r'` (decode would strip it).
///
/// On decode, a line longer than the maximum is [`FrameError::TooLarge`] as soon as that many
/// bytes have been seen without a newline, so garbage without newlines cannot make the caller
/// buffer grow unboundedly; each call scans at most `max + 2` bytes.
///
/// # Examples
///
/// ```
/// use moonpool::peer::{Codec, LinesCodec};
///
/// let mut codec = LinesCodec::default();
/// let wire = b"GET /\r\nrest";
/// let frame = codec.decode(wire)?.expect("a whole line");
/// assert_eq!(&wire[frame.payload], b"GET /");
/// assert_eq!(frame.consumed, 7);
/// assert_eq!(codec.decode(&wire[frame.consumed..])?, None);
/// # Ok::<(), moonpool::peer::FrameError>(())
/// ```
#[derive(Debug, Clone)]
pub struct LinesCodec {
    max: usize,
}

impl LinesCodec {
    /// Maximum message size of [`LinesCodec::default`]: 64 KiB.
    pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 64 << 10;

    /// A codec accepting lines of up to `max_message_size` bytes (excluding the line ending).
    #[must_use]
    pub const fn new(max_message_size: usize) -> Self {
        Self {
            max: max_message_size,
        }
    }
}

impl Default for LinesCodec {
    fn default() -> Self {
        Self::new(Self::DEFAULT_MAX_MESSAGE_SIZE)
    }
}

impl Codec for LinesCodec {
    fn check(&self, message: &[u8]) -> Result<(), FrameError> {
        let len = message.len();
        if len > self.max {
            return Err(FrameError::TooLarge {
                size: len,
                max: self.max,
            });
        }
        if find_newline(message).is_some() {
            return Err(FrameError::Invalid {
                reason: "message contains a newline",
            });
        }
        if message.last() == Some(&b'\r') {
            return Err(FrameError::Invalid {
                reason: "message ends with a carriage return, which decode would strip",
            });
        }
        Ok(())
    }

    fn encode(&mut self, message: &[u8], dst: &mut Vec<u8>) -> Result<(), FrameError> {
        self.check(message)?;
        let len = message.len();
        dst.reserve(len + 1);
        dst.extend_from_slice(message);
        dst.push(b'\n');
        Ok(())
    }

    fn decode(&mut self, src: &[u8]) -> Result<Option<Decoded>, FrameError> {
        // A line of `max` bytes plus "\r\n" is the longest acceptable frame.
        let window = src.len().min(self.max.saturating_add(2));
        match find_newline(&src[..window]) {
            Some(newline) => {
                let end = if newline > 0 && src[newline - 1] == b'\r' {
                    newline - 1
                } else {
                    newline
                };
                if end > self.max {
                    return Err(FrameError::TooLarge {
                        size: end,
                        max: self.max,
                    });
                }
                Ok(Some(Decoded {
                    payload: 0..end,
                    consumed: newline + 1,
                }))
            }
            None => {
                // Without a newline yet, the line is at least as long as what was seen,
                // minus a trailing '\r' that a following '\n' would make a line ending.
                let seen = if src.last() == Some(&b'\r') {
                    src.len() - 1
                } else {
                    src.len()
                };
                if seen > self.max {
                    return Err(FrameError::TooLarge {
                        size: src.len(),
                        max: self.max,
                    });
                }
                Ok(None)
            }
        }
    }

    fn max_message_size(&self) -> usize {
        self.max
    }

    fn overhead(&self, _len: usize) -> usize {
        1
    }
}

/// Index of the first `'\n'` in `haystack`, scanning a word at a time.
fn find_newline(haystack: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    const NL: u64 = LO * b'\n' as u64;
    let mut chunks = haystack.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let word = u64::from_le_bytes([
            chunk[0], chunk[1], chunk[2], chunk[3], chunk[4], chunk[5], chunk[6], chunk[7],
        ]) ^ NL;
        // Nonzero iff some byte of `word` is zero, i.e. some byte of `chunk` is '\n'.
        if word.wrapping_sub(LO) & !word & HI != 0 {
            return chunk.iter().position(|&b| b == b'\n').map(|i| offset + i);
        }
        offset += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b == b'\n')
        .map(|i| offset + i)
}

/// Reflected CRC-32C (Castagnoli) polynomial.
const CRC32C_POLY: u32 = 0x82F6_3B78;

/// Slicing-by-8 tables: `TABLES[0]` is the classic byte table, `TABLES[k][b]` is the CRC of
/// byte `b` followed by `k` zero bytes.
static CRC32C_TABLES: [[u32; 256]; 8] = crc32c_tables();

/// Builds the slicing-by-8 tables at compile time.
const fn crc32c_tables() -> [[u32; 256]; 8] {
    let mut tables = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ CRC32C_POLY
            } else {
                crc >> 1
            };
            bit += 1;
        }
        tables[0][i] = crc;
        i += 1;
    }
    let mut k = 1;
    while k < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = tables[k - 1][i];
            tables[k][i] = (prev >> 8) ^ tables[0][(prev & 0xFF) as usize];
            i += 1;
        }
        k += 1;
    }
    tables
}

/// CRC-32C (Castagnoli, reflected polynomial `0x82F63B78`) of `data`.
///
/// Software slicing-by-8 with tables built at compile time; no `unsafe`, no CPU feature
/// detection.
///
/// # Examples
///
/// ```
/// assert_eq!(moonpool::peer::crc32c(b"123456789"), 0xE306_9283);
/// assert_eq!(moonpool::peer::crc32c(b""), 0);
/// ```
#[must_use]
pub fn crc32c(data: &[u8]) -> u32 {
    let t = &CRC32C_TABLES;
    let mut crc = !0u32;
    let mut chunks = data.chunks_exact(8);
    for chunk in &mut chunks {
        let lo = crc ^ u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        crc = t[7][(lo & 0xFF) as usize]
            ^ t[6][((lo >> 8) & 0xFF) as usize]
            ^ t[5][((lo >> 16) & 0xFF) as usize]
            ^ t[4][(lo >> 24) as usize]
            ^ t[3][chunk[4] as usize]
            ^ t[2][chunk[5] as usize]
            ^ t[1][chunk[6] as usize]
            ^ t[0][chunk[7] as usize];
    }
    for &byte in chunks.remainder() {
        crc = (crc >> 8) ^ t[0][((crc ^ u32::from(byte)) & 0xFF) as usize];
    }
    !crc
}

/// Caps a maximum message size at the largest length a 32-bit header can carry.
const fn cap_to_u32(max: usize) -> usize {
    if max < U32_MAX {
        max
    } else {
        U32_MAX
    }
}

/// Where a frame announcing `len` payload bytes after a `header_len` header ends, if `src`
/// holds all of it; an announced length over `max` is an error before anything is read.
fn frame_end(
    src: &[u8],
    header_len: usize,
    len: u32,
    max: usize,
) -> Result<Option<usize>, FrameError> {
    let size = usize::try_from(len).unwrap_or(usize::MAX);
    let end = match header_len.checked_add(size) {
        Some(end) if size <= max => end,
        _ => return Err(FrameError::TooLarge { size, max }),
    };
    Ok((src.len() >= end).then_some(end))
}
