//! [`SimNetworkProvider`]: the provider traits over a world's simulated network.

use std::future::poll_fn;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::task::Poll;
use std::time::Duration;

use super::fault::{Detail, FaultKind, NetOp, Verdict};
use super::listener::SimTcpListener;
use super::net::{refused, register, route, CLIENT};
use super::process::StopRequested;
use super::stream::SimTcpStream;
use super::time::SimClock;
use super::world::WeakSimWorld;
use crate::provider::{split_host_port, Clock, NetworkProvider};

/// Default source IP of [`SimNetworkProvider::new`].
const DEFAULT_IP: &str = "10.0.0.1";

/// A [`NetworkProvider`] over a [`SimWorld`](crate::SimWorld)'s simulated network.
///
/// The provider is one host: its IP, its own loopback (`127.0.0.1` and `0.0.0.0` reach the
/// host itself), and its own ports. It may bind its IP, its loopback or the wildcard address;
/// outgoing connections get ephemeral ports from Linux's default range (32768..=60999).
/// Addresses may name hosts (`"server:4500"`): names resolve through the world's
/// deterministic DNS ([`SimWorld::register_name`](crate::SimWorld::register_name); `localhost`
/// is the loopback), after a `NetworkConfig::dns_latency` draw. Every method fails with an
/// [`io::Error`] of kind `NotConnected` once the world is dropped.
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

    /// A provider for the host `ip`; if `ip` does not parse, its binds and connects fail with
    /// [`io::ErrorKind::InvalidInput`].
    pub fn with_ip(world: WeakSimWorld, ip: &str) -> Self {
        Self {
            world,
            ip: ip.parse().ok(),
            ip_text: ip.to_string(),
        }
    }

    /// The host's IP (`0.0.0.0` if the given IP did not parse).
    pub fn ip(&self) -> IpAddr {
        self.ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    }

    /// Completes once this host's process is asked to stop
    /// ([`SimWorld::stop`](crate::SimWorld::stop)): a graceful shutdown's signal. Never
    /// completes for a host with no process (or once the world is dropped).
    pub fn stop_requested(&self) -> StopRequested {
        match (self.world.upgrade(), self.ip) {
            (Some(world), Some(ip)) => world.stop_requested(ip),
            _ => StopRequested::never(),
        }
    }

    fn host(&self) -> io::Result<IpAddr> {
        self.ip.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid provider ip {:?}", self.ip_text),
            )
        })
    }

    /// Resolves `addr` (`"ip:port"` or `"name:port"`) through the world's DNS.
    async fn resolve(&self, addr: &str) -> io::Result<SocketAddr> {
        if let Ok(addr) = addr.parse() {
            return Ok(addr);
        }
        let (name, port) = split_host_port(addr)?;
        let world = self.world.io_upgrade()?;
        let clock = world.clock();
        let latency = world.with_state(|s| s.rng.latency(s.config.dns_latency));
        drop(world);
        clock.sleep(latency).await;
        let ip = self.world.io_upgrade()?.with_state(|s| s.resolve(name));
        ip.map(|ip| SocketAddr::new(ip, port)).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("failed to resolve {name:?}: unknown host"),
            )
        })
    }

    /// Waits until the connect's SYN is answered: the fault verdict (refused, stalled, lost),
    /// then SYN retransmissions while the hosts cannot reach each other (1 s, 2 s, 4 s, ...,
    /// as Linux does) until `connect_timeout`.
    async fn syn_answered(
        &self,
        clock: &SimClock,
        host: IpAddr,
        dest_host: IpAddr,
        target: SocketAddr,
    ) -> io::Result<()> {
        let mut waited = Duration::ZERO;
        let mut rto = Duration::from_secs(1);
        loop {
            let world = self.world.io_upgrade()?;
            let step = world.with_state(|s| {
                let now = s.now;
                let op = NetOp::Connect {
                    from: host,
                    to: target,
                    now,
                };
                // A rule that decides a connect decides it whole: no random partition either.
                let ruled = s.ruled(&op);
                let verdict = ruled.unwrap_or_else(|| s.by_odds(op));
                if waited.is_zero() && ruled.is_none() {
                    s.maybe_partition(host, dest_host);
                }
                let reachable = s.faults.reachable(host, dest_host, now)
                    && s.faults.reachable(dest_host, host, now);
                let (from, to) = (Some(host), Some(dest_host));
                match verdict {
                    Verdict::Refuse | Verdict::Reset => {
                        s.record_fault(FaultKind::Refused, from, to, None, "");
                        Err(refused(target))
                    }
                    Verdict::Delay(d) => {
                        s.record_fault(FaultKind::ConnectStall, from, to, None, Detail::Took(d));
                        Ok(Some(d))
                    }
                    Verdict::HoldUntil(t) if t > now => {
                        let d = t - now;
                        s.record_fault(FaultKind::ConnectStall, from, to, None, Detail::Took(d));
                        Ok(Some(d))
                    }
                    Verdict::Drop => Ok(None),
                    _ if !reachable => Ok(None),
                    _ => Ok(Some(Duration::ZERO)),
                }
            });
            drop(world);
            match step? {
                Some(delay) => {
                    clock.sleep(delay).await;
                    return Ok(());
                }
                None => {
                    let timeout = self.world.io_upgrade()?.with_state(|s| {
                        let limit = s.config.connect_timeout;
                        let last = waited.saturating_add(rto) >= limit;
                        let kind = if last {
                            FaultKind::ConnectTimeout
                        } else {
                            FaultKind::SynLost
                        };
                        s.record_fault(kind, Some(host), Some(dest_host), None, "");
                        last.then(|| limit.saturating_sub(waited))
                    });
                    if let Some(rest) = timeout {
                        clock.sleep(rest).await;
                        return Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!("connection to {target} timed out"),
                        ));
                    }
                    clock.sleep(rto).await;
                    waited += rto;
                    rto = rto.saturating_mul(2);
                }
            }
        }
    }

    async fn connect_to(&self, addr: &str) -> io::Result<SimTcpStream> {
        let host = self.host()?;
        let target = self.resolve(addr).await?;
        let world = self.world.io_upgrade()?;
        let clock = world.clock();
        let latency = world.with_state(|s| s.rng.latency(s.config.connect_latency));
        drop(world);
        clock.sleep(latency).await;
        let (dest_host, dest, source) = route(host, target);
        self.syn_answered(&clock, host, dest_host, target).await?;
        let refused_now = self
            .world
            .io_upgrade()?
            .with_state(|s| s.net.find_listener(dest_host, dest).is_none());
        if refused_now {
            return Err(refused(target));
        }
        let pending = poll_fn(|cx| {
            let world = match self.world.io_upgrade() {
                Ok(world) => world,
                Err(e) => return Poll::Ready(Err(e)),
            };
            world.with_state(|s| {
                let Some(key) = s.net.find_listener(dest_host, dest) else {
                    return Poll::Ready(Err(refused(target)));
                };
                let listener = &mut s.net.listeners.get_mut(&key).expect("found above");
                if listener.backlog.len() >= s.config.accept_backlog {
                    register(&mut listener.connectors, cx.waker());
                    return Poll::Pending;
                }
                Poll::Ready(s.net.establish(key, host, source, dest))
            })
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
        let host = self.host()?;
        let addr = self.resolve(addr).await?;
        let world = self.world.io_upgrade()?;
        let (key, bind) = world.with_state(|s| s.net.bind(host, addr))?;
        Ok(SimTcpListener::new(self.world.clone(), key, bind))
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
