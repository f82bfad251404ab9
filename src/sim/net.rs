//! The simulated network: its state (listeners, connections, ports) and [`SimNetworkProvider`].

use std::collections::{BTreeMap, VecDeque};
use std::future::poll_fn;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::task::{Context, Poll, Waker};

use super::listener::SimTcpListener;
use super::pipe::Pipe;
use super::stream::{SimTcpStream, CLIENT, SERVER};
use super::time::SimClock;
use super::world::WeakSimWorld;
use crate::provider::{parse_addr, Clock, NetworkProvider};

/// First port handed out to outgoing connections and port-0 binds.
const FIRST_EPHEMERAL_PORT: u16 = 40000;
/// Default source IP of [`SimNetworkProvider::new`].
const DEFAULT_IP: &str = "10.0.0.1";

/// A connection: two pipes (`pipes[CLIENT]` carries client-to-server bytes).
#[derive(Debug, Default)]
pub(crate) struct Connection {
    pub(crate) pipes: [Pipe; 2],
    /// Reset: every read and write on either side fails with `ConnectionReset`.
    pub(crate) reset: bool,
    /// Live stream handles (a connection waiting in a backlog counts its server side).
    pub(crate) handles: u8,
}

impl Connection {
    /// Abortive close: discards all data and wakes everyone.
    pub(crate) fn reset(&mut self) {
        self.reset = true;
        for pipe in &mut self.pipes {
            pipe.discard();
        }
    }
}

/// A connection waiting in a listener's backlog.
#[derive(Debug)]
pub(crate) struct Pending {
    pub(crate) conn: u64,
    pub(crate) client: SocketAddr,
    pub(crate) server: SocketAddr,
}

/// A bound listener's state.
#[derive(Debug, Default)]
pub(crate) struct ListenerState {
    pub(crate) backlog: VecDeque<Pending>,
    /// Tasks waiting in `accept`.
    pub(crate) acceptors: Vec<Waker>,
    /// Connects waiting for room in the backlog.
    pub(crate) connectors: Vec<Waker>,
}

/// Listeners, connections and the port counter of a world.
#[derive(Debug)]
pub(crate) struct NetState {
    pub(crate) listeners: BTreeMap<SocketAddr, ListenerState>,
    pub(crate) conns: BTreeMap<u64, Connection>,
    next_conn: u64,
    next_port: u16,
}

impl Default for NetState {
    fn default() -> Self {
        Self {
            listeners: BTreeMap::new(),
            conns: BTreeMap::new(),
            next_conn: 0,
            next_port: FIRST_EPHEMERAL_PORT,
        }
    }
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

impl NetState {
    /// Makes the oldest in-flight segment of a pipe readable (a `Deliver` event).
    pub(crate) fn deliver(&mut self, conn: u64, pipe: usize) {
        if let Some(conn) = self.conns.get_mut(&conn) {
            if !conn.reset {
                conn.pipes[pipe].deliver();
            }
        }
    }

    /// A free port on `ip`, counting up from 40000 and wrapping.
    fn ephemeral_port(&mut self, ip: IpAddr) -> io::Result<u16> {
        for _ in 0..=(u16::MAX - FIRST_EPHEMERAL_PORT) {
            let port = self.next_port;
            self.next_port = port.checked_add(1).unwrap_or(FIRST_EPHEMERAL_PORT);
            if !self.listeners.contains_key(&SocketAddr::new(ip, port)) {
                return Ok(port);
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            format!("no free ephemeral port on {ip}"),
        ))
    }

    /// Registers a listener on `addr` (port 0: a free port); returns the bound address.
    pub(crate) fn bind(&mut self, mut addr: SocketAddr) -> io::Result<SocketAddr> {
        if addr.port() == 0 {
            addr.set_port(self.ephemeral_port(addr.ip())?);
        }
        if self.listeners.contains_key(&addr) {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("address {addr} is already in use"),
            ));
        }
        self.listeners.insert(addr, ListenerState::default());
        Ok(addr)
    }

    /// The key of the listener serving `addr`: an exact bind, else a wildcard bind on its port.
    pub(crate) fn find_listener(&self, addr: SocketAddr) -> Option<SocketAddr> {
        let any = match addr {
            SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        };
        [addr, SocketAddr::new(any, addr.port())]
            .into_iter()
            .find(|a| self.listeners.contains_key(a))
    }

    /// Queues a new connection to `target` in its listener's backlog, or waits for room.
    fn try_establish(
        &mut self,
        target: SocketAddr,
        local_ip: IpAddr,
        backlog_limit: usize,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<Pending>> {
        let Some(key) = self.find_listener(target) else {
            return Poll::Ready(Err(refused(target)));
        };
        let full = self.listeners[&key].backlog.len() >= backlog_limit;
        if full {
            let listener = self.listeners.get_mut(&key).expect("listener found above");
            register(&mut listener.connectors, cx.waker());
            return Poll::Pending;
        }
        let port = match self.ephemeral_port(local_ip) {
            Ok(port) => port,
            Err(e) => return Poll::Ready(Err(e)),
        };
        let conn = self.next_conn;
        self.next_conn += 1;
        self.conns.insert(
            conn,
            Connection {
                handles: 2,
                ..Connection::default()
            },
        );
        let client = SocketAddr::new(local_ip, port);
        let listener = self.listeners.get_mut(&key).expect("listener found above");
        listener.backlog.push_back(Pending {
            conn,
            client,
            server: target,
        });
        wake_all(&mut listener.acceptors);
        Poll::Ready(Ok(Pending {
            conn,
            client,
            server: target,
        }))
    }

    /// Drops one stream handle of `conn`; forgets the connection when none is left.
    pub(crate) fn release(&mut self, conn: u64) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.handles -= 1;
            if c.handles == 0 {
                self.conns.remove(&conn);
            }
        }
    }
}

fn refused(addr: SocketAddr) -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionRefused,
        format!("connection to {addr} refused"),
    )
}

/// A [`NetworkProvider`] over a [`SimWorld`](crate::SimWorld)'s simulated network.
///
/// Outgoing connections come from this provider's IP, with ports counted up from 40000.
/// Every method fails with an [`io::Error`] of kind `NotConnected` once the world is dropped.
///
/// # Examples
/// ```
/// use moonpool::{NetworkProvider, SimWorld};
///
/// let world = SimWorld::new(3);
/// let net = world.provider("10.0.0.2");
/// let err = world.block_on(async move { net.connect("10.0.0.9:80").await }).unwrap();
/// assert_eq!(err.unwrap_err().kind(), std::io::ErrorKind::ConnectionRefused);
/// ```
#[derive(Clone, Debug)]
pub struct SimNetworkProvider {
    world: WeakSimWorld,
    ip: Option<IpAddr>,
    ip_text: String,
}

impl SimNetworkProvider {
    /// A provider whose outgoing connections come from `10.0.0.1`.
    pub fn new(world: WeakSimWorld) -> Self {
        Self::with_ip(world, DEFAULT_IP)
    }

    /// A provider whose outgoing connections come from `ip`; if `ip` does not parse, its
    /// connects fail with [`io::ErrorKind::InvalidInput`].
    pub fn with_ip(world: WeakSimWorld, ip: &str) -> Self {
        Self {
            world,
            ip: ip.parse().ok(),
            ip_text: ip.to_string(),
        }
    }

    /// The source IP of outgoing connections (`0.0.0.0` if the given IP did not parse).
    pub fn ip(&self) -> IpAddr {
        self.ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    }

    async fn connect_to(&self, addr: &str) -> io::Result<SimTcpStream> {
        let target = parse_addr(addr)?;
        let local_ip = self.ip.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid provider ip {:?}", self.ip_text),
            )
        })?;
        let world = self.world.io_upgrade()?;
        let clock = world.clock();
        let latency = world.with_state(|s| s.rng.latency(s.config.connect_latency));
        drop(world);
        clock.sleep(latency).await;
        let stall = self.world.io_upgrade()?.with_state(|s| {
            let stalled = s.rng.chance(s.config.connect_stall_probability);
            stalled.then_some(s.config.connect_stall)
        });
        if let Some(stall) = stall {
            clock.sleep(stall).await;
        }
        let refused_now = self.world.io_upgrade()?.with_state(|s| {
            s.net.find_listener(target).is_none()
                || s.rng.chance(s.config.connect_failure_probability)
        });
        if refused_now {
            return Err(refused(target));
        }
        let pending = poll_fn(|cx| match self.world.io_upgrade() {
            Err(e) => Poll::Ready(Err(e)),
            Ok(world) => world.with_state(|s| {
                let limit = s.config.accept_backlog;
                s.net.try_establish(target, local_ip, limit, cx)
            }),
        })
        .await?;
        Ok(SimTcpStream::new(
            self.world.clone(),
            pending.conn,
            CLIENT,
            pending.client,
            pending.server,
        ))
    }
}

impl NetworkProvider for SimNetworkProvider {
    type Stream = SimTcpStream;
    type Listener = SimTcpListener;
    type Clock = SimClock;

    async fn bind(&self, addr: &str) -> io::Result<SimTcpListener> {
        let addr = parse_addr(addr)?;
        let world = self.world.io_upgrade()?;
        let bound = world.with_state(|s| s.net.bind(addr))?;
        Ok(SimTcpListener::new(self.world.clone(), bound))
    }

    async fn connect(&self, addr: &str) -> io::Result<SimTcpStream> {
        self.connect_to(addr).await
    }

    fn clock(&self) -> SimClock {
        SimClock::new(self.world.clone())
    }

    /// Drawn from the world RNG; 0 once the world is dropped.
    fn random_seed(&self) -> u64 {
        self.world.upgrade().map_or(0, |w| w.random_u64())
    }
}

/// The server side of an accepted connection.
pub(crate) fn accepted(world: WeakSimWorld, pending: Pending) -> SimTcpStream {
    SimTcpStream::new(world, pending.conn, SERVER, pending.server, pending.client)
}
