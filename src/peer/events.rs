//! [`ConnectionEvent`]: an opt-in record of a Peer's connection attempts and their outcomes,
//! stamped with its clock, for checkers such as
//! [`ping_pong::BackoffChecker`](crate::testing::ping_pong::BackoffChecker).

use std::time::Duration;

use super::{Codec, Peer};
use crate::provider::NetworkProvider;

/// One step of a Peer's connection lifecycle, at a [`Clock`](crate::Clock) time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionEvent {
    /// When it happened ([`Clock::now`](crate::Clock::now)).
    pub at: Duration,
    /// What happened.
    pub kind: ConnectionEventKind,
}

/// What a [`ConnectionEvent`] records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionEventKind {
    /// A call that needs a connection (`flush`, `recv`, `wait_acknowledged`, `reconnect`)
    /// found none: from here the Peer waits out the backoff, then attempts. On demand means
    /// nothing happens while no call wants a connection.
    Wanted,
    /// A connection attempt started (an earlier one still running was abandoned: its future
    /// was dropped).
    AttemptStarted,
    /// The attempt succeeded (handshake included in the reliable modes).
    Connected,
    /// The attempt failed (refused, timed out, failed handshake).
    Failed,
    /// An established connection broke (EOF, reset, I/O or protocol error, heartbeat).
    Broke,
    /// An established connection was dropped on purpose (`reconnect`): not a failure.
    Closed,
}

/// The Peer's record, off until enabled.
#[derive(Debug, Default)]
pub(super) struct EventLog {
    events: Option<Vec<ConnectionEvent>>,
}

impl EventLog {
    /// Records `kind` at `at`, if recording.
    #[inline]
    pub(super) fn push(&mut self, at: Duration, kind: ConnectionEventKind) {
        if let Some(events) = &mut self.events {
            events.push(ConnectionEvent { at, kind });
        }
    }
}

impl<P: NetworkProvider, C: Codec> Peer<P, C> {
    /// Starts recording connection events (see [`take_connection_events`]): off by default.
    ///
    /// [`take_connection_events`]: Peer::take_connection_events
    pub fn record_connection_events(&mut self) {
        self.events.events.get_or_insert_with(Vec::new);
    }

    /// The connection events recorded since the last call, oldest first; empty unless
    /// [`record_connection_events`](Peer::record_connection_events) was called. Take them
    /// regularly: the record grows by a few events per connection attempt.
    ///
    /// # Examples
    /// ```
    /// use moonpool::peer::{ConnectionEventKind, Peer, PeerConfig};
    /// use moonpool::SimWorld;
    ///
    /// let world = SimWorld::new(1);
    /// let client = world.provider("10.0.0.2");
    /// let mut peer = Peer::new(client, "10.0.0.1:4500".to_string(), PeerConfig::default());
    /// peer.record_connection_events();
    /// world.block_on(async {
    ///     peer.send(b"hello".to_vec()).await.unwrap();
    ///     assert!(peer.flush().await.is_err(), "nobody listens");
    /// }).unwrap();
    /// let kinds: Vec<_> = peer.take_connection_events().iter().map(|e| e.kind).collect();
    /// use ConnectionEventKind::*;
    /// assert_eq!(kinds, [Wanted, AttemptStarted, Failed]);
    /// ```
    pub fn take_connection_events(&mut self) -> Vec<ConnectionEvent> {
        match &mut self.events.events {
            Some(events) => std::mem::take(events),
            None => Vec::new(),
        }
    }
}
