//! [`Ledger`]: what each client handed its Peer and what the server received, per
//! iteration, and the campaign's totals of lost, duplicated and reordered requests.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};

/// Requests the server saw, judged against what the clients sent: the campaign's totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Delivered {
    /// Requests a client's `send` accepted.
    pub sent: u64,
    /// Distinct requests the server received.
    pub received: u64,
    /// Accepted requests the server never received (in unreliable mode including those the
    /// queue dropped or `close` discarded).
    pub lost: u64,
    /// Requests the server received more than once.
    pub duplicated: u64,
    /// Requests that arrived after a higher-numbered one of the same client.
    pub reordered: u64,
    /// Requests the clients' overflow policy dropped (counted in `lost` too).
    pub dropped: u64,
}

/// One client's side of an iteration, reported when it is done.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct ClientReport {
    /// Requests `send` accepted.
    pub sent: u64,
    /// The Peer's `messages_written`, `messages_possibly_lost` and `messages_dropped`.
    pub written: u64,
    pub possibly_lost: u64,
    pub dropped: u64,
    /// The Peer's `messages_dropped` before `close`: what the overflow policy dropped.
    pub overflow_dropped: u64,
    /// Reliable modes: `wait_acknowledged` succeeded at the end.
    pub acknowledged: bool,
    /// Exactly-once: requests a server restart handed back that the client sent again.
    pub resent_after_restart: u64,
}

/// What the server received from one client, in arrival order.
#[derive(Debug, Default)]
struct Record {
    arrivals: Vec<u64>,
    restart_noted: bool,
    client: Option<ClientReport>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Per iteration (its seed), per client: looked up by `&str`, so recording an arrival
    /// allocates nothing once the client has a record.
    open: BTreeMap<u64, BTreeMap<String, Record>>,
    totals: Delivered,
}

impl Inner {
    fn record(&mut self, seed: u64, client: &str) -> &mut Record {
        let clients = self.open.entry(seed).or_default();
        if !clients.contains_key(client) {
            clients.insert(client.to_string(), Record::default());
        }
        clients.get_mut(client).expect("inserted above")
    }
}

/// Shared by the workloads of a campaign (every thread): the server records arrivals, each
/// client its report, and the server judges them at the end of the iteration.
#[derive(Debug, Clone, Default)]
pub struct Ledger(Arc<Mutex<Inner>>);

/// One client's requests of one iteration, judged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Judged {
    pub delivered: Delivered,
    pub client: ClientReport,
}

impl Ledger {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The totals over every iteration judged so far.
    pub fn totals(&self) -> Delivered {
        self.lock().totals
    }

    pub(super) fn arrived(&self, seed: u64, client: &str, n: u64) {
        self.lock().record(seed, client).arrivals.push(n);
    }

    /// `client` was told the server restarted (and may send requests again, out of order).
    pub(super) fn note_restart(&self, seed: u64, client: &str) {
        self.lock().record(seed, client).restart_noted = true;
    }

    /// True once [`note_restart`](Self::note_restart) was called for `client` in `seed`.
    pub(super) fn restart_noted(&self, seed: u64, client: &str) -> bool {
        self.lock()
            .open
            .get(&seed)
            .and_then(|clients| clients.get(client))
            .is_some_and(|record| record.restart_noted)
    }

    pub(super) fn client_done(&self, seed: u64, client: &str, report: ClientReport) {
        self.lock().record(seed, client).client = Some(report);
    }

    /// Judges and forgets every client of iteration `seed` that reported; adds them to the
    /// totals.
    pub(super) fn judge(&self, seed: u64) -> Vec<(String, Judged)> {
        let mut inner = self.lock();
        let clients = inner.open.remove(&seed).unwrap_or_default();
        let mut out = Vec::new();
        for (name, record) in clients {
            let Some(client) = record.client else {
                continue;
            };
            let delivered = count(&record.arrivals, client.sent);
            let totals = &mut inner.totals;
            totals.sent += delivered.sent;
            totals.received += delivered.received;
            totals.lost += delivered.lost;
            totals.duplicated += delivered.duplicated;
            totals.reordered += delivered.reordered;
            totals.dropped += client.overflow_dropped;
            out.push((name, Judged { delivered, client }));
        }
        out
    }
}

/// Counts arrivals against `sent` accepted requests.
fn count(arrivals: &[u64], sent: u64) -> Delivered {
    let mut seen = BTreeSet::new();
    let mut highest = None;
    let mut delivered = Delivered {
        sent,
        ..Delivered::default()
    };
    for &n in arrivals {
        if !seen.insert(n) {
            delivered.duplicated += 1;
            continue;
        }
        if highest.is_some_and(|h| n < h) {
            delivered.reordered += 1;
        }
        highest = highest.max(Some(n));
    }
    delivered.received = seen.len() as u64;
    delivered.lost = sent.saturating_sub(delivered.received);
    delivered
}
