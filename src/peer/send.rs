//! The sending half of the Peer: `send`, `send_unreliable`, and the overflow policy.

use std::borrow::Cow;
use std::future::Future;

use super::drive::Goal;
use super::state::State;
use super::{Codec, FrameError, OverflowPolicy, Peer, PeerError, Pushed};
use crate::provider::NetworkProvider;

/// What the synchronous part of [`Peer::send`] did.
enum SendNow {
    /// Encoded into the write batch.
    Done,
    /// Not encoded yet: it would take the write batch past `write_batch_bytes`, so the batch
    /// is written first (a write never holds a frame's worth more than the batch).
    WriteFirst,
    /// Encoded, and the batch is full: write it.
    BatchFull,
    /// Not connected, or others wait ahead of it: the async path takes it, owned.
    Later,
}

/// Why `send` refuses a message.
enum Refusal {
    /// The Peer is closed or misconfigured (`check_usable` says how).
    Unusable,
    /// Larger than this maximum.
    TooLarge(usize),
    /// The codec cannot frame it.
    Invalid(FrameError),
}

impl<P: NetworkProvider, C: Codec> Peer<P, C> {
    /// Queues `message` and, if connected, writes out full batches as far as the stream takes
    /// them without waiting.
    ///
    /// Never connects and never waits while disconnected: the message queues and `send`
    /// returns (the next `flush`, `recv`, `recv_into` or `wait_acknowledged` connects). The
    /// only wait is for a full queue while connected: `send` waits for the stream to take
    /// messages (backpressure) or, in the reliable modes, for acknowledgements to free room.
    /// While disconnected, or if the remote stalls waiting for this side to receive, a full
    /// queue applies the [`OverflowPolicy`]. Returns `Ok` once the message is queued: that
    /// says nothing about arrival (see [`Delivery`](super::Delivery)).
    ///
    /// # Errors
    /// [`MessageTooLarge`](PeerError::MessageTooLarge),
    /// [`InvalidMessage`](PeerError::InvalidMessage) or
    /// [`QueueFull`](PeerError::QueueFull) (all hand the message back),
    /// [`Closed`](PeerError::Closed), [`InvalidConfig`](PeerError::InvalidConfig).
    // Written as a function returning an `async move` block rather than an `async fn`: an
    // `async fn` moves its arguments from the future's captured state into the body's locals
    // on the first poll, and that move of the `Vec` (stored as three 8-byte words, reloaded
    // with a 16-byte move) stalls on store forwarding: half of the 64 B loopback run's samples
    // in the send loop sat on it (perf), about 7 % of the run. The block uses the captured
    // message in place.
    #[allow(clippy::manual_async_fn)]
    pub fn send(
        &mut self,
        message: Vec<u8>,
    ) -> impl Future<Output = Result<(), PeerError>> + use<'_, P, C> {
        async move {
            match self.send_now(&message, true) {
                Ok(SendNow::Done) => Ok(()),
                now => self.send_rest(now, Cow::Owned(message)).await,
            }
        }
    }

    /// Like [`send`](Peer::send), from a borrowed message: while connected with room and
    /// nothing waiting ahead of it (the common case), it is encoded straight into the write
    /// batch with no allocation; otherwise it is copied into an owned message that queues.
    ///
    /// # Errors
    /// As [`send`](Peer::send); the errors that hand the message back hand back a copy.
    ///
    /// # Examples
    /// ```
    /// use moonpool::peer::{Peer, PeerConfig};
    /// use moonpool::SimWorld;
    ///
    /// let world = SimWorld::new(1);
    /// let client = world.provider("10.0.0.2");
    /// let mut peer = Peer::new(client, "10.0.0.1:4500".to_string(), PeerConfig::default());
    /// let request = [0u8; 64];
    /// // Not connected yet: the message is copied and queues.
    /// world.block_on(peer.send_slice(&request)).unwrap().unwrap();
    /// assert_eq!(peer.queue_size(), 1);
    /// ```
    #[allow(clippy::manual_async_fn)] // for the reason given at `send`
    pub fn send_slice<'a>(
        &'a mut self,
        message: &'a [u8],
    ) -> impl Future<Output = Result<(), PeerError>> + use<'a, P, C> {
        async move {
            match self.send_now(message, true) {
                Ok(SendNow::Done) => Ok(()),
                now => self.send_rest(now, Cow::Borrowed(message)).await,
            }
        }
    }

    /// What `send` does past its fast path, with what `send_now` said; a borrowed message is
    /// copied only if it has to queue or is handed back.
    async fn send_rest(
        &mut self,
        mut now: Result<SendNow, Refusal>,
        message: Cow<'_, [u8]>,
    ) -> Result<(), PeerError> {
        if let Ok(SendNow::WriteFirst) = now {
            let _ = self.write_until(Goal::Fits(message.len())).await;
            now = self.send_now(&message, false);
        }
        match now {
            Ok(SendNow::Done | SendNow::WriteFirst) => Ok(()),
            Ok(SendNow::BatchFull) => {
                // A broken connection is counted; the messages stay queued.
                let _ = self.write_now().await;
                Ok(())
            }
            Ok(SendNow::Later) => self.send_later(message.into_owned()).await,
            Err(refusal) => Err(self.refused(refusal, message.into_owned())),
        }
    }

    /// Like [`send`](Peer::send), but this one message is sent at most once, even in a
    /// reliable mode (the seed's `reliable: false`): it keeps its place in the order, is
    /// never re-sent, and if its connection breaks before the remote had it, it is counted
    /// in [`messages_lost`](super::PeerMetrics::messages_lost) (or `messages_possibly_lost`
    /// when the remote lost its session). While connected with a full queue and the
    /// drop-oldest policy, the message itself is dropped rather than waited for. In
    /// unreliable mode it is the same as `send`.
    ///
    /// # Errors
    /// As [`send`](Peer::send).
    pub async fn send_unreliable(&mut self, message: Vec<u8>) -> Result<(), PeerError> {
        if !self.config.delivery.is_reliable() {
            return self.send(message).await;
        }
        if let Err(refusal) = self.check_message(&message) {
            return Err(self.refused(refusal, message));
        }
        // Everything waiting goes first, so the order holds.
        self.encode_waiting();
        let len = message.len();
        if self.state.is_connected() && self.queue.is_full_for(len, self.outbox.held()) {
            let _ = self.drive(Goal::Room(len)).await;
        }
        if !self.state.is_connected() && self.queue.policy() == OverflowPolicy::DropOldest {
            let queue = &self.queue;
            let dropped = self
                .outbox
                .drop_oldest_unsent(|held| queue.is_full_for(len, held));
            self.count_dropped(dropped);
        }
        if self.queue.is_full_for(len, self.outbox.held()) {
            if self.queue.policy() == OverflowPolicy::Reject {
                self.metrics.messages_rejected += 1;
                return Err(self.queue_full(message));
            }
            self.count_dropped(1);
            return Ok(());
        }
        let seq = self.session.seq.assign();
        if let Err(source) = self.outbox.push_seq(&mut self.codec, seq, false, &message) {
            return Err(PeerError::InvalidMessage { source, message });
        }
        self.metrics.messages_queued += 1;
        if self.state.is_connected() {
            let _ = self.write_now().await;
        }
        Ok(())
    }

    /// The error for a refused `message`, handing it back.
    fn refused(&self, refusal: Refusal, message: Vec<u8>) -> PeerError {
        match refusal {
            // (Closed or misconfigured, both final: `check_usable` says which.)
            Refusal::Unusable => self.check_usable().err().unwrap_or(PeerError::Closed {
                destination: self.destination.clone(),
            }),
            Refusal::TooLarge(max) => PeerError::MessageTooLarge {
                size: message.len(),
                max,
                message,
            },
            Refusal::Invalid(source) => PeerError::InvalidMessage { source, message },
        }
    }

    /// Checks a message's size and framing.
    #[inline]
    fn check_message(&self, message: &[u8]) -> Result<(), Refusal> {
        self.check_size(message)?;
        self.codec.check(message).map_err(Refusal::Invalid)
    }

    /// Checks a message's size against the configuration and the codec.
    #[inline]
    fn check_size(&self, message: &[u8]) -> Result<(), Refusal> {
        if message.len() > self.max_send {
            return Err(Refusal::TooLarge(self.max_send));
        }
        Ok(())
    }

    /// The synchronous part of `send`: checks the message and, when connected with room and
    /// nothing waiting, encodes it straight into the write batch (or, if `write_first` and
    /// it would take a writable batch past its size, asks for the batch to be written first).
    #[inline(always)]
    fn send_now(&mut self, message: &[u8], write_first: bool) -> Result<SendNow, Refusal> {
        let State::Connected(conn) = &self.state else {
            self.check_usable().map_err(|_| Refusal::Unusable)?;
            self.check_message(message)?;
            return Ok(SendNow::Later);
        };
        // Connected: usable (neither closed nor misconfigured).
        let writable = conn.writable.is_ready();
        self.check_size(message)?;
        // Others wait ahead, or the queue is full: the message queues.
        if !self.queue.is_empty() || self.queue.is_full_for(message.len(), self.outbox.held()) {
            // Encoded later: refuse what the codec cannot frame now.
            self.codec.check(message).map_err(Refusal::Invalid)?;
            return Ok(SendNow::Later);
        }
        if self.config.delivery.is_reliable() {
            // Checked before a sequence number is taken: a refused message leaves no gap.
            self.codec.check(message).map_err(Refusal::Invalid)?;
        }
        let batch = self.config.write_batch_bytes;
        let unwritten = self.outbox.unwritten_len();
        if write_first && writable && unwritten > 0 && unwritten + message.len() > batch {
            return Ok(SendNow::WriteFirst);
        }
        // Unreliable: the codec's encode checks the message itself, and a refused one
        // leaves the write batch as it was (the `Codec::encode` contract).
        self.encode(message).map_err(Refusal::Invalid)?;
        self.metrics.messages_queued += 1;
        let unwritten = self.outbox.unwritten_len();
        if unwritten >= batch && writable {
            return Ok(SendNow::BatchFull);
        }
        Ok(SendNow::Done)
    }

    /// Encodes one message at the end of the write batch, numbered in the reliable modes.
    #[inline]
    pub(super) fn encode(&mut self, message: &[u8]) -> Result<(), FrameError> {
        if self.config.delivery.is_reliable() {
            let seq = self.session.seq.assign();
            self.outbox.push_seq(&mut self.codec, seq, true, message)
        } else {
            self.outbox.push_raw(&mut self.codec, message)
        }
    }

    /// Moves waiting messages into the write batch until `batch` unwritten bytes are
    /// buffered. A message the codec refuses (which [`Codec::check`] should have caught) is
    /// dropped and counted.
    pub(super) fn fill(&mut self, batch: usize) {
        while self.outbox.unwritten_len() < batch {
            let Some(message) = self.queue.pop_front() else {
                break;
            };
            if let Err(error) = self.encode(&message) {
                self.metrics.messages_dropped += 1;
                tracing::warn!(
                    parent: &self.span,
                    %error,
                    "dropped a message the codec cannot encode"
                );
            }
        }
    }

    /// Moves every waiting message into the write batch.
    fn encode_waiting(&mut self) {
        self.fill(usize::MAX);
    }

    /// The rest of `send`: wait for room while connected, else queue under the overflow
    /// policy. Never connects.
    async fn send_later(&mut self, message: Vec<u8>) -> Result<(), PeerError> {
        if self.state.is_connected() && self.queue.is_full_for(message.len(), self.outbox.held()) {
            // If the connection breaks, or stalls until the caller receives, the overflow
            // policy below decides.
            let _ = self.drive(Goal::Room(message.len())).await;
        }
        self.enqueue(message)?;
        if self.state.is_connected() {
            let _ = self.write_now().await;
        }
        Ok(())
    }

    fn enqueue(&mut self, message: Vec<u8>) -> Result<(), PeerError> {
        let mut from_batch = 0;
        if self.queue.policy() == OverflowPolicy::DropOldest {
            // The frames in the write batch are older than the queue's messages: they go
            // first, whole, except those the stream has started or the remote may have
            // (disconnected, or connected to a remote that stalls).
            let queue = &self.queue;
            let len = message.len();
            from_batch = self
                .outbox
                .drop_oldest_unsent(|held| queue.is_full_for(len, held));
        }
        match self.queue.push_behind(message, self.outbox.held()) {
            Pushed::Queued { dropped } => {
                self.metrics.messages_queued += 1;
                self.count_dropped(dropped + from_batch);
                Ok(())
            }
            Pushed::Rejected(message) => {
                self.count_dropped(from_batch);
                self.metrics.messages_rejected += 1;
                Err(self.queue_full(message))
            }
        }
    }

    fn count_dropped(&mut self, dropped: usize) {
        if dropped > 0 {
            self.metrics.messages_dropped += dropped as u64;
            tracing::warn!(
                parent: &self.span,
                destination = %self.destination,
                dropped,
                "queue full, dropped the oldest messages"
            );
        }
    }

    fn queue_full(&self, message: Vec<u8>) -> PeerError {
        PeerError::QueueFull {
            destination: self.destination.clone(),
            max_messages: self.config.max_queue_size,
            max_bytes: self.config.max_queue_bytes,
            message,
        }
    }
}
