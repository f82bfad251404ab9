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
/// The first [`in_flight`](SendQueue::in_flight) messages have started going out on a
/// connection; the drop-oldest policy never drops those, so a stream never carries half a
/// message.
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

    /// Number of queued messages.
    #[inline]
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// True when no message is queued.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// Payload bytes queued.
    #[inline]
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// True if `extra` more bytes in one more message would exceed a cap.
    #[inline]
    pub fn is_full_for(&self, extra: usize) -> bool {
        self.messages.len() >= self.max_messages || self.bytes + extra > self.max_bytes
    }

    /// Appends `message`, applying the overflow policy when a cap would be exceeded.
    #[inline]
    pub fn push(&mut self, message: Vec<u8>) -> Pushed {
        // `bytes <= max_bytes` always holds, so the subtraction cannot underflow.
        if self.messages.len() < self.max_messages && message.len() <= self.max_bytes - self.bytes {
            self.bytes += message.len();
            self.messages.push_back(message);
            return Pushed::Queued { dropped: 0 };
        }
        if message.len() > self.max_bytes {
            return Pushed::Rejected(message);
        }
        let mut dropped = 0;
        while self.is_full_for(message.len()) {
            if self.policy == OverflowPolicy::Reject || self.messages.len() == self.in_flight {
                // Undo nothing: drops already made stand, as they would have on their own.
                return Pushed::Rejected(message);
            }
            let old = self
                .messages
                .remove(self.in_flight)
                .expect("index below len");
            self.bytes -= old.len();
            dropped += 1;
        }
        self.bytes += message.len();
        self.messages.push_back(message);
        Pushed::Queued { dropped }
    }

    /// Removes and returns the oldest message.
    #[inline]
    pub fn pop_front(&mut self) -> Option<Vec<u8>> {
        let message = self.messages.pop_front()?;
        self.bytes -= message.len();
        self.in_flight = self.in_flight.saturating_sub(1);
        Some(message)
    }

    /// The message at `index` (0 is the oldest).
    #[inline]
    pub fn get(&self, index: usize) -> Option<&[u8]> {
        self.messages.get(index).map(Vec::as_slice)
    }

    /// How many messages at the front have started going out.
    #[inline]
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Marks the next message as started going out; returns it, or `None` if all are.
    #[inline]
    pub fn start_next(&mut self) -> Option<&[u8]> {
        let message = self.messages.get(self.in_flight)?;
        self.in_flight += 1;
        Some(message)
    }

    /// Removes the started message at `index` (one the codec could not encode).
    pub(crate) fn remove_started(&mut self, index: usize) -> Vec<u8> {
        let message = self
            .messages
            .remove(index)
            .expect("started message present");
        self.bytes -= message.len();
        self.in_flight -= 1;
        message
    }

    /// Forgets that messages started going out (their connection broke); they will go out
    /// again whole.
    pub fn rewind(&mut self) {
        self.in_flight = 0;
    }

    /// Removes every message; returns how many there were.
    pub fn clear(&mut self) -> usize {
        let n = self.messages.len();
        self.messages.clear();
        self.bytes = 0;
        self.in_flight = 0;
        n
    }
}
