//! [`SendQueue`]: the bounded FIFO of messages waiting to be sent, with its overflow policy.

use std::collections::VecDeque;

use super::{Delivery, OverflowPolicy};

/// What [`SendQueue::push`] did with a message.
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
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

/// Messages held ahead of a [`SendQueue`] that count against its caps: in a Peer, the ones
/// encoded into the write batch or written and awaiting the remote's acknowledgement. The
/// Peer's write batch owns that count; the queue only reads it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Held {
    /// Messages held.
    pub messages: usize,
    /// Their payload bytes.
    pub bytes: usize,
}

/// A bounded FIFO of messages, capped in count and in payload bytes.
///
/// The caps cover the messages waiting here and those [`Held`] ahead of the queue (passed to
/// [`push_behind`](SendQueue::push_behind) and [`is_full_for`](SendQueue::is_full_for)). The
/// drop-oldest policy only drops messages waiting here, never held ones, so a stream never
/// carries half a message and a message the remote may have is never dropped.
///
/// # Examples
/// ```
/// use moonpool::peer::{Held, OverflowPolicy, Pushed, SendQueue};
///
/// let mut queue = SendQueue::new(2, 1024, OverflowPolicy::DropOldest);
/// queue.push(b"a".to_vec());
/// queue.push(b"b".to_vec());
/// assert_eq!(queue.push(b"c".to_vec()), Pushed::Queued { dropped: 1 });
/// assert_eq!(queue.pop_front().unwrap(), b"b");
/// // One message held ahead (written, not yet acknowledged) fills the queue with one waiting.
/// let held = Held { messages: 1, bytes: 1 };
/// assert!(queue.is_full_for(1, held));
/// ```
#[derive(Debug)]
pub struct SendQueue {
    messages: VecDeque<Vec<u8>>,
    /// Payload bytes of the waiting messages.
    bytes: usize,
    max_messages: usize,
    max_bytes: usize,
    policy: OverflowPolicy,
}

impl SendQueue {
    /// An empty queue holding at most `max_messages` messages and `max_bytes` payload bytes
    /// (with no delivery mode to go by, [`OverflowPolicy::ByDelivery`] drops the oldest).
    pub fn new(max_messages: usize, max_bytes: usize, policy: OverflowPolicy) -> Self {
        Self {
            messages: VecDeque::new(),
            bytes: 0,
            max_messages,
            max_bytes,
            policy: policy.for_delivery(Delivery::Unreliable),
        }
    }

    /// What a full queue does.
    #[inline]
    pub fn policy(&self) -> OverflowPolicy {
        self.policy
    }

    /// Messages waiting.
    #[inline]
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// True when no message waits.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// Payload bytes waiting.
    #[inline]
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// True if one more message of `extra` bytes, with `held` ahead, would exceed a cap.
    #[inline]
    pub fn is_full_for(&self, extra: usize, held: Held) -> bool {
        self.messages.len() + held.messages >= self.max_messages
            || extra.saturating_add(self.bytes + held.bytes) > self.max_bytes
    }

    /// Appends `message` with nothing held ahead; see [`push_behind`](SendQueue::push_behind).
    #[inline]
    pub fn push(&mut self, message: Vec<u8>) -> Pushed {
        self.push_behind(message, Held::default())
    }

    /// Appends `message`, `held` counting ahead of the queue, applying the overflow policy
    /// when a cap would be exceeded.
    #[inline]
    pub fn push_behind(&mut self, message: Vec<u8>, held: Held) -> Pushed {
        if !self.is_full_for(message.len(), held) {
            self.bytes += message.len();
            self.messages.push_back(message);
            return Pushed::Queued { dropped: 0 };
        }
        self.push_full(message, held)
    }

    #[cold]
    fn push_full(&mut self, message: Vec<u8>, held: Held) -> Pushed {
        if self.policy == OverflowPolicy::Reject {
            return Pushed::Rejected(message);
        }
        // Drop waiting messages, oldest first, until the new one fits; if it cannot fit even
        // with none waiting, refuse it and keep the queue as it was.
        let fits = |count: usize, bytes: usize| {
            count + held.messages < self.max_messages
                && message.len().saturating_add(bytes + held.bytes) <= self.max_bytes
        };
        let mut count = self.messages.len();
        let mut bytes = self.bytes;
        let mut freed = 0;
        for old in &self.messages {
            if fits(count, bytes) {
                break;
            }
            count -= 1;
            bytes -= old.len();
            freed += 1;
        }
        if !fits(count, bytes) {
            return Pushed::Rejected(message);
        }
        self.messages.drain(..freed);
        self.bytes = bytes + message.len();
        self.messages.push_back(message);
        Pushed::Queued { dropped: freed }
    }

    /// Removes and returns the oldest waiting message.
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

    /// Removes every waiting message; returns how many there were.
    pub fn clear(&mut self) -> usize {
        let n = self.len();
        self.messages.clear();
        self.bytes = 0;
        n
    }
}
