//! [`SimTcpStream`]: a handle on one end of a simulated TCP connection.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::io::{AsyncRead, AsyncWrite};

use super::world::WeakSimWorld;
use crate::provider::Stream;

/// One end of a simulated TCP connection: [`AsyncRead`] + [`AsyncWrite`] + [`Stream`].
///
/// It behaves as a Linux TCP socket does (the rules are in `tests/tcp_contract.rs`, which runs
/// the same checks over real sockets):
/// - A write takes as many bytes as fit in the send buffer (`NetworkConfig::send_buffer_bytes`
///   of in-flight plus unread bytes per direction) and is `Pending` while it is full. Bytes
///   arrive after a `write_latency` draw, never overtaking earlier bytes.
/// - A read returns whatever arrived; `Ok(0)` after the peer's FIN; after an RST, the bytes
///   that arrived before it, then `ConnectionReset` once, then `Ok(0)`.
/// - [`close`](futures::io::AsyncWriteExt::close) shuts down the write side (a FIN after the
///   data; reading goes on); later writes fail with `BrokenPipe`.
/// - Dropping the stream closes it: a FIN, or an RST if it still held unread bytes. Bytes that
///   reach a closed socket are answered with an RST, so a write into a connection whose peer
///   is gone is accepted and a later one fails (`BrokenPipe` or `ConnectionReset`).
/// - [`abort`](Stream::abort) is an abortive close (`SO_LINGER` 0): an RST at once.
/// - [`reset`](Self::reset), or a network fault, resets both sides: bytes in flight are lost
///   with the connection, and both see the RST.
/// - Once the world is dropped, reads and writes fail with `NotConnected`.
#[derive(Debug)]
pub struct SimTcpStream {
    world: WeakSimWorld,
    conn: u64,
    side: usize,
    local: SocketAddr,
    peer: SocketAddr,
}

impl SimTcpStream {
    pub(crate) fn new(
        world: WeakSimWorld,
        conn: u64,
        side: usize,
        local: SocketAddr,
        peer: SocketAddr,
    ) -> Self {
        Self {
            world,
            conn,
            side,
            local,
            peer,
        }
    }

    /// The network resets this connection: both sides' pending and later operations see an
    /// RST (`ConnectionReset`), and bytes still in flight are lost with it.
    pub fn reset(&self) {
        if let Some(world) = self.world.upgrade() {
            world.with_state(|s| s.reset_connection(self.conn));
        }
    }

    /// Runs `f` on the world state; `NotConnected` once the world is dropped.
    fn with_state<R>(
        &self,
        f: impl FnOnce(&mut super::world::WorldState) -> io::Result<R>,
    ) -> io::Result<R> {
        let world = self.world.io_upgrade()?;
        world.with_state(f)
    }

    fn poll_state<R>(
        &self,
        f: impl FnOnce(&mut super::world::WorldState) -> Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        match self.world.io_upgrade() {
            Ok(world) => world.with_state(f),
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

impl Stream for SimTcpStream {
    fn local_addr(&self) -> io::Result<String> {
        Ok(self.local.to_string())
    }

    fn peer_addr(&self) -> io::Result<String> {
        Ok(self.peer.to_string())
    }

    fn abort(self) {
        // Closing twice is a no-op, so the drop that follows changes nothing.
        if let Some(world) = self.world.upgrade() {
            if let Ok(mut state) = world.shared.state.try_borrow_mut() {
                state.tcp_abort(self.conn, self.side);
            }
        }
    }
}

impl AsyncRead for SimTcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_state(|s| s.tcp_read(self.conn, self.side, cx, buf))
    }
}

impl AsyncWrite for SimTcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_state(|s| s.tcp_write(self.conn, self.side, cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.with_state(|s| s.tcp_shutdown(self.conn, self.side)))
    }
}

impl Drop for SimTcpStream {
    fn drop(&mut self) {
        let Some(world) = self.world.upgrade() else {
            return;
        };
        let Ok(mut state) = world.shared.state.try_borrow_mut() else {
            return;
        };
        state.tcp_close(self.conn, self.side);
    }
}
