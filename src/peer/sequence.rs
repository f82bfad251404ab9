//! [`Sequencer`]: the sequence and acknowledgement bookkeeping of one session side. Pure.

/// Acknowledge at least every this many messages received, even while more keep arriving.
const ACK_EVERY: u64 = 256;

/// What to do with an incoming data message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Incoming {
    /// New: deliver it. `skipped` messages before it never arrived (only messages sent
    /// unreliably, or dropped by the sender's overflow policy, leave such a gap).
    Deliver { skipped: u64 },
    /// Already delivered once (re-sent after a reconnect): drop it.
    Duplicate,
}

/// Numbers outgoing messages and tracks which incoming ones arrived.
///
/// Sequence numbers start at 1. Incoming messages arrive in order on each connection, so one
/// number says everything about what arrived: `recv_next`, one past the highest delivered. An
/// acknowledgement carries it (cumulative).
#[derive(Debug, Clone)]
pub(crate) struct Sequencer {
    next_send: u64,
    recv_next: u64,
    /// The `recv_next` last acknowledged to the remote.
    acked: u64,
}

impl Default for Sequencer {
    fn default() -> Self {
        Self {
            next_send: 1,
            recv_next: 1,
            acked: 1,
        }
    }
}

impl Sequencer {
    /// Takes the next outgoing sequence number.
    #[inline]
    pub fn assign(&mut self) -> u64 {
        let seq = self.next_send;
        self.next_send += 1;
        seq
    }

    /// The number the next outgoing message will get.
    pub fn next_send(&self) -> u64 {
        self.next_send
    }

    /// One past the highest incoming number delivered.
    pub fn recv_next(&self) -> u64 {
        self.recv_next
    }

    /// Classifies incoming message `seq`.
    #[inline]
    pub fn on_data(&mut self, seq: u64) -> Incoming {
        if seq < self.recv_next {
            return Incoming::Duplicate;
        }
        let skipped = seq - self.recv_next;
        self.recv_next = seq + 1;
        Incoming::Deliver { skipped }
    }

    /// So many messages arrived since the last acknowledgement that one should go out now.
    #[inline]
    pub fn ack_urgent(&self) -> bool {
        self.recv_next - self.acked >= ACK_EVERY
    }

    /// The acknowledgement to send, if anything arrived since the last one; records it sent.
    pub fn take_ack(&mut self) -> Option<u64> {
        if self.recv_next == self.acked {
            return None;
        }
        self.acked = self.recv_next;
        Some(self.recv_next)
    }

    /// A new connection: the remote learns `recv_next` from the hello, so nothing is owed.
    pub fn on_hello_sent(&mut self) {
        self.acked = self.recv_next;
    }

    /// The remote lost its session (a new epoch): its messages start again at `base`.
    pub fn restart_incoming(&mut self, base: u64) {
        self.recv_next = base;
        self.acked = base;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_start_at_one_and_increase() {
        let mut s = Sequencer::default();
        assert_eq!((s.assign(), s.assign(), s.next_send()), (1, 2, 3));
    }

    #[test]
    fn duplicates_are_dropped_and_gaps_counted() {
        let mut s = Sequencer::default();
        assert_eq!(s.on_data(1), Incoming::Deliver { skipped: 0 });
        assert_eq!(s.on_data(1), Incoming::Duplicate);
        assert_eq!(s.on_data(4), Incoming::Deliver { skipped: 2 });
        assert_eq!(s.on_data(3), Incoming::Duplicate);
        assert_eq!(s.recv_next(), 5);
    }

    #[test]
    fn acks_are_cumulative_and_sent_once() {
        let mut s = Sequencer::default();
        assert_eq!(s.take_ack(), None);
        s.on_data(1);
        s.on_data(2);
        assert_eq!(s.take_ack(), Some(3));
        assert_eq!(s.take_ack(), None);
        for seq in 3..3 + ACK_EVERY {
            assert!(!s.ack_urgent());
            s.on_data(seq);
        }
        assert!(s.ack_urgent());
        s.on_hello_sent();
        assert_eq!(s.take_ack(), None);
    }

    #[test]
    fn a_new_epoch_restarts_the_incoming_numbers() {
        let mut s = Sequencer::default();
        s.on_data(10);
        s.restart_incoming(1);
        assert_eq!(s.on_data(1), Incoming::Deliver { skipped: 0 });
    }
}
