//! The async-io provider: real TCP sockets and timers (the production default).
//!
//! [`RealNetworkProvider`] implements [`NetworkProvider`](crate::NetworkProvider) over
//! [`async_io::Async`]: streams are [`RealStream`]s (an `Async<std::net::TcpStream>` with
//! `TCP_NODELAY` on, whose `close` sends end-of-file), listeners are [`RealListener`]s, and [`RealClock`] sleeps on [`async_io::Timer`]s.
//!
//! It runs under any executor: inside [`async_io::block_on`] the reactor is driven by the
//! blocked thread; elsewhere (async-executor, `futures::executor::block_on`) async-io drives it
//! from its own background thread. Every future it returns is `Send`.
//!
//! # Examples
//! ```
//! use futures::io::{AsyncReadExt, AsyncWriteExt};
//! use moonpool::{Listener, NetworkProvider, RealNetworkProvider};
//!
//! # fn main() -> std::io::Result<()> {
//! async_io::block_on(async {
//!     let provider = RealNetworkProvider::new();
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

mod clock;
mod net;
mod resolve;
mod stream;

pub use clock::RealClock;
#[cfg(feature = "tokio")]
pub(crate) use net::os_random_seed;
pub use net::{RealListener, RealNetworkProvider};
#[cfg(feature = "tokio")]
pub(crate) use resolve::{connect_any, set_linger_zero};
pub use stream::RealStream;
