//! The resilient [`Peer`]: a connection to one address that queues messages while
//! disconnected, reconnects on demand with exponential backoff, delivers with the guarantee
//! its [`Delivery`] mode promises, and reports what it did.
//!
//! The async shell ([`Peer`]) only moves bytes between the stream and sans-io parts that are
//! tested on their own: [`Backoff`] (when to retry), [`SendQueue`] (the bounded FIFO and its
//! overflow policy), a [`Codec`] (framing; [`LengthChecksumCodec`] by default), and, for the
//! reliable modes, the sequence/acknowledgement bookkeeping, the resend list and the
//! heartbeat. [`FramedStream`] speaks the framing on the accepting side, and
//! [`SessionServer`] the reliable modes' session protocol.

mod backoff;
mod config;
mod connect;
mod drive;
mod error;
mod events;
mod frame;
mod framed;
mod heartbeat;
pub(crate) mod inbox;
mod metrics;
mod outbox;
mod queue;
mod send;
mod sequence;
mod server;
mod state;
pub(crate) mod wire;
mod writable;

pub use backoff::Backoff;
pub use config::{Delivery, OverflowPolicy, PeerConfig};
pub use error::PeerError;
pub use events::{ConnectionEvent, ConnectionEventKind};
pub use frame::{
    crc32c, Codec, Decoded, FrameError, LengthChecksumCodec, LengthDelimitedCodec, LinesCodec,
};
pub use framed::FramedStream;
pub use metrics::PeerMetrics;
pub use queue::{Held, Pushed, SendQueue};
pub use server::{
    FrozenClock, ServerLimits, SessionError, SessionServer, SessionStats, SessionStream,
};
pub use wire::{Refusal, WireError, PROTOCOL_VERSION};

use std::fmt;
use std::future::Future;

use futures::io::AsyncWriteExt;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::provider::{split_host_port, Clock, NetworkProvider};
use drive::Goal;
use events::EventLog;
use inbox::Inbox;
use outbox::Outbox;
use state::{Session, State};

/// A resilient connection to one remote address, over any [`NetworkProvider`].
///
/// - **On demand.** There are no background tasks: `flush`, `recv`, `recv_into` and
///   `wait_acknowledged` connect when needed, and all work (heartbeats included) happens
///   inside the caller's awaits. `send` never connects and never waits while disconnected:
///   it queues and returns.
/// - **Messages.** Each [`send`](Peer::send) is one message, framed by the codec
///   ([`LengthChecksumCodec`] by default: length, CRC-32C, payload). Receiving is one family:
///   [`recv`](Peer::recv) returns the next whole message as a `Vec`,
///   [`recv_into`](Peer::recv_into) copies it into your buffer, and
///   [`try_recv`](Peer::try_recv) / [`try_recv_into`](Peer::try_recv_into) take one already
///   received without waiting. [`send_slice`](Peer::send_slice) sends from a borrowed slice.
/// - **Delivery.** [`PeerConfig::delivery`] picks the promise: [`Delivery::Unreliable`] (at
///   most once; any server), [`Delivery::AtLeastOnce`] or [`Delivery::ExactlyOnce`] (a session
///   with a [`SessionServer`]: numbered messages kept until acknowledged and re-sent after a
///   reconnect, duplicates dropped, in order). [`wait_acknowledged`](Peer::wait_acknowledged)
///   waits until the remote has everything sent so far.
/// - **Queueing.** Messages count against [`PeerConfig::max_queue_size`] and
///   [`PeerConfig::max_queue_bytes`] from `send` until the stream accepted their last byte
///   (unreliable) or the remote acknowledged them (reliable modes). A message half-written
///   when a connection breaks goes out again whole on the next connection.
/// - **Batching.** `send` encodes messages into a write buffer and writes once
///   [`PeerConfig::write_batch_bytes`] are buffered; [`flush`](Peer::flush) writes out
///   everything queued, and a receive writes it before it waits and when it takes the last
///   message buffered (see [`recv`](Peer::recv)): a pipelining client makes one write per
///   read.
/// - **Backoff.** After a failed attempt the next one waits `initial_reconnect_delay`,
///   doubling per consecutive failure up to `max_reconnect_delay` (see [`Backoff`]); a
///   connection younger than `stable_connection_time` that breaks counts as a failure.
///   `flush`, `recv`, `wait_acknowledged` and `reconnect` wait the backoff out, then make one
///   attempt and report its failure.
/// - **Time** only through the provider's [`Clock`]: in a simulation everything runs in virtual
///   time.
/// - **Cancellation.** `recv`, `recv_into`, `flush`, `wait_acknowledged` and `reconnect` are
///   cancel-safe: dropping their future loses nothing (queued messages stay queued, a
///   received message stays for the next call). A `send` dropped before it returns may not
///   have queued its message. A connection attempt in progress is abandoned with the future
///   (the provider's connect cannot be resumed), so a caller whose timeout is shorter than
///   connecting (TCP connect plus, in the reliable modes, the handshake's round trip) never
///   connects: give calls that may connect at least `connection_timeout`.
///
/// # Examples
/// ```
/// use moonpool::peer::{FramedStream, Peer, PeerConfig};
/// use moonpool::{Listener, NetworkProvider, SimNetworkProvider, SimWorld};
///
/// let world = SimWorld::new(42);
/// let server = SimNetworkProvider::with_ip(world.downgrade(), "10.0.0.1");
/// let client = SimNetworkProvider::with_ip(world.downgrade(), "10.0.0.2");
/// let answer = world
///     .block_on(async move {
///         let listener = server.bind("10.0.0.1:4500").await?;
///         let mut peer = Peer::new(client, "10.0.0.1:4500".to_string(), PeerConfig::default());
///         peer.send(b"ping".to_vec()).await?;
///         peer.flush().await?;
///         let (stream, _) = listener.accept().await?;
///         let mut conn = FramedStream::new(stream);
///         let request = conn.recv().await?.expect("a message");
///         conn.send(&[request.as_slice(), b" pong"].concat()).await?;
///         Ok::<_, Box<dyn std::error::Error>>(peer.recv().await?)
///     })
///     .unwrap()
///     .unwrap();
/// assert_eq!(answer, b"ping pong");
/// ```
pub struct Peer<P: NetworkProvider, C: Codec = LengthChecksumCodec> {
    provider: P,
    clock: P::Clock,
    destination: String,
    config: PeerConfig,
    codec: C,
    state: State<P::Stream>,
    queue: SendQueue,
    outbox: Outbox,
    inbox: Inbox,
    backoff: Backoff,
    rng: ChaCha8Rng,
    metrics: PeerMetrics,
    session: Session,
    /// Connection events, if recording them.
    events: EventLog,
    /// The `peer` span of the current (or last) connection attempt; its events sit in it.
    span: tracing::Span,
    /// The largest message `send` takes: `max_message_size`, or less if the codec (after the
    /// session header in the reliable modes) frames less. Fixed at construction.
    max_send: usize,
}

impl<P: NetworkProvider> Peer<P> {
    /// A Peer for `destination` (`"host:port"`: an IP or a name, resolved again at each connect) speaking the default [`LengthChecksumCodec`].
    ///
    /// Nothing happens on the network until the first call. An invalid configuration or
    /// destination is reported by every call as [`PeerError::InvalidConfig`]; use
    /// [`try_new`](Peer::try_new) to learn it at once.
    pub fn new(provider: P, destination: String, config: PeerConfig) -> Self {
        let header = session_header_len(config.delivery);
        let codec = LengthChecksumCodec::new(config.max_message_size.saturating_add(header));
        Self::with_codec(provider, destination, config, codec)
    }

    /// Like [`new`](Peer::new), but checks the configuration and destination first.
    ///
    /// # Errors
    /// [`PeerError::InvalidConfig`] naming what is wrong.
    pub fn try_new(
        provider: P,
        destination: String,
        config: PeerConfig,
    ) -> Result<Self, PeerError> {
        let peer = Self::new(provider, destination, config);
        peer.check_usable()?;
        Ok(peer)
    }
}

impl<P: NetworkProvider, C: Codec> Peer<P, C> {
    /// A Peer that frames messages with `codec` (for example a [`LinesCodec`] to speak a
    /// line-based protocol, in unreliable mode).
    ///
    /// The reliable modes need a codec that frames any bytes; with one that cannot (a
    /// [`LinesCodec`]), every call reports [`PeerError::InvalidConfig`].
    pub fn with_codec(provider: P, destination: String, config: PeerConfig, mut codec: C) -> Self {
        let invalid = match (config.validate(), split_host_port(&destination)) {
            (Err(PeerError::InvalidConfig { reason }), _) => Some(reason),
            (Err(other), _) => Some(other.to_string()),
            (Ok(()), Err(err)) => Some(format!("destination: {err}")),
            (Ok(()), Ok(_)) => binary_safe(&config, &mut codec),
        };
        let max_send = config.max_message_size.min(
            codec
                .max_message_size()
                .saturating_sub(session_header_len(config.delivery)),
        );
        let mut rng = ChaCha8Rng::seed_from_u64(provider.random_seed());
        let id = u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64());
        let session = Session::new(id, rng.next_u64());
        Self {
            clock: provider.clock(),
            provider,
            queue: SendQueue::new(
                config.max_queue_size,
                config.max_queue_bytes,
                config.overflow_policy.for_delivery(config.delivery),
            ),
            backoff: Backoff::new(
                config.initial_reconnect_delay,
                config.max_reconnect_delay,
                config.reconnect_jitter,
                config.stable_connection_time,
            ),
            destination,
            config,
            codec,
            state: match invalid {
                Some(reason) => State::Invalid(reason),
                None => State::Idle,
            },
            outbox: Outbox::default(),
            inbox: Inbox::default(),
            rng,
            metrics: PeerMetrics::default(),
            session,
            events: EventLog::default(),
            span: tracing::Span::none(),
            max_send,
        }
    }

    /// The destination address.
    pub fn destination(&self) -> &str {
        &self.destination
    }

    /// The configuration.
    pub fn config(&self) -> &PeerConfig {
        &self.config
    }

    /// True while a connection is established (as far as the Peer has seen: a break is
    /// noticed at the next read or write, or by the heartbeat in the reliable modes).
    pub fn is_connected(&self) -> bool {
        self.state.is_connected()
    }

    /// Messages counted against the queue caps: waiting, in the write batch, or (reliable
    /// modes) written and not yet acknowledged.
    pub fn queue_size(&self) -> usize {
        self.queue.len() + self.outbox.held().messages
    }

    /// Payload bytes of the messages [`queue_size`](Peer::queue_size) counts (what
    /// `max_queue_bytes` caps).
    pub fn queue_bytes(&self) -> usize {
        self.queue.bytes() + self.outbox.held().bytes
    }

    /// Reliable modes: the session's identity, as the remote's [`SessionServer`] sees it: 128
    /// bits from a generator seeded with the provider's 64-bit
    /// [`random_seed`](crate::NetworkProvider::random_seed) (one of 2^64 ids), so unguessable
    /// where that seed is (the real providers draw it from the OS). The server also binds the session to
    /// this Peer's incarnation, and to the client's certificate identity where it has one
    /// ([`SessionServer::accept_with_identity`]): knowing the id is not enough to take it.
    pub fn session_id(&self) -> u128 {
        self.session.id
    }

    /// A snapshot of the counters.
    pub fn metrics(&self) -> PeerMetrics {
        let backoff = self.backoff.settled(self.clock.now());
        PeerMetrics {
            consecutive_failures: backoff.failures(),
            queue_size: self.queue_size(),
            queue_bytes: self.queue_bytes(),
            current_backoff: backoff.current_delay(),
            ..self.metrics
        }
    }

    /// True once the reconnect delay has grown to `max_reconnect_delay`.
    pub fn backoff_at_cap(&self) -> bool {
        self.backoff.settled(self.clock.now()).at_cap()
    }

    /// Writes every queued message out and flushes the stream. Cancel-safe.
    ///
    /// Connects first if needed, waiting out the backoff. In the reliable modes this says
    /// nothing about arrival: see [`wait_acknowledged`](Peer::wait_acknowledged).
    ///
    /// # Errors
    /// A failed connection attempt ([`ConnectionFailed`](PeerError::ConnectionFailed),
    /// [`Timeout`](PeerError::Timeout), [`Handshake`](PeerError::Handshake),
    /// [`IncompatibleVersion`](PeerError::IncompatibleVersion),
    /// [`Refused`](PeerError::Refused)) or a connection that broke
    /// while writing ([`Io`](PeerError::Io), [`Protocol`](PeerError::Protocol),
    /// [`Unresponsive`](PeerError::Unresponsive)); unsent messages stay queued.
    /// [`Stalled`](PeerError::Stalled) if the remote stops reading until this side receives
    /// the messages it sent: receive, then flush again.
    /// [`SessionRestarted`](PeerError::SessionRestarted) in exactly-once mode.
    pub async fn flush(&mut self) -> Result<(), PeerError> {
        self.check_usable()?;
        self.take_restart()?;
        let needs_flush = self.state.conn().is_some_and(|conn| conn.needs_flush);
        if self.queue.is_empty() && self.outbox.is_empty() && !needs_flush {
            return Ok(());
        }
        self.connect_waiting().await?;
        self.take_restart()?;
        self.drive(Goal::Flushed).await
    }

    /// Reliable modes: waits until the remote acknowledged every message sent so far.
    /// Cancel-safe.
    ///
    /// Connects first if needed (waiting out the backoff), writes what is queued, and waits
    /// for the acknowledgements. A connection that breaks meanwhile is reported; nothing is
    /// lost: call again, and the unacknowledged messages are re-sent.
    ///
    /// # Errors
    /// As [`flush`](Peer::flush); [`NotReliable`](PeerError::NotReliable) in unreliable mode,
    /// where nothing is acknowledged.
    pub async fn wait_acknowledged(&mut self) -> Result<(), PeerError> {
        self.check_usable()?;
        if !self.config.delivery.is_reliable() {
            return Err(PeerError::NotReliable {
                destination: self.destination.clone(),
            });
        }
        self.take_restart()?;
        if self.queue.is_empty() && self.outbox.held().messages == 0 {
            return Ok(());
        }
        self.connect_waiting().await?;
        self.take_restart()?;
        self.drive(Goal::Acknowledged).await
    }

    /// Receives the next whole message, owned. Cancel-safe.
    ///
    /// Connects first if needed (waiting out the backoff). Queued messages reach the socket
    /// (as much as it takes at once, in one write) before it waits for a message, and when
    /// it takes the last message buffered; while more replies are buffered behind the one it
    /// returns, it leaves the queue for the receive that takes the last of them. So a request
    /// waits at most for the caller to consume replies that had already arrived, and a
    /// pipelining caller makes one write per read rather than one per request.
    ///
    /// In the unreliable mode nothing watches a quiet connection (the heartbeat is part of
    /// the session protocol): a remote that keeps the connection open and says nothing, or a
    /// host that vanished without a FIN or RST, leaves `recv` waiting until TCP itself gives
    /// up. Bound the wait with [`Clock::timeout`] where that matters.
    ///
    /// # Errors
    /// A connection that ends (EOF or reset: [`Io`](PeerError::Io)), sends a bad frame
    /// ([`Protocol`](PeerError::Protocol)) or, in the reliable modes, falls silent
    /// ([`Unresponsive`](PeerError::Unresponsive)) is dropped and reported once; the next
    /// call reconnects. A failed attempt is reported as by [`flush`](Peer::flush).
    pub async fn recv(&mut self) -> Result<Vec<u8>, PeerError> {
        let len = self.next_message().await?;
        self.count_received(len);
        Ok(self.inbox.take_message())
    }

    /// Receives the next whole message into `buf`; returns its length. Cancel-safe.
    ///
    /// # Errors
    /// As [`recv`](Peer::recv); [`BufferTooSmall`](PeerError::BufferTooSmall) keeps the
    /// message for the next call.
    #[allow(clippy::manual_async_fn)] // a block, not an `async fn`: see `send`
    pub fn recv_into<'a>(
        &'a mut self,
        buf: &'a mut [u8],
    ) -> impl Future<Output = Result<usize, PeerError>> + use<'a, P, C> {
        async move {
            let len = self.next_message().await?;
            self.take_into(len, buf)
        }
    }

    /// The next whole message if one was already received, without waiting: `Ok(None)` if
    /// none is buffered.
    ///
    /// Never reads, writes or connects: it takes what earlier calls read. Messages queued
    /// meanwhile are written by the next [`recv`](Peer::recv) before it waits, by
    /// [`flush`](Peer::flush), or by a `send` that fills a batch. A pipelining client drains
    /// the replies already here with `try_recv`, then awaits `recv` for more: one write of
    /// every request queued meanwhile, one read for many replies.
    ///
    /// # Errors
    /// A bad frame among the buffered bytes ([`Protocol`](PeerError::Protocol): the
    /// connection is dropped), [`Closed`](PeerError::Closed),
    /// [`InvalidConfig`](PeerError::InvalidConfig),
    /// [`SessionRestarted`](PeerError::SessionRestarted) in exactly-once mode.
    ///
    /// # Examples
    /// ```
    /// use moonpool::peer::{Peer, PeerConfig};
    /// use moonpool::SimWorld;
    ///
    /// let world = SimWorld::new(1);
    /// let client = world.provider("10.0.0.2");
    /// let mut peer = Peer::new(client, "10.0.0.1:4500".to_string(), PeerConfig::default());
    /// assert_eq!(peer.try_recv().unwrap(), None, "nothing received yet");
    /// ```
    pub fn try_recv(&mut self) -> Result<Option<Vec<u8>>, PeerError> {
        let Some(len) = self.try_next_message()? else {
            return Ok(None);
        };
        self.count_received(len);
        Ok(Some(self.inbox.take_message()))
    }

    /// Like [`try_recv`](Peer::try_recv), copying the message into `buf`: its length, or
    /// `Ok(None)` if none is buffered. No allocation.
    ///
    /// # Errors
    /// As [`try_recv`](Peer::try_recv); [`BufferTooSmall`](PeerError::BufferTooSmall) keeps
    /// the message for the next call.
    #[inline]
    pub fn try_recv_into(&mut self, buf: &mut [u8]) -> Result<Option<usize>, PeerError> {
        let Some(len) = self.try_next_message()? else {
            return Ok(None);
        };
        self.take_into(len, buf).map(Some)
    }

    /// The length of the next whole message already buffered, if one is.
    #[inline]
    fn try_next_message(&mut self) -> Result<Option<usize>, PeerError> {
        if !self.config.delivery.is_reliable() && self.state.is_connected() {
            // The common case, in short: connected is usable, and only exactly-once has
            // restarts to report.
            return match self.inbox.poll_message(&mut self.codec) {
                Ok(found) => Ok(found),
                Err(error) => Err(self.protocol_error(error)),
            };
        }
        self.check_usable()?;
        self.take_restart()?;
        if self.config.delivery.is_reliable() && self.state.is_connected() {
            let read_limit = self.read_limit();
            self.take_frames(read_limit)?;
        }
        self.held_message()
    }

    /// Copies the message found (`len` bytes) into `buf` and consumes it.
    #[inline(always)]
    fn take_into(&mut self, len: usize, buf: &mut [u8]) -> Result<usize, PeerError> {
        if len > buf.len() {
            return Err(PeerError::BufferTooSmall {
                needed: len,
                available: buf.len(),
            });
        }
        buf[..len].copy_from_slice(self.inbox.message());
        self.inbox.consume();
        self.count_received(len);
        Ok(len)
    }

    /// Drops the current connection (if any) and connects again, respecting the backoff.
    ///
    /// A requested reconnect is not a failure: it does not grow the backoff or set
    /// `last_failure` (it counts in `disconnections`).
    ///
    /// A message partly written on the dropped connection goes out again whole; in the
    /// reliable modes every unacknowledged one does. In unreliable mode the messages written
    /// whole on it count in [`messages_possibly_lost`](PeerMetrics::messages_possibly_lost).
    ///
    /// # Errors
    /// As a connection attempt (see [`flush`](Peer::flush)); [`Closed`](PeerError::Closed)
    /// after `close`.
    pub async fn reconnect(&mut self) -> Result<(), PeerError> {
        self.check_usable()?;
        if self.state.is_connected() {
            self.drop_connection(&"reconnect requested", false);
        }
        self.connect_waiting().await?;
        self.take_restart()
    }

    /// Closes the connection (sending end-of-file) and discards the queue, counting its
    /// messages (unacknowledged ones included) as dropped.
    ///
    /// In unreliable mode the messages written on the closed connection also count in
    /// [`messages_possibly_lost`](PeerMetrics::messages_possibly_lost): the protocol has no
    /// acknowledgement, so nothing tells whether the remote read them before the close.
    ///
    /// Closing is final: every later call returns [`PeerError::Closed`]; `close` again does
    /// nothing.
    pub async fn close(&mut self) {
        // Settle everything first, so a close whose future is dropped half-way still leaves
        // a closed Peer and no half-sent frame behind.
        let state = std::mem::replace(&mut self.state, State::Closed);
        let dropped = self.outbox.clear() + self.queue.clear();
        self.metrics.messages_dropped += dropped as u64;
        self.inbox = Inbox::default();
        match state {
            State::Connected(mut conn) => {
                tracing::debug!(parent: &self.span, destination = %self.destination, "closed");
                if !self.config.delivery.is_reliable() {
                    // Written on a connection closed now: nothing tells whether the remote
                    // read them (a close with unread data becomes a reset).
                    self.metrics.messages_possibly_lost += conn.written;
                }
                let _ = self
                    .clock
                    .timeout(self.config.connection_timeout, conn.stream.close())
                    .await;
            }
            State::Invalid(reason) => self.state = State::Invalid(reason),
            State::Closed => {}
            State::Idle | State::Connecting => {
                tracing::debug!(parent: &self.span, destination = %self.destination, "closed");
            }
        }
    }

    fn check_usable(&self) -> Result<(), PeerError> {
        match &self.state {
            State::Invalid(reason) => Err(PeerError::InvalidConfig {
                reason: reason.clone(),
            }),
            State::Closed => Err(PeerError::Closed {
                destination: self.destination.clone(),
            }),
            _ => Ok(()),
        }
    }

    /// Exactly-once: reports a session restart not reported yet.
    fn take_restart(&mut self) -> Result<(), PeerError> {
        match self.session.restarted.take() {
            Some(unacknowledged) => Err(PeerError::SessionRestarted {
                destination: self.destination.clone(),
                unacknowledged,
            }),
            None => Ok(()),
        }
    }

    fn count_received(&mut self, len: usize) {
        self.metrics.messages_received += 1;
        self.metrics.bytes_received += len as u64;
    }

    /// A whole message held for the caller, if one is.
    fn held_message(&mut self) -> Result<Option<usize>, PeerError> {
        if self.config.delivery.is_reliable() {
            return Ok(self.inbox.kept_len());
        }
        match self.inbox.poll_message(&mut self.codec) {
            Ok(found) => Ok(found),
            Err(error) => Err(self.protocol_error(error)),
        }
    }

    async fn next_message(&mut self) -> Result<usize, PeerError> {
        self.check_usable()?;
        self.take_restart()?;
        if !self.state.is_connected() {
            // Whole messages kept from a connection that broke come first.
            if let Ok(Some(len)) = self.held_message() {
                return Ok(len);
            }
            self.connect_waiting().await?;
            self.take_restart()?;
        }
        self.drive(Goal::Message).await?;
        match self.held_message() {
            Ok(Some(len)) => Ok(len),
            _ => unreachable!("drive returned with a message decoded"),
        }
    }
}

/// The reason a reliable-mode configuration cannot use `codec`, if it cannot: the session
/// header is binary, so the codec must frame any bytes.
fn binary_safe<C: Codec>(config: &PeerConfig, codec: &mut C) -> Option<String> {
    if !config.delivery.is_reliable() {
        return None;
    }
    let mut probe = Vec::new();
    let header = wire::data_header(0x0a0d_0a0d_0a0d_0a0d);
    if codec.encode_parts(&header, b"", &mut probe).is_err()
        || codec.max_message_size() < wire::DATA_HEADER_LEN
    {
        return Some(format!(
            "delivery {:?} needs a codec that frames any bytes ({codec:?} cannot carry the \
             session header): use LengthChecksumCodec, or Delivery::Unreliable for a foreign \
             protocol",
            config.delivery
        ));
    }
    if codec.max_message_size() < wire::HELLO_LEN {
        return Some(format!(
            "delivery {:?} needs frames of at least {} bytes for the session hello; the \
             codec's maximum is {} (with the default codec, max_message_size must be at least \
             {})",
            config.delivery,
            wire::HELLO_LEN,
            codec.max_message_size(),
            wire::HELLO_LEN - wire::DATA_HEADER_LEN
        ));
    }
    None
}

impl<P: NetworkProvider, C: Codec> fmt::Debug for Peer<P, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Peer")
            .field("destination", &self.destination)
            .field("delivery", &self.config.delivery)
            .field("connected", &self.state.is_connected())
            .field("closed", &matches!(self.state, State::Closed))
            .field("queue_size", &self.queue_size())
            .field("metrics", &self.metrics())
            .finish_non_exhaustive()
    }
}

/// The bytes the session header adds to every message in `delivery` mode (none unreliable).
fn session_header_len(delivery: Delivery) -> usize {
    if delivery.is_reliable() {
        wire::DATA_HEADER_LEN
    } else {
        0
    }
}
