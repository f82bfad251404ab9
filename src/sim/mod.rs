//! The deterministic simulator: virtual time, seeded randomness, in-memory TCP.
