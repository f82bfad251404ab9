//! [`SimClock`]: virtual time, and the `Sleep` future behind [`Clock::sleep`].

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use super::events::Event;
use super::world::WeakSimWorld;
use crate::provider::Clock;

/// The last instant of virtual time: the event queue keeps times as u64 nanoseconds.
const END_OF_TIME: Duration = Duration::from_nanos(u64::MAX);

/// The virtual clock of a [`SimWorld`](crate::SimWorld): implements [`Clock`].
///
/// [`now`](Clock::now) is the world's virtual time ([`Duration::ZERO`] once the world is
/// dropped). [`sleep`](Clock::sleep) schedules a timer event; since the world jumps straight
/// to the next event, a one-hour sleep takes no wall time. `sleep(Duration::ZERO)` completes at
/// once, and a sleep polled after its world is dropped completes at once too (nothing could
/// ever fire it). Virtual time ends at `u64::MAX` nanoseconds (about 584 years): a sleep
/// past it ends there (the world's time budget, one hour by default, stops a run long
/// before).
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use moonpool::{Clock, SimWorld};
///
/// let world = SimWorld::new(1);
/// let clock = world.clock();
/// let out = world
///     .block_on(async move {
///         clock
///             .timeout(Duration::from_secs(1), clock.sleep(Duration::from_secs(5)))
///             .await
///     })
///     .unwrap();
/// assert!(out.is_err());
/// assert_eq!(world.now(), Duration::from_secs(1));
/// ```
#[derive(Clone, Debug)]
pub struct SimClock {
    world: WeakSimWorld,
}

impl SimClock {
    pub(crate) fn new(world: WeakSimWorld) -> Self {
        Self { world }
    }
}

impl Clock for SimClock {
    fn now(&self) -> Duration {
        self.world.upgrade().map_or(Duration::ZERO, |w| w.now())
    }

    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + use<> {
        Sleep {
            world: self.world.clone(),
            duration,
            deadline: None,
            timer: None,
        }
    }
}

/// Completes at a virtual deadline; dropping it cancels its timer event.
#[derive(Debug)]
pub(crate) struct Sleep {
    world: WeakSimWorld,
    duration: Duration,
    /// Fixed at the first poll: `now + duration`.
    deadline: Option<Duration>,
    /// Timer id and the event's sequence number, once scheduled.
    timer: Option<(u64, u64)>,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(world) = self.world.upgrade() else {
            return Poll::Ready(());
        };
        let this = &mut *self;
        world.with_state(|s| {
            // Virtual time ends at u64::MAX nanoseconds (about 584 years), where the event
            // queue keeps its times: a longer sleep ends there.
            let deadline = *this
                .deadline
                .get_or_insert_with(|| s.now.saturating_add(this.duration).min(END_OF_TIME));
            if deadline <= s.now {
                if let Some((id, _)) = this.timer.take() {
                    s.timers.remove(&id);
                }
                return Poll::Ready(());
            }
            match this.timer {
                // Still pending: refresh the waker (the event has not fired yet), unless it
                // wakes the same task already (a re-poll after another wake-up, the usual
                // case: no clone).
                Some((id, _)) => match s.timers.get_mut(&id) {
                    Some(waker) if waker.will_wake(cx.waker()) => {}
                    Some(waker) => *waker = cx.waker().clone(),
                    None => {
                        s.timers.insert(id, cx.waker().clone());
                    }
                },
                None => {
                    let id = s.next_timer;
                    s.next_timer += 1;
                    s.timers.insert(id, cx.waker().clone());
                    let seq = s.events.schedule(deadline, Event::Timer { id });
                    this.timer = Some((id, seq));
                }
            }
            Poll::Pending
        })
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        let Some((id, seq)) = self.timer else {
            return;
        };
        let Some(world) = self.world.upgrade() else {
            return;
        };
        // `try_borrow_mut`: should a Sleep ever be dropped while the state is borrowed, its
        // event stays queued and fires as a harmless no-op (its timer entry is gone or stale).
        if let Ok(mut state) = world.shared.state.try_borrow_mut() {
            // Only a pending timer still has its event queued.
            if state.timers.remove(&id).is_some() {
                state.events.cancel(seq);
            }
        };
    }
}
