//! moonpool: deterministic network simulation and a resilient Peer.
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod peer;
pub mod provider;
pub mod real;
pub mod sim;
pub mod testing;
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
    SimTcpListener, SimTcpStream, SimWorld, WeakSimWorld,
};
// testing re-exports
pub use testing::{CampaignError, SimulationBuilder, SimulationReport, WorkloadTopology};
// tokio re-exports
#[cfg(feature = "tokio")]
pub use crate::tokio::{TokioClock, TokioListener, TokioNetworkProvider};
