//! The Tokio provider (feature `tokio`).
