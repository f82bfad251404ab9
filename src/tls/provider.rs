//! [`TlsProvider`] and [`TlsListener`]: any provider, with TLS on every connection.

use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::time::Duration;

use futures_rustls::{TlsAcceptor, TlsConnector};
use rustls::pki_types::ServerName;

use super::config::{Built, Crypto, TlsConfig};
use super::seeded::Seeded;
use super::{TlsError, TlsStream};
use crate::provider::split_host_port;
use crate::provider::Stream as _;
use crate::{Listener, NetworkProvider, SimNetworkProvider};

/// A [`NetworkProvider`] that runs TLS (rustls, ring backend) over another provider's
/// connections.
///
/// `connect` opens the inner provider's connection and completes the TLS handshake before it
/// returns, verifying the server's certificate against the configured roots and the
/// destination's host (or [`server_name`](super::TlsClientConfig::server_name)). `bind`
/// returns a [`TlsListener`] whose accepted streams finish their handshake on first use (see
/// [`TlsStream`]). A handshake failure is an `io::Error` holding a [`TlsError`]: through a
/// [`Peer`](crate::Peer), [`PeerError::ConnectionFailed`](crate::PeerError::ConnectionFailed)
/// with it as the source, and the Peer's backoff applies as to any failed attempt.
///
/// [`new`](TlsProvider::new) uses ring's OS randomness and the system time;
/// [`simulated`](TlsProvider::simulated) makes every handshake in a [`SimWorld`](crate::SimWorld)
/// replay bit for bit from the world's seed.
///
/// # Examples
/// See the [module docs](super).
#[derive(Clone)]
pub struct TlsProvider<P> {
    inner: P,
    connector: Option<TlsConnector>,
    acceptor: Option<TlsAcceptor>,
    server_name: Option<ServerName<'static>>,
    /// `Some(epoch)`: simulated crypto, virtual time zero standing for `epoch`.
    sim_epoch: Option<Duration>,
}

impl<P: NetworkProvider> TlsProvider<P> {
    /// TLS over `inner` with ring's randomness and the system time (real providers). Over the
    /// simulator use [`simulated`](TlsProvider::simulated): this one would read the OS's
    /// randomness and the wall clock, and a seed would not replay.
    ///
    /// # Errors
    /// [`TlsError::InvalidConfig`]: no roots, a root or certificate that does not parse, a key
    /// that does not match its certificate; [`TlsError::InvalidServerName`] for a bad
    /// `server_name`.
    pub fn new(inner: P, config: &TlsConfig) -> Result<Self, TlsError> {
        Self::build(inner, config, Crypto::System, None)
    }

    fn build(
        inner: P,
        config: &TlsConfig,
        crypto: Crypto,
        sim_epoch: Option<Duration>,
    ) -> Result<Self, TlsError> {
        let Built { client, server } = config.build(crypto)?;
        let server_name = config
            .client
            .as_ref()
            .and_then(|client| client.server_name.as_deref())
            .map(server_name)
            .transpose()?;
        Ok(Self {
            inner,
            connector: client.map(TlsConnector::from),
            acceptor: server.map(TlsAcceptor::from),
            server_name,
            sim_epoch,
        })
    }

    /// The provider underneath.
    pub fn inner(&self) -> &P {
        &self.inner
    }

    /// A fresh connection's crypto state (simulated providers only).
    fn seeded(&self) -> Option<Seeded<P::Clock>> {
        self.sim_epoch
            .map(|epoch| Seeded::new(self.inner.random_seed(), self.inner.clock(), epoch))
    }
}

/// A provider whose connections run inside the simulator: the ones
/// [`TlsProvider::simulated`] accepts.
///
/// Implemented for [`SimNetworkProvider`]; implement it for your own wrapper of one (a
/// provider that records or alters the simulated traffic, say). Never for a provider on a real
/// network: the simulated crypto's randomness is a 64-bit seed, not a secret.
pub trait SimulatedProvider: NetworkProvider {}

impl SimulatedProvider for SimNetworkProvider {}

impl<P: SimulatedProvider> TlsProvider<P> {
    /// TLS inside the simulator: every random byte of a connection's handshake comes from a
    /// ChaCha stream seeded by the world's RNG (through
    /// [`random_seed`](NetworkProvider::random_seed)), its X25519 secrets too, certificates
    /// are checked against virtual time (zero standing for
    /// [`sim_epoch`](TlsConfig::sim_epoch)), and there are no session tickets or resumption.
    /// The same seed gives the same bytes on the wire. Not secure, by design: it is only
    /// offered over the simulator ([`SimulatedProvider`]).
    ///
    /// # Errors
    /// As [`new`](TlsProvider::new), and [`TlsError::InvalidConfig`] for a key that is not
    /// Ed25519 (ECDSA and RSA-PSS signatures draw from the operating system in ring).
    pub fn simulated(inner: P, config: &TlsConfig) -> Result<Self, TlsError> {
        Self::build(inner, config, Crypto::Simulated, Some(config.sim_epoch))
    }
}

fn server_name(host: &str) -> Result<ServerName<'static>, TlsError> {
    ServerName::try_from(host.to_owned()).map_err(|_| TlsError::InvalidServerName {
        name: host.to_owned(),
    })
}

impl<P: NetworkProvider> NetworkProvider for TlsProvider<P> {
    type Stream = TlsStream<P>;
    type Listener = TlsListener<P>;
    type Clock = P::Clock;

    /// Binds the inner provider's listener.
    ///
    /// # Errors
    /// [`TlsError::NotConfigured`] without a server configuration, else the inner provider's.
    async fn bind(&self, addr: &str) -> io::Result<TlsListener<P>> {
        let acceptor = self
            .acceptor
            .clone()
            .ok_or(TlsError::NotConfigured { side: "server" })?;
        let listener = self.inner.bind(addr).await?;
        Ok(TlsListener {
            inner: listener,
            acceptor,
            provider: self.clone(),
        })
    }

    /// Connects through the inner provider, then runs the TLS handshake.
    ///
    /// # Errors
    /// [`TlsError::NotConfigured`] without a client configuration,
    /// [`TlsError::InvalidServerName`] if the host is not a valid name, the inner provider's
    /// errors, then the handshake's [`TlsError`] (see [`TlsError::from_io`]).
    async fn connect(&self, addr: &str) -> io::Result<TlsStream<P>> {
        let connector = self
            .connector
            .clone()
            .ok_or(TlsError::NotConfigured { side: "client" })?;
        let name = match &self.server_name {
            Some(name) => name.clone(),
            None => server_name(split_host_port(addr)?.0)?,
        };
        let tcp = self.inner.connect(addr).await?;
        let mut seeded = self.seeded();
        let mut connect = match &mut seeded {
            Some(seeded) => seeded.enter(|| connector.connect(name, tcp)),
            None => connector.connect(name, tcp),
        };
        let handshake = poll_fn(|cx| match &mut seeded {
            Some(seeded) => seeded.enter(|| Pin::new(&mut connect).poll(cx)),
            None => Pin::new(&mut connect).poll(cx),
        });
        match handshake.await {
            Ok(tls) => Ok(TlsStream::connected(tls, seeded)),
            Err(err) => {
                let err = TlsError::from_handshake(err);
                tracing::debug!(destination = addr, error = %err, "tls handshake failed");
                Err(err.into())
            }
        }
    }

    fn clock(&self) -> P::Clock {
        self.inner.clock()
    }

    fn random_seed(&self) -> u64 {
        self.inner.random_seed()
    }
}

/// A listener whose streams speak TLS as the server: what [`TlsProvider::bind`] returns.
pub struct TlsListener<P: NetworkProvider> {
    inner: P::Listener,
    acceptor: TlsAcceptor,
    provider: TlsProvider<P>,
}

impl<P: NetworkProvider> Listener for TlsListener<P> {
    type Stream = TlsStream<P>;

    /// The next connection, at once: its TLS handshake runs on its first read or write (or
    /// [`TlsStream::handshake`]), so one slow client does not hold up the others.
    async fn accept(&self) -> io::Result<(TlsStream<P>, String)> {
        let (tcp, addr) = self.inner.accept().await?;
        let mut seeded = self.provider.seeded();
        let addrs = (tcp.local_addr().ok(), tcp.peer_addr().ok());
        let accept = match &mut seeded {
            Some(seeded) => seeded.enter(|| self.acceptor.accept(tcp).into_fallible()),
            None => self.acceptor.accept(tcp).into_fallible(),
        };
        Ok((TlsStream::accepting(addrs, accept, seeded), addr))
    }

    fn local_addr(&self) -> io::Result<String> {
        self.inner.local_addr()
    }
}

impl<P> fmt::Debug for TlsProvider<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsProvider")
            .field("client", &self.connector.is_some())
            .field("server", &self.acceptor.is_some())
            .field("server_name", &self.server_name)
            .field("simulated", &self.sim_epoch.is_some())
            .finish_non_exhaustive()
    }
}

impl<P: NetworkProvider> fmt::Debug for TlsListener<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsListener")
            .field("local_addr", &self.inner.local_addr().ok())
            .finish_non_exhaustive()
    }
}
