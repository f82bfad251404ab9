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
use std::time::Duration;

use super::error;
use crate::sim::events::Event;
use crate::sim::fault::{Detail, FaultKind, NetOp, Verdict};
use crate::sim::pipe::{set_waker, wake, Arrival, Pipe, Segment};
use crate::sim::world::WorldState;

/// TCP's minimum retransmission timeout: what a lost segment costs.
const MIN_RTO: Duration = Duration::from_millis(200);

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
    /// A read or write returned `error` (the self-check in `tcp_read`: an open socket's reset
    /// reads as end of stream only once an error has said so).
    error_reported: bool,
    /// This side shut down its writing (FIN sent or queued).
    fin_sent: bool,
    /// A stream handle (or the listener's backlog) holds this side.
    pub(crate) open: bool,
    /// Since when deliveries toward this side wait for an unreachable host.
    stalled_since: Option<Duration>,
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
            error_reported: false,
            fin_sent: false,
            open: true,
            stalled_since: None,
        }
    }
}

/// A connection: two ends, `ends[CLIENT]` and `ends[SERVER]`.
#[derive(Debug)]
pub(crate) struct Connection {
    pub(crate) ends: [End; 2],
    /// The link's extra latency between the two hosts, once looked up, with the generation
    /// of the link table it came from (`Faults::links_generation`): a segment then needs no
    /// search of the table.
    link_extra: Option<(u64, Duration)>,
}

impl Connection {
    pub(crate) fn new(hosts: [IpAddr; 2], locals: [SocketAddr; 2]) -> Self {
        Self {
            ends: [End::new(hosts[0], locals[0]), End::new(hosts[1], locals[1])],
            link_extra: None,
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
    /// Puts `segment` in flight toward `to` after a `write_latency` draw, the link's own
    /// latency and `extra`.
    fn transmit(&mut self, conn: u64, to: usize, segment: Segment<'_>, extra: Duration) {
        // Saturating: a link slowed by hand to `Duration::MAX` delivers never, not a panic.
        let mut latency = self
            .rng
            .latency(self.config.write_latency)
            .saturating_add(extra);
        if self.faults.links_matter(&self.config) {
            let Some(c) = self.net.conns.get(&conn) else {
                return;
            };
            let generation = self.faults.links_generation();
            let link = match c.link_extra {
                Some((drawn, link)) if drawn == generation => link,
                _ => {
                    let (from_host, to_host) = (c.ends[1 - to].host, c.ends[to].host);
                    let link = self.link_latency(from_host, to_host);
                    if let Some(c) = self.net.conns.get_mut(&conn) {
                        c.link_extra = Some((generation, link));
                    }
                    link
                }
            };
            latency = latency.saturating_add(link);
        }
        let at = self.now.saturating_add(latency);
        let Some(c) = self.net.conns.get_mut(&conn) else {
            return;
        };
        let at = c.ends[to].rx.push(at, segment);
        self.events.schedule(at, Event::Deliver { conn, to });
    }

    /// Whether deliveries toward `to` must wait: rescheduled past a clog, or parked until the
    /// hosts can reach each other again (arming the retransmission timeout).
    fn hold_delivery(&mut self, conn: u64, to: usize) -> bool {
        let Some(c) = self.net.conns.get_mut(&conn) else {
            return false;
        };
        if !c.ends[to].rx.has_in_flight() {
            return false;
        }
        let (from, host) = (c.ends[1 - to].host, c.ends[to].host);
        if let Some(until) = self.faults.clogged_until(conn, from, host, self.now) {
            self.events.schedule(until, Event::Deliver { conn, to });
            return true;
        }
        if self.faults.reachable(from, host, self.now) {
            return false;
        }
        self.faults.park(from, host, conn, to);
        if c.ends[to].stalled_since.is_none() {
            c.ends[to].stalled_since = Some(self.now);
            let at = self.now.saturating_add(self.config.retransmission_timeout);
            self.events.schedule(at, Event::Retransmit { conn, to });
        }
        true
    }

    /// A `Retransmit` event: if deliveries toward `to` still wait for an unreachable host
    /// after a whole retransmission timeout, the sender gives up (`TimedOut`); the receiver
    /// is not told and stays half-open.
    pub(crate) fn retransmit_timeout(&mut self, conn: u64, to: usize) {
        let rto = self.config.retransmission_timeout;
        let now = self.now;
        let Some(c) = self.net.conns.get_mut(&conn) else {
            return;
        };
        let waited = c.ends[to]
            .stalled_since
            .is_some_and(|t| now >= t.saturating_add(rto));
        if !waited {
            return;
        }
        c.ends[to].stalled_since = None;
        c.ends[to].rx.drop_in_flight();
        let (from, host) = (c.ends[1 - to].host, c.ends[to].host);
        let sender = &mut c.ends[1 - to];
        if !sender.reset {
            sender.reset = true;
            if sender.open {
                sender.error = Some(io::ErrorKind::TimedOut);
            }
        }
        sender.rx.wake_all();
        let detail = Detail::After(rto);
        self.record_fault(
            FaultKind::RetransmitTimeout,
            Some(from),
            Some(host),
            Some(conn),
            detail,
        );
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
        // A calm network (no clog, partition or host down anywhere) holds nothing back.
        if !self.faults.is_calm() && self.hold_delivery(conn, to) {
            return;
        }
        let Some(c) = self.net.conns.get_mut(&conn) else {
            return;
        };
        let peer_knows = c.ends[1 - to].reset;
        let end = &mut c.ends[to];
        end.stalled_since = None;
        let Some(arrival) = end.rx.deliver() else {
            return;
        };
        if !end.open || end.reset {
            // A closed or dead socket answers data with an RST (unless the sender already
            // knows the connection is gone) and drops it.
            if let Arrival::Data(_) = arrival {
                end.rx.discard_readable();
                end.reset = true;
                if !peer_knows {
                    self.transmit(conn, 1 - to, Segment::Rst, Duration::ZERO);
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
        let Some(c) = self.net.conns.get_mut(&conn) else {
            return Poll::Ready(Err(gone()));
        };
        let from = c.ends[1 - side].host;
        let end = &mut c.ends[side];
        if !end.open {
            return Poll::Ready(Err(gone()));
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if end.rx.has_readable() {
            let mut len = buf.len().min(end.rx.readable());
            if !end.reset {
                let (host, now) = (end.host, self.now);
                match self.decide(NetOp::Receive {
                    conn,
                    host,
                    from,
                    len,
                    now,
                }) {
                    Verdict::Reset => {
                        self.record_fault(
                            FaultKind::Reset,
                            Some(host),
                            None,
                            Some(conn),
                            "on read",
                        );
                        self.reset_connection(conn);
                    }
                    Verdict::Shorten(n) if n < len => {
                        len = n.max(1);
                        self.record_fault(
                            FaultKind::ShortRead,
                            Some(host),
                            None,
                            Some(conn),
                            Detail::Bytes(len),
                        );
                    }
                    _ => {}
                }
            }
            if len > 1 && self.buggify(sim_site!(), 0.25) {
                len = 1; // a one-byte read: legal, and rare enough to hide bugs
            }
            let c = self.net.conns.get_mut(&conn).expect("checked above");
            return Poll::Ready(Ok(c.ends[side].rx.read_into(&mut buf[..len])));
        }
        if end.fin_received {
            return Poll::Ready(Ok(0));
        }
        if let Some(kind) = end.error.take() {
            end.error_reported = true;
            return Poll::Ready(Err(kind_error(kind)));
        }
        if end.reset {
            // The simulator checks itself: an RST (or a retransmission timeout) that broke
            // this open socket set an error, and the end of stream comes only after a read or
            // write reported it, as on Linux; a reset that reads as a clean end of stream
            // would look like an orderly close to the code under test.
            assert!(
                end.error_reported,
                "simulator invariant broken: the reset of {} read as end of stream before any \
                 error reported it",
                end.local
            );
            return Poll::Ready(Ok(0));
        }
        // The simulator checks itself here: a FIN or an RST that reached this socket made it
        // readable (end of stream, or the reset), so a reader never waits after one. A
        // delivery that forgot to act on it would leave the reader hanging until some
        // timeout, a bug a campaign would otherwise put down to the network.
        assert!(
            !end.rx.signalled(),
            "simulator invariant broken: a FIN or RST delivered to {} was not acted on",
            end.local
        );
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
        let Some(c) = self.net.conns.get_mut(&conn) else {
            return Poll::Ready(Err(gone()));
        };
        let [a, b] = &mut c.ends;
        let (end, peer) = if side == CLIENT { (a, b) } else { (b, a) };
        if !end.open {
            return Poll::Ready(Err(gone()));
        }
        if let Some(kind) = end.error.take() {
            end.error_reported = true;
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
        let mut n = free.min(buf.len());
        let (from, to, now) = (end.host, peer.host, self.now);
        let mut extra = Duration::ZERO;
        let mut corrupt = false;
        match self.decide(NetOp::Send {
            conn,
            from,
            to,
            len: n,
            now,
        }) {
            Verdict::Pass | Verdict::Refuse => {}
            Verdict::Reset => {
                self.record_fault(
                    FaultKind::Reset,
                    Some(from),
                    Some(to),
                    Some(conn),
                    "on write",
                );
                self.reset_connection(conn);
                return self.tcp_write(conn, side, cx, buf);
            }
            Verdict::Shorten(k) if k < n => {
                n = k.max(1);
                self.record_fault(
                    FaultKind::ShortWrite,
                    Some(from),
                    Some(to),
                    Some(conn),
                    Detail::Bytes(n),
                );
            }
            Verdict::HoldUntil(until) => {
                let pair = self.rng.chance(0.5);
                self.clog(Some(conn), from, to, until, pair);
            }
            Verdict::Delay(d) => {
                extra = d;
                self.record_fault(
                    FaultKind::SlowSegment,
                    Some(from),
                    Some(to),
                    Some(conn),
                    Detail::Plus(d),
                );
            }
            Verdict::Drop => {
                extra = MIN_RTO;
                self.record_fault(
                    FaultKind::SlowSegment,
                    Some(from),
                    Some(to),
                    Some(conn),
                    "lost, retransmitted",
                );
            }
            Verdict::Corrupt => corrupt = true,
            // Shortened to no less than it takes, a write is whole: no fault.
            Verdict::Shorten(_) => {}
        }
        if n > 1 && self.buggify(sim_site!(), 0.25) {
            n = 1; // a one-byte write: legal, and rare enough to hide bugs
        }
        if corrupt {
            let mut bytes = buf[..n].to_vec();
            let bit = self.rng.range(0..n as u64 * 8);
            bytes[(bit / 8) as usize] ^= 1 << (bit % 8);
            self.record_fault(
                FaultKind::Corrupt,
                Some(from),
                Some(to),
                Some(conn),
                Detail::Bit(bit),
            );
            self.transmit(conn, 1 - side, Segment::Data(&bytes), extra);
        } else {
            self.transmit(conn, 1 - side, Segment::Data(&buf[..n]), extra);
        }
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
            self.transmit(conn, 1 - side, Segment::Fin, Duration::ZERO);
        }
        Ok(())
    }

    /// The handle of `side` is dropped: an RST if it held unread bytes, else a FIN.
    pub(crate) fn tcp_close(&mut self, conn: u64, side: usize) {
        let Some(c) = self.net.conns.get_mut(&conn) else {
            return;
        };
        let end = &mut c.ends[side];
        if !end.open {
            return;
        }
        // Checked here too, not only where a read would wait: a reader that was never woken
        // never reads again, and an RST behind a FIN leaves nothing to wait for.
        let ignored = if end.rx.rst_arrived() && !end.reset {
            Some("an RST")
        } else if end.rx.fin_arrived() && !end.fin_received && !end.reset {
            Some("a FIN")
        } else {
            None
        };
        if let (Some(what), None) = (ignored, &self.net.broken) {
            self.net.broken = Some(format!(
                "{what} delivered to {} was not acted on (found at its close)",
                end.local
            ));
        }
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
            self.transmit(conn, 1 - side, segment, Duration::ZERO);
        }
        self.net.forget_if_closed(conn);
    }

    /// `side`'s host lost power: the socket is gone and nothing tells the other side.
    pub(crate) fn tcp_vanish(&mut self, conn: u64, side: usize) {
        let Some(c) = self.net.conns.get_mut(&conn) else {
            return;
        };
        let end = &mut c.ends[side];
        end.open = false;
        end.error = None;
        end.rx.discard_readable();
        end.rx.wake_all();
        self.net.forget_if_closed(conn);
    }

    /// Abortive close of `side` (`SO_LINGER` 0): an RST, whatever it held.
    pub(crate) fn tcp_abort(&mut self, conn: u64, side: usize) {
        if let Some(c) = self.net.conns.get_mut(&conn) {
            let end = &mut c.ends[side];
            if end.open && !end.reset {
                end.reset = true;
                self.transmit(conn, 1 - side, Segment::Rst, Duration::ZERO);
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
