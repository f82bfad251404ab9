//! moonpool: deterministic network simulation and a resilient Peer.
//!
//! moonpool lets you write networked code once, against the small provider traits
//! ([`NetworkProvider`], [`Listener`], [`Clock`]), and run it either over a deterministic
//! simulated network or over real TCP sockets. The simulator ([`SimWorld`]) owns virtual time,
//! one seeded RNG and an in-memory TCP, in the manner of FoundationDB's simulation: the same
//! seed replays the same run, and an hour of timeouts passes in milliseconds. The [`Peer`] is
//! the resilient connection on top: it queues messages while disconnected, reconnects on
//! demand with exponential backoff, and counts what it did in [`PeerMetrics`].
//!
//! # Quick start
//!
//! A Peer and an echo server in a simulated world. The server is a spawned task that speaks
//! the Peer's framing through [`FramedStream`](peer::FramedStream); the client is the Peer.
//! Swap `world.provider(..)` for [`RealNetworkProvider::new()`](RealNetworkProvider) and the
//! same code runs over real sockets.
//!
//! ```
//! use moonpool::peer::FramedStream;
//! use moonpool::{Listener, NetworkProvider, Peer, PeerConfig, SimWorld};
//!
//! let world = SimWorld::new(42); // the seed: same seed, same run
//! let server_net = world.provider("10.0.0.1");
//! let client_net = world.provider("10.0.0.2");
//!
//! let listener = world.block_on(server_net.bind("10.0.0.1:4500")).unwrap().unwrap();
//! world.spawn("echo server", async move {
//!     let (stream, _remote) = listener.accept().await.unwrap();
//!     let mut conn = FramedStream::new(stream);
//!     while let Some(message) = conn.recv().await.unwrap() {
//!         conn.send(&message).await.unwrap();
//!     }
//! });
//!
//! let echoes = world
//!     .block_on(async move {
//!         let mut peer = Peer::new(client_net, "10.0.0.1:4500".into(), PeerConfig::default());
//!         for word in ["one", "two", "three"] {
//!             peer.send(word.as_bytes().to_vec()).await?; // queued
//!         }
//!         peer.flush().await?; // connects on demand, written out
//!         let mut echoes = Vec::new();
//!         for _ in 0..3 {
//!             echoes.push(String::from_utf8(peer.recv().await?).unwrap());
//!         }
//!         peer.close().await; // end-of-file: the server task ends
//!         Ok::<_, moonpool::PeerError>(echoes)
//!     })
//!     .unwrap()
//!     .unwrap();
//!
//! assert_eq!(echoes, ["one", "two", "three"]);
//! world.run().unwrap(); // every task finished
//! assert!(world.now() > std::time::Duration::ZERO); // virtual time: no real waiting
//! ```
//!
//! # Providers and features
//!
//! | Provider | Module | Feature | Runs under |
//! |---|---|---|---|
//! | [`SimNetworkProvider`] | [`sim`] | always | [`SimWorld::block_on`] / [`SimWorld::run`] (virtual time) |
//! | [`RealNetworkProvider`] | [`real`] | always | any executor (async-io drives its own reactor) |
//! | `TokioNetworkProvider` | `tokio` | `tokio` | inside a Tokio runtime, `tokio::spawn`-able |
//!
//! | Feature | Default | What it adds |
//! |---|---|---|
//! | `tokio` | off | the `tokio` module: `TokioNetworkProvider`, `TokioListener`, `TokioClock` |
//! | `subscriber` | off | `testing::init_tracing()`: prints events stamped with virtual time |
//! | `tls` | off | the `tls` module: `TlsProvider` (rustls over any provider, deterministic in the simulator) |
//!
//! Logging goes through [`tracing`](https://docs.rs/tracing): spans for each simulated task
//! (`task{name=..}`), each campaign iteration (`iteration{seed=..}`) and each Peer connection
//! attempt (`peer{destination=.. attempt=..}`), with fields rather than formatted text. With no
//! tracing subscriber installed the events reach a `log` logger instead, if there is one.
//!
//! # Main types
//!
//! - [`Peer`], [`PeerConfig`], [`PeerError`], [`PeerMetrics`], [`OverflowPolicy`]: the
//!   resilient connection ([`peer`] has the sans-io parts: backoff, queue, codecs, and
//!   [`FramedStream`](peer::FramedStream) for servers).
//! - [`NetworkProvider`], [`Listener`], [`Clock`]: the traits a Peer is written against
//!   ([`provider`]).
//! - [`SimWorld`], [`SimNetworkProvider`], [`NetworkConfig`]: the deterministic simulator
//!   ([`sim`]).
//! - [`RealNetworkProvider`], [`RealClock`]: real TCP over async-io ([`real`]).
//! - [`testing`]: the simulation harness (campaigns of seeded runs, assertions, reports).
//!
//! # What the Peer guarantees
//!
//! What [`PeerConfig::delivery`] says: by default ([`Delivery::Unreliable`](peer::Delivery))
//! messages arrive at most once, in order and whole, and bytes written into a connection whose
//! remote just died can be lost (counted as possibly lost). At-least-once and exactly-once
//! keep each message until the remote (a [`SessionServer`](peer::SessionServer)) acknowledges
//! it and re-send it after a reconnect. See [`Peer`] and [`Delivery`](peer::Delivery).
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, rust_2018_idioms)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod buggify;
#[doc(hidden)]
pub mod fuzzing;
pub mod peer;
pub mod provider;
pub mod real;
pub mod sim;
#[doc(hidden)]
pub mod site;
pub mod testing;
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub mod tls;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub mod tokio;

pub use provider::{Clock, Listener, NetworkProvider};
// peer re-exports
pub use peer::{OverflowPolicy, Peer, PeerConfig, PeerError, PeerMetrics};
// real re-exports
pub use real::{RealClock, RealListener, RealNetworkProvider, RealStream};
// sim re-exports
pub use sim::{
    LatencyRange, NetworkConfig, SimClock, SimError, SimJoinHandle, SimNetworkProvider, SimStats,
    SimTcpListener, SimTcpStream, SimWorld, StepDivergence, StepLog, WeakSimWorld,
};
// testing re-exports
pub use testing::{CampaignError, SimulationBuilder, SimulationReport, WorkloadTopology};
// tokio re-exports
#[cfg(feature = "tokio")]
pub use crate::tokio::{TokioClock, TokioListener, TokioNetworkProvider};
