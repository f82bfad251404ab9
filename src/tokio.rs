//! The Tokio provider (feature `tokio`): the provider traits over `tokio::net` and `tokio::time`.
//!
//! [`TokioNetworkProvider`] hands out [`Compat`]`<tokio::net::TcpStream>` streams (Tokio's
//! sockets seen through the `futures` I/O traits, as
//! [`TokioAsyncReadCompatExt::compat`] makes them) with `TCP_NODELAY` on, [`TokioListener`]s,
//! and a [`TokioClock`] that sleeps on [`tokio::time::sleep`].
//!
//! # Runtime
//! Everything here must run inside a Tokio runtime with I/O and time enabled
//! ([`Builder::enable_all`](::tokio::runtime::Builder::enable_all), or `#[tokio::main]`):
//! binding, connecting, accepting and sleeping outside one panics, as Tokio's own types do.
//! Creating a provider or a clock, and [`Clock::now`], need no runtime. Every future is `Send`,
//! so it can be [`tokio::spawn`]ed on a multi-thread runtime.
//!
//! # Examples
//! ```
//! use futures::io::{AsyncReadExt, AsyncWriteExt};
//! use moonpool::{Listener, NetworkProvider, TokioNetworkProvider};
//!
//! # fn main() -> std::io::Result<()> {
//! let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! runtime.block_on(async {
//!     let provider = TokioNetworkProvider::new();
//!     let listener = provider.bind("127.0.0.1:0").await?;
//!     let addr = listener.local_addr()?;
//!
//!     let mut client = provider.connect(&addr).await?;
//!     let (mut server, _peer) = listener.accept().await?;
//!
//!     client.write_all(b"ping").await?;
//!     client.close().await?; // EOF for the server after "ping"
//!     let mut received = Vec::new();
//!     server.read_to_end(&mut received).await?;
//!     assert_eq!(received, b"ping");
//!     Ok(())
//! })
//! # }
//! ```

use std::future::Future;
use std::io;
use std::time::Duration;

use ::tokio::net::{TcpListener, TcpStream};
use ::tokio::time::Instant;
use tokio_util::compat::{Compat, TokioAsyncReadCompatExt};

use crate::provider::split_host_port;
use crate::provider::{Clock, Listener, NetworkProvider, Stream};
use crate::real::{connect_any, set_linger_zero};

/// The addresses `addr` stands for: an IP literal at once, a name through
/// [`tokio::net::lookup_host`] (Tokio's blocking pool), reported as `NotFound` if unknown.
async fn resolve(addr: &str) -> io::Result<Vec<std::net::SocketAddr>> {
    if let Ok(addr) = addr.parse() {
        return Ok(vec![addr]);
    }
    let (host, port) = split_host_port(addr)?;
    let not_found = |reason: String| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("failed to resolve {host:?}: {reason}"),
        )
    };
    match ::tokio::net::lookup_host((host, port)).await {
        Ok(addrs) => {
            let addrs: Vec<_> = addrs.collect();
            if addrs.is_empty() {
                Err(not_found("no addresses".into()))
            } else {
                Ok(addrs)
            }
        }
        Err(e) => Err(not_found(e.to_string())),
    }
}

/// A [`NetworkProvider`] over Tokio's TCP sockets; must be used inside a Tokio runtime.
///
/// Host names are resolved with [`tokio::net::lookup_host`] and each address is tried in
/// turn; an unknown name is `NotFound`, as with the other providers.
/// Streams are [`Compat`]`<tokio::net::TcpStream>` with `TCP_NODELAY` on; closing one
/// ([`AsyncWriteExt::close`](futures::io::AsyncWriteExt::close)) shuts down its write side, so
/// the other side reads end-of-file. Clones share one [`TokioClock`] (and so one origin).
///
/// See the [module documentation](crate::tokio) for an example and the runtime requirements.
#[derive(Debug, Clone, Default)]
pub struct TokioNetworkProvider {
    clock: TokioClock,
}

impl TokioNetworkProvider {
    /// A provider whose clock's origin is now; needs no runtime to be created.
    pub fn new() -> Self {
        Self::default()
    }
}

impl NetworkProvider for TokioNetworkProvider {
    type Stream = Compat<TcpStream>;
    type Listener = TokioListener;
    type Clock = TokioClock;

    fn bind(&self, addr: &str) -> impl Future<Output = io::Result<TokioListener>> {
        let addr = addr.to_string();
        async move {
            let addrs = resolve(&addr).await?;
            connect_any(addrs, |addr| async move {
                let inner = TcpListener::bind(addr).await?;
                Ok(TokioListener { inner })
            })
            .await
        }
    }

    fn connect(&self, addr: &str) -> impl Future<Output = io::Result<Compat<TcpStream>>> {
        let addr = addr.to_string();
        async move {
            let addrs = resolve(&addr).await?;
            connect_any(addrs, |addr| async move {
                let stream = TcpStream::connect(addr).await?;
                stream.set_nodelay(true)?;
                Ok(stream.compat())
            })
            .await
        }
    }

    fn clock(&self) -> TokioClock {
        self.clock
    }

    fn random_seed(&self) -> u64 {
        crate::real::os_random_seed()
    }
}

impl Stream for Compat<TcpStream> {
    fn local_addr(&self) -> io::Result<String> {
        Ok(self.get_ref().local_addr()?.to_string())
    }

    fn peer_addr(&self) -> io::Result<String> {
        Ok(self.get_ref().peer_addr()?.to_string())
    }

    fn abort(self) {
        // As for `RealStream`: without SO_LINGER the close is graceful, which still ends it.
        let _ = set_linger_zero(self.get_ref());
    }
}

/// A TCP listener of a [`TokioNetworkProvider`]; accepted streams have `TCP_NODELAY` on.
#[derive(Debug)]
pub struct TokioListener {
    inner: TcpListener,
}

impl Listener for TokioListener {
    type Stream = Compat<TcpStream>;

    async fn accept(&self) -> io::Result<(Compat<TcpStream>, String)> {
        let (stream, peer) = self.inner.accept().await?;
        stream.set_nodelay(true)?;
        Ok((stream.compat(), peer.to_string()))
    }

    fn local_addr(&self) -> io::Result<String> {
        Ok(self.inner.local_addr()?.to_string())
    }
}

/// A [`Clock`] over Tokio's time: [`tokio::time::Instant`] and
/// [`tokio::time::sleep`].
///
/// [`now`](Clock::now) is the time elapsed since the clock was created (clones share that
/// origin); it follows Tokio's clock, so it also stands still while Tokio's time is paused.
/// Sleeping must happen inside a Tokio runtime with time enabled.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use moonpool::{Clock, TokioClock};
///
/// let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
/// runtime.block_on(async {
///     let clock = TokioClock::new();
///     let slow = clock.timeout(Duration::from_millis(10), futures::future::pending::<()>());
///     assert!(slow.await.is_err());
///     assert!(clock.now() >= Duration::from_millis(10));
/// });
/// ```
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    origin: Instant,
}

impl TokioClock {
    /// A clock whose origin is now; needs no runtime to be created.
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
        }
    }
}

impl Default for TokioClock {
    /// Same as [`TokioClock::new`].
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for TokioClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + use<> {
        // The deadline is fixed now, but the runtime is only needed once the sleep is polled.
        let deadline = Instant::now().checked_add(duration);
        async move {
            match deadline {
                Some(deadline) => ::tokio::time::sleep_until(deadline).await,
                None => std::future::pending().await,
            }
        }
    }
}
