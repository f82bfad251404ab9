//! The session table a [`SessionServer`](super::SessionServer) and its clones share: the
//! sessions, who owns each, and the connections held.

use std::cmp::Reverse;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures::channel::oneshot;

use super::{ServerLimits, SessionError};
use crate::peer::sequence::Sequencer;
use crate::peer::wire::Hello;

/// One session's state: it outlives connections.
#[derive(Debug)]
pub(super) struct SessionState {
    pub seq: Sequencer,
    /// Messages sent to the Peer and not acknowledged yet, oldest first.
    pub resend: VecDeque<(u64, Vec<u8>)>,
    /// Their bytes.
    pub resend_bytes: usize,
    /// How many of the last messages of `resend` were fed on a connection a newer one had
    /// taken over, and are still to be written by the connection that owns the session.
    pub orphans: usize,
    /// The owning connection's receive waiting for the Peer: woken when an orphan arrives,
    /// so it writes it at once.
    pub orphan_waker: Option<std::task::Waker>,
    /// The connection that owns the session now.
    pub generation: u64,
    /// That connection is still open (its `SessionStream` is alive).
    pub attached: bool,
    /// A message went either way: forgetting the session would lose something.
    pub carried: bool,
    /// When the session was last accepted (for eviction: least recent goes first).
    pub last_used: u64,
    /// The Peer incarnation that opened the session; a hello naming the session from
    /// another one is refused.
    instance: u64,
    /// The client identity the session is bound to (a certificate fingerprint, say).
    identity: Option<Vec<u8>>,
}

impl SessionState {
    /// Pops the messages the Peer acknowledged (everything below `next`); returns how many.
    pub fn acknowledge(&mut self, next: u64) -> u64 {
        let mut count = 0;
        while self.resend.front().is_some_and(|(seq, _)| *seq < next) {
            if let Some((_, message)) = self.resend.pop_front() {
                self.resend_bytes -= message.len();
                count += 1;
            }
        }
        count
    }
}

pub(super) type Shared = Arc<Mutex<SessionState>>;

pub(super) fn lock_state(state: &Shared) -> MutexGuard<'_, SessionState> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Debug, Default)]
pub(super) struct Table {
    sessions: BTreeMap<u128, Shared>,
    /// Sessions held per client identity (those accepted with one).
    per_identity: BTreeMap<Vec<u8>, usize>,
    tick: u64,
    /// Connections held now (handshaking or in a session).
    connections: Arc<AtomicUsize>,
    /// The connections still in their handshake, oldest first: told to give up their place
    /// when a newcomer finds every place taken.
    handshaking: BTreeMap<u64, oneshot::Sender<()>>,
    tickets: u64,
}

/// A connection admitted under the cap: its place, and its ticket in the handshake queue
/// with the receiver that says a newer connection displaced it.
#[derive(Debug)]
pub(super) struct Admitted {
    pub slot: Slot,
    pub ticket: u64,
    pub displaced: oneshot::Receiver<()>,
}

/// A connection's place in the count; given back when dropped.
#[derive(Debug)]
pub(super) struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Table {
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }

    /// Admits one more connection: into a free place, or into the place of the oldest
    /// connection still in its handshake (which is told to give it up); `None` when `max`
    /// connections are held and every one is in a session.
    pub fn admit(&mut self, max: usize) -> Option<Admitted> {
        let slot = match self.slot(max) {
            Some(slot) => slot,
            None => {
                // The oldest still waiting to hear (one whose accept was dropped cannot).
                loop {
                    let (_, oldest) = self.handshaking.pop_first()?;
                    if oldest.send(()).is_ok() {
                        break;
                    }
                }
                // The displaced connection gives its place back when it next runs; until
                // then the count is over the cap by the connections displaced.
                self.connections.fetch_add(1, Ordering::Relaxed);
                Slot(Arc::clone(&self.connections))
            }
        };
        self.tickets += 1;
        let (tell, displaced) = oneshot::channel();
        self.handshaking.insert(self.tickets, tell);
        Some(Admitted {
            slot,
            ticket: self.tickets,
            displaced,
        })
    }

    /// The connection of `ticket` left its handshake (done, failed or displaced).
    pub fn handshake_over(&mut self, ticket: u64) {
        self.handshaking.remove(&ticket);
    }

    /// A slot for one more connection, unless `max` are held.
    pub fn slot(&self, max: usize) -> Option<Slot> {
        let counter = &self.connections;
        counter
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |held| {
                (held < max).then_some(held + 1)
            })
            .ok()
            .map(|_| Slot(Arc::clone(counter)))
    }

    /// The session `hello` names, created if unknown (evicting one if a cap is reached); and
    /// whether it existed. Refused when the session is another client's, or when the sessions
    /// that could make room all have a live connection.
    pub fn session_for(
        &mut self,
        hello: &Hello,
        identity: Option<&[u8]>,
        limits: &ServerLimits,
    ) -> Result<(Shared, bool), SessionError> {
        self.tick += 1;
        let tick = self.tick;
        if let Some(state) = self.sessions.get(&hello.session) {
            let mut s = lock_state(state);
            if s.instance != hello.instance || s.identity.as_deref() != identity {
                return Err(SessionError::SessionTaken {
                    session: hello.session,
                });
            }
            s.last_used = tick;
            drop(s);
            return Ok((Arc::clone(state), true));
        }
        // The client's own sessions first: one flooding sessions only pushes out its own.
        if let Some(identity) = identity {
            let max = limits.max_sessions_per_identity;
            if self.per_identity.get(identity).copied().unwrap_or(0) >= max {
                let own = |s: &SessionState| s.identity.as_deref() == Some(identity);
                match self.victim(own) {
                    Some(id) => self.evict(id),
                    None => return Err(SessionError::TooManySessionsForIdentity { max }),
                }
            }
        }
        if self.sessions.len() >= limits.max_sessions {
            match self.victim(|_| true) {
                Some(id) => self.evict(id),
                None => {
                    return Err(SessionError::TooManySessions {
                        max: limits.max_sessions,
                    })
                }
            }
        }
        let mut seq = Sequencer::default();
        // Whatever the Peer still holds starts the numbering here.
        seq.restart_incoming(hello.send_base);
        let state = Arc::new(Mutex::new(SessionState {
            seq,
            resend: VecDeque::new(),
            resend_bytes: 0,
            orphans: 0,
            orphan_waker: None,
            generation: 0,
            attached: false,
            carried: false,
            last_used: tick,
            instance: hello.instance,
            identity: identity.map(<[u8]>::to_vec),
        }));
        if let Some(identity) = identity {
            *self.per_identity.entry(identity.to_vec()).or_default() += 1;
        }
        self.sessions.insert(hello.session, Arc::clone(&state));
        Ok((state, false))
    }

    /// The session to forget among those `eligible`: one without a live connection, from the
    /// client holding the most sessions (the anonymous ones count as one client), then never
    /// used, then least recently used.
    fn victim(&self, eligible: impl Fn(&SessionState) -> bool) -> Option<u128> {
        let anonymous = self.sessions.len() - self.per_identity.values().sum::<usize>();
        self.sessions
            .iter()
            .filter_map(|(id, state)| {
                let s = lock_state(state);
                let held = match &s.identity {
                    Some(identity) => self.per_identity.get(identity).copied().unwrap_or(0),
                    None => anonymous,
                };
                (!s.attached && eligible(&s)).then_some((
                    Reverse(held),
                    s.carried,
                    s.last_used,
                    *id,
                ))
            })
            .min()
            .map(|(.., id)| id)
    }

    fn evict(&mut self, id: u128) {
        let Some(state) = self.sessions.remove(&id) else {
            return;
        };
        let identity = lock_state(&state).identity.clone();
        if let Some(identity) = identity {
            if let Some(count) = self.per_identity.get_mut(&identity) {
                *count -= 1;
                if *count == 0 {
                    self.per_identity.remove(&identity);
                }
            }
        }
        tracing::debug!(session = id, "session evicted");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(max_sessions: usize, max_sessions_per_identity: usize) -> ServerLimits {
        ServerLimits {
            max_sessions,
            max_sessions_per_identity,
            ..ServerLimits::default()
        }
    }

    fn taken(result: Result<(Shared, bool), SessionError>) -> bool {
        matches!(result, Err(SessionError::SessionTaken { .. }))
    }

    fn hello(session: u128, instance: u64) -> Hello {
        Hello {
            session,
            instance,
            send_base: 0,
            recv_next: 0,
            resumed: false,
        }
    }

    #[test]
    fn a_session_is_bound_to_its_instance_and_identity() {
        let mut table = Table::default();
        let (state, resumed) = table
            .session_for(&hello(1, 10), Some(b"alice"), &caps(4, 4))
            .unwrap();
        assert!(!resumed);
        lock_state(&state).generation = 3;
        // Right id, wrong identity; no identity; wrong incarnation: refused.
        for (instance, identity) in [
            (10, Some(&b"mallory"[..])),
            (10, None),
            (11, Some(&b"alice"[..])),
        ] {
            assert!(taken(table.session_for(
                &hello(1, instance),
                identity,
                &caps(4, 4)
            )));
        }
        // Untouched by the refusals; its owner resumes it.
        assert_eq!(lock_state(&state).generation, 3);
        let (again, resumed) = table
            .session_for(&hello(1, 10), Some(b"alice"), &caps(4, 4))
            .unwrap();
        assert!(resumed && Arc::ptr_eq(&state, &again));
        // A session opened without an identity refuses one presenting an identity.
        table.session_for(&hello(2, 20), None, &caps(4, 4)).unwrap();
        assert!(taken(table.session_for(
            &hello(2, 20),
            Some(b"alice"),
            &caps(4, 4)
        )));
    }

    #[test]
    fn eviction_spares_connected_sessions_and_prefers_unused_ones() {
        let mut table = Table::default();
        let (connected, _) = table.session_for(&hello(1, 1), None, &caps(3, 3)).unwrap();
        lock_state(&connected).attached = true;
        let (used, _) = table.session_for(&hello(2, 2), None, &caps(3, 3)).unwrap();
        lock_state(&used).carried = true;
        table.session_for(&hello(3, 3), None, &caps(3, 3)).unwrap();
        // Full: the unused one goes, though the used one is older.
        table.session_for(&hello(4, 4), None, &caps(3, 3)).unwrap();
        assert!(table.sessions.contains_key(&2) && !table.sessions.contains_key(&3));
        // Then the least recently used without a connection.
        lock_state(&table.sessions[&4]).carried = true;
        table.session_for(&hello(5, 5), None, &caps(3, 3)).unwrap();
        assert!(!table.sessions.contains_key(&2) && table.sessions.contains_key(&1));
        // Every one connected: refused as busy.
        for id in [4, 5] {
            lock_state(&table.sessions[&id]).attached = true;
        }
        assert!(matches!(
            table.session_for(&hello(6, 6), None, &caps(3, 3)),
            Err(SessionError::TooManySessions { max: 3 })
        ));
        assert_eq!(table.len(), 3);
    }

    #[test]
    fn a_client_over_its_quota_evicts_only_its_own_sessions() {
        let mut table = Table::default();
        let limits = caps(4, 2);
        // Alice's session: used, now without a connection (her Peer is between connections).
        let (alice, _) = table
            .session_for(&hello(1, 1), Some(b"alice"), &limits)
            .unwrap();
        lock_state(&alice).carried = true;
        // Mallory opens sessions, each used once, then left.
        for id in 10..20 {
            let (s, _) = table
                .session_for(&hello(id, id as u64), Some(b"mallory"), &limits)
                .unwrap();
            lock_state(&s).carried = true;
        }
        assert!(table.sessions.contains_key(&1), "alice's session stays");
        assert_eq!(table.per_identity[&b"mallory"[..]], 2);
        assert!(table.sessions.contains_key(&18) && table.sessions.contains_key(&19));
        // At the table's cap, the client holding the most sessions gives one up: Mallory
        // (two) before Alice (one), though Alice's is the least recently used.
        table
            .session_for(&hello(30, 30), Some(b"carol"), &limits)
            .unwrap();
        table.session_for(&hello(31, 31), None, &limits).unwrap();
        assert_eq!(table.len(), 4);
        assert!(table.sessions.contains_key(&1) && table.sessions.contains_key(&30));
        assert_eq!(table.per_identity[&b"mallory"[..]], 1);
        // Every one of Mallory's sessions connected: refused, nobody evicted.
        lock_state(&table.sessions[&19]).attached = true;
        let limits = caps(8, 1);
        assert!(matches!(
            table.session_for(&hello(40, 40), Some(b"mallory"), &limits),
            Err(SessionError::TooManySessionsForIdentity { max: 1 })
        ));
        assert_eq!(table.len(), 4);
    }

    /// Among used sessions without a connection, the least recently accepted goes first,
    /// whatever the order of their ids.
    #[test]
    fn the_least_recently_used_session_goes_first() {
        let mut table = Table::default();
        let limits = caps(2, 2);
        for id in [1, 9] {
            let (s, _) = table.session_for(&hello(id, 7), None, &limits).unwrap();
            lock_state(&s).carried = true;
        }
        // Session 1 is accepted again (its Peer reconnected): 9 is now the least recent.
        table.session_for(&hello(1, 7), None, &limits).unwrap();
        table.session_for(&hello(5, 5), None, &limits).unwrap();
        assert!(table.sessions.contains_key(&1) && !table.sessions.contains_key(&9));
    }

    /// The anonymous sessions count as one client holding as many as there are: one
    /// anonymous session is spared while an identity holds two, even if it is older.
    #[test]
    fn anonymous_sessions_count_as_one_client_of_their_number() {
        let mut table = Table::default();
        let limits = caps(4, 4);
        let (anonymous, _) = table.session_for(&hello(1, 1), None, &limits).unwrap();
        lock_state(&anonymous).carried = true;
        for id in [2, 3] {
            let (s, _) = table
                .session_for(&hello(id, id as u64), Some(b"alice"), &limits)
                .unwrap();
            lock_state(&s).carried = true;
        }
        let (carol, _) = table
            .session_for(&hello(4, 4), Some(b"carol"), &limits)
            .unwrap();
        lock_state(&carol).carried = true;
        table
            .session_for(&hello(5, 5), Some(b"dave"), &limits)
            .unwrap();
        assert!(
            table.sessions.contains_key(&1),
            "the one anonymous session stays"
        );
        assert_eq!(table.per_identity[&b"alice"[..]], 1);
    }

    #[test]
    fn a_newcomer_displaces_the_oldest_handshake_not_a_session() {
        let mut table = Table::default();
        let mut first = table.admit(2).unwrap();
        let mut second = table.admit(2).unwrap();
        // The second finished its handshake: only the first can be displaced.
        table.handshake_over(second.ticket);
        let third = table.admit(2).unwrap();
        assert_eq!(first.displaced.try_recv(), Ok(Some(())));
        assert_eq!(second.displaced.try_recv(), Err(oneshot::Canceled));
        drop(first);
        assert_eq!(table.connections(), 2);
        table.handshake_over(third.ticket);
        assert!(table.admit(2).is_none(), "every place is in a session");
    }

    #[test]
    fn connection_slots_are_counted_and_given_back() {
        let table = Table::default();
        let first = table.slot(2).unwrap();
        let _second = table.slot(2).unwrap();
        assert!(table.slot(2).is_none());
        drop(first);
        assert_eq!(table.connections(), 1);
        assert!(table.slot(2).is_some());
    }
}
