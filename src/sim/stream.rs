//! [`SimTcpStream`]: one end of a simulated TCP connection.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::io::{AsyncRead, AsyncWrite};

use super::events::Event;
use super::net::Connection;
use super::pipe::Segment;
use super::world::{WeakSimWorld, WorldState};

/// Side index of the connecting end: it writes `pipes[CLIENT]`.
pub(crate) const CLIENT: usize = 0;
/// Side index of the accepted end: it writes `pipes[SERVER]`.
pub(crate) const SERVER: usize = 1;

/// One end of a simulated TCP connection: [`AsyncRead`] + [`AsyncWrite`].
///
/// - A write accepts as many bytes as fit in the send buffer (`NetworkConfig::send_buffer_bytes`
///   of in-flight plus unread bytes per direction) and returns `Pending` when it is full, until
///   the peer reads. Bytes become readable after a `write_latency` draw, never overtaking
///   earlier bytes.
/// - A read returns whatever is readable, `Pending` when nothing is, and `Ok(0)` after EOF.
/// - [`close`](futures::io::AsyncWriteExt::close) (and dropping) is a graceful close: the
///   peer reads the remaining data, then `Ok(0)`. Writes after `close` fail with `BrokenPipe`.
///   Closing a reset connection is a no-op returning `Ok`.
/// - Dropping the stream also discards its unread data; the peer's later writes then fail with
///   `ConnectionReset` (as a real RST would make them).
/// - [`reset`](Self::reset), or a random reset (`NetworkConfig::reset_probability`), is an
///   abortive close: unread data is discarded and every later read or write on either side
///   fails with `ConnectionReset`. Faults never lose bytes without such a visible error.
/// - Once the world is dropped, reads and writes fail with `NotConnected`.
#[derive(Debug)]
pub struct SimTcpStream {
    world: WeakSimWorld,
    conn: u64,
    side: usize,
    local: SocketAddr,
    peer: SocketAddr,
}

fn err(kind: io::ErrorKind, what: &str) -> io::Error {
    io::Error::new(kind, what.to_string())
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

    /// This end's `"ip:port"`.
    pub fn local_addr(&self) -> String {
        self.local.to_string()
    }

    /// The other end's `"ip:port"`.
    pub fn peer_addr(&self) -> String {
        self.peer.to_string()
    }

    /// Abortive close: both sides' later reads and writes fail with `ConnectionReset`.
    pub fn reset(&self) {
        if let Some(world) = self.world.upgrade() {
            world.with_state(|s| {
                if let Some(conn) = s.net.conns.get_mut(&self.conn) {
                    conn.reset();
                }
            });
        }
    }

    /// Runs `f` on the world state and this stream's connection.
    fn with_conn<R>(&self, f: impl FnOnce(&mut WorldState, u64) -> io::Result<R>) -> io::Result<R> {
        let world = self.world.io_upgrade()?;
        world.with_state(|s| f(s, self.conn))
    }
}

fn conn_mut(s: &mut WorldState, id: u64) -> io::Result<&mut Connection> {
    s.net
        .conns
        .get_mut(&id)
        .ok_or_else(|| err(io::ErrorKind::NotConnected, "connection is gone"))
}

/// Puts `segment` in flight on `pipe` after a `write_latency` draw and schedules its delivery.
fn send(s: &mut WorldState, conn: u64, pipe: usize, segment: Segment<'_>) {
    let latency = s.rng.latency(s.config.write_latency);
    let now = s.now;
    let c = s
        .net
        .conns
        .get_mut(&conn)
        .expect("caller checked the connection");
    let at = c.pipes[pipe].push(now.saturating_add(latency), segment);
    s.events.schedule(at, Event::Deliver { conn, pipe });
}

impl AsyncRead for SimTcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let side = self.side;
        let result = self.with_conn(|s, id| {
            let reset_probability = s.config.reset_probability;
            let c = conn_mut(s, id)?;
            if c.reset {
                return Err(err(io::ErrorKind::ConnectionReset, "connection reset"));
            }
            if buf.is_empty() {
                return Ok(Some(0));
            }
            let pipe = &mut c.pipes[1 - side];
            if pipe.has_readable() {
                if s.rng.chance(reset_probability) {
                    let c = conn_mut(s, id)?;
                    c.reset();
                    return Err(err(io::ErrorKind::ConnectionReset, "connection reset"));
                }
                let c = conn_mut(s, id)?;
                return Ok(Some(c.pipes[1 - side].read_into(buf)));
            }
            if pipe.eof {
                return Ok(Some(0));
            }
            super::pipe::set_waker(&mut pipe.reader, cx.waker());
            Ok(None)
        });
        match result {
            Ok(Some(n)) => Poll::Ready(Ok(n)),
            Ok(None) => Poll::Pending,
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

impl AsyncWrite for SimTcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let side = self.side;
        let result = self.with_conn(|s, id| {
            let capacity = s.config.send_buffer_bytes;
            let reset_probability = s.config.reset_probability;
            let c = conn_mut(s, id)?;
            if c.reset {
                return Err(err(io::ErrorKind::ConnectionReset, "connection reset"));
            }
            let pipe = &mut c.pipes[side];
            if pipe.write_closed {
                return Err(err(io::ErrorKind::BrokenPipe, "write after close"));
            }
            if pipe.reader_dropped {
                return Err(err(
                    io::ErrorKind::ConnectionReset,
                    "peer dropped its stream",
                ));
            }
            if buf.is_empty() {
                return Ok(Some(0));
            }
            let free = capacity.saturating_sub(pipe.buffered());
            if free == 0 {
                super::pipe::set_waker(&mut pipe.writer, cx.waker());
                return Ok(None);
            }
            if s.rng.chance(reset_probability) {
                conn_mut(s, id)?.reset();
                return Err(err(io::ErrorKind::ConnectionReset, "connection reset"));
            }
            let n = free.min(buf.len());
            send(s, id, side, Segment::Data(&buf[..n]));
            Ok(Some(n))
        });
        match result {
            Ok(Some(n)) => Poll::Ready(Ok(n)),
            Ok(None) => Poll::Pending,
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let side = self.side;
        Poll::Ready(self.with_conn(|s, id| {
            close_write(s, id, side);
            Ok(())
        }))
    }
}

/// Graceful close of `side`'s write direction: EOF in flight after all written bytes.
fn close_write(s: &mut WorldState, id: u64, side: usize) {
    let Some(c) = s.net.conns.get_mut(&id) else {
        return;
    };
    let pipe = &mut c.pipes[side];
    if c.reset || pipe.write_closed {
        return;
    }
    pipe.write_closed = true;
    if !pipe.reader_dropped {
        send(s, id, side, Segment::Eof);
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
        let s = &mut *state;
        close_write(s, self.conn, self.side);
        if let Some(c) = s.net.conns.get_mut(&self.conn) {
            let pipe = &mut c.pipes[1 - self.side];
            pipe.reader_dropped = true;
            pipe.discard();
        }
        s.net.release(self.conn);
    }
}
