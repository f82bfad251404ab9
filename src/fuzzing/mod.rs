//! The fuzz targets' bodies, shared by `fuzz/` (libFuzzer, nightly) and `tests/fuzz_corpus.rs`
//! (the committed corpus replayed on stable). Not part of the API: hidden from the docs, may
//! change in any release.
//!
//! Each function feeds one input to a decoder that reads bytes from outside and panics if the
//! decoder breaks one of its promises (a panic inside the decoder is a finding as well):
//! frame bounds inside the input, no message over the codec's maximum, the same messages and
//! error whatever the read sizes, buffers bounded by the maximum, and round trips.

mod codec;
mod session;
mod shard;

pub use codec::{length_checksum, length_delimited, lines, read_buffer_limit, READ_BUFFER_SLACK};
pub use session::session;
pub use shard::shard;

/// A target's check of one input: panics if the decoder breaks a promise.
pub type Check = fn(&[u8]);

/// The fuzz targets, by the name of their corpus directory under `fuzz/corpus/`, with the
/// function that checks one input.
pub const TARGETS: &[(&str, Check)] = &[
    ("length_checksum", length_checksum),
    ("length_delimited", length_delimited),
    ("lines", lines),
    ("session", session),
    ("shard", shard),
];
