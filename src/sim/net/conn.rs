//! A simulated TCP connection and the socket operations on it, as Linux answers them.
//!
//! Each side is an [`End`]: the pipe of segments travelling toward it and its socket state.
//! The rules, each checked against Linux by `tests/tcp_contract.rs`:
//! - A read returns unread bytes first, even after the connection broke; then `Ok(0)` once a
//!   FIN arrived; then a pending error, once (`ConnectionReset`, or `BrokenPipe` if the RST
//!   came after the peer's FIN); then `Ok(0)` for ever.
//! - A write fails with a pending error once, then with `BrokenPipe` after an RST or after this
//!   side's own shutdown; otherwise it takes what fits in the send buffer.
//! - Closing a socket that holds unread bytes, aborting it, or data arriving at a socket that
//!   is closed sends an RST; otherwise a close sends a FIN after the data.
//! - So a write into a connection whose peer is gone is accepted (its bytes are lost with the
//!   connection) and a later one fails, once the peer's RST came back.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::task::{Context, Poll};

use super::error;
use crate::sim::events::Event;
use crate::sim::pipe::{set_waker, wake, Arrival, Pipe, Segment};
use crate::sim::world::WorldState;

/// Side index of the connecting end.
pub(crate) const CLIENT: usize = 0;
/// Side index of the accepted end.
pub(crate) const SERVER: usize = 1;

/// One side of a connection: its socket state and the pipe toward it.
#[derive(Debug)]
pub(crate) struct End {
    /// The host this side lives on.
    pub(crate) host: IpAddr,
    pub(crate) local: SocketAddr,
    /// Segments travelling toward this side, and its unread bytes.
    rx: Pipe,
    /// The peer's FIN arrived: reads return `Ok(0)` once the unread bytes are gone.
    fin_received: bool,
    /// The error the next read or write returns (Linux's `sk_err`, reported once).
    error: Option<io::ErrorKind>,
    /// The connection is gone for this side (an RST was received or sent).
    reset: bool,
    /// This side shut down its writing (FIN sent or queued).
    fin_sent: bool,
    /// A stream handle (or the listener's backlog) holds this side.
    open: bool,
}

impl End {
    fn new(host: IpAddr, local: SocketAddr) -> Self {
        Self {
            host,
            local,
            rx: Pipe::default(),
            fin_received: false,
            error: None,
            reset: false,
            fin_sent: false,
            open: true,
        }
    }
}

/// A connection: two ends, `ends[CLIENT]` and `ends[SERVER]`.
#[derive(Debug)]
pub(crate) struct Connection {
    pub(crate) ends: [End; 2],
}

impl Connection {
    pub(crate) fn new(hosts: [IpAddr; 2], locals: [SocketAddr; 2]) -> Self {
        Self {
            ends: [End::new(hosts[0], locals[0]), End::new(hosts[1], locals[1])],
        }
    }

    /// Neither side has a handle any more.
    pub(crate) fn is_closed(&self) -> bool {
        !self.ends[CLIENT].open && !self.ends[SERVER].open
    }

    /// The client side's host and ephemeral port.
    pub(crate) fn client_port(&self) -> (IpAddr, u16) {
        let end = &self.ends[CLIENT];
        (end.host, end.local.port())
    }
}

fn gone() -> io::Error {
    error(io::ErrorKind::NotConnected, "connection is gone".into())
}

/// The error a socket reports when an RST reaches it.
fn rst_error(fin_received: bool) -> io::ErrorKind {
    if fin_received {
        io::ErrorKind::BrokenPipe
    } else {
        io::ErrorKind::ConnectionReset
    }
}

fn kind_error(kind: io::ErrorKind) -> io::Error {
    let what = match kind {
        io::ErrorKind::ConnectionReset => "connection reset by peer",
        io::ErrorKind::BrokenPipe => "broken pipe",
        _ => "connection error",
    };
    error(kind, what.into())
}

impl WorldState {
    /// Puts `segment` in flight toward `to` after a `write_latency` draw.
    fn transmit(&mut self, conn: u64, to: usize, segment: Segment<'_>) {
        let latency = self.rng.latency(self.config.write_latency);
        let at = self.now.saturating_add(latency);
        let Some(c) = self.net.conns.get_mut(&conn) else {
            return;
        };
        let at = c.ends[to].rx.push(at, segment);
        self.events.schedule(at, Event::Deliver { conn, to });
    }

    /// An RST reaches `side`: the connection is gone for it; unread bytes stay readable.
    fn take_rst(&mut self, conn: u64, side: usize) {
        let Some(c) = self.net.conns.get_mut(&conn) else {
            return;
        };
        let end = &mut c.ends[side];
        if end.reset {
            return;
        }
        end.reset = true;
        if end.open {
            end.error = Some(rst_error(end.fin_received));
        }
        end.rx.drop_in_flight();
        c.ends[1 - side].rx.wake_all();
    }

    /// The oldest segment in flight toward `to` arrives (a `Deliver` event).
    pub(crate) fn deliver(&mut self, conn: u64, to: usize) {
        let Some(c) = self.net.conns.get_mut(&conn) else {
            return;
        };
        let end = &mut c.ends[to];
        let Some(arrival) = end.rx.deliver() else {
            return;
        };
        if !end.open || end.reset {
            // A closed socket answers data with an RST; a dead one drops whatever arrives.
            if let Arrival::Data(_) = arrival {
                end.rx.discard_readable();
                if !end.reset {
                    end.reset = true;
                    self.transmit(conn, 1 - to, Segment::Rst);
                }
            }
            return;
        }
        match arrival {
            Arrival::Data(_) => wake(&mut end.rx.reader),
            Arrival::Fin => {
                end.fin_received = true;
                wake(&mut end.rx.reader);
            }
            Arrival::Rst => self.take_rst(conn, to),
        }
    }

    /// A read on `side`.
    pub(crate) fn tcp_read(
        &mut self,
        conn: u64,
        side: usize,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let reset_probability = self.config.reset_probability;
        let Some(c) = self.net.conns.get_mut(&conn) else {
            return Poll::Ready(Err(gone()));
        };
        let end = &mut c.ends[side];
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if end.rx.has_readable() {
            if !end.reset && self.rng.chance(reset_probability) {
                self.reset_connection(conn);
                return self.tcp_read(conn, side, cx, buf);
            }
            let c = self.net.conns.get_mut(&conn).expect("checked above");
            return Poll::Ready(Ok(c.ends[side].rx.read_into(buf)));
        }
        if end.fin_received {
            return Poll::Ready(Ok(0));
        }
        if let Some(kind) = end.error.take() {
            return Poll::Ready(Err(kind_error(kind)));
        }
        if end.reset {
            return Poll::Ready(Ok(0));
        }
        set_waker(&mut end.rx.reader, cx.waker());
        Poll::Pending
    }

    /// A write on `side`.
    pub(crate) fn tcp_write(
        &mut self,
        conn: u64,
        side: usize,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let capacity = self.config.send_buffer_bytes;
        let reset_probability = self.config.reset_probability;
        let Some(c) = self.net.conns.get_mut(&conn) else {
            return Poll::Ready(Err(gone()));
        };
        let [a, b] = &mut c.ends;
        let (end, peer) = if side == CLIENT { (a, b) } else { (b, a) };
        if let Some(kind) = end.error.take() {
            return Poll::Ready(Err(kind_error(kind)));
        }
        if end.reset || end.fin_sent {
            return Poll::Ready(Err(kind_error(io::ErrorKind::BrokenPipe)));
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let free = capacity.saturating_sub(peer.rx.buffered());
        if free == 0 {
            set_waker(&mut peer.rx.writer, cx.waker());
            return Poll::Pending;
        }
        if self.rng.chance(reset_probability) {
            self.reset_connection(conn);
            return self.tcp_write(conn, side, cx, buf);
        }
        let n = free.min(buf.len());
        self.transmit(conn, 1 - side, Segment::Data(&buf[..n]));
        Poll::Ready(Ok(n))
    }

    /// Shuts down `side`'s writing: a FIN in flight after everything written.
    ///
    /// A socket whose connection is gone answers `NotConnected`, as Linux's `shutdown` does.
    pub(crate) fn tcp_shutdown(&mut self, conn: u64, side: usize) -> io::Result<()> {
        let c = self.net.conns.get_mut(&conn).ok_or_else(gone)?;
        let end = &mut c.ends[side];
        if end.reset {
            return Err(gone());
        }
        if !end.fin_sent {
            end.fin_sent = true;
            self.transmit(conn, 1 - side, Segment::Fin);
        }
        Ok(())
    }

    /// The handle of `side` is dropped: an RST if it held unread bytes, else a FIN.
    pub(crate) fn tcp_close(&mut self, conn: u64, side: usize) {
        let Some(c) = self.net.conns.get_mut(&conn) else {
            return;
        };
        let end = &mut c.ends[side];
        end.open = false;
        end.error = None;
        let segment = if end.reset {
            None
        } else if end.rx.has_readable() {
            end.reset = true;
            Some(Segment::Rst)
        } else if !end.fin_sent {
            end.fin_sent = true;
            Some(Segment::Fin)
        } else {
            None
        };
        end.rx.discard_readable();
        if let Some(segment) = segment {
            self.transmit(conn, 1 - side, segment);
        }
        self.net.forget_if_closed(conn);
    }

    /// Abortive close of `side` (`SO_LINGER` 0): an RST, whatever it held.
    pub(crate) fn tcp_abort(&mut self, conn: u64, side: usize) {
        if let Some(c) = self.net.conns.get_mut(&conn) {
            let end = &mut c.ends[side];
            if !end.reset {
                end.reset = true;
                self.transmit(conn, 1 - side, Segment::Rst);
            }
        }
        self.tcp_close(conn, side);
    }

    /// The network resets the connection: both sides get an RST now, and whatever was in
    /// flight is lost with the connection (bytes already arrived stay readable).
    pub(crate) fn reset_connection(&mut self, conn: u64) {
        for side in [CLIENT, SERVER] {
            self.take_rst(conn, side);
        }
    }
}
