//! The sans-io send queue and its overflow policies.

use moonpool::peer::{Held, OverflowPolicy, Pushed, SendQueue};

fn msg(n: u8) -> Vec<u8> {
    vec![n; 4]
}

#[test]
fn smoke_fifo() {
    let mut queue = SendQueue::new(10, 1024, OverflowPolicy::DropOldest);
    for i in 0..5 {
        assert_eq!(queue.push(msg(i)), Pushed::Queued { dropped: 0 });
    }
    assert_eq!(queue.len(), 5);
    assert_eq!(queue.bytes(), 20);
    let order: Vec<u8> = std::iter::from_fn(|| queue.pop_front())
        .map(|m| m[0])
        .collect();
    assert_eq!(order, [0, 1, 2, 3, 4]);
    assert!(queue.is_empty());
    assert_eq!(queue.bytes(), 0);
}

#[test]
fn drop_oldest_keeps_the_newest() {
    let mut queue = SendQueue::new(3, 1024, OverflowPolicy::DropOldest);
    for i in 0..3 {
        queue.push(msg(i));
    }
    assert_eq!(queue.push(msg(3)), Pushed::Queued { dropped: 1 });
    assert_eq!(queue.push(msg(4)), Pushed::Queued { dropped: 1 });
    let order: Vec<u8> = std::iter::from_fn(|| queue.pop_front())
        .map(|m| m[0])
        .collect();
    assert_eq!(order, [2, 3, 4]);
}

#[test]
fn reject_hands_the_message_back() {
    let mut queue = SendQueue::new(2, 1024, OverflowPolicy::Reject);
    queue.push(msg(0));
    queue.push(msg(1));
    assert_eq!(queue.push(msg(2)), Pushed::Rejected(msg(2)));
    assert_eq!(queue.len(), 2);
    assert_eq!(queue.get(0), Some(&msg(0)[..]));
}

#[test]
fn byte_cap_drops_as_many_as_needed() {
    let mut queue = SendQueue::new(100, 10, OverflowPolicy::DropOldest);
    queue.push(vec![0; 4]);
    queue.push(vec![1; 4]);
    assert_eq!(queue.push(vec![2; 8]), Pushed::Queued { dropped: 2 });
    assert_eq!(queue.bytes(), 8);
    assert_eq!(queue.push(vec![3; 11]), Pushed::Rejected(vec![3; 11]));
}

/// The caps are inclusive: a queue holds exactly `max_bytes` bytes, and a message of
/// `max_bytes` bytes fits an empty one; a byte more does not.
#[test]
fn the_byte_cap_is_inclusive() {
    let mut queue = SendQueue::new(100, 10, OverflowPolicy::Reject);
    assert!(!queue.is_full_for(10, Held::default()));
    assert!(queue.is_full_for(11, Held::default()));
    assert_eq!(queue.push(vec![0; 6]), Pushed::Queued { dropped: 0 });
    assert_eq!(queue.push(vec![1; 4]), Pushed::Queued { dropped: 0 });
    assert_eq!(queue.bytes(), 10);
    assert_eq!(queue.push(vec![2]), Pushed::Rejected(vec![2]));
}

#[test]
fn held_messages_count_but_are_never_dropped() {
    let mut queue = SendQueue::new(2, 1024, OverflowPolicy::DropOldest);
    // One message held ahead (in the write batch, or awaiting acknowledgement).
    let one = Held {
        messages: 1,
        bytes: 4,
    };
    queue.push_behind(msg(1), one);
    assert_eq!(
        (queue.len(), queue.bytes()),
        (1, 4),
        "held ones are not the queue's"
    );
    assert_eq!(
        queue.push_behind(msg(2), one),
        Pushed::Queued { dropped: 1 }
    );
    assert_eq!(queue.get(0), Some(&msg(2)[..]), "message 1 made room");
    // Everything held: nothing can be dropped, so the new message is refused.
    let two = Held {
        messages: 2,
        bytes: 8,
    };
    queue.pop_front();
    assert_eq!(queue.push_behind(msg(3), two), Pushed::Rejected(msg(3)));
    assert_eq!(
        queue.push_behind(msg(3), one),
        Pushed::Queued { dropped: 0 }
    );
    assert!(queue.is_full_for(1, one));
    assert!(!queue.is_full_for(1, Held::default()));
    assert_eq!(queue.clear(), 1);
    assert!(queue.is_empty());
    assert_eq!(queue.bytes(), 0);
}

#[test]
fn a_refused_message_leaves_the_queue_as_it_was() {
    let mut queue = SendQueue::new(10, 10, OverflowPolicy::DropOldest);
    let held = Held {
        messages: 1,
        bytes: 4,
    };
    queue.push_behind(vec![1; 4], held);
    // 4 held + 8 new > 10 even with message 1 dropped: refused, message 1 kept.
    assert_eq!(
        queue.push_behind(vec![2; 8], held),
        Pushed::Rejected(vec![2; 8])
    );
    assert_eq!((queue.len(), queue.bytes()), (1, 4));
    assert_eq!(queue.get(0), Some(&[1u8; 4][..]));
}

#[test]
fn memory_stays_within_the_cap_whatever_is_pushed() {
    let mut queue = SendQueue::new(1000, 64 << 10, OverflowPolicy::DropOldest);
    for i in 0..100_000u32 {
        queue.push(vec![0; (i % 1500) as usize]);
        assert!(queue.len() <= 1000 && queue.bytes() <= 64 << 10);
    }
}
