//! The deterministic simulator: virtual time, seeded randomness, in-memory TCP.
//!
//! A [`SimWorld`] owns everything: a virtual clock, an event queue ordered by `(time, seq)`, a
//! single ChaCha8 RNG seeded from the world's seed, the simulated network and the tasks. Its
//! executor is single-threaded and deterministic: when several tasks are ready it picks one
//! with the RNG; when none is, it jumps virtual time straight to the next event. The same seed
//! replays the same run, and [`SimWorld::digest`] proves it.
//!
//! [`SimNetworkProvider`] implements [`NetworkProvider`](crate::NetworkProvider), so code
//! written against the provider traits runs here unchanged.
//!
//! # Examples
//! ```
//! use futures::io::{AsyncReadExt, AsyncWriteExt};
//! use moonpool::{Listener, NetworkProvider, SimWorld};
//!
//! let world = SimWorld::new(42);
//! let server_net = world.provider("10.0.0.1");
//! let client_net = world.provider("10.0.0.2");
//! let listener = world.block_on(server_net.bind("10.0.0.1:4500")).unwrap().unwrap();
//!
//! world.spawn("server", async move {
//!     let (mut stream, peer) = listener.accept().await.unwrap();
//!     assert!(peer.starts_with("10.0.0.2:"));
//!     let mut buf = [0; 5];
//!     stream.read_exact(&mut buf).await.unwrap();
//!     stream.write_all(&buf).await.unwrap();
//! });
//! let mut client = world.spawn("client", async move {
//!     let mut stream = client_net.connect("10.0.0.1:4500").await.unwrap();
//!     stream.write_all(b"hello").await.unwrap();
//!     let mut echo = Vec::new();
//!     stream.read_to_end(&mut echo).await.unwrap();
//!     echo
//! });
//! world.run().unwrap();
//! assert_eq!(client.try_take().unwrap(), b"hello");
//! assert!(world.now() > std::time::Duration::ZERO);
//! ```
//!
//! # Where later faults hook in
//! - **Clogging and one-way partitions**: a verdict per `(source ip, destination ip)` consulted
//!   in `net.rs` when a connect is decided and in `stream.rs` when a segment is sent (delay the
//!   delivery time, or hold segments in the pipe until unclogged).
//! - **Half-open connections**: a flag on one side of a `Connection` (`net.rs`) so that one
//!   side's writes vanish into a peer that never answers, surfacing only as timeouts.
//! - **Short reads/writes**: `stream.rs` may cap `n` with an RNG draw before copying.
//! - **Process restarts**: tasks would carry the IP of their "process" (`executor.rs`), so a
//!   restart drops every task and resets every connection of that IP.
//! - **Buggify**: a seeded `world.buggify(probability)` on [`SimWorld`], drawn from the same RNG.

/// The simulator's own buggify site where it is written: a `static` [`Site`] named
/// `file:line`.
///
/// [`Site`]: crate::site::Site
macro_rules! sim_site {
    () => {{
        static SITE: crate::site::Site = crate::site::Site::new(concat!(file!(), ":", line!()));
        &SITE
    }};
}

mod chaos;
mod config;
mod error;
mod events;
mod executor;
mod fault;
mod listener;
mod net;
mod pipe;
mod process;
mod provider;
mod rng;
mod slab;
mod steps;
mod stream;
mod time;
mod trace;
mod world;

pub use config::{LatencyRange, LatencyTail, NetworkConfig, TailShape};
pub use error::SimError;
pub use executor::SimJoinHandle;
pub use fault::{BuggifySite, FaultEvent, FaultKind, NetOp, Rule, Verdict};
pub use listener::SimTcpListener;
pub use process::{CrashKind, StopRequested};
pub use provider::SimNetworkProvider;
pub use steps::{StepDivergence, StepLog};
pub use stream::SimTcpStream;
pub use time::SimClock;
pub use trace::current_time;
pub use world::{SimStats, SimWorld, WeakSimWorld};

/// The FNV-1a 64 digest, shared with the campaign report and workloads.
pub(crate) use rng::Digest;
