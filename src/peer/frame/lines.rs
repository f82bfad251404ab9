//! [`LinesCodec`]: newline-terminated messages.

use super::{Codec, Decoded, FrameError};

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

/// Index of the first `'\n'` in `haystack` (memchr: SIMD where the CPU has it).
fn find_newline(haystack: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', haystack)
}
