//! [`RealNetworkProvider`] and [`RealListener`]: TCP over async-io.

use std::collections::hash_map::RandomState;
use std::future::Future;
use std::hash::BuildHasher;
use std::io;
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};

use async_io::Async;

use super::resolve::{connect_any, resolve};
use super::{RealClock, RealStream};
use crate::provider::{Listener, NetworkProvider};

/// A [`NetworkProvider`] over real TCP sockets, driven by async-io.
///
/// Addresses may be host names (`"localhost:4500"`): they are resolved on a helper thread,
/// never blocking the executor, and each resolved address is tried in turn.
/// Streams are [`RealStream`]s (async-io TCP streams with `TCP_NODELAY` on); closing one
/// ([`AsyncWriteExt::close`](futures::io::AsyncWriteExt::close)) shuts down its write side, so
/// the other side reads end-of-file. Clones share one [`RealClock`] (and so one origin).
///
/// See the [module documentation](crate::real) for an example.
#[derive(Debug, Clone, Default)]
pub struct RealNetworkProvider {
    clock: RealClock,
}

impl RealNetworkProvider {
    /// A provider whose clock's origin is now.
    pub fn new() -> Self {
        Self::default()
    }
}

impl NetworkProvider for RealNetworkProvider {
    type Stream = RealStream;
    type Listener = RealListener;
    type Clock = RealClock;

    fn bind(&self, addr: &str) -> impl Future<Output = io::Result<RealListener>> {
        let addr = addr.to_string();
        async move {
            let addrs = resolve(&addr).await?;
            connect_any(addrs, |addr| async move {
                Ok(RealListener {
                    inner: Async::<TcpListener>::bind(addr)?,
                })
            })
            .await
        }
    }

    fn connect(&self, addr: &str) -> impl Future<Output = io::Result<RealStream>> {
        let addr = addr.to_string();
        async move {
            let addrs = resolve(&addr).await?;
            connect_any(addrs, |addr| async move {
                RealStream::new(Async::<TcpStream>::connect(addr).await?)
            })
            .await
        }
    }

    fn clock(&self) -> RealClock {
        self.clock
    }

    fn random_seed(&self) -> u64 {
        os_random_seed()
    }
}

/// A TCP listener of a [`RealNetworkProvider`]; accepted streams have `TCP_NODELAY` on.
#[derive(Debug)]
pub struct RealListener {
    inner: Async<TcpListener>,
}

impl Listener for RealListener {
    type Stream = RealStream;

    async fn accept(&self) -> io::Result<(RealStream, String)> {
        let (stream, peer) = self.inner.accept().await?;
        Ok((RealStream::new(stream)?, peer.to_string()))
    }

    fn local_addr(&self) -> io::Result<String> {
        Ok(self.inner.get_ref().local_addr()?.to_string())
    }
}

/// 64 bits of the operating system's hasher randomness, different at every call: the seed real
/// providers hand out (the simulator draws its seeds from the world instead).
pub(crate) fn os_random_seed() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    RandomState::new().hash_one(COUNTER.fetch_add(1, Ordering::Relaxed))
}
