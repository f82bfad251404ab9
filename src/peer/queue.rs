//! [`SendQueue`]: the bounded FIFO of messages waiting to be sent, with its overflow policy.

use std::collections::VecDeque;

use super::OverflowPolicy;

/// What [`SendQueue::push`] did with a message.
#[derive(Debug, PartialEq, Eq)]
pub enum Pushed {
    /// Queued; `dropped` older messages were dropped to make room.
    Queued {
        /// How many older messages the drop-oldest policy removed.
        dropped: usize,
    },
    /// Refused: the queue is full (policy `Reject`, or nothing droppable); the message is
    /// handed back.
    Rejected(Vec<u8>),
}

/// A bounded FIFO of messages, capped in count and in payload bytes.
///
/// Messages wait here until a connection takes them ([`start_next`](SendQueue::start_next));
/// from then on they are *in flight*: encoded into the Peer's write batch, no longer held here,
/// but still counted against the caps until [`finish_in_flight`](SendQueue::finish_in_flight)
/// says the stream accepted them. The drop-oldest policy only drops waiting messages, so a
/// stream never carries half a message.
///
/// # Examples
/// ```
/// use moonpool::peer::{OverflowPolicy, Pushed, SendQueue};
///
/// let mut queue = SendQueue::new(2, 1024, OverflowPolicy::DropOldest);
/// queue.push(b"a".to_vec());
/// queue.push(b"b".to_vec());
/// assert_eq!(queue.push(b"c".to_vec()), Pushed::Queued { dropped: 1 });
/// assert_eq!(queue.pop_front().unwrap(), b"b");
/// ```
#[derive(Debug)]
pub struct SendQueue {
    messages: VecDeque<Vec<u8>>,
    /// Payload bytes of waiting and in-flight messages.
    bytes: usize,
    in_flight: usize,
    max_messages: usize,
    max_bytes: usize,
    policy: OverflowPolicy,
}

impl SendQueue {
    /// An empty queue holding at most `max_messages` messages and `max_bytes` payload bytes.
    pub fn new(max_messages: usize, max_bytes: usize, policy: OverflowPolicy) -> Self {
        Self {
            messages: VecDeque::new(),
            bytes: 0,
            in_flight: 0,
            max_messages,
            max_bytes,
            policy,
        }
    }

    /// Messages counted against the caps: waiting plus in flight.
    #[inline]
    pub fn len(&self) -> usize {
        self.messages.len() + self.in_flight
    }

    /// True when no message waits or is in flight.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Messages waiting for a connection (not in flight).
    #[inline]
    pub fn waiting(&self) -> usize {
        self.messages.len()
    }

    /// Messages in flight: taken by a connection, not yet accepted by its stream.
    #[inline]
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Payload bytes counted against the caps: waiting plus in flight.
    #[inline]
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// True if one more message of `extra` bytes would exceed a cap.
    #[inline]
    pub fn is_full_for(&self, extra: usize) -> bool {
        self.len() >= self.max_messages || extra > self.max_bytes - self.bytes
    }

    /// Appends `message`, applying the overflow policy when a cap would be exceeded.
    #[inline]
    pub fn push(&mut self, message: Vec<u8>) -> Pushed {
        // `bytes <= max_bytes` always holds, so the subtraction in `is_full_for` is safe.
        if !self.is_full_for(message.len()) {
            self.bytes += message.len();
            self.messages.push_back(message);
            return Pushed::Queued { dropped: 0 };
        }
        self.push_full(message)
    }

    #[cold]
    fn push_full(&mut self, message: Vec<u8>) -> Pushed {
        if message.len() > self.max_bytes || self.policy == OverflowPolicy::Reject {
            return Pushed::Rejected(message);
        }
        // Drop waiting messages, oldest first, until the new one fits; if it cannot fit even
        // with none waiting, refuse it and keep the queue as it was.
        let mut freed_messages = 0;
        let mut freed_bytes = 0;
        for old in &self.messages {
            if self.len() - freed_messages < self.max_messages
                && message.len() <= self.max_bytes - (self.bytes - freed_bytes)
            {
                break;
            }
            freed_messages += 1;
            freed_bytes += old.len();
        }
        if self.len() - freed_messages >= self.max_messages
            || message.len() > self.max_bytes - (self.bytes - freed_bytes)
        {
            return Pushed::Rejected(message);
        }
        self.messages.drain(..freed_messages);
        self.bytes = self.bytes - freed_bytes + message.len();
        self.messages.push_back(message);
        Pushed::Queued {
            dropped: freed_messages,
        }
    }

    /// Removes and returns the oldest waiting message, forgetting it.
    #[inline]
    pub fn pop_front(&mut self) -> Option<Vec<u8>> {
        let message = self.messages.pop_front()?;
        self.bytes -= message.len();
        Some(message)
    }

    /// The waiting message at `index` (0 is the oldest).
    pub fn get(&self, index: usize) -> Option<&[u8]> {
        self.messages.get(index).map(Vec::as_slice)
    }

    /// Takes the oldest waiting message to send it; it stays counted, in flight, until
    /// [`finish_in_flight`](SendQueue::finish_in_flight).
    #[inline]
    pub fn start_next(&mut self) -> Option<Vec<u8>> {
        let message = self.messages.pop_front()?;
        self.in_flight += 1;
        Some(message)
    }

    /// Counts a message of `len` bytes that goes straight into flight without waiting.
    ///
    /// The caller checks [`is_full_for`](SendQueue::is_full_for) first.
    #[inline]
    pub fn add_in_flight(&mut self, len: usize) {
        self.in_flight += 1;
        self.bytes += len;
    }

    /// One in-flight message of `len` bytes is done (accepted by the stream, or abandoned).
    ///
    /// # Panics
    /// In debug builds, if no message is in flight or `len` exceeds the bytes counted: both
    /// mean the caller's bookkeeping is broken.
    #[inline]
    pub fn finish_in_flight(&mut self, len: usize) {
        self.finish_in_flight_many(1, len);
    }

    /// `count` in-flight messages of `bytes` payload bytes in all are done.
    ///
    /// # Panics
    /// In debug builds, if fewer messages or bytes are in flight: the caller's bookkeeping is
    /// broken.
    #[inline]
    pub fn finish_in_flight_many(&mut self, count: usize, bytes: usize) {
        debug_assert!(
            count <= self.in_flight && bytes <= self.bytes,
            "no such messages in flight"
        );
        self.in_flight = self.in_flight.saturating_sub(count);
        self.bytes = self.bytes.saturating_sub(bytes);
    }

    /// Removes every message, waiting and in flight; returns how many there were.
    pub fn clear(&mut self) -> usize {
        let n = self.len();
        self.messages.clear();
        self.bytes = 0;
        self.in_flight = 0;
        n
    }
}
