//! The length-prefixed codecs: [`LengthChecksumCodec`] (the default) and
//! [`LengthDelimitedCodec`].

use super::{crc32c, Codec, Decoded, FrameError};

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

    fn encode_parts(
        &mut self,
        head: &[u8],
        body: &[u8],
        dst: &mut Vec<u8>,
    ) -> Result<(), FrameError> {
        let len = head.len() + body.len();
        if len > self.max {
            return Err(FrameError::TooLarge {
                size: len,
                max: self.max,
            });
        }
        dst.reserve(Self::HEADER_LEN + len);
        let start = dst.len();
        dst.extend_from_slice(&(len as u32).to_le_bytes());
        dst.extend_from_slice(&[0; 4]);
        dst.extend_from_slice(head);
        dst.extend_from_slice(body);
        // One pass over the parts where they now lie side by side: for a short message the
        // CRC's set-up cost as much as its bytes, and two calls paid it twice.
        let crc = crc32c(&dst[start + Self::HEADER_LEN..]);
        dst[start + 4..start + Self::HEADER_LEN].copy_from_slice(&crc.to_le_bytes());
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
