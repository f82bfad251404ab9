//! The one decision point for faults, their state (clogs, partitions, slow links, hosts that
//! are down) and the timeline that records every fault injected.
//!
//! Every operation the network carries out asks [`WorldState::decide`] for a [`Verdict`]:
//! first the user's rules ([`SimWorld::add_rule`](crate::SimWorld::add_rule)), in the order
//! they were added, then the calm hosts ([`SimWorld::calm_host`](crate::SimWorld::calm_host)),
//! then the odds of the world's [`NetworkConfig`](super::NetworkConfig).
//! Whatever is injected is written to the timeline ([`FaultEvent`]).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::config::TailShape;
use super::events::Event;
use super::slab::{FixedHashMap, FixedHashSet};
use super::world::WorldState;
use crate::site::Site;

/// An operation the simulated network is about to carry out, as a fault rule sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NetOp {
    /// A connect from host `from` to `to` (its SYN, about to reach the destination).
    Connect {
        /// The connecting host.
        from: IpAddr,
        /// The address connected to.
        to: SocketAddr,
        /// Virtual time now.
        now: Duration,
    },
    /// A write of `len` bytes on connection `conn`, from host `from` to host `to`.
    Send {
        /// The connection's id (as in [`FaultEvent::conn`]).
        conn: u64,
        /// The writing host.
        from: IpAddr,
        /// The host the bytes travel to.
        to: IpAddr,
        /// Bytes the write would take.
        len: usize,
        /// Virtual time now.
        now: Duration,
    },
    /// A read of up to `len` readable bytes on connection `conn`, by host `host`.
    Receive {
        /// The connection's id.
        conn: u64,
        /// The reading host.
        host: IpAddr,
        /// The host at the other end, which wrote the bytes.
        from: IpAddr,
        /// Bytes the read would return.
        len: usize,
        /// Virtual time now.
        now: Duration,
    },
}

/// What the network does with a [`NetOp`].
///
/// A verdict that does not apply to an operation (a `Refuse` for a read, say) lets it pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// Carry it out normally.
    Pass,
    /// A connect is answered, or written bytes arrive, this much later.
    Delay(Duration),
    /// A connect is not answered, or written bytes do not arrive, before this virtual time.
    HoldUntil(Duration),
    /// A connect's SYN is lost (it is retried, as TCP does, until `connect_timeout`); for a
    /// write, the segment is lost and retransmitted: it arrives one minimum RTO (200 ms) late.
    Drop,
    /// The connection is reset (a connect is refused).
    Reset,
    /// A connect is refused.
    Refuse,
    /// One bit of the written bytes flips in flight.
    Corrupt,
    /// A read returns, or a write takes, at most this many bytes (at least one).
    Shorten(usize),
}

/// A user's fault rule: `Some(verdict)` decides the operation, `None` leaves it to the next
/// rule and then to the config. It runs inside the network: it must not call the world.
pub type Rule = Box<dyn FnMut(&NetOp) -> Option<Verdict>>;

/// The kinds of fault the timeline records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum FaultKind {
    /// A connect refused although something listens.
    Refused,
    /// A connect answered late.
    ConnectStall,
    /// A SYN lost (a partition, a host down, or a rule).
    SynLost,
    /// A connect that got no answer within `connect_timeout`.
    ConnectTimeout,
    /// A connection reset by the network.
    Reset,
    /// A connection, or all traffic between two hosts, clogged.
    Clog,
    /// A partition started.
    Partition,
    /// A partition healed.
    Heal,
    /// A read shortened.
    ShortRead,
    /// A write shortened.
    ShortWrite,
    /// A bit flipped in flight.
    Corrupt,
    /// A write delayed by the latency tail, or a lost segment retransmitted.
    SlowSegment,
    /// A pair of hosts found to be a slow link.
    SlowLink,
    /// A sender gave up retransmitting into an unreachable peer (`TimedOut`).
    RetransmitTimeout,
    /// A process or host crashed.
    Crash,
    /// A process restarted.
    Restart,
    /// A `buggify!` site fired.
    Buggify,
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::Refused => "refused",
            Self::ConnectStall => "connect_stall",
            Self::SynLost => "syn_lost",
            Self::ConnectTimeout => "connect_timeout",
            Self::Reset => "reset",
            Self::Clog => "clog",
            Self::Partition => "partition",
            Self::Heal => "heal",
            Self::ShortRead => "short_read",
            Self::ShortWrite => "short_write",
            Self::Corrupt => "corrupt",
            Self::SlowSegment => "slow_segment",
            Self::SlowLink => "slow_link",
            Self::RetransmitTimeout => "retransmit_timeout",
            Self::Crash => "crash",
            Self::Restart => "restart",
            Self::Buggify => "buggify",
        };
        f.write_str(name)
    }
}

/// One [`buggify!`](crate::buggify!) site as a world saw it: whether the world's once-a-run
/// draw enabled it, and how many times it fired.
///
/// A site is known to a world only once the code reaches it, so a site never reached is
/// absent from [`SimWorld::buggify_sites`](crate::SimWorld::buggify_sites), not listed with
/// zeros.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BuggifySite {
    /// Whether the site may fire in this run (one site in four is enabled).
    pub enabled: bool,
    /// How many times it fired.
    pub fired: u64,
}

/// One injected fault: when, what, between which hosts, on which connection.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FaultEvent {
    /// Virtual time of the fault.
    pub time: Duration,
    /// What happened.
    pub kind: FaultKind,
    /// The host it came from (or happened to).
    pub from: Option<IpAddr>,
    /// The host it was headed to.
    pub to: Option<IpAddr>,
    /// The connection, if one was involved.
    pub conn: Option<u64>,
    /// A few words more (a duration, a bit, a site).
    pub detail: String,
}

impl fmt::Display for FaultEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:>12.6}s {}", self.time.as_secs_f64(), self.kind)?;
        match (self.from, self.to) {
            (Some(a), Some(b)) => write!(f, " {a} -> {b}")?,
            (Some(a), None) => write!(f, " {a}")?,
            _ => {}
        }
        if let Some(conn) = self.conn {
            write!(f, " conn {conn}")?;
        }
        if !self.detail.is_empty() {
            write!(f, " ({})", self.detail)?;
        }
        Ok(())
    }
}

/// Faults kept in full for the timeline; older ones only count.
const TIMELINE_LEN: usize = 256;

/// A fault's detail as recorded: its words are formatted only when the timeline is read
/// (most faults of a campaign are never shown).
#[derive(Debug, Clone)]
pub(crate) enum Detail {
    Text(&'static str),
    Owned(String),
    /// `"{n} bytes"`.
    Bytes(usize),
    /// `"{d:?}"`.
    Took(Duration),
    /// `"after {d:?}"`.
    After(Duration),
    /// `"+{d:?}"`.
    Plus(Duration),
    /// `"bit {n}"`.
    Bit(u64),
}

impl fmt::Display for Detail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Detail::Text(text) => f.write_str(text),
            Detail::Owned(text) => f.write_str(text),
            Detail::Bytes(n) => write!(f, "{n} bytes"),
            Detail::Took(d) => write!(f, "{d:?}"),
            Detail::After(d) => write!(f, "after {d:?}"),
            Detail::Plus(d) => write!(f, "+{d:?}"),
            Detail::Bit(n) => write!(f, "bit {n}"),
        }
    }
}

impl From<&'static str> for Detail {
    fn from(text: &'static str) -> Self {
        Detail::Text(text)
    }
}

impl From<String> for Detail {
    fn from(text: String) -> Self {
        Detail::Owned(text)
    }
}

/// A timeline entry: a [`FaultEvent`] whose detail is not formatted yet.
#[derive(Debug, Clone)]
struct Recorded {
    time: Duration,
    kind: FaultKind,
    from: Option<IpAddr>,
    to: Option<IpAddr>,
    conn: Option<u64>,
    detail: Detail,
}

/// Fault state of a world: links, partitions, hosts down, rules and the timeline.
#[derive(Default)]
pub(crate) struct Faults {
    pub(crate) rules: Vec<Rule>,
    /// Hosts whose every operation passes (after the rules): see `SimWorld::calm_host`.
    /// Probed on every operation once one host is calm, never iterated.
    pub(crate) calm_hosts: FixedHashSet<IpAddr>,
    /// Slow-link extra latency per unordered host pair, drawn once.
    slow_links: BTreeMap<(IpAddr, IpAddr), Duration>,
    /// Bumped whenever a link's latency is set by hand, so connections that cached theirs
    /// look it up again.
    links_generation: u64,
    /// Clogged until, per directed host pair and per connection: looked up on every
    /// delivery, never iterated.
    pair_clogs: FixedHashMap<(IpAddr, IpAddr), Duration>,
    conn_clogs: FixedHashMap<u64, Duration>,
    /// Directed partitions: traffic from the first host to the second is lost until the time
    /// (`None`: until healed by hand).
    partitions: BTreeMap<(IpAddr, IpAddr), Option<Duration>>,
    pub(crate) hosts_down: BTreeSet<IpAddr>,
    /// Deliveries waiting for a host pair to be reachable: `(conn, to side)` per directed pair.
    parked: BTreeMap<(IpAddr, IpAddr), Vec<(u64, usize)>>,
    timeline: VecDeque<Recorded>,
    counts: BTreeMap<FaultKind, u64>,
    /// Whether the config's odds can fault a send, a receive, a connect (all zero: skip them).
    odds: [bool; 3],
    /// Whether buggify sites may fire in this world, and each site's draw.
    pub(crate) buggify_on: bool,
    buggify_sites: BTreeMap<&'static str, BuggifySite>,
    /// The same draws by site index ([`Site`]): one slot per site instead of a search per
    /// call. Only a cache: two sites of one name are found by name in `buggify_sites` and
    /// drawn once.
    buggify_by_index: Vec<Option<bool>>,
}

impl fmt::Debug for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Faults")
            .field("rules", &self.rules.len())
            .field("partitions", &self.partitions)
            .field("hosts_down", &self.hosts_down)
            .field("counts", &self.counts)
            .finish_non_exhaustive()
    }
}

impl Faults {
    /// The fault state of a world with `config`.
    pub(crate) fn for_config(config: &super::NetworkConfig) -> Self {
        let c = config;
        let send = [
            c.reset_probability,
            c.clog_probability,
            c.corrupt_probability,
            c.short_io_probability,
            c.latency_tail.probability,
        ];
        let receive = [c.reset_probability, c.short_io_probability];
        let connect = [c.connect_failure_probability, c.connect_stall_probability];
        let any = |odds: &[f64]| odds.iter().any(|p| *p > 0.0);
        Self {
            odds: [any(&send), any(&receive), any(&connect)],
            ..Self::default()
        }
    }

    /// Faults injected so far, per kind.
    pub(crate) fn counts(&self) -> BTreeMap<FaultKind, u64> {
        self.counts.clone()
    }

    /// The `buggify!` sites reached so far, by name.
    pub(crate) fn buggify_sites(&self) -> BTreeMap<&'static str, BuggifySite> {
        self.buggify_sites.clone()
    }

    /// The last faults injected, oldest first (at most 256).
    pub(crate) fn timeline(&self) -> Vec<FaultEvent> {
        self.timeline
            .iter()
            .map(|r| FaultEvent {
                time: r.time,
                kind: r.kind,
                from: r.from,
                to: r.to,
                conn: r.conn,
                detail: r.detail.to_string(),
            })
            .collect()
    }

    /// No clog, partition or host down anywhere: deliveries need no check.
    pub(crate) fn is_calm(&self) -> bool {
        self.pair_clogs.is_empty()
            && self.conn_clogs.is_empty()
            && self.partitions.is_empty()
            && self.hosts_down.is_empty()
    }

    /// The generation of the link latencies: see `Connection`'s cache of its link.
    pub(crate) fn links_generation(&self) -> u64 {
        self.links_generation
    }

    /// Whether links can have latencies of their own (slow links drawn or set).
    pub(crate) fn links_matter(&self, config: &super::NetworkConfig) -> bool {
        !self.slow_links.is_empty() || config.slow_link_probability > 0.0
    }

    /// Whether traffic from `from` can reach `to` at `now`.
    pub(crate) fn reachable(&self, from: IpAddr, to: IpAddr, now: Duration) -> bool {
        if from == to {
            return !self.hosts_down.contains(&to);
        }
        if self.hosts_down.contains(&to) {
            return false;
        }
        match self.partitions.get(&(from, to)) {
            Some(None) => false,
            Some(Some(until)) => *until <= now,
            None => true,
        }
    }

    /// Until when deliveries on `conn` from `from` to `to` are clogged (if later than `now`).
    pub(crate) fn clogged_until(
        &self,
        conn: u64,
        from: IpAddr,
        to: IpAddr,
        now: Duration,
    ) -> Option<Duration> {
        let pair = self.pair_clogs.get(&(from, to)).copied();
        let conn = self.conn_clogs.get(&conn).copied();
        pair.max(conn).filter(|until| *until > now)
    }

    pub(crate) fn park(&mut self, from: IpAddr, to: IpAddr, conn: u64, side: usize) {
        self.parked
            .entry((from, to))
            .or_default()
            .push((conn, side));
    }

    /// Takes the parked deliveries whose hosts can reach each other at `now`.
    pub(crate) fn unpark_reachable(&mut self, now: Duration) -> Vec<(u64, usize)> {
        let ready: Vec<_> = self
            .parked
            .keys()
            .copied()
            .filter(|(a, b)| self.reachable(*a, *b, now))
            .collect();
        ready
            .into_iter()
            .flat_map(|key| self.parked.remove(&key).unwrap_or_default())
            .collect()
    }
}

impl WorldState {
    /// Records an injected fault in the timeline and the counts.
    pub(crate) fn record_fault(
        &mut self,
        kind: FaultKind,
        from: Option<IpAddr>,
        to: Option<IpAddr>,
        conn: Option<u64>,
        detail: impl Into<Detail>,
    ) {
        let detail = detail.into();
        let faults = &mut self.faults;
        *faults.counts.entry(kind).or_insert(0) += 1;
        if faults.timeline.len() == TIMELINE_LEN {
            faults.timeline.pop_front();
        }
        faults.timeline.push_back(Recorded {
            time: self.now,
            kind,
            from,
            to,
            conn,
            detail,
        });
    }

    /// Whether buggify site `site` fires now: enabled once per run with probability 1/4,
    /// then firing with `probability` each time.
    pub(crate) fn buggify(&mut self, site: &Site, probability: f64) -> bool {
        if !self.faults.buggify_on {
            return false;
        }
        let index = site.index();
        let enabled = match self.faults.buggify_by_index.get(index).copied().flatten() {
            Some(enabled) => enabled,
            None => {
                let name = site.name();
                let enabled = match self.faults.buggify_sites.get(name) {
                    Some(site) => site.enabled,
                    None => {
                        let enabled = self.rng.chance(0.25);
                        let site = BuggifySite { enabled, fired: 0 };
                        self.faults.buggify_sites.insert(name, site);
                        enabled
                    }
                };
                let slots = &mut self.faults.buggify_by_index;
                if slots.len() <= index {
                    slots.resize(index + 1, None);
                }
                slots[index] = Some(enabled);
                enabled
            }
        };
        let fired = enabled && self.rng.chance(probability);
        if fired {
            if let Some(drawn) = self.faults.buggify_sites.get_mut(site.name()) {
                drawn.fired += 1;
            }
            self.record_fault(FaultKind::Buggify, None, None, None, site.name());
        }
        fired
    }

    /// The verdict for `op`: the first rule that decides it, else the config's odds.
    pub(crate) fn decide(&mut self, op: NetOp) -> Verdict {
        match self.ruled(&op) {
            Some(verdict) => verdict,
            None => self.by_odds(op),
        }
    }

    /// The verdict of the first rule that decides `op`, if one does; then `Pass` if `op`
    /// touches a calm host (one lookup per end, however many hosts are calm).
    pub(crate) fn ruled(&mut self, op: &NetOp) -> Option<Verdict> {
        if let Some(verdict) = self.faults.rules.iter_mut().find_map(|rule| rule(op)) {
            return Some(verdict);
        }
        let calm = &self.faults.calm_hosts;
        if calm.is_empty() {
            return None;
        }
        let (a, b) = match *op {
            NetOp::Connect { from, to, .. } => (from, to.ip()),
            NetOp::Send { from, to, .. } => (from, to),
            NetOp::Receive { host, from, .. } => (host, from),
        };
        (calm.contains(&a) || calm.contains(&b)).then_some(Verdict::Pass)
    }

    /// The verdict the config's odds draw for `op`.
    pub(crate) fn by_odds(&mut self, op: NetOp) -> Verdict {
        let kind = match op {
            NetOp::Send { .. } => 0,
            NetOp::Receive { .. } => 1,
            NetOp::Connect { .. } => 2,
        };
        if !self.faults.odds[kind] {
            return Verdict::Pass;
        }
        let c = &self.config;
        match op {
            NetOp::Connect { .. } => {
                let (refuse, stall) = (c.connect_failure_probability, c.connect_stall_probability);
                if self.rng.chance(refuse) {
                    Verdict::Refuse
                } else if self.rng.chance(stall) {
                    Verdict::Delay(self.config.connect_stall)
                } else {
                    Verdict::Pass
                }
            }
            NetOp::Send { len, .. } => {
                let (reset, clog, corrupt, short) = (
                    c.reset_probability,
                    c.clog_probability,
                    c.corrupt_probability,
                    c.short_io_probability,
                );
                let tail = c.latency_tail;
                if self.rng.chance(reset) {
                    Verdict::Reset
                } else if self.rng.chance(clog) {
                    let d = self.rng.latency(self.config.clog_duration);
                    Verdict::HoldUntil(self.now.saturating_add(d))
                } else if self.rng.chance(corrupt) {
                    Verdict::Corrupt
                } else if len > 1 && self.rng.chance(short) {
                    Verdict::Shorten(self.rng.range(1..len as u64) as usize)
                } else if self.rng.chance(tail.probability) {
                    Verdict::Delay(self.tail_delay(tail.shape))
                } else {
                    Verdict::Pass
                }
            }
            NetOp::Receive { len, .. } => {
                let (reset, short) = (c.reset_probability, c.short_io_probability);
                if self.rng.chance(reset) {
                    Verdict::Reset
                } else if len > 1 && self.rng.chance(short) {
                    Verdict::Shorten(self.rng.range(1..len as u64) as usize)
                } else {
                    Verdict::Pass
                }
            }
        }
    }

    fn tail_delay(&mut self, shape: TailShape) -> Duration {
        match shape {
            TailShape::Uniform(range) => self.rng.latency(range),
            TailShape::Exponential { mean, max } => {
                // Inverse transform: -mean * ln(U), U in (0, 1].
                let u = (self.rng.range(0..1 << 53) as f64 + 1.0) / (1u64 << 53) as f64;
                let secs = -mean.as_secs_f64() * u.ln();
                Duration::from_secs_f64(secs.min(max.as_secs_f64()))
            }
        }
    }

    /// The extra latency of the link between two hosts (drawn once per pair).
    pub(crate) fn link_latency(&mut self, a: IpAddr, b: IpAddr) -> Duration {
        if a == b || !self.faults.links_matter(&self.config) {
            return Duration::ZERO;
        }
        let key = (a.min(b), a.max(b));
        if let Some(extra) = self.faults.slow_links.get(&key) {
            return *extra;
        }
        let slow = self.rng.chance(self.config.slow_link_probability);
        let extra = if slow {
            self.config.slow_link_latency
        } else {
            Duration::ZERO
        };
        self.faults.slow_links.insert(key, extra);
        if slow {
            let detail = Detail::Plus(extra);
            self.record_fault(FaultKind::SlowLink, Some(key.0), Some(key.1), None, detail);
        }
        extra
    }

    /// Sets the extra latency of the link between `a` and `b` (both directions).
    pub(crate) fn set_link_latency(&mut self, a: IpAddr, b: IpAddr, extra: Duration) {
        self.faults.links_generation += 1;
        self.faults.slow_links.insert((a.min(b), a.max(b)), extra);
    }

    /// Clogs deliveries on `conn` (or between its hosts) until `until`.
    pub(crate) fn clog(
        &mut self,
        conn: Option<u64>,
        from: IpAddr,
        to: IpAddr,
        until: Duration,
        pair: bool,
    ) {
        let detail = format!(
            "{:?}{}",
            until.saturating_sub(self.now),
            if pair { ", all traffic" } else { "" }
        );
        match conn {
            Some(conn) if !pair => {
                let slot = self.faults.conn_clogs.entry(conn).or_default();
                *slot = (*slot).max(until);
            }
            _ => {
                let slot = self.faults.pair_clogs.entry((from, to)).or_default();
                *slot = (*slot).max(until);
            }
        }
        self.record_fault(FaultKind::Clog, Some(from), Some(to), conn, detail);
    }

    /// Cuts traffic from every host of `from` to every host of `to` (and back, unless
    /// `one_way`), until `until` or until healed.
    pub(crate) fn partition(
        &mut self,
        from: &[IpAddr],
        to: &[IpAddr],
        one_way: bool,
        until: Option<Duration>,
    ) {
        for &a in from {
            for &b in to {
                if a == b {
                    continue;
                }
                self.faults.partitions.insert((a, b), until);
                if !one_way {
                    self.faults.partitions.insert((b, a), until);
                }
                let detail = match (one_way, until) {
                    (true, Some(t)) => format!("one-way, {:?}", t.saturating_sub(self.now)),
                    (true, None) => "one-way, until healed".into(),
                    (false, Some(t)) => format!("{:?}", t.saturating_sub(self.now)),
                    (false, None) => "until healed".into(),
                };
                self.record_fault(FaultKind::Partition, Some(a), Some(b), None, detail);
            }
        }
        if let Some(until) = until {
            self.events.schedule(until, Event::Heal);
        }
    }

    /// Ends every partition (`None`) or those whose time is up, and sends what waited.
    pub(crate) fn heal(&mut self, all: bool) {
        let now = self.now;
        let ended: Vec<_> = self
            .faults
            .partitions
            .iter()
            .filter(|(_, until)| all || until.is_some_and(|t| t <= now))
            .map(|(key, _)| *key)
            .collect();
        for key in &ended {
            self.faults.partitions.remove(key);
        }
        if all && !ended.is_empty() {
            self.record_fault(FaultKind::Heal, None, None, None, "all partitions");
        } else if !ended.is_empty() {
            let (a, b) = ended[0];
            self.record_fault(
                FaultKind::Heal,
                Some(a),
                Some(b),
                None,
                format!("{} links", ended.len()),
            );
        }
        self.release_parked();
    }

    /// Schedules every parked delivery whose pair is reachable again.
    pub(crate) fn release_parked(&mut self) {
        let now = self.now;
        for (conn, to) in self.faults.unpark_reachable(now) {
            self.events.schedule(now, Event::Deliver { conn, to });
        }
    }

    /// Maybe starts a random partition between two hosts (the config's odds, per connect).
    pub(crate) fn maybe_partition(&mut self, a: IpAddr, b: IpAddr) {
        if a == b || !self.rng.chance(self.config.partition_probability) {
            return;
        }
        let d = self.rng.latency(self.config.partition_duration);
        let one_way = self.rng.chance(0.5);
        let until = Some(self.now.saturating_add(d));
        if one_way && self.rng.chance(0.5) {
            self.partition(&[b], &[a], true, until);
        } else {
            self.partition(&[a], &[b], one_way, until);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A detail reads as it did when it was formatted at the fault (replays and reports
    /// compare these words).
    #[test]
    fn a_detail_reads_as_the_words_it_stands_for() {
        let ms = Duration::from_millis(1500);
        let cases = [
            (Detail::Text("on read"), "on read"),
            (Detail::Owned("PowerOff".into()), "PowerOff"),
            (Detail::Bytes(17), "17 bytes"),
            (Detail::Took(ms), "1.5s"),
            (Detail::After(ms), "after 1.5s"),
            (Detail::Plus(ms), "+1.5s"),
            (Detail::Bit(9), "bit 9"),
        ];
        for (detail, words) in cases {
            assert_eq!(detail.to_string(), words);
        }
    }
}
