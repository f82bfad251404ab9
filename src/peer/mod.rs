//! The resilient [`Peer`]: a connection to one address that queues messages while
//! disconnected, reconnects on demand with exponential backoff, and reports what it did.
//!
//! The async shell ([`Peer`]) only moves bytes between the stream and sans-io parts that are
//! tested on their own: [`Backoff`] (when to retry), [`SendQueue`] (the bounded FIFO and its
//! overflow policy), and a [`Codec`] (framing; [`LengthChecksumCodec`] by default).
//! [`FramedStream`] speaks the same framing on the accepting side.

mod backoff;
mod config;
mod drive;
mod error;
mod frame;
mod framed;
mod inbox;
mod metrics;
mod outbox;
mod queue;

pub use backoff::Backoff;
pub use config::{OverflowPolicy, PeerConfig};
pub use error::PeerError;
pub use frame::{
    crc32c, Codec, Decoded, FrameError, LengthChecksumCodec, LengthDelimitedCodec, LinesCodec,
};
pub use framed::FramedStream;
pub use metrics::PeerMetrics;
pub use queue::{Pushed, SendQueue};

use std::fmt;

use futures::io::AsyncWriteExt;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::provider::{split_host_port, Clock, NetworkProvider};
use drive::Goal;
use inbox::Inbox;
use outbox::Outbox;

/// What the synchronous part of [`Peer::send`] did.
enum SendNow {
    /// Encoded into the write batch.
    Done,
    /// Encoded, and the batch is full: write it.
    BatchFull,
    /// Not connected, or others wait ahead of it: the async path takes it.
    Later(Vec<u8>),
}

/// A resilient connection to one remote address, over any [`NetworkProvider`].
///
/// - **On demand.** There are no background tasks: the first `send`, `receive` or `flush`
///   connects, and all work happens inside the caller's awaits.
/// - **Messages.** Each [`send`](Peer::send) is one message, framed by the codec
///   ([`LengthChecksumCodec`] by default: length, CRC-32C, payload); each
///   [`receive`](Peer::receive) returns one whole message.
/// - **Queueing.** Messages wait in a bounded FIFO ([`PeerConfig::max_queue_size`],
///   [`PeerConfig::max_queue_bytes`]) until the stream accepted their last byte. A message
///   half-written when a connection breaks goes out again whole on the next connection.
/// - **Batching.** `send` encodes messages into a write buffer and writes once
///   [`PeerConfig::write_batch_bytes`] are buffered; [`flush`](Peer::flush) writes out
///   everything queued and [`receive`](Peer::receive) writes while it waits. So a message
///   reaches the socket when the batch fills, or at the next `flush` or `receive`, whichever
///   comes first.
/// - **Backoff.** After a failed attempt the next one waits `initial_reconnect_delay`,
///   doubling per consecutive failure up to `max_reconnect_delay` (see [`Backoff`]). `send`
///   never waits for the backoff: while it runs, messages just queue. `receive`, `flush` and
///   `reconnect` wait it out, then make one attempt and report its failure.
/// - **Time** only through the provider's [`Clock`]: in a simulation everything runs in virtual
///   time.
/// - **Cancellation.** `recv`, `receive`, `flush` and `reconnect` are cancel-safe: dropping
///   their future loses nothing (queued messages stay queued, a received message stays for the
///   next call). A `send` dropped before it returns may not have queued its message.
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
    invalid: Option<String>,
    codec: C,
    conn: Option<P::Stream>,
    attempt_in_progress: bool,
    /// Unwritten bytes at which `send` tries the stream again after finding it full.
    write_again_at: usize,
    needs_flush: bool,
    queue: SendQueue,
    outbox: Outbox,
    inbox: Inbox,
    backoff: Backoff,
    rng: ChaCha8Rng,
    metrics: PeerMetrics,
    closed: bool,
    /// The `peer` span of the current (or last) connection attempt; its events sit in it.
    span: tracing::Span,
}

impl<P: NetworkProvider> Peer<P> {
    /// A Peer for `destination` (`"host:port"`: an IP or a name, resolved again at each connect) speaking the default [`LengthChecksumCodec`].
    ///
    /// Nothing happens on the network until the first call. An invalid configuration or
    /// destination is reported by every call as [`PeerError::InvalidConfig`]; use
    /// [`try_new`](Peer::try_new) to learn it at once.
    pub fn new(provider: P, destination: String, config: PeerConfig) -> Self {
        let codec = LengthChecksumCodec::new(config.max_message_size);
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
    /// line-based protocol).
    pub fn with_codec(provider: P, destination: String, config: PeerConfig, codec: C) -> Self {
        let invalid = match (config.validate(), split_host_port(&destination)) {
            (Err(err), _) => Some(err.to_string()),
            (Ok(()), Err(err)) => Some(format!("destination: {err}")),
            (Ok(()), Ok(_)) => None,
        };
        let rng = ChaCha8Rng::seed_from_u64(provider.random_seed());
        Self {
            clock: provider.clock(),
            provider,
            queue: SendQueue::new(
                config.max_queue_size,
                config.max_queue_bytes,
                config.overflow_policy,
            ),
            backoff: Backoff::new(
                config.initial_reconnect_delay,
                config.max_reconnect_delay,
                config.reconnect_jitter,
                config.stable_connection_time,
            ),
            destination,
            config,
            invalid,
            codec,
            conn: None,
            span: tracing::Span::none(),
            attempt_in_progress: false,
            write_again_at: 0,
            needs_flush: false,
            outbox: Outbox::default(),
            inbox: Inbox::default(),
            rng,
            metrics: PeerMetrics::default(),
            closed: false,
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
    /// noticed at the next read or write).
    pub fn is_connected(&self) -> bool {
        self.conn.is_some()
    }

    /// Messages waiting in the send queue (including ones partly written).
    pub fn queue_size(&self) -> usize {
        self.queue.len()
    }

    /// A snapshot of the counters.
    pub fn metrics(&self) -> PeerMetrics {
        let backoff = self.backoff.settled(self.clock.now());
        PeerMetrics {
            consecutive_failures: backoff.failures(),
            queue_size: self.queue.len(),
            queue_bytes: self.queue.bytes(),
            current_backoff: backoff.current_delay(),
            ..self.metrics
        }
    }

    /// True once the reconnect delay has grown to `max_reconnect_delay`.
    pub fn backoff_at_cap(&self) -> bool {
        self.backoff.settled(self.clock.now()).at_cap()
    }

    /// Queues `message` and, if connected, writes out full batches as far as the stream takes
    /// them without waiting.
    ///
    /// If disconnected and the backoff allows an attempt now, connects first (a failed attempt
    /// is counted in the metrics, not returned: the message stays queued). Never waits for the
    /// backoff. The only wait is for a full queue while connected: `send` waits for the stream
    /// to take messages (backpressure). While disconnected, or if the remote stalls waiting for
    /// this side to receive, a full queue applies the [`OverflowPolicy`]. Returns `Ok` once the
    /// message is queued.
    ///
    /// # Errors
    /// [`MessageTooLarge`](PeerError::MessageTooLarge),
    /// [`InvalidMessage`](PeerError::InvalidMessage) or
    /// [`QueueFull`](PeerError::QueueFull) (all hand the message back),
    /// [`Closed`](PeerError::Closed), [`InvalidConfig`](PeerError::InvalidConfig).
    pub async fn send(&mut self, message: Vec<u8>) -> Result<(), PeerError> {
        match self.send_now(message)? {
            SendNow::Done => Ok(()),
            SendNow::BatchFull => {
                // A broken connection is counted; the messages stay queued.
                let _ = self.write_now().await;
                Ok(())
            }
            SendNow::Later(message) => self.send_later(message).await,
        }
    }

    /// The synchronous part of `send`: checks the message and, when connected with room and
    /// nothing waiting, encodes it straight into the write batch.
    #[inline]
    fn send_now(&mut self, message: Vec<u8>) -> Result<SendNow, PeerError> {
        self.check_usable()?;
        let max = self
            .config
            .max_message_size
            .min(self.codec.max_message_size());
        if message.len() > max {
            return Err(PeerError::MessageTooLarge {
                size: message.len(),
                max,
                message,
            });
        }
        if let Err(source) = self.codec.check(&message) {
            return Err(PeerError::InvalidMessage { source, message });
        }
        if self.conn.is_none() || self.queue.waiting() > 0 || self.queue.is_full_for(message.len())
        {
            return Ok(SendNow::Later(message));
        }
        if let Err(source) = self.outbox.push(&mut self.codec, &message) {
            return Err(PeerError::InvalidMessage { source, message });
        }
        self.queue.add_in_flight(message.len());
        self.metrics.messages_queued += 1;
        let unwritten = self.outbox.unwritten_len();
        if unwritten >= self.config.write_batch_bytes && unwritten >= self.write_again_at {
            return Ok(SendNow::BatchFull);
        }
        Ok(SendNow::Done)
    }

    /// The rest of `send`: connect if the backoff allows, wait for room while connected,
    /// else queue under the overflow policy.
    async fn send_later(&mut self, message: Vec<u8>) -> Result<(), PeerError> {
        if self.conn.is_none() && self.backoff.remaining(self.clock.now()).is_zero() {
            // A failure is counted in the metrics; the message queues either way.
            let _ = self.connect().await;
        }
        if self.conn.is_some() && self.queue.is_full_for(message.len()) {
            // If the connection breaks, or stalls until the caller receives, the overflow
            // policy below decides.
            let _ = self.drive(Goal::Room(message.len())).await;
        }
        self.enqueue(message)?;
        if self.conn.is_some() {
            let _ = self.write_now().await;
        }
        Ok(())
    }

    /// Writes every queued message out and flushes the stream. Cancel-safe.
    ///
    /// Connects first if needed, waiting out the backoff.
    ///
    /// # Errors
    /// A failed connection attempt ([`ConnectionFailed`](PeerError::ConnectionFailed),
    /// [`Timeout`](PeerError::Timeout)) or a connection that broke while writing
    /// ([`Io`](PeerError::Io), [`Protocol`](PeerError::Protocol)); unsent messages stay
    /// queued. [`Stalled`](PeerError::Stalled) if the remote stops reading until this side
    /// receives the messages it sent: receive, then flush again.
    pub async fn flush(&mut self) -> Result<(), PeerError> {
        self.check_usable()?;
        if self.queue.is_empty() && !self.needs_flush {
            return Ok(());
        }
        self.connect_waiting().await?;
        self.drive(Goal::Flushed).await
    }

    /// Receives one whole message into `buf`; returns its length. Cancel-safe.
    ///
    /// Connects first if needed (waiting out the backoff) and writes queued messages while it
    /// waits (and, if a message is already buffered, as much as the stream takes at once).
    ///
    /// # Errors
    /// [`BufferTooSmall`](PeerError::BufferTooSmall) keeps the message for the next call. A
    /// connection that ends (EOF or reset: [`Io`](PeerError::Io)) or sends a bad frame
    /// ([`Protocol`](PeerError::Protocol)) is dropped and reported once; the next call
    /// reconnects. A failed attempt is [`ConnectionFailed`](PeerError::ConnectionFailed) or
    /// [`Timeout`](PeerError::Timeout).
    pub async fn receive(&mut self, buf: &mut [u8]) -> Result<usize, PeerError> {
        let len = self.next_message().await?;
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

    /// Receives one whole message as an owned buffer; errors as [`receive`](Peer::receive).
    pub async fn recv(&mut self) -> Result<Vec<u8>, PeerError> {
        let len = self.next_message().await?;
        self.count_received(len);
        Ok(self.inbox.take_message())
    }

    /// Drops the current connection (if any) and connects again, respecting the backoff.
    ///
    /// A requested reconnect is not a failure: it does not grow the backoff or set
    /// `last_failure` (it counts in `disconnections`).
    ///
    /// A message partly written on the dropped connection goes out again whole.
    ///
    /// # Errors
    /// As a connection attempt: [`ConnectionFailed`](PeerError::ConnectionFailed),
    /// [`Timeout`](PeerError::Timeout); [`Closed`](PeerError::Closed) after `close`.
    pub async fn reconnect(&mut self) -> Result<(), PeerError> {
        self.check_usable()?;
        if self.conn.is_some() {
            self.drop_connection(&"reconnect requested", false);
        }
        self.connect_waiting().await
    }

    /// Closes the connection (sending end-of-file) and discards the queue, counting its
    /// messages as dropped.
    ///
    /// Closing is final: every later `send`, `receive`, `recv`, `flush` and `reconnect`
    /// returns [`PeerError::Closed`]; `close` again does nothing.
    pub async fn close(&mut self) {
        // Settle everything first, so a close whose future is dropped half-way still leaves
        // a closed Peer and no half-sent frame behind.
        let stream = self.conn.take();
        let dropped = self.outbox.clear(&mut self.queue) + self.queue.clear();
        self.metrics.messages_dropped += dropped as u64;
        self.inbox = Inbox::default();
        self.needs_flush = false;
        if !self.closed {
            tracing::debug!(parent: &self.span, destination = %self.destination, "closed");
        }
        self.closed = true;
        if let Some(mut stream) = stream {
            let _ = self
                .clock
                .timeout(self.config.connection_timeout, stream.close())
                .await;
        }
    }

    fn check_usable(&self) -> Result<(), PeerError> {
        if let Some(reason) = &self.invalid {
            return Err(PeerError::InvalidConfig {
                reason: reason.clone(),
            });
        }
        if self.closed {
            return Err(PeerError::Closed {
                destination: self.destination.clone(),
            });
        }
        Ok(())
    }

    fn enqueue(&mut self, message: Vec<u8>) -> Result<(), PeerError> {
        let mut from_batch = 0;
        if self.conn.is_none() && self.config.overflow_policy == OverflowPolicy::DropOldest {
            // Disconnected, the frames left in the write batch are the oldest messages: they
            // go first, whole (the batch was rewound to a frame boundary on disconnect).
            while self.queue.is_full_for(message.len()) && self.outbox.drop_front(&mut self.queue) {
                from_batch += 1;
            }
        }
        match self.queue.push(message) {
            Pushed::Queued { dropped } => {
                let dropped = dropped + from_batch;
                self.metrics.messages_queued += 1;
                if dropped > 0 {
                    self.metrics.messages_dropped += dropped as u64;
                    tracing::warn!(
                        parent: &self.span,
                        destination = %self.destination,
                        dropped,
                        "queue full, dropped the oldest messages"
                    );
                }
                Ok(())
            }
            Pushed::Rejected(message) => {
                self.metrics.messages_dropped += from_batch as u64;
                self.metrics.messages_rejected += 1;
                Err(PeerError::QueueFull {
                    destination: self.destination.clone(),
                    max_messages: self.config.max_queue_size,
                    max_bytes: self.config.max_queue_bytes,
                    message,
                })
            }
        }
    }

    fn count_received(&mut self, len: usize) {
        self.metrics.messages_received += 1;
        self.metrics.bytes_received += len as u64;
    }

    async fn next_message(&mut self) -> Result<usize, PeerError> {
        self.check_usable()?;
        if self.conn.is_none() {
            // Whole messages kept from a connection that broke come first.
            if let Ok(Some(len)) = self.inbox.poll_message(&mut self.codec) {
                return Ok(len);
            }
            self.connect_waiting().await?;
        }
        self.drive(Goal::Message).await?;
        match self.inbox.poll_message(&mut self.codec) {
            Ok(Some(len)) => Ok(len),
            _ => unreachable!("drive returned with a message decoded"),
        }
    }
}

impl<P: NetworkProvider, C: Codec> fmt::Debug for Peer<P, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Peer")
            .field("destination", &self.destination)
            .field("connected", &self.conn.is_some())
            .field("closed", &self.closed)
            .field("queue_size", &self.queue.len())
            .field("metrics", &self.metrics())
            .finish_non_exhaustive()
    }
}
