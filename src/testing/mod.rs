//! The simulation harness: campaigns of seeded iterations, assertions and reports.
//!
//! A [`SimulationBuilder`] registers workloads (async closures given a seed, a
//! [`SimNetworkProvider`](crate::SimNetworkProvider) and a [`WorkloadTopology`]) and runs them
//! together in a fresh [`SimWorld`](crate::SimWorld) per seed, over as many threads as asked.
//! Workloads check invariants with [`always_assert!`](crate::always_assert) and record the
//! states they reached with [`sometimes_assert!`](crate::sometimes_assert); the
//! [`SimulationReport`] says which seeds failed (with a replay command for each), how often
//! every assertion held, and a digest that is the same for the same seeds on any number of
//! threads. A campaign split across machines sends its reports as text
//! ([`SimulationReport::to_shard_text`], [`SimulationReport::from_shard_text`]) and merges
//! them on one ([`SimulationReport::merge`]). [`ping_pong`] is a complete campaign over the
//! resilient [`Peer`](crate::Peer).
//!
//! Comparisons such as [`always_le!`](crate::always_le) report both sides, and watermarks
//! ([`sometimes_max!`](crate::sometimes_max)) keep the best value reached.
//! [`check_determinism`](SimulationBuilder::check_determinism) runs a sample of seeds twice
//! and names the first step where two runs differ, and
//! [`explore`](SimulationBuilder::explore) spends a campaign around its rare states by
//! replaying runs up to their discoveries and branching there ([`Exploration`]).
//!
//! # Examples
//! ```
//! use futures::io::{AsyncReadExt, AsyncWriteExt};
//! use moonpool::testing::SimulationBuilder;
//! use moonpool::{always_assert, Listener, NetworkProvider};
//!
//! let report = SimulationBuilder::new()
//!     .register_workload("server", |_seed, net, topo| async move {
//!         let listener = net.bind(&format!("{}:7", topo.my_ip)).await?;
//!         let (mut stream, _) = listener.accept().await?;
//!         let mut byte = [0; 1];
//!         stream.read_exact(&mut byte).await?;
//!         stream.write_all(&byte).await?;
//!         Ok::<(), std::io::Error>(())
//!     })
//!     .register_workload("client", |seed, net, topo| async move {
//!         let mut stream = net.connect(&format!("{}:7", topo.peer_ips[0])).await?;
//!         stream.write_all(&[seed as u8]).await?;
//!         let mut byte = [0; 1];
//!         stream.read_exact(&mut byte).await?;
//!         always_assert!("echoed", byte[0] == seed as u8, "got {}", byte[0]);
//!         Ok::<(), std::io::Error>(())
//!     })
//!     .iterations(20)
//!     .seed_from_env(false)
//!     .run_checked()
//!     .unwrap();
//! assert_eq!(report.passed(), 20);
//! assert!(report.summary_line().starts_with("summary iterations=20 passed=20 failed=0"));
//! ```

pub mod assertions;
mod attrition;
mod builder;
mod coverage;
mod determinism;
mod explore;
mod iteration;
mod merge;
mod partition;
pub mod ping_pong;
mod report;
mod runner;
mod seeds;
mod shard;
mod topology;
#[cfg(feature = "subscriber")]
mod trace;

pub use assertions::{AssertionKind, AssertionStats};
pub use attrition::Attrition;
pub use builder::{Progress, SimulationBuilder};
pub use coverage::BuggifyCoverage;
pub use determinism::{DeterminismCheck, DeterminismParseError};
pub use explore::{Branch, Discovery, Exploration, ExplorationTree};
pub use merge::MergeError;
pub use partition::{CampaignConfigError, Partition};
pub use report::{CampaignError, IterationFailure, IterationRecord, SimulationReport};
pub use shard::ShardParseError;
pub use topology::{PeerIps, Shutdown, ShutdownWait, WorkloadTopology};
#[cfg(feature = "subscriber")]
#[cfg_attr(docsrs, doc(cfg(feature = "subscriber")))]
pub use trace::{init_tracing, LogFilterError, SimTimer};
