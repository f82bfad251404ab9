//! `SimulationReport::from_shard_text`: no panic, errors name a line, a report read writes
//! back to the same report; no allocation beyond a small multiple of the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moonpool::fuzzing;

/// Bytes of allocation allowed per input byte (the text, its checksum, the report and the
/// report written back), plus a constant.
const PER_INPUT_BYTE: usize = 16;
const CONSTANT: usize = 64 << 10;

fuzz_target!(|data: &[u8]| {
    let limit = PER_INPUT_BYTE * data.len() + CONSTANT;
    moonpool_fuzz::with_allocation_limit(limit, || fuzzing::shard(data));
});
