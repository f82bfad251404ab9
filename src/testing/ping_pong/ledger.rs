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

/// One iteration's records: by client, and the clients by name.
#[derive(Debug, Default)]
struct Iteration {
    records: Vec<Record>,
    by_name: BTreeMap<String, usize>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Per iteration (its key), per client: found by name once, then by [`ClientId`], so
    /// recording an arrival neither allocates nor compares names (with 10,000 clients the
    /// name search was a tenth of the server's time).
    open: BTreeMap<u64, Iteration>,
    totals: Delivered,
}

impl Inner {
    fn id(&mut self, key: u64, client: &str) -> ClientId {
        let iteration = self.open.entry(key).or_default();
        let index = match iteration.by_name.get(client) {
            Some(&index) => index,
            None => {
                iteration.records.push(Record::default());
                let index = iteration.records.len() - 1;
                iteration.by_name.insert(client.to_string(), index);
                index
            }
        };
        ClientId { key, index }
    }

    fn record(&mut self, id: ClientId) -> &mut Record {
        let iteration = self.open.entry(id.key).or_default();
        if id.index >= iteration.records.len() {
            // Only if the iteration was judged meanwhile: a fresh record.
            iteration.records.resize_with(id.index + 1, Record::default);
        }
        &mut iteration.records[id.index]
    }
}

/// A client's record in one iteration of the [`Ledger`], found by name once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ClientId {
    key: u64,
    index: usize,
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

    /// `client`'s record in iteration `key` (made if it has none yet).
    pub(super) fn client(&self, key: u64, client: &str) -> ClientId {
        self.lock().id(key, client)
    }

    /// The server received request `n` of the client `id`.
    pub(super) fn arrived_at(&self, id: ClientId, n: u64) {
        self.lock().record(id).arrivals.push(n);
    }

    /// The server received `client`'s request `n` in iteration `key`.
    pub(super) fn arrived(&self, key: u64, client: &str, n: u64) {
        let mut inner = self.lock();
        let id = inner.id(key, client);
        inner.record(id).arrivals.push(n);
    }

    /// `client` was told the server restarted (and may send requests again, out of order).
    pub(super) fn note_restart(&self, key: u64, client: &str) {
        let mut inner = self.lock();
        let id = inner.id(key, client);
        inner.record(id).restart_noted = true;
    }

    /// True once [`note_restart`](Self::note_restart) was called for `client` in `key`.
    pub(super) fn restart_noted(&self, key: u64, client: &str) -> bool {
        let inner = self.lock();
        inner.open.get(&key).is_some_and(|iteration| {
            iteration
                .by_name
                .get(client)
                .is_some_and(|&index| iteration.records[index].restart_noted)
        })
    }

    pub(super) fn client_done(&self, key: u64, client: &str, report: ClientReport) {
        let mut inner = self.lock();
        let id = inner.id(key, client);
        inner.record(id).client = Some(report);
    }

    /// Judges and forgets every client of iteration `key` that reported; adds them to the
    /// totals.
    pub(super) fn judge(&self, key: u64) -> Vec<(String, Judged)> {
        let mut inner = self.lock();
        let Iteration {
            mut records,
            by_name,
        } = inner.open.remove(&key).unwrap_or_default();
        let mut out = Vec::new();
        for (name, index) in by_name {
            let record = std::mem::take(&mut records[index]);
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
