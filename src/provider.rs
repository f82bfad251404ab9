//! The provider traits: the only things the Peer sees.
//!
//! A [`NetworkProvider`] opens TCP-like byte streams and listeners; its [`Clock`] tells time and
//! sleeps. The simulator (`SimNetworkProvider`), the async-io
//! provider (`RealNetworkProvider`) and, with the `tokio`
//! feature, a Tokio provider implement them, so code written against these traits runs over a
//! deterministic simulated network or over real sockets by swapping one value.
//!
//! Addresses are `"host:port"` strings: an IP (`"10.0.0.1:8080"`, `"127.0.0.1:0"`,
//! `"[::1]:80"`) or a host name (`"localhost:4500"`, `"server:4500"`). Real providers resolve
//! names without blocking the executor and try each address in turn; the simulator resolves
//! them through its deterministic DNS. An address that does not parse is an [`io::Error`] of
//! kind [`io::ErrorKind::InvalidInput`] (see [`split_host_port`]); a name that does not
//! resolve is one of kind [`io::ErrorKind::NotFound`].

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::io::{AsyncRead, AsyncWrite};

/// A source of time: what the Peer uses instead of the wall clock.
///
/// [`now`](Clock::now) is the time elapsed since the clock's origin (the simulation's start for
/// the simulator, the provider's creation for real providers). Code written against `Clock`
/// never reads the wall clock and never blocks a thread, so in a simulation it runs in virtual
/// time: a one-hour [`sleep`](Clock::sleep) returns at once in wall time.
pub trait Clock: Clone + 'static {
    /// Time elapsed since this clock's origin.
    fn now(&self) -> Duration;

    /// Completes once `duration` has passed on this clock. The future does not borrow the
    /// clock.
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + use<Self>;

    /// Runs `future` for at most `duration`; [`Elapsed`] if it did not finish in time.
    ///
    /// The future is polled before the timer, so a future that is ready at the deadline wins.
    /// The returned future does not borrow the clock, so a temporary clock works:
    /// `provider.clock().timeout(d, fut)`.
    fn timeout<F: Future>(
        &self,
        duration: Duration,
        future: F,
    ) -> impl Future<Output = Result<F::Output, Elapsed>> + use<Self, F> {
        Timeout {
            future,
            sleep: self.sleep(duration),
        }
    }
}

pin_project_lite::pin_project! {
    /// [`Clock::timeout`]'s future: the future, then the timer. A named future, not an `async`
    /// block, so the inner future is not moved again at the first poll.
    struct Timeout<F, S> {
        #[pin]
        future: F,
        #[pin]
        sleep: S,
    }
}

impl<F: Future, S: Future<Output = ()>> Future for Timeout<F, S> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(output) = this.future.poll(cx) {
            return Poll::Ready(Ok(output));
        }
        this.sleep.poll(cx).map(|()| Err(Elapsed))
    }
}

/// The error of [`Clock::timeout`]: the deadline passed before the future finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, thiserror::Error)]
#[error("deadline elapsed")]
pub struct Elapsed;

impl From<Elapsed> for io::Error {
    fn from(_: Elapsed) -> Self {
        io::Error::new(io::ErrorKind::TimedOut, "deadline elapsed")
    }
}

/// A byte stream as a provider hands it out: a TCP connection.
///
/// The three ways to end one, the same on every provider:
/// - [`AsyncWriteExt::close`](futures::io::AsyncWriteExt::close) shuts down the write side
///   (TCP's FIN, `shutdown(SHUT_WR)`): the other side reads end-of-file after everything
///   written so far, and this side can still read. On a connection that is already gone it
///   fails with `NotConnected`, as `shutdown` does (the Tokio provider returns `Ok` there).
/// - Dropping the stream closes it: a FIN, or an RST if it still held unread received bytes
///   (Linux's rule), so the other side's reads fail with `ConnectionReset`.
/// - [`abort`](Stream::abort) is an abortive close (`SO_LINGER` 0): an RST at once, whatever
///   was buffered.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + 'static {
    /// This end's `"ip:port"`.
    ///
    /// # Errors
    /// The socket's error (real providers), if it has none any more.
    fn local_addr(&self) -> io::Result<String>;

    /// The other end's `"ip:port"`.
    ///
    /// # Errors
    /// `NotConnected` where the socket no longer knows its peer (real providers, after the
    /// connection is gone).
    fn peer_addr(&self) -> io::Result<String>;

    /// Abortive close: the other side's pending and next operations fail with
    /// `ConnectionReset`, and whatever either side had not read yet may be discarded.
    fn abort(self)
    where
        Self: Sized;
}

/// A bound listener that accepts incoming connections.
pub trait Listener: 'static {
    /// The stream type of accepted connections.
    type Stream: Stream;

    /// Waits for the next incoming connection; returns it with the remote `"ip:port"`.
    fn accept(&self) -> impl Future<Output = io::Result<(Self::Stream, String)>>;

    /// The `"ip:port"` this listener is bound to (with the real port if bound to port 0).
    fn local_addr(&self) -> io::Result<String>;
}

/// A network: connects to and listens on `"ip:port"` addresses, and carries a [`Clock`].
///
/// One provider value gives everything a Peer needs: streams, a clock
/// ([`clock`](NetworkProvider::clock)) and a seed for its jitter
/// ([`random_seed`](NetworkProvider::random_seed)). Cloning is cheap and shares the network.
pub trait NetworkProvider: Clone + 'static {
    /// A connected byte stream.
    type Stream: Stream;
    /// A bound listener handing out [`Self::Stream`]s.
    type Listener: Listener<Stream = Self::Stream>;
    /// The clock of this network.
    type Clock: Clock;

    /// Binds a listener to `addr`; port 0 picks a free port.
    ///
    /// # Errors
    /// `InvalidInput` for an address that does not parse, `NotFound` for a name that does not
    /// resolve, `AddrInUse` if it is taken (a wildcard and a specific address on one port
    /// conflict), `AddrNotAvailable` for an address that is not this host's.
    fn bind(&self, addr: &str) -> impl Future<Output = io::Result<Self::Listener>>;

    /// Opens a connection to `addr`.
    ///
    /// # Errors
    /// `InvalidInput` for an address that does not parse, `NotFound` for a name that does not
    /// resolve, `ConnectionRefused` if nothing listens there, `AddrNotAvailable` if no local
    /// port is free, or any other I/O error of the network.
    fn connect(&self, addr: &str) -> impl Future<Output = io::Result<Self::Stream>>;

    /// The clock of this network.
    fn clock(&self) -> Self::Clock;

    /// A fresh 64-bit seed for a component's own random choices (such as backoff jitter).
    ///
    /// The simulator draws it from the world's seeded RNG, so runs replay exactly; real
    /// providers draw it from the operating system's hasher randomness.
    fn random_seed(&self) -> u64;
}

/// Splits `"host:port"` (or `"[v6]:port"`) into the host and the port.
///
/// # Errors
/// An [`io::Error`] of kind [`io::ErrorKind::InvalidInput`] naming the address, if it has no
/// port, an empty host, or a port that is not a number in `0..=65535`.
///
/// # Examples
/// ```
/// use moonpool::provider::split_host_port;
///
/// assert_eq!(split_host_port("server:4500").unwrap(), ("server", 4500));
/// assert_eq!(split_host_port("[::1]:80").unwrap(), ("::1", 80));
/// assert!(split_host_port("server").is_err());
/// ```
pub fn split_host_port(addr: &str) -> io::Result<(&str, u16)> {
    let invalid = || {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid address {addr:?}: expected \"host:port\""),
        )
    };
    let (host, port) = addr.rsplit_once(':').ok_or_else(invalid)?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(invalid());
    }
    let port = port.parse().map_err(|_| invalid())?;
    Ok((host, port))
}

/// Parses an `"ip:port"` address.
///
/// # Errors
/// An [`io::Error`] of kind [`io::ErrorKind::InvalidInput`] naming the address.
///
/// # Examples
/// ```
/// use moonpool::provider::parse_addr;
///
/// assert_eq!(parse_addr("10.0.0.1:8080").unwrap().port(), 8080);
/// let err = parse_addr("not an address").unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
/// ```
pub fn parse_addr(addr: &str) -> io::Result<SocketAddr> {
    addr.parse().map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid address {addr:?}: expected \"ip:port\""),
        )
    })
}
