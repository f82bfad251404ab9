//! [`WriteSignal`]: whether a stream that refused a write has said since that it takes more,
//! so `send` does not ask it again before then (each ask is a system call on a real socket).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::task::{waker_ref, ArcWake, AtomicWaker};

/// Wraps the task's waker for write attempts: the stream's wake sets the flag, then wakes
/// the task as usual.
pub(super) struct WriteSignal(Arc<Inner>);

struct Inner {
    /// No write attempt has returned `Pending` since the stream last woke its writer.
    ready: AtomicBool,
    /// The task that made the last attempt.
    task: AtomicWaker,
}

impl ArcWake for Inner {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        arc_self.ready.store(true, Ordering::Release);
        arc_self.task.wake();
    }
}

impl WriteSignal {
    /// Ready: a new stream is asked at once.
    pub fn new() -> Self {
        Self(Arc::new(Inner {
            ready: AtomicBool::new(true),
            task: AtomicWaker::new(),
        }))
    }

    /// False from a write attempt that returned `Pending` until the stream woke its writer.
    #[inline]
    pub fn is_ready(&self) -> bool {
        self.0.ready.load(Ordering::Acquire)
    }

    /// Not ready: the task of `cx` is the one to wake when the stream can take more.
    #[inline]
    pub fn register(&self, cx: &Context<'_>) {
        self.0.task.register(cx.waker());
    }

    /// Runs one write attempt `attempt` with a waker that records the stream's wake and then
    /// wakes the task of `cx`.
    #[inline]
    pub fn poll<T>(
        &self,
        cx: &mut Context<'_>,
        attempt: impl FnOnce(&mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        self.0.task.register(cx.waker());
        // Cleared first: a wake during the attempt sets it again.
        self.0.ready.store(false, Ordering::Release);
        let waker = waker_ref(&self.0);
        let poll = attempt(&mut Context::from_waker(&waker));
        if poll.is_ready() {
            self.0.ready.store(true, Ordering::Release);
        }
        poll
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    struct Count(AtomicUsize);

    impl ArcWake for Count {
        fn wake_by_ref(arc_self: &Arc<Self>) {
            arc_self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn pending_clears_until_the_stream_wakes_and_the_task_is_woken() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let task = futures::task::waker(Arc::clone(&count));
        let mut cx = Context::from_waker(&task);
        let signal = WriteSignal::new();
        assert!(signal.is_ready());
        let mut stored = None;
        let poll = signal.poll(&mut cx, |cx| {
            stored = Some(cx.waker().clone());
            Poll::<()>::Pending
        });
        assert!(poll.is_pending());
        assert!(!signal.is_ready());
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
        stored.expect("the attempt saw a waker").wake();
        assert!(signal.is_ready());
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        // A write that goes through leaves it ready.
        assert!(signal.poll(&mut cx, |_| Poll::Ready(())).is_ready());
        assert!(signal.is_ready());
    }
}
