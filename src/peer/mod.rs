//! The resilient [`Peer`](crate::peer): a connection to one address that queues and reconnects.

mod frame;
pub use frame::{
    crc32c, Codec, Decoded, FrameError, LengthChecksumCodec, LengthDelimitedCodec, LinesCodec,
};
