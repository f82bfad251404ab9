//! The simulated network's state, and the only code that changes it.
//!
//! [`NetState`] owns every listener, connection and port of a world, with the address rules
//! Linux applies: each host (one IP) has its own port space and its own loopback; a listener
//! on the wildcard address conflicts with any other on its port; a connect to `0.0.0.0` or
//! `127.0.0.1` reaches the connecting host itself; ephemeral ports come from Linux's default
//! range and are never handed out twice while in use. Streams and listeners are thin handles
//! that call the socket operations in [`conn`] (methods of `WorldState`, which also owns the
//! RNG, the event queue and the clock those operations need).

pub(crate) mod conn;
mod ports;

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::task::Waker;

pub(crate) use conn::{Connection, CLIENT, SERVER};
use ports::Ports;

use super::slab::IdMap;

/// A connection waiting in a listener's backlog (its server side not accepted yet).
#[derive(Debug)]
pub(crate) struct Pending {
    pub(crate) conn: u64,
    pub(crate) client: SocketAddr,
    pub(crate) server: SocketAddr,
}

/// A listener's key: the host it lives on and the address it is bound to.
pub(crate) type ListenerKey = (IpAddr, SocketAddr);

/// A bound listener's state.
#[derive(Debug, Default)]
pub(crate) struct ListenerState {
    /// Which bind this is: a handle of an earlier bind of the same address (one a crash
    /// unbound) never reaches this one.
    pub(crate) bind: u64,
    pub(crate) backlog: VecDeque<Pending>,
    /// Tasks waiting in `accept`.
    pub(crate) acceptors: Vec<Waker>,
    /// Connects waiting for room in the backlog.
    pub(crate) connectors: Vec<Waker>,
}

/// Listeners, connections, ports and names of a world.
#[derive(Debug, Default)]
pub(crate) struct NetState {
    pub(crate) listeners: BTreeMap<ListenerKey, ListenerState>,
    pub(crate) conns: IdMap<Connection>,
    pub(crate) ports: Ports,
    /// Host names registered on the world (deterministic DNS).
    pub(crate) names: BTreeMap<String, IpAddr>,
    next_conn: u64,
    next_bind: u64,
    /// The first of the simulator's own TCP invariants found broken, if any (see
    /// [`SimWorld::broken_invariant`](crate::SimWorld::broken_invariant)).
    pub(crate) broken: Option<String>,
}

/// Pushes `waker` unless an equivalent one is already there.
pub(crate) fn register(wakers: &mut Vec<Waker>, waker: &Waker) {
    if !wakers.iter().any(|w| w.will_wake(waker)) {
        wakers.push(waker.clone());
    }
}

pub(crate) fn wake_all(wakers: &mut Vec<Waker>) {
    for waker in wakers.drain(..) {
        waker.wake();
    }
}

/// The loopback address of `ip`'s family.
fn loopback_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
    }
}

/// The wildcard address of `ip`'s family.
fn unspecified_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

/// Whether two bound addresses on one host and port conflict (Linux, without `SO_REUSEPORT`):
/// equal addresses, a wildcard and anything of its family, or `[::]` and anything (dual stack).
fn conflicts(a: IpAddr, b: IpAddr) -> bool {
    let v6_any = |ip: IpAddr| ip == IpAddr::V6(Ipv6Addr::UNSPECIFIED);
    if v6_any(a) || v6_any(b) {
        return true;
    }
    a.is_ipv4() == b.is_ipv4() && (a == b || a.is_unspecified() || b.is_unspecified())
}

pub(crate) fn error(kind: io::ErrorKind, message: String) -> io::Error {
    io::Error::new(kind, message)
}

pub(crate) fn refused(addr: SocketAddr) -> io::Error {
    error(
        io::ErrorKind::ConnectionRefused,
        format!("connection to {addr} refused"),
    )
}

/// Where a connect from `host` to `target` goes: the destination host, the address the
/// listener is looked up by, and the source IP of the connection.
pub(crate) fn route(host: IpAddr, target: SocketAddr) -> (IpAddr, SocketAddr, IpAddr) {
    let ip = target.ip();
    if ip.is_unspecified() || ip.is_loopback() {
        let lo = loopback_of(ip);
        (host, SocketAddr::new(lo, target.port()), lo)
    } else {
        (ip, target, host)
    }
}

impl NetState {
    /// Registers a listener of `host` on `addr` (port 0: an ephemeral port).
    ///
    /// # Errors
    /// `AddrNotAvailable` for an address that is not the host's own, its loopback or the
    /// wildcard, or when no port is free; `AddrInUse` when a listener on the same port
    /// conflicts with it. Returns the listener's key and the bind's id.
    pub(crate) fn bind(
        &mut self,
        host: IpAddr,
        mut addr: SocketAddr,
    ) -> io::Result<(ListenerKey, u64)> {
        let ip = addr.ip();
        if !(ip == host || ip.is_loopback() || ip.is_unspecified()) {
            return Err(error(
                io::ErrorKind::AddrNotAvailable,
                format!("cannot bind {addr}: not an address of host {host}"),
            ));
        }
        if addr.port() == 0 {
            addr.set_port(self.ports.ephemeral(host)?);
        }
        let taken = self
            .listeners
            .keys()
            .any(|(h, a)| *h == host && a.port() == addr.port() && conflicts(a.ip(), ip));
        if taken {
            return Err(error(
                io::ErrorKind::AddrInUse,
                format!("address {addr} is already in use"),
            ));
        }
        let bind = self.next_bind;
        self.next_bind += 1;
        let state = ListenerState {
            bind,
            ..ListenerState::default()
        };
        self.listeners.insert((host, addr), state);
        self.ports.acquire(host, addr.port());
        Ok(((host, addr), bind))
    }

    /// The listener serving `dest` on `host`: an exact bind, else a wildcard bind on its port.
    pub(crate) fn find_listener(&self, host: IpAddr, dest: SocketAddr) -> Option<ListenerKey> {
        let any = SocketAddr::new(unspecified_of(dest.ip()), dest.port());
        let v6_any = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), dest.port());
        [dest, any, v6_any]
            .into_iter()
            .map(|a| (host, a))
            .find(|key| self.listeners.contains_key(key))
    }

    /// Creates a connection from `client_ip` (on `client_host`) to the listener `key`, queued
    /// in its backlog; returns the backlog entry's copy.
    pub(crate) fn establish(
        &mut self,
        key: ListenerKey,
        client_host: IpAddr,
        client_ip: IpAddr,
        server: SocketAddr,
    ) -> io::Result<Pending> {
        let port = self.ports.ephemeral(client_host)?;
        let client = SocketAddr::new(client_ip, port);
        let conn = self.next_conn;
        self.next_conn += 1;
        self.conns.insert(
            conn,
            Connection::new([client_host, key.0], [client, server]),
        );
        self.ports.acquire(client_host, port);
        let listener = self
            .listeners
            .get_mut(&key)
            .expect("caller found the listener");
        listener.backlog.push_back(Pending {
            conn,
            client,
            server,
        });
        wake_all(&mut listener.acceptors);
        Ok(Pending {
            conn,
            client,
            server,
        })
    }

    /// Removes the listener `key`, releasing its port; its state, if it was bound.
    pub(crate) fn unbind(&mut self, key: ListenerKey) -> Option<ListenerState> {
        let state = self.listeners.remove(&key)?;
        self.ports.release(key.0, key.1.port());
        Some(state)
    }

    /// The listener of bind `bind` at `key`, if that bind is still the one registered there.
    pub(crate) fn listener_of(
        &mut self,
        key: ListenerKey,
        bind: u64,
    ) -> Option<&mut ListenerState> {
        self.listeners.get_mut(&key).filter(|l| l.bind == bind)
    }

    /// Forgets `conn` once neither side has a handle any more, releasing its port.
    pub(crate) fn forget_if_closed(&mut self, conn: u64) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        if c.is_closed() {
            let (host, port) = c.client_port();
            self.conns.remove(&conn);
            self.ports.release(host, port);
        }
    }
}
