//! The world's fault controls: rules, partitions by hand, clogs, slow links, and the record
//! of every fault injected.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use super::error::SimError;
use super::fault::{BuggifySite, FaultEvent, FaultKind, NetOp, Verdict};
use super::world::{SimWorld, WeakSimWorld};

/// The world as the source of `buggify!` while it runs.
pub(crate) struct BuggifySource(pub(crate) WeakSimWorld);

impl crate::buggify::Source for BuggifySource {
    fn fire(&self, site: &crate::site::Site, probability: f64) -> bool {
        let Some(world) = self.0.upgrade() else {
            return false;
        };
        // A site reached while the world's state is borrowed (inside the network) stays off.
        let Ok(mut state) = world.shared.state.try_borrow_mut() else {
            return false;
        };
        state.buggify(site, probability)
    }
}

fn ips(list: &[&str]) -> Result<Vec<IpAddr>, SimError> {
    list.iter()
        .map(|ip| {
            ip.parse().map_err(|_| SimError::InvalidConfig {
                reason: format!("{ip:?} is not an IP address"),
            })
        })
        .collect()
}

impl SimWorld {
    /// Adds a fault rule: it sees every [`NetOp`] before the config's odds do, and decides it
    /// by returning `Some(verdict)` (a connect so decided starts no random partition either:
    /// a rule returning [`Verdict::Pass`] for a host's operations calms its network). Rules
    /// run in the order they were added; the first that decides wins. A rule runs inside the
    /// network and must not call the world.
    ///
    /// # Examples
    /// Drop every connect from 10.0.0.3 for the first 5 s (its SYNs are lost and retried):
    /// ```
    /// use std::time::Duration;
    /// use moonpool::sim::{NetOp, Verdict};
    /// use moonpool::{Listener, NetworkProvider, SimWorld};
    ///
    /// let world = SimWorld::new(1);
    /// world.add_rule(|op| match *op {
    ///     NetOp::Connect { from, now, .. }
    ///         if from.to_string() == "10.0.0.3" && now < Duration::from_secs(5) =>
    ///     {
    ///         Some(Verdict::Drop)
    ///     }
    ///     _ => None,
    /// });
    /// let (server, client) = (world.provider("10.0.0.1"), world.provider("10.0.0.3"));
    /// let listener = world.block_on(async move { server.bind("10.0.0.1:80").await }).unwrap();
    /// let stream = world.block_on(async move { client.connect("10.0.0.1:80").await }).unwrap();
    /// assert!(stream.is_ok());
    /// // SYN retransmissions at 1, 3 and 7 s: the one at 7 s gets through.
    /// assert!(world.now() >= Duration::from_secs(7));
    /// # drop(listener);
    /// ```
    pub fn add_rule(&self, rule: impl FnMut(&NetOp) -> Option<Verdict> + 'static) {
        self.with_state(|s| s.faults.rules.push(Box::new(rule)));
    }

    /// Calms host `ip` for the rest of the run: every connect, write and read with it at
    /// either end passes, untouched by the config's odds, and its connects start no random
    /// partition. Rules ([`add_rule`](Self::add_rule)) still decide first; partitions,
    /// clogs and hosts down already in place stay until they end (see [`heal`](Self::heal)).
    /// This is the last phase of a FoundationDB-style campaign: heal, then require progress.
    /// One lookup per operation, however many hosts are calm.
    ///
    /// # Errors
    /// [`SimError::InvalidConfig`] if `ip` does not parse.
    ///
    /// # Examples
    /// ```
    /// use moonpool::{NetworkConfig, SimWorld};
    ///
    /// let world = SimWorld::with_config(1, NetworkConfig::hostile()).unwrap();
    /// world.calm_host("10.0.0.2").unwrap();
    /// assert!(world.calm_host("not an ip").is_err());
    /// ```
    pub fn calm_host(&self, ip: &str) -> Result<(), SimError> {
        let ip = ips(&[ip])?[0];
        self.with_state(|s| s.faults.calm_hosts.insert(ip));
        Ok(())
    }

    /// Cuts all traffic between every host of `a` and every host of `b`, both ways, until
    /// [`heal`](Self::heal). Connects across it get no answer (they time out); established
    /// connections stall, and their senders give up after `retransmission_timeout`.
    ///
    /// # Errors
    /// [`SimError::InvalidConfig`] if an IP does not parse.
    pub fn partition(&self, a: &[&str], b: &[&str]) -> Result<(), SimError> {
        let (a, b) = (ips(a)?, ips(b)?);
        self.with_state(|s| s.partition(&a, &b, false, None));
        Ok(())
    }

    /// Cuts traffic from every host of `from` to every host of `to` (not back) until
    /// [`heal`](Self::heal).
    ///
    /// # Errors
    /// [`SimError::InvalidConfig`] if an IP does not parse.
    pub fn partition_one_way(&self, from: &[&str], to: &[&str]) -> Result<(), SimError> {
        let (from, to) = (ips(from)?, ips(to)?);
        self.with_state(|s| s.partition(&from, &to, true, None));
        Ok(())
    }

    /// Ends every partition; what waited is delivered, in order.
    pub fn heal(&self) {
        self.with_state(|s| s.heal(true));
    }

    /// Clogs all traffic from `from` to `to` for `duration`: nothing is delivered meanwhile,
    /// then everything is, in order; writers see backpressure.
    ///
    /// # Errors
    /// [`SimError::InvalidConfig`] if an IP does not parse.
    pub fn clog(&self, from: &str, to: &str, duration: Duration) -> Result<(), SimError> {
        let pair = ips(&[from, to])?;
        self.with_state(|s| {
            let until = s.now.saturating_add(duration);
            s.clog(None, pair[0], pair[1], until, true);
        });
        Ok(())
    }

    /// Gives the link between hosts `a` and `b` a fixed extra latency (both ways).
    ///
    /// # Errors
    /// [`SimError::InvalidConfig`] if an IP does not parse.
    pub fn set_link_latency(&self, a: &str, b: &str, extra: Duration) -> Result<(), SimError> {
        let pair = ips(&[a, b])?;
        self.with_state(|s| s.set_link_latency(pair[0], pair[1], extra));
        Ok(())
    }

    /// Turns [`buggify!`](crate::buggify!) on or off in this world: off in a new world (so a
    /// plain world behaves exactly as configured), on in
    /// [`SimulationBuilder`](crate::testing::SimulationBuilder) campaigns unless turned off.
    pub fn set_buggify(&self, enabled: bool) {
        self.with_state(|s| s.faults.buggify_on = enabled);
    }

    /// How many faults of each kind were injected so far.
    pub fn fault_counts(&self) -> BTreeMap<FaultKind, u64> {
        self.with_state(|s| s.faults.counts())
    }

    /// The [`buggify!`](crate::buggify!) sites the code reached so far in this world, by
    /// name (`file:line:column`), each with its draw and how many times it fired.
    ///
    /// # Examples
    /// ```
    /// use moonpool::SimWorld;
    ///
    /// let world = SimWorld::new(7);
    /// world.set_buggify(true);
    /// let fired = world.block_on(async { (0..100).filter(|_| moonpool::buggify!(1.0)).count() });
    /// let fired = fired.unwrap();
    /// let sites = world.buggify_sites();
    /// assert_eq!(sites.len(), 1);
    /// let site = sites.values().next().unwrap();
    /// assert_eq!(site.fired, fired as u64);
    /// assert_eq!(site.fired, if site.enabled { 100 } else { 0 });
    /// ```
    pub fn buggify_sites(&self) -> BTreeMap<&'static str, BuggifySite> {
        self.with_state(|s| s.faults.buggify_sites())
    }

    /// The last faults injected (up to 256), oldest first: a failing seed's story.
    pub fn fault_timeline(&self) -> Vec<FaultEvent> {
        self.with_state(|s| s.faults.timeline())
    }
}
