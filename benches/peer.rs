//! Detailed figures of the Peer's sans-io parts, with divan: the send queue against a bare
//! `VecDeque`, framing (encode/decode) at 64 B and 1 KiB, and CRC-32C.
//!
//! `cargo bench --bench peer`; `cargo bench --bench throughput` has the end-to-end figures.

use std::collections::VecDeque;
use std::hint::black_box;

use divan::counter::{BytesCount, ItemsCount};
use divan::Bencher;
use moonpool::peer::{crc32c, Codec, LengthChecksumCodec, OverflowPolicy, SendQueue};

fn main() {
    divan::main();
}

/// Messages pushed then popped per iteration.
const BATCH: usize = 256;

fn pool(size: usize) -> Vec<Vec<u8>> {
    (0..BATCH).map(|_| vec![7u8; size]).collect()
}

#[divan::bench_group]
mod queue {
    use super::*;

    /// `SendQueue::push` then `pop_front` of 64-byte messages, a batch at a time.
    #[divan::bench]
    fn send_queue(bencher: Bencher<'_, '_>) {
        let mut pool = pool(64);
        let mut queue = SendQueue::new(BATCH, usize::MAX, OverflowPolicy::DropOldest);
        bencher.counter(ItemsCount::new(BATCH)).bench_local(|| {
            for message in pool.drain(..) {
                let _ = queue.push(black_box(message));
            }
            while let Some(message) = queue.pop_front() {
                pool.push(black_box(message));
            }
        });
    }

    /// The bare baseline: the same loop over a `VecDeque<Vec<u8>>`.
    #[divan::bench]
    fn vecdeque(bencher: Bencher<'_, '_>) {
        let mut pool = pool(64);
        let mut queue: VecDeque<Vec<u8>> = VecDeque::with_capacity(BATCH);
        bencher.counter(ItemsCount::new(BATCH)).bench_local(|| {
            for message in pool.drain(..) {
                queue.push_back(black_box(message));
            }
            while let Some(message) = queue.pop_front() {
                pool.push(black_box(message));
            }
        });
    }
}

#[divan::bench_group]
mod frame {
    use super::*;

    const SIZES: [usize; 2] = [64, 1024];

    /// `LengthChecksumCodec::encode` of one message into a reused buffer.
    #[divan::bench(args = SIZES)]
    fn encode(bencher: Bencher<'_, '_>, size: usize) {
        let mut codec = LengthChecksumCodec::default();
        let message = vec![0xA5u8; size];
        let mut wire = Vec::with_capacity(size + LengthChecksumCodec::HEADER_LEN);
        bencher.counter(BytesCount::new(size)).bench_local(|| {
            wire.clear();
            codec.encode(black_box(&message), &mut wire).unwrap();
            black_box(&wire);
        });
    }

    /// `LengthChecksumCodec::decode` of one whole frame (checksum verified).
    #[divan::bench(args = SIZES)]
    fn decode(bencher: Bencher<'_, '_>, size: usize) {
        let mut codec = LengthChecksumCodec::default();
        let mut wire = Vec::new();
        codec.encode(&vec![0xA5u8; size], &mut wire).unwrap();
        bencher
            .counter(BytesCount::new(size))
            .bench_local(|| black_box(codec.decode(black_box(&wire)).unwrap()));
    }

    /// CRC-32C of 1 KiB.
    #[divan::bench]
    fn crc32c_1k(bencher: Bencher<'_, '_>) {
        let data = vec![0x5Au8; 1024];
        bencher
            .counter(BytesCount::new(data.len()))
            .bench_local(|| crc32c(black_box(&data)));
    }
}
