//! The session protocol (handshake hello and reject, data, ack, ping, pong): no panic, what
//! is read writes back as the same bytes, no allocation but the harness's
//! few small buffers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moonpool::fuzzing;

/// The harness's own small buffers: a 40-byte hello written back, an error's message.
const LIMIT: usize = 256;

fuzz_target!(|data: &[u8]| {
    moonpool_fuzz::with_allocation_limit(LIMIT, || fuzzing::session(data));
});
