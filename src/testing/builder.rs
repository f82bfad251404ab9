//! [`SimulationBuilder`]: workloads, seeds, network and threads of a campaign.

use std::collections::BTreeSet;
use std::fmt;
use std::future::Future;
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::TryFutureExt;

use super::attrition::Attrition;
use super::determinism::DeterminismCheck;
use super::explore::{self, Exploration};
use super::partition::{CampaignConfigError, Partition};
use super::report::{CampaignError, SimulationReport};
use super::runner;
use super::seeds::{self, SeedSource};
use super::topology::WorkloadTopology;
use crate::sim::{FaultKind, NetworkConfig, SimNetworkProvider};

/// A workload's future with its error already turned into text.
pub(crate) type WorkloadFuture = Pin<Box<dyn Future<Output = Result<(), String>>>>;
/// A registered workload, type-erased.
pub(crate) type WorkloadFn =
    Arc<dyn Fn(u64, SimNetworkProvider, WorkloadTopology) -> WorkloadFuture + Send + Sync>;
/// The network configuration of a seed.
pub(crate) type NetworkFn = Arc<dyn Fn(u64) -> NetworkConfig + Send + Sync>;
/// The progress callback.
pub(crate) type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

/// A campaign's progress, handed to the [`on_progress`](SimulationBuilder::on_progress)
/// callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// Iterations finished.
    pub done: usize,
    /// Iterations planned (the maximum, for
    /// [`until_all_sometimes_reached`](SimulationBuilder::until_all_sometimes_reached);
    /// `usize::MAX` if more).
    pub total: usize,
    /// Iterations failed so far.
    pub failures: usize,
}

/// Which seeds a campaign runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SeedPlan {
    /// `base..base + n` (saturating).
    Iterations(u64),
    /// Exactly these seeds, in this order.
    List(SeedSource),
    /// `base..base + max` (saturating), stopping at the shortest prefix that reaches every
    /// sometimes-assertion.
    UntilCovered(u64),
}

/// Builds and runs a simulation campaign: many seeded iterations of the same workloads,
/// each in its own fresh [`SimWorld`](crate::SimWorld).
///
/// In every iteration each registered workload is spawned as a task named after it, with a
/// [`SimNetworkProvider`] for its IP (`10.0.0.1`, `10.0.0.2`, ... in registration order) and
/// a [`WorkloadTopology`]; the iteration ends when every workload has returned. A workload
/// returning `Err`, panicking (an [`always_assert!`](crate::always_assert) included), or a
/// [`SimError`](crate::SimError) (deadlock, time budget) fails the iteration; the campaign
/// goes on. At the end, every [`sometimes_assert!`](crate::sometimes_assert) seen or declared
/// must have been true at least once.
///
/// Environment: `MOONPOOL_SEED=<u64>` runs only that seed (a replay; coverage is then not
/// required) and `MOONPOOL_SEEDS=<start>..<end>` runs that range (a shard), unless
/// [`seed_from_env(false)`](Self::seed_from_env). `MOONPOOL_CHECK_DETERMINISM` (`all`, `off`,
/// `0.05`, `5%`, `20`) overrides [`check_determinism`](Self::check_determinism), and
/// `MOONPOOL_BRANCH` with `MOONPOOL_SEED` replays a child of [`explore`](Self::explore).
///
/// # Examples
/// ```
/// use moonpool::testing::SimulationBuilder;
/// use moonpool::{sometimes_assert, Clock, NetworkProvider};
/// use std::time::Duration;
///
/// let report = SimulationBuilder::new()
///     .register_workload("sleeper", |seed, provider, _topology| async move {
///         provider.clock().sleep(Duration::from_millis(seed % 10)).await;
///         sometimes_assert!("odd_seed", seed % 2 == 1);
///         Ok::<(), std::io::Error>(())
///     })
///     .iterations(10)
///     .seed_from_env(false)
///     .run()
///     .into_result()
///     .unwrap();
/// assert_eq!(report.passed(), 10);
/// assert_eq!(report.assertions["odd_seed"].hits, 5);
/// ```
#[derive(Clone)]
pub struct SimulationBuilder {
    pub(crate) workloads: Vec<(String, WorkloadFn)>,
    pub(crate) plan: SeedPlan,
    pub(crate) base_seed: u64,
    pub(crate) network: NetworkFn,
    pub(crate) time_budget: Duration,
    pub(crate) threads: usize,
    pub(crate) partition: Option<Partition>,
    pub(crate) declared: BTreeSet<String>,
    pub(crate) progress: Option<ProgressFn>,
    pub(crate) seed_from_env: bool,
    pub(crate) replay_hint: String,
    pub(crate) quiet_panics: bool,
    pub(crate) require_coverage: bool,
    pub(crate) buggify: bool,
    pub(crate) attrition: Option<Attrition>,
    pub(crate) expected_faults: Vec<FaultKind>,
    pub(crate) determinism: DeterminismCheck,
    pub(crate) exploration: Option<Exploration>,
}

impl Default for SimulationBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for SimulationBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.workloads.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("SimulationBuilder")
            .field("workloads", &names)
            .field("plan", &self.plan)
            .field("base_seed", &self.base_seed)
            .field("time_budget", &self.time_budget)
            .field("threads", &self.threads)
            .field("partition", &self.partition)
            .field("declared", &self.declared)
            .field("seed_from_env", &self.seed_from_env)
            .field("replay_hint", &self.replay_hint)
            .field("require_coverage", &self.require_coverage)
            .field("determinism", &self.determinism)
            .field("exploration", &self.exploration)
            .finish_non_exhaustive()
    }
}

impl SimulationBuilder {
    /// A campaign with no workloads: one iteration (seed 0), the calm default network, a one
    /// hour time budget, one thread per available core, seeds from the environment, and a
    /// replay hint naming the current test binary and test (see
    /// [`replay_hint`](Self::replay_hint)).
    pub fn new() -> Self {
        let hint = default_replay_hint();
        Self {
            workloads: Vec::new(),
            plan: SeedPlan::Iterations(1),
            base_seed: 0,
            network: Arc::new(|_| NetworkConfig::default()),
            time_budget: Duration::from_secs(3600),
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            partition: None,
            declared: BTreeSet::new(),
            progress: None,
            seed_from_env: true,
            replay_hint: hint,
            quiet_panics: true,
            require_coverage: true,
            buggify: true,
            attrition: None,
            expected_faults: Vec::new(),
            determinism: DeterminismCheck::Off,
            exploration: None,
        }
    }

    /// Registers a workload: `f(seed, provider, topology)` returns the future run in each
    /// iteration. Its `Err(e)` fails the iteration with `e`'s text.
    ///
    /// The future need not be `Send`: an iteration runs on one thread.
    pub fn register_workload<F, Fut, E>(mut self, name: impl Into<String>, f: F) -> Self
    where
        F: Fn(u64, SimNetworkProvider, WorkloadTopology) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + 'static,
        E: fmt::Display + 'static,
    {
        let erased: WorkloadFn = Arc::new(move |seed, provider, topology| {
            // A combinator, not an `async` block around the future: the block would hold the
            // future twice (captured, and again where it is awaited), a box twice its size.
            Box::pin(f(seed, provider, topology).map_err(|e| e.to_string()))
        });
        self.workloads.push((name.into(), erased));
        self
    }

    /// Runs `n` iterations, seeds `base_seed..base_seed + n` (stopping before `u64::MAX`).
    ///
    /// Seeds are computed one at a time, so `n` may be anything up to `u64::MAX`.
    pub fn iterations(mut self, n: u64) -> Self {
        self.plan = SeedPlan::Iterations(n);
        self
    }

    /// The first seed of [`iterations`](Self::iterations) and
    /// [`until_all_sometimes_reached`](Self::until_all_sometimes_reached) (default 0).
    pub fn base_seed(mut self, seed: u64) -> Self {
        self.base_seed = seed;
        self
    }

    /// Runs exactly these seeds, in this order.
    pub fn seeds(mut self, seeds: Vec<u64>) -> Self {
        self.plan = SeedPlan::List(SeedSource::List(seeds));
        self
    }

    /// Runs the seeds of `range`, in order (computed one at a time: any range is fine).
    pub fn seed_range(mut self, range: Range<u64>) -> Self {
        self.plan = SeedPlan::List(SeedSource::range(range));
        self
    }

    /// Runs seeds `base_seed, base_seed + 1, ...` until every sometimes-assertion was true at
    /// least once, at most `max` of them (`u64::MAX` for no limit but the seeds).
    ///
    /// The report holds exactly the shortest such prefix of seeds, whatever the number of
    /// threads (iterations started past it are discarded).
    pub fn until_all_sometimes_reached(mut self, max: u64) -> Self {
        self.plan = SeedPlan::UntilCovered(max);
        self
    }

    /// The network configuration of every iteration (default: calm).
    pub fn network_config(mut self, config: NetworkConfig) -> Self {
        self.network = Arc::new(move |_| config.clone());
        self
    }

    /// The network configuration of each iteration, decided from its seed (calm in some,
    /// hostile in others, say). An invalid configuration fails that iteration.
    pub fn network_config_fn(
        mut self,
        f: impl Fn(u64) -> NetworkConfig + Send + Sync + 'static,
    ) -> Self {
        self.network = Arc::new(f);
        self
    }

    /// The virtual time an iteration may reach (default one hour); beyond it the iteration
    /// fails with [`SimError::TimeBudgetExceeded`](crate::SimError::TimeBudgetExceeded).
    pub fn time_budget(mut self, budget: Duration) -> Self {
        self.time_budget = budget;
        self
    }

    /// Worker threads (default: available parallelism). With 1 the iterations run on the
    /// calling thread. Results do not depend on it. 0 is refused when the campaign runs
    /// ([`CampaignConfigError::ZeroThreads`]); more than the seeds, or than 256, start only
    /// that many; a thread the system refuses to start is one fewer (with none, the calling
    /// thread runs them all).
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads;
        self
    }

    /// Runs only this part of the seeds (see [`Partition`]): `n` processes, each given
    /// another `k/n`, run the whole campaign between them, and their
    /// [shards](SimulationReport::to_shard_text) merge into it. The environment can set it
    /// too (`MOONPOOL_PARTITION=k/n`, or `JOB_COMPLETION_INDEX` with `MOONPOOL_PARTITIONS`;
    /// see [`Partition::from_env`]), but not both.
    pub fn partition(mut self, partition: Partition) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Sometimes-assertions that must be reached even if no iteration ever checks them.
    pub fn declare_sometimes(mut self, names: &[&str]) -> Self {
        self.declared
            .extend(names.iter().map(|name| name.to_string()));
        self
    }

    /// Calls `f` with the campaign's progress at most every two seconds of wall time, and
    /// once at the end, on the calling thread.
    pub fn on_progress(mut self, f: impl Fn(&Progress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(f));
        self
    }

    /// Whether `MOONPOOL_SEED` / `MOONPOOL_SEEDS` override the seeds (default true).
    pub fn seed_from_env(mut self, enabled: bool) -> Self {
        self.seed_from_env = enabled;
        self
    }

    /// The command shown after `MOONPOOL_SEED=<seed>` in replay lines, e.g.
    /// `"cargo run --release --example ping_pong --"`.
    ///
    /// The default, inside `cargo test`, names the test target and the test so the line works
    /// when pasted: `cargo test --test harness my_campaign -- --exact --include-ignored`
    /// (`--lib` for the crate's unit tests, `--release` when run in release). In any other
    /// program it is the command line that started it (`./target/debug/my_sim --fast`),
    /// which replays the seed if the program lets `MOONPOOL_SEED` choose its seeds (as
    /// [`seed_from_env`](Self::seed_from_env) does by default); set a hint where its flags
    /// choose seeds too.
    pub fn replay_hint(mut self, hint: impl Into<String>) -> Self {
        self.replay_hint = hint.into();
        self
    }

    /// Whether panics caught in workloads stay silent (default true: the report carries their
    /// message and location). Only this campaign's threads are affected.
    pub fn quiet_panics(mut self, quiet: bool) -> Self {
        self.quiet_panics = quiet;
        self
    }

    /// Whether a sometimes-assertion never reached fails the campaign (default true; a
    /// `MOONPOOL_SEED` replay never requires it). Turn it off to replay chosen seeds.
    pub fn require_coverage(mut self, required: bool) -> Self {
        self.require_coverage = required;
        self
    }

    /// Whether [`buggify!`](crate::buggify!) sites may fire in the iterations (default on).
    pub fn buggify(mut self, enabled: bool) -> Self {
        self.buggify = enabled;
        self
    }

    /// Reboots workloads at random during each iteration (off by default): see
    /// [`Attrition`]. Workloads run as simulated processes either way; a rebooted one starts
    /// over from its function, on the same IP.
    pub fn attrition(mut self, attrition: Attrition) -> Self {
        self.attrition = Some(attrition);
        self
    }

    /// Requires every fault kind of `kinds` to be injected in at least one iteration: each
    /// becomes a sometimes-assertion named `fault_<kind>` (`fault_clog`, ...), checked at the
    /// end of every iteration, so a campaign that never exercised a fault fails its coverage.
    pub fn expect_faults(mut self, kinds: &[FaultKind]) -> Self {
        for kind in kinds {
            self.declared.insert(format!("fault_{kind}"));
            self.expected_faults.push(*kind);
        }
        self
    }

    /// Runs a sample of the seeds twice and fails each whose two runs differ (default
    /// [`DeterminismCheck::Off`]); the failure (workload `(determinism)`) names the first
    /// step where the runs diverge. `MOONPOOL_CHECK_DETERMINISM` overrides it (a value that
    /// does not parse is a [`CampaignConfigError`] from [`try_run`](Self::try_run)).
    ///
    /// # Examples
    /// ```
    /// use std::cell::Cell;
    /// use std::time::Duration;
    /// use moonpool::testing::{DeterminismCheck, SimulationBuilder};
    /// use moonpool::{Clock, NetworkProvider};
    ///
    /// thread_local!(static RUNS: Cell<u64> = const { Cell::new(0) });
    /// let report = SimulationBuilder::new()
    ///     .register_workload("leaky", |_seed, provider, _topology| async move {
    ///         // State that outlives the iteration: the second run sleeps longer.
    ///         let runs = RUNS.with(|r| r.replace(r.get() + 1));
    ///         provider.clock().sleep(Duration::from_millis(1 + runs)).await;
    ///         Ok::<(), String>(())
    ///     })
    ///     .seed_from_env(false)
    ///     .threads(1)
    ///     .check_determinism(DeterminismCheck::All)
    ///     .run();
    /// assert_eq!(report.failures[0].workload, "(determinism)");
    /// assert!(report.failures[0].error.contains("diverge"), "{report}");
    /// ```
    pub fn check_determinism(mut self, check: DeterminismCheck) -> Self {
        self.determinism = check;
        self
    }

    /// Explores from discoveries (see [`Exploration`]): when a sometimes-assertion is true for
    /// the first time in the campaign, or a watermark beats the campaign's best, later
    /// iterations replay that run up to that moment (the same seed, the same world RNG draws)
    /// and draw fresh randomness after it. The children run on top of the campaign's seeds;
    /// the report's [`exploration`](SimulationReport::exploration) holds the tree, and a
    /// failed child's replay line reproduces it (`MOONPOOL_SEED=<seed>
    /// MOONPOOL_BRANCH=<switches>`).
    ///
    /// The campaign runs in waves of 32 iterations, children first, so it is the same on
    /// any number of threads. Shards (`MOONPOOL_SEEDS`) explore from their own discoveries
    /// and merge as usual; a one-seed replay (`MOONPOOL_SEED`) does not explore.
    ///
    /// # Examples
    /// ```
    /// use moonpool::testing::{Exploration, SimulationBuilder};
    /// use moonpool::sometimes_assert;
    ///
    /// let report = SimulationBuilder::new()
    ///     .register_workload("w", |_seed, _net, topology| async move {
    ///         let world = topology.world().try_upgrade().map_err(|e| e.to_string())?;
    ///         let rare = world.random_bool(0.1);
    ///         sometimes_assert!("rare", rare);
    ///         Ok::<(), String>(())
    ///     })
    ///     .iterations(40)
    ///     .seed_from_env(false)
    ///     .explore(Exploration { children: 4, ..Exploration::default() })
    ///     .run();
    /// assert_eq!(report.exploration.discoveries[0].assertion, "rare");
    /// assert_eq!(report.exploration.branches.len(), 4);
    /// assert_eq!(report.iteration_count(), 44);
    /// ```
    pub fn explore(mut self, config: Exploration) -> Self {
        self.exploration = Some(config);
        self
    }

    /// Runs the campaign and returns its report (which may record failures), or says why it
    /// cannot start.
    ///
    /// # Errors
    /// [`CampaignConfigError`]: `MOONPOOL_SEED`, `MOONPOOL_SEEDS`,
    /// `MOONPOOL_CHECK_DETERMINISM` or `MOONPOOL_BRANCH` does not parse, both seed variables
    /// are set, no seed to run (zero iterations, an empty range, an empty partition), zero
    /// threads, a bad partition, or an invalid attrition. Nothing has run then.
    ///
    /// # Examples
    /// ```
    /// use moonpool::testing::{CampaignConfigError, SimulationBuilder};
    ///
    /// let err = SimulationBuilder::new().seed_from_env(false).iterations(0).try_run();
    /// assert!(matches!(err, Err(CampaignConfigError::NoSeeds { .. })));
    /// ```
    pub fn try_run(&self) -> Result<SimulationReport, CampaignConfigError> {
        let resolved = seeds::resolve(self)?;
        if let Some(attrition) = &self.attrition {
            let names: Vec<&str> = self.workloads.iter().map(|(n, _)| n.as_str()).collect();
            attrition.validate(&names)?;
        }
        let check = self.determinism.or_env()?;
        // A one-seed replay may be a child of exploration.
        let branches = match (resolved.from_plan, self.seed_from_env) {
            (false, true) => explore::branches_from_env()?,
            (true, true) => {
                explore::refuse_branch_without_seed()?;
                None
            }
            (_, false) => None,
        };
        Ok(runner::run(self, resolved, check, branches))
    }

    /// Runs the campaign and returns its report (which may record failures).
    ///
    /// # Panics
    /// With the [`CampaignConfigError`]'s message if the campaign cannot start (see
    /// [`try_run`](Self::try_run)).
    pub fn run(&self) -> SimulationReport {
        self.try_run()
            .unwrap_or_else(|error| panic!("the campaign cannot start: {error}"))
    }

    /// Runs the campaign; `Err` if it failed.
    ///
    /// # Errors
    /// [`CampaignError`] if an iteration failed or a sometimes-assertion was never reached.
    ///
    /// # Panics
    /// As [`run`](Self::run).
    pub fn run_checked(&self) -> Result<SimulationReport, CampaignError> {
        self.run().into_result()
    }
}

/// `cargo test [--release] (--lib | --test BIN) TEST -- --exact --include-ignored`, from the
/// running test binary (`target/<profile>/deps/<name>-<hash>`, with `CARGO_PKG_NAME` set by
/// cargo) and the test thread's name; outside a test binary, the command line that started
/// the program (its arguments quoted for a POSIX shell).
fn default_replay_hint() -> String {
    let exe = std::env::current_exe().ok();
    let in_test_binary = exe.as_deref().is_some_and(|exe| {
        exe.parent()
            .and_then(|dir| dir.file_name())
            .is_some_and(|dir| dir == "deps")
    });
    if !in_test_binary {
        let args: Vec<String> = std::env::args().map(|arg| shell_word(&arg)).collect();
        if !args.is_empty() {
            return args.join(" ");
        }
    }
    cargo_test_hint(exe.as_deref())
}

/// `word` as one POSIX shell word: as is when it is plain, else single-quoted.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// The `cargo test` command of the running test binary `exe` (see [`default_replay_hint`]).
fn cargo_test_hint(exe: Option<&std::path::Path>) -> String {
    let test = std::thread::current()
        .name()
        .filter(|name| *name != "main")
        .map(str::to_string);
    let target = exe.and_then(|exe| {
        let stem = exe.file_stem()?.to_str()?;
        let (name, hash) = stem.rsplit_once('-')?;
        let in_deps = exe.parent()?.file_name()? == "deps";
        (in_deps && hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| name.to_string())
    });
    let release = exe.is_some_and(|exe| exe.components().any(|c| c.as_os_str() == "release"));
    let mut hint = String::from("cargo test");
    if release {
        hint.push_str(" --release");
    }
    if let Some(name) = &target {
        let package = std::env::var("CARGO_PKG_NAME").map(|p| p.replace('-', "_"));
        if package.as_deref() == Ok(name.as_str()) {
            hint.push_str(" --lib");
        } else {
            hint.push_str(&format!(" --test {name}"));
        }
    }
    if let Some(test) = test {
        hint.push_str(&format!(" {test} -- --exact --include-ignored"));
    }
    hint
}

#[cfg(test)]
mod tests {
    use super::shell_word;

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(shell_word("./target/debug/sim"), "./target/debug/sim");
        assert_eq!(shell_word("--seeds=1,2"), "--seeds=1,2");
        assert_eq!(shell_word("two words"), "'two words'");
        assert_eq!(shell_word("it's"), "'it'\\''s'");
        assert_eq!(shell_word(""), "''");
    }
}
