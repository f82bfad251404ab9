//! The provider traits: the only things the Peer sees.
//!
//! A [`NetworkProvider`] opens TCP-like byte streams and listeners; its [`Clock`] tells time and
//! sleeps. The simulator (`SimNetworkProvider`), the async-io
//! provider (`RealNetworkProvider`) and, with the `tokio`
//! feature, a Tokio provider implement them, so code written against these traits runs over a
//! deterministic simulated network or over real sockets by swapping one value.
//!
//! Addresses are `"ip:port"` strings (`"10.0.0.1:8080"`, `"127.0.0.1:0"`, `"[::1]:80"`); an
//! address that does not parse is an [`io::Error`] of kind [`io::ErrorKind::InvalidInput`]
//! (see [`parse_addr`]).

use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::task::Poll;
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
        let sleep = self.sleep(duration);
        async move {
            let mut future = pin!(future);
            let mut sleep = pin!(sleep);
            poll_fn(|cx| {
                if let Poll::Ready(output) = future.as_mut().poll(cx) {
                    return Poll::Ready(Ok(output));
                }
                sleep.as_mut().poll(cx).map(|()| Err(Elapsed))
            })
            .await
        }
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
/// [`AsyncWriteExt::close`](futures::io::AsyncWriteExt::close) sends end-of-file to the other
/// side after everything written so far; dropping the stream closes it.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + 'static {}

impl<T: AsyncRead + AsyncWrite + Unpin + 'static> Stream for T {}

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
    /// `InvalidInput` for an address that does not parse, `AddrInUse` if it is taken.
    fn bind(&self, addr: &str) -> impl Future<Output = io::Result<Self::Listener>>;

    /// Opens a connection to `addr`.
    ///
    /// # Errors
    /// `InvalidInput` for an address that does not parse, `ConnectionRefused` if nothing
    /// listens there, or any other I/O error of the network.
    fn connect(&self, addr: &str) -> impl Future<Output = io::Result<Self::Stream>>;

    /// The clock of this network.
    fn clock(&self) -> Self::Clock;

    /// A fresh 64-bit seed for a component's own random choices (such as backoff jitter).
    ///
    /// The simulator draws it from the world's seeded RNG, so runs replay exactly; real
    /// providers draw it from the operating system's hasher randomness.
    fn random_seed(&self) -> u64;
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
