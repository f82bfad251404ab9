//! `LinesCodec`: decoded whole and through the Peer's read buffer in reads of any size; no panic,
//! no allocation beyond one largest frame and a read.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moonpool::fuzzing;
use moonpool::peer::LinesCodec;

fuzz_target!(|data: &[u8]| {
    let limit = fuzzing::read_buffer_limit(data, LinesCodec::DEFAULT_MAX_MESSAGE_SIZE);
    moonpool_fuzz::with_allocation_limit(limit, || fuzzing::lines(data));
});
